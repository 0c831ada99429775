/**
 * Writes each decoded event as one JSON line: replay's output. (`run` without
 * an OTLP endpoint prints OTLP-shaped log records instead: otlp/stdout.ts.)
 * Epoch-nanosecond times are bigints in the
 * model and strings here, since JSON numbers cannot hold them exactly.
 */
import type { Writable } from 'node:stream';
import type { ActivityEvent, Heartbeat } from '../events/model.ts';
import { writeLines } from './lines.ts';
import { DELIVERED, type Sink, type SinkBatch, type SinkResult } from './sink.ts';

export function toJsonLine(value: ActivityEvent | Heartbeat): string {
  // The model's bigints are its epoch-nanosecond times: replaced in a shallow copy (same keys, same
  // order), not by a replacer function, which cost as much again as the rest of the line.
  try {
    return JSON.stringify(
      value.type === 'heartbeat'
        ? { ...value, logTimeUnixNano: decimal(value.logTimeUnixNano) }
        : { ...value, logTimeUnixNano: decimal(value.logTimeUnixNano), startTimeUnixNano: decimal(value.startTimeUnixNano), endTimeUnixNano: decimal(value.endTimeUnixNano) },
    );
  } catch {
    // A bigint somewhere else: every one as a string.
    return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

const decimal = (nanos: bigint | null): string | null => (nanos === null ? null : nanos.toString());

export class JsonlSink implements Sink {
  readonly name = 'jsonl';
  readonly #out: Writable;
  readonly #heartbeats: boolean;

  constructor(out: Writable, options: { heartbeats?: boolean } = {}) {
    this.#out = out;
    this.#heartbeats = options.heartbeats ?? false;
  }

  async write(batch: SinkBatch): Promise<SinkResult> {
    const values = this.#heartbeats ? [...batch.events, ...batch.heartbeats] : batch.events;
    await writeLines(this.#out, values, toJsonLine);
    return DELIVERED;
  }

  async close(): Promise<void> {}
}
