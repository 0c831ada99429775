/**
 * Database spans over OTLP/HTTP (`OTEL_TRACES_EXPORTER=otlp`): the traced
 * events of each batch as SERVER spans (spans.ts), encoded by
 * @opentelemetry/otlp-transformer's trace serializers (protobuf or JSON) and
 * sent by the same exporter as the logs (exporter.ts), so the same answers
 * decide the same fates: retried, bisected, refused spans dead-lettered with
 * their event, and the checkpoint waits for this sink as for the logs.
 *
 * Events without trace context make no span, unless sampled
 * (`untracedRatio`, spans.ts). When records are prepared where they are
 * opened (worker threads), the spans step (workers/steps.ts) encodes each
 * span there for protobuf, so the batch is never decoded again for them; for
 * OTLP/JSON it says which events make spans, and the batch is decoded again
 * only when some do.
 */
import { JsonTraceSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ActivityEvent } from '../../events/model.ts';
import type { SinkBatch } from '../sink.ts';
import type { OtlpExporterConfig } from './config.ts';
import { EventSlice, OtlpSink, type OtlpSinkOptions, type OtlpSignal, type Slice } from './exporter.ts';
import { preparedBy, SPANS_STEP, type PreparedSpans } from '../prepared.ts';
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
    prepareStep: SPANS_STEP,
    sliceOf(batch: SinkBatch): Slice {
      const prepared = preparedBy<PreparedSpans>(batch.prepared, SPANS_STEP);
      if (prepared !== undefined) {
        // Encoded where the records were opened (protobuf): a request is their bytes one after another.
        if (prepared.every((p) => p.requests !== undefined)) return new RequestsSlice(prepared.flatMap((p) => p.requests!), prepared.flatMap((p) => p.eventIds));
        // Told which events make spans (OTLP/JSON): the batch is decoded again only when there are some.
        const ids = new Set(prepared.flatMap((p) => p.eventIds));
        if (ids.size === 0) return new EventSlice([], [], serialize);
        const traced = batch.events.filter((event) => ids.has(event.eventId));
        return new EventSlice(traced, traced.map((event) => event.eventId), serialize);
      }
      const traced = batch.events.filter((event) => hasSpan(event, untracedRatio));
      return new EventSlice(traced, traced.map((event) => event.eventId), serialize);
    },
  };
}

/** Spans encoded already, each as a request of its own: a request of several is their concatenation (protobuf joins repeated fields). */
class RequestsSlice implements Slice {
  constructor(
    readonly requests: readonly Uint8Array[],
    readonly eventIds: readonly string[],
  ) {}

  encode(): Uint8Array {
    return Buffer.concat(this.requests);
  }

  slice(from: number, to: number): Slice {
    return new RequestsSlice(this.requests.slice(from, to), this.eventIds.slice(from, to));
  }
}

/** A sink sending each batch's traced events (and the sampled share of the untraced ones) as database spans. */
export class OtlpTraceSink extends OtlpSink {
  constructor(options: OtlpSinkOptions & { resources: ResourceCatalog; untracedRatio?: number }) {
    super({ ...options, signal: tracesSignal(options.config, options.resources, options.untracedRatio ?? 0) });
  }
}
