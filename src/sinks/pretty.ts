/**
 * One short line per event for a person watching a terminal (the `demo`
 * command without an OTLP endpoint):
 *
 *   12:00:01.123 orders-postgres orders_app@shop SELECT orders  "SELECT * FROM orders WHERE …" trace=0af76519…
 *
 * Built from the same log record the OTLP sink would send, so the service
 * name, the summary, the trace id and the (already redacted) SQL are what
 * Loki would show. Failed events are marked FAIL with their error code.
 */
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import { SeverityNumber } from '@opentelemetry/api-logs';
import { chunkLines, writeChunks } from './lines.ts';
import type { OtlpExportObserver } from './otlp/exporter.ts';
import type { LogRecordMapper } from './otlp/mapping.ts';
import { DELIVERED, type Sink, type SinkBatch, type SinkResult } from './sink.ts';

export interface PrettyLogSinkOptions {
  /** Most characters of SQL shown; longer text ends in `…`. Default 100. */
  maxTextLength?: number;
  /** Renders times; default local time of day with milliseconds. */
  formatTime?: (epochMs: number) => string;
  /** Runs around every write, e.g. to take a live status line off the terminal and put it back. */
  around?: (write: () => void) => void;
}

export class PrettyLogSink implements Sink {
  readonly name = 'pretty';
  readonly #out: NodeJS.WritableStream;
  readonly #mapper: Pick<LogRecordMapper, 'map'>;
  readonly #observer: OtlpExportObserver | undefined;
  readonly #maxText: number;
  readonly #formatTime: (epochMs: number) => string;
  readonly #around: (write: () => void) => void;

  constructor(out: NodeJS.WritableStream, mapper: Pick<LogRecordMapper, 'map'>, observer?: OtlpExportObserver, options: PrettyLogSinkOptions = {}) {
    this.#out = out;
    this.#mapper = mapper;
    this.#observer = observer;
    this.#maxText = options.maxTextLength ?? 100;
    this.#formatTime = options.formatTime ?? localTimeOfDay;
    this.#around = options.around ?? ((write) => write());
  }

  async write(batch: SinkBatch): Promise<SinkResult> {
    if (batch.events.length === 0) return DELIVERED;
    const chunks = chunkLines(batch.events, (event) => prettyLine(this.#mapper.map(event), this.#maxText, this.#formatTime));
    let flushed = true;
    this.#around(() => (flushed = writeChunks(this.#out, chunks)));
    if (!flushed) await new Promise<void>((resolve) => this.#out.once('drain', resolve));
    this.#observer?.exported?.('delivered', batch.events.length);
    return DELIVERED;
  }

  async close(): Promise<void> {}
}

/** The line for one log record: time, service, user@database, what ran, FAIL and code, SQL, trace. */
export function prettyLine(record: ReadableLogRecord, maxText = 100, formatTime: (epochMs: number) => string = localTimeOfDay): string {
  const a = record.attributes;
  const time = formatTime(record.hrTime[0] * 1000 + Math.floor(record.hrTime[1] / 1e6));
  const service = String(record.resource.attributes['service.name'] ?? '?');
  const user = str(a['user.name']) ?? '-';
  const database = str(a['db.namespace']);
  const what = str(a['db.query.summary']) ?? str(a['db.operation.name']) ?? str(a['aws.rds.das.command']) ?? str(a['aws.rds.das.class']) ?? '-';
  const parts = [time, service, database ? `${user}@${database}` : user, what];
  if ((record.severityNumber ?? 0) >= SeverityNumber.WARN) parts.push(`FAIL${a['error.type'] && a['error.type'] !== '_OTHER' ? ` ${String(a['error.type'])}` : ''}`);
  const sql = str(a['db.query.text']);
  if (sql) parts.push(` ${JSON.stringify(shorten(sql.replace(/\s+/g, ' ').trim(), maxText))}`);
  if (record.spanContext) parts.push(`trace=${record.spanContext.traceId.slice(0, 8)}…`);
  return parts.join(' ');
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function shorten(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}

function localTimeOfDay(epochMs: number): string {
  const d = new Date(epochMs);
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}
