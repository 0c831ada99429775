/**
 * Writes each decoded event as one JSON line: replay's output. (`run` without
 * an OTLP endpoint prints OTLP-shaped log records instead: otlp/stdout.ts.)
 * Epoch-nanosecond times are bigints in the
 * model and strings here, since JSON numbers cannot hold them exactly.
 */
import type { Writable } from 'node:stream';
import type { ActivityEvent, Heartbeat } from '../events/model.ts';
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

/** Characters of lines written at once: well below V8's 128 KiB threshold for large objects, even as UTF-16. */
const CHUNK_CHARS = 32 * 1024;

const decimal = (nanos: bigint | null): string | null => (nanos === null ? null : nanos.toString());

export class JsonlSink implements Sink {
  readonly name = 'jsonl';
  readonly #out: Writable;
  readonly #heartbeats: boolean;

  constructor(out: Writable, options: { heartbeats?: boolean } = {}) {
    this.#out = out;
    this.#heartbeats = options.heartbeats ?? false;
  }

  /**
   * Writes the batch's lines in chunks of about CHUNK_CHARS: one string of
   * a whole batch (a part of 12 records is a few hundred KB of lines) lands
   * in V8's large-object space, which made joining and encoding it about a
   * sixth of `das-exporter replay`'s main thread.
   */
  async write(batch: SinkBatch): Promise<SinkResult> {
    let chunk = '';
    let ok = true;
    const put = (value: ActivityEvent | Heartbeat) => {
      chunk += toJsonLine(value) + '\n';
      if (chunk.length < CHUNK_CHARS) return;
      ok = this.#out.write(chunk) && ok;
      chunk = '';
    };
    for (const event of batch.events) put(event);
    if (this.#heartbeats) for (const heartbeat of batch.heartbeats) put(heartbeat);
    if (chunk !== '') ok = this.#out.write(chunk) && ok;
    if (!ok) await new Promise<void>((resolve) => this.#out.once('drain', resolve));
    return DELIVERED;
  }

  async close(): Promise<void> {}
}
