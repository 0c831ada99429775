/**
 * What the backend-outage scenarios (2: logs, 9: traces) share: the four
 * ways a backend goes away, one after the other while the database keeps
 * writing; a watch that samples the exporter's RSS and checks its checkpoint
 * file against what the receivers hold every 200 ms; and how much the source
 * pulled from Kinesis meanwhile (the backpressure check).
 */
import assert from 'node:assert/strict';
import type { ScriptedAnswer } from '../../support/loki-receiver.ts';
import type { ExporterProcess } from './exporter-process.ts';
import type { FaultProxy } from './fault-proxy.ts';
import type { FaultLab } from './lab.ts';
import { checkpointAheadOfLedger, readCheckpoints } from './ledger-check.ts';
import type { EventProducer } from './producer.ts';

/** A backend to take down: its receiver's standing answer and the fault proxy in front of it. */
export interface OutageTarget {
  answerAlways(answer: ScriptedAnswer | null): void;
  proxy: FaultProxy;
}

/** 503, 429 with Retry-After: 1, refused connections, requests hanging past the exporter's timeout: each with the backend's own words. */
export function outagePhases(target: OutageTarget, messages: { unavailable: string; rateLimited: string }): [string, () => Promise<void>][] {
  return [
    ['503', async () => target.answerAlways({ status: 503, message: messages.unavailable })],
    ['429 Retry-After: 1', async () => target.answerAlways({ status: 429, message: messages.rateLimited, retryAfter: '1' })],
    // Each switch closes the old way before it opens the new one. While connections are refused the backend
    // keeps refusing too: a request the proxy read just before it closed is still forwarded (on a connection of
    // its own) and must not be stored when it lands.
    ['connection refused', async () => {
      await target.proxy.refuseConnections();
      target.answerAlways({ status: 503, message: messages.unavailable });
    }],
    ['hang past the 1 s timeout', async () => {
      target.answerAlways({ hang: true });
      await target.proxy.acceptConnections();
    }],
  ];
}

/** What the source pulled from Kinesis so far: GetRecords calls (polling, counted by the fault proxy), or records pushed to it (efo). */
export function kinesisPulls(lab: FaultLab, exporter: ExporterProcess): () => Promise<number> {
  return async () => {
    if (lab.mode === 'polling') return lab.kinesisProxy.stats().byOperation.GetRecords ?? 0;
    const metrics = await (await fetch(`${exporter.metricsUrl}/metrics`)).text();
    return [...metrics.matchAll(/^das_efo_received_records_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
}

/**
 * Runs the phases back to back, `perPhase` events written at the start of
 * each and `phaseMs` of it; returns what the source pulled during them and
 * how many distinct records were written.
 */
export async function runOutage(
  phases: readonly [string, () => Promise<void>][],
  producer: EventProducer,
  pulled: () => Promise<number>,
  options: { perPhase: number; phaseMs: number },
): Promise<{ pulledDuringOutage: number; recordsDuringOutage: number }> {
  const recordsBefore = new Set(producer.produced.map((p) => p.sequenceNumber)).size;
  let pulledDuringOutage = 0;
  for (const [, begin] of phases) {
    await begin();
    const from = await pulled();
    await producer.write(options.perPhase);
    await new Promise((r) => setTimeout(r, options.phaseMs));
    pulledDuringOutage += (await pulled()) - from;
  }
  return { pulledDuringOutage, recordsDuringOutage: new Set(producer.produced.map((p) => p.sequenceNumber)).size - recordsBefore };
}

/** Samples RSS and checks the checkpoint file against `delivered()` (produced ids the receivers hold) every 200 ms until stopped. */
export class OutageWatch {
  readonly rss: number[] = [];
  readonly aheadSeen: string[] = [];
  checks = 0;
  #running = true;
  readonly #done: Promise<void>;

  constructor(exporter: ExporterProcess, checkpointFile: string, producer: EventProducer, delivered: () => Set<string>) {
    this.#done = (async () => {
      while (this.#running) {
        const r = exporter.rssBytes();
        if (r !== undefined) this.rss.push(r);
        // Checkpoint first, receivers second: they can only have grown in between.
        const checkpoints = readCheckpoints(checkpointFile);
        this.aheadSeen.push(...checkpointAheadOfLedger(checkpoints, producer.produced, delivered(), new Set()));
        this.checks++;
        await new Promise((res) => setTimeout(res, 200));
      }
    })();
  }

  get maxRss(): number {
    return Math.max(...this.rss);
  }

  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }
}

const MiB = 1024 * 1024;

/**
 * Memory stayed bounded (RSS within 150 MiB of before the outage: generous,
 * it catches unbounded buffering, not noise) and the source stopped reading
 * while batches waited: polling made at most two GetRecords per shard and
 * phase; enhanced fan-out took at most half the records written during the
 * outage (the events the waiting batches came from), the rest staying in
 * Kinesis. Returns the row's note on it.
 */
export function assertBoundedDuringOutage(
  lab: FaultLab,
  watch: OutageWatch,
  baselineRss: number,
  o: { phases: number; shards: number; pulledDuringOutage: number; recordsDuringOutage: number },
): string {
  const { maxRss } = watch;
  assert.ok(maxRss < baselineRss + 150 * MiB, `RSS ${Math.round(maxRss / MiB)} MiB vs ${Math.round(baselineRss / MiB)} MiB before the outage`);
  if (lab.mode === 'polling') {
    assert.ok(o.pulledDuringOutage <= o.phases * o.shards * 2, `the source stopped polling while batches waited (${o.pulledDuringOutage} GetRecords during the outage)`);
  } else {
    assert.ok(o.pulledDuringOutage <= o.recordsDuringOutage / 2, `the subscriptions were not read while batches waited (${o.pulledDuringOutage} of the ${o.recordsDuringOutage} records written during the outage pushed)`);
  }
  const pulled = lab.mode === 'polling' ? `${o.pulledDuringOutage} GetRecords` : `${o.pulledDuringOutage} of ${o.recordsDuringOutage} records pushed`;
  return `RSS ${Math.round(baselineRss / MiB)} → max ${Math.round(maxRss / MiB)} MiB; ${pulled} during the outage (backpressure); ${watch.checks} checkpoint reads`;
}
