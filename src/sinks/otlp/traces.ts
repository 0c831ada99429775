/**
 * Database spans over OTLP/HTTP (`OTEL_TRACES_EXPORTER=otlp`): the traced
 * events of each batch as SERVER spans (spans.ts), encoded by
 * @opentelemetry/otlp-transformer's trace serializers (protobuf or JSON) and
 * sent by the same exporter as the logs (exporter.ts), so the same answers
 * decide the same fates: retried, bisected, refused spans dead-lettered with
 * their event, and the checkpoint waits for this sink as for the logs.
 *
 * Events without trace context make no span, unless sampled
 * (`untracedRatio`, spans.ts). A batch whose records a worker prepared
 * (protobuf logs) is decoded again on the main thread only when one of its
 * records holds a traced event (PreparedBatch.traced), or always when
 * untraced statements are sampled (the choice needs the events).
 */
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ActivityEvent } from '../../events/model.ts';
import type { SinkBatch } from '../sink.ts';
import type { OtlpExporterConfig } from './config.ts';
import { EventSlice, OtlpSink, type OtlpSinkOptions, type OtlpSignal, type Slice } from './exporter.ts';
import type { ResourceCatalog } from './resource.ts';
import { hasSpan, spanOf } from './spans.ts';

export const TRACES_SINK = 'otlp-traces';

export function tracesSignal(config: OtlpExporterConfig, resources: ResourceCatalog, untracedRatio = 0): OtlpSignal {
  const serialize = (events: readonly ActivityEvent[]): Uint8Array | undefined => {
    const spans = events.map((event) => spanOf(event, resources, untracedRatio)).filter((span): span is ReadableSpan => span !== null);
    return config.protocol === 'http/json' ? JsonTraceSerializer.serializeRequest(spans) : ProtobufTraceSerializer.serializeRequest(spans);
  };
  return {
    name: TRACES_SINK,
    sliceOf(batch: SinkBatch): Slice {
      if (batch.prepared !== undefined && batch.prepared.traced === 0 && untracedRatio === 0) return new EventSlice([], [], serialize);
      const traced = batch.events.filter((event) => hasSpan(event, untracedRatio));
      return new EventSlice(traced, traced.map((event) => event.eventId), serialize);
    },
  };
}

/** A sink sending each batch's traced events (and the sampled share of the untraced ones) as database spans. */
export class OtlpTraceSink extends OtlpSink {
  constructor(options: OtlpSinkOptions & { resources: ResourceCatalog; untracedRatio?: number }) {
    super({ ...options, signal: tracesSignal(options.config, options.resources, options.untracedRatio ?? 0) });
  }
}
