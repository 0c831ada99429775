/**
 * The log records an OTLP endpoint would receive, one JSON line each, on a
 * stream (stdout when no endpoint is configured). Same mapping as the OTLP
 * sink, so what a user sees locally is what Loki would get; the field names
 * follow OTLP/JSON (hex trace ids, nanosecond times as strings), with
 * attributes and resource attributes as plain objects for `jq`.
 */
import type { Writable } from 'node:stream';
import type { HrTime } from '@opentelemetry/api';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { writeLines } from '../lines.ts';
import { DELIVERED, type Sink, type SinkBatch, type SinkResult } from '../sink.ts';
import type { OtlpExportObserver } from './exporter.ts';
import type { LogRecordMapper } from './mapping.ts';

export function toJsonLogLine(record: ReadableLogRecord): string {
  return JSON.stringify({
    timeUnixNano: nanos(record.hrTime),
    observedTimeUnixNano: nanos(record.hrTimeObserved),
    severityNumber: record.severityNumber,
    severityText: record.severityText,
    eventName: record.eventName,
    body: record.body,
    ...(record.spanContext
      ? { traceId: record.spanContext.traceId, spanId: record.spanContext.spanId, flags: record.spanContext.traceFlags }
      : {}),
    attributes: record.attributes,
    droppedAttributesCount: record.droppedAttributesCount,
    resource: record.resource.attributes,
    scope: { name: record.instrumentationScope.name, version: record.instrumentationScope.version },
  });
}

function nanos(time: HrTime): string {
  return (BigInt(time[0]) * 1_000_000_000n + BigInt(time[1])).toString();
}

export class StdoutLogSink implements Sink {
  readonly name = 'otlp-stdout';
  readonly #out: Writable;
  readonly #mapper: Pick<LogRecordMapper, 'map'>;
  readonly #observer: OtlpExportObserver | undefined;

  constructor(out: Writable, mapper: Pick<LogRecordMapper, 'map'>, observer?: OtlpExportObserver) {
    this.#out = out;
    this.#mapper = mapper;
    this.#observer = observer;
  }

  async write(batch: SinkBatch): Promise<SinkResult> {
    if (batch.events.length === 0) return DELIVERED;
    await writeLines(this.#out, batch.events, (event) => toJsonLogLine(this.#mapper.map(event)));
    this.#observer?.exported?.('delivered', batch.events.length);
    return DELIVERED;
  }

  async close(): Promise<void> {}
}
