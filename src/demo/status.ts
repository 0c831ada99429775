/**
 * What the demo tells the person running it, besides the events: a tally of
 * what reached the log sink (per database and class), a live one-line status
 * on stderr (redrawn in place on a terminal, a plain line every 10 s
 * otherwise), and the summary printed at the end.
 */
import type { ActivityEvent } from '../events/model.ts';
import type { Sink, SinkBatch, SinkResult } from '../sinks/sink.ts';
import type { DasMetrics } from '../telemetry/metrics.ts';
import type { SimulatedCluster } from './traffic.ts';

/** Events per database (resource id) and class, and the newest event time seen. */
export class DeliveryTally {
  readonly #counts = new Map<string, Map<string, number>>();
  #total = 0;
  #newestMs = 0;

  add(events: readonly ActivityEvent[]): void {
    for (const event of events) {
      const resource = event.clusterId ?? event.instanceId ?? '';
      let classes = this.#counts.get(resource);
      if (!classes) this.#counts.set(resource, (classes = new Map()));
      const eventClass = event.class ?? '(none)';
      classes.set(eventClass, (classes.get(eventClass) ?? 0) + 1);
      const logTime = event.logTimeUnixNano ?? event.startTimeUnixNano;
      if (logTime !== null) this.#newestMs = Math.max(this.#newestMs, Number(logTime / 1_000_000n));
    }
    this.#total += events.length;
  }

  get total(): number {
    return this.#total;
  }

  /** Epoch ms of the newest event delivered, 0 before the first. */
  get newestEventMs(): number {
    return this.#newestMs;
  }

  /** Class counts of one database, by its resource id. */
  classesOf(resourceId: string): ReadonlyMap<string, number> {
    return this.#counts.get(resourceId) ?? new Map();
  }
}

/** Wraps a sink and tallies the events of every batch it delivered. */
export function tallied(inner: Sink, tally: DeliveryTally): Sink {
  return {
    name: inner.name,
    async write(batch: SinkBatch): Promise<SinkResult> {
      const result = await inner.write(batch);
      if (result.status === 'delivered') {
        const rejected = new Set(result.rejected.map((r) => r.eventId));
        tally.add(rejected.size === 0 ? batch.events : batch.events.filter((e) => !rejected.has(e.eventId)));
      }
      return result;
    },
    close: () => inner.close(),
    blockedReason: () => inner.blockedReason?.() ?? null,
  };
}

export interface ExporterCounters {
  /** Kinesis records delivered or dead-lettered, per stream. */
  recordsByStream: Map<string, number>;
  kmsRequests: number;
  cacheHits: number;
  cacheLookups: number;
  deadLetters: number;
}

/** Reads the exporter's own counters off its metrics. */
export async function readCounters(metrics: DasMetrics): Promise<ExporterCounters> {
  const [records, kms, lookups, dead] = await Promise.all([
    metrics.records.get(),
    metrics.kmsRequests.get(),
    metrics.dataKeyCacheLookups.get(),
    metrics.deadLetters.get(),
  ]);
  const recordsByStream = new Map<string, number>();
  for (const v of records.values) {
    const stream = String(v.labels.stream);
    recordsByStream.set(stream, (recordsByStream.get(stream) ?? 0) + v.value);
  }
  const sum = (values: { value: number }[]) => values.reduce((n, v) => n + v.value, 0);
  return {
    recordsByStream,
    kmsRequests: sum(kms.values),
    cacheHits: sum(lookups.values.filter((v) => v.labels.result === 'hit')),
    cacheLookups: sum(lookups.values),
    deadLetters: sum(dead.values),
  };
}

export interface StatusSnapshot {
  eventsPerSecond: number;
  /** Seconds between now and the newest delivered event's time; null before the first. */
  lagSeconds: number | null;
  delivered: number;
  counters: ExporterCounters;
}

export function statusText(s: StatusSnapshot): string {
  const ratio = s.counters.cacheLookups === 0 ? '-' : `${Math.round((100 * s.counters.cacheHits) / s.counters.cacheLookups)}%`;
  const lag = s.lagSeconds === null ? '-' : `${s.lagSeconds.toFixed(1)}s`;
  return (
    `demo: ${s.eventsPerSecond.toFixed(0)} events/s · ${s.delivered} delivered · lag ${lag} · ` +
    `KMS calls ${s.counters.kmsRequests} · key cache hits ${ratio} · dead letters ${s.counters.deadLetters}`
  );
}

/**
 * The live status on stderr. On a terminal it is one line redrawn with `\r`;
 * event lines written to the same terminal go through `around`, which takes
 * the status line off first and puts it back after. Elsewhere it prints a
 * plain line every `plainEveryMs`.
 */
export class StatusLine {
  readonly #err: NodeJS.WritableStream;
  readonly #tty: boolean;
  readonly #plainEveryMs: number;
  #shown = '';
  #lastPlain = 0;
  #closed = false;

  constructor(err: NodeJS.WritableStream, options: { tty: boolean; plainEveryMs?: number }) {
    this.#err = err;
    this.#tty = options.tty;
    this.#plainEveryMs = options.plainEveryMs ?? 10_000;
  }

  update(text: string, now: number): void {
    if (this.#closed) return;
    if (this.#tty) {
      this.#shown = text;
      this.#err.write(`\r\x1b[K${text}`);
    } else if (now - this.#lastPlain >= this.#plainEveryMs) {
      if (this.#lastPlain !== 0) this.#err.write(`${text}\n`);
      this.#lastPlain = now;
    }
  }

  /** Runs `write` with the status line off the terminal. */
  around(write: () => void): void {
    if (!this.#tty || this.#shown === '') return write();
    this.#err.write('\r\x1b[K');
    write();
    this.#err.write(this.#shown);
  }

  /** Takes the line off for good: updates after this are ignored. */
  close(): void {
    if (this.#tty && this.#shown !== '') this.#err.write('\r\x1b[K');
    this.#shown = '';
    this.#closed = true;
  }
}

export interface DemoSummary {
  seconds: number;
  clusters: readonly SimulatedCluster[];
  tally: DeliveryTally;
  written: number;
  counters: ExporterCounters;
  /** Requests the LocalKms answered per operation (GenerateDataKey by the simulator, Decrypt by the exporter). */
  kmsCalls: Readonly<Record<string, number>>;
}

/**
 * The closing summary, one database per line:
 *   orders-postgres (aurora-postgresql): 612 events; READ 400, WRITE 150, …
 */
export function summaryText(s: DemoSummary): string {
  const records = [...s.counters.recordsByStream.values()].reduce((a, b) => a + b, 0);
  const lines = [`das-exporter demo: ${s.tally.total} events from ${records} of ${s.written} records delivered in ${s.seconds.toFixed(1)} s`];
  for (const cluster of s.clusters) {
    const classes = [...s.tally.classesOf(cluster.clusterId || cluster.resourceId)].sort((a, b) => b[1] - a[1]);
    const count = classes.reduce((n, [, c]) => n + c, 0);
    lines.push(`  ${cluster.name} (${cluster.engine}): ${count} events; ${classes.map(([name, c]) => `${name} ${c}`).join(', ') || 'none'}`);
  }
  const ratio = s.counters.cacheLookups === 0 ? '-' : `${Math.round((100 * s.counters.cacheHits) / s.counters.cacheLookups)}%`;
  lines.push(
    `  KMS calls: ${s.counters.kmsRequests} Decrypt by the exporter (key cache hits ${ratio}), ${s.kmsCalls.GenerateDataKey ?? 0} GenerateDataKey by the simulator`,
  );
  lines.push(`  dead letters: ${s.counters.deadLetters}`);
  return lines.join('\n') + '\n';
}
