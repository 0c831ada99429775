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
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v));
}

export class JsonlSink implements Sink {
  readonly name = 'jsonl';
  readonly #out: Writable;
  readonly #heartbeats: boolean;

  constructor(out: Writable, options: { heartbeats?: boolean } = {}) {
    this.#out = out;
    this.#heartbeats = options.heartbeats ?? false;
  }

  async write(batch: SinkBatch): Promise<SinkResult> {
    const lines: string[] = batch.events.map(toJsonLine);
    if (this.#heartbeats) lines.push(...batch.heartbeats.map(toJsonLine));
    if (lines.length === 0) return DELIVERED;
    const ok = this.#out.write(lines.join('\n') + '\n');
    if (!ok) await new Promise<void>((resolve) => this.#out.once('drain', resolve));
    return DELIVERED;
  }

  async close(): Promise<void> {}
}
