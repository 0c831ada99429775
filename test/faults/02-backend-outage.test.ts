/**
 * Fault 2: the log backend goes away in every way it can, one after the
 * other, while the database keeps writing: 503, then 429 with Retry-After,
 * then refused connections (the listener closed), then requests that hang
 * past the exporter's OTLP timeout (set to 1 s here). Nothing may be lost;
 * the checkpoint may never get ahead of what the ledger holds (read from the
 * checkpoint file throughout); memory stays bounded (the child's RSS from
 * /proc) because the source stops reading while a batch waits (polling: no
 * GetRecords; enhanced fan-out: the subscription's HTTP/2 stream is not read,
 * so no further event arrives); and the backlog drains once the backend is
 * back. Run in both consumer modes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONSUMER_MODES, FaultLab } from './harness/lab.ts';
import { checkpointAheadOfLedger, readCheckpoints } from './harness/ledger-check.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTOUTAGE000000000000000';
const SHARDS = 2;
const PHASE_MS = 3_000;
const BEFORE = 600;
const PER_PHASE = 400;
const MiB = 1024 * 1024;

for (const mode of CONSUMER_MODES) describe(`fault 2: backend outage (503, 429, refused, hung) (${mode})`, function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('outage', { mode });
  });
  after(async () => lab?.close());

  it('loses nothing, never checkpoints past the ledger, stays bounded in memory, and drains the backlog', async () => {
    const stream = await lab.stream(CLUSTER, SHARDS);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'outage', seed: FAULT_SEED + 2 });
    const checkpointFile = path.join(lab.stateDir, `${stream}.checkpoints.json`);
    await producer.write(BEFORE);
    const exporter = lab.exporter(stream, { env: { OTEL_EXPORTER_OTLP_TIMEOUT: '1000' }, args: ['--get-records-limit', '200'] });
    await lab.until('the events written before the outage', () => (lab.delivered().size >= BEFORE ? true : undefined), 60_000);
    const baselineRss = exporter.rssBytes()!;

    const rss: number[] = [];
    const aheadSeen: string[] = [];
    let checks = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = exporter.rssBytes();
        if (r !== undefined) rss.push(r);
        // Checkpoint first, ledger second: the ledger can only have grown in between.
        const checkpoints = readCheckpoints(checkpointFile);
        const deadLettered = new Set<string>();
        aheadSeen.push(...checkpointAheadOfLedger(checkpoints, producer.produced, lab.delivered(), deadLettered));
        checks++;
        await new Promise((res) => setTimeout(res, 200));
      }
    })();

    // What the source pulled from Kinesis: GetRecords calls (polling, counted by the fault proxy), or records pushed to it (efo).
    const pulledAt = async (): Promise<number> => {
      if (mode === 'polling') return lab.kinesisProxy.stats().byOperation.GetRecords ?? 0;
      const metrics = await (await fetch(`${exporter.metricsUrl}/metrics`)).text();
      return [...metrics.matchAll(/^das_efo_received_records_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
    };
    const phases: [string, () => Promise<void>][] = [
      ['503', async () => lab.receiver.answerAlways({ status: 503, message: 'Ingester is unavailable' })],
      ['429 Retry-After: 1', async () => lab.receiver.answerAlways({ status: 429, message: 'Ingestion rate limit exceeded', retryAfter: '1' })],
      ['connection refused', async () => {
        lab.receiver.answerAlways(null);
        await lab.otlpProxy.refuseConnections();
      }],
      ['hang past the 1 s timeout', async () => {
        await lab.otlpProxy.acceptConnections();
        lab.receiver.answerAlways({ hang: true });
      }],
    ];
    const outageStart = Date.now();
    const deliveredAtStart = lab.delivered().size;
    let pulledDuringOutage = 0;
    const recordsBefore = new Set(producer.produced.map((p) => p.sequenceNumber)).size;
    for (const [, begin] of phases) {
      await begin();
      const from = await pulledAt();
      await producer.write(PER_PHASE);
      await new Promise((r) => setTimeout(r, PHASE_MS));
      pulledDuringOutage += (await pulledAt()) - from;
    }
    const recordsDuringOutage = new Set(producer.produced.map((p) => p.sequenceNumber)).size - recordsBefore;
    const deliveredDuringOutage = lab.delivered().size - deliveredAtStart;
    lab.receiver.answerAlways(null);
    const outageEnd = Date.now();
    await lab.until('the backlog to drain', () => (lab.delivered().size >= producer.produced.length ? true : undefined), 90_000, 100);
    const recoveryMs = Date.now() - outageEnd;
    sampling = false;
    await sampler;
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    const maxRss = Math.max(...rss);
    assert.deepEqual(v.lost, [], 'no event lost');
    assert.deepEqual(aheadSeen, [], `the checkpoint was never ahead of the ledger (${checks} reads)`);
    assert.equal(deliveredDuringOutage, 0, 'nothing reached the ledger during the outage');
    assert.equal(v.deadLetters.length, 0, 'an outage dead-letters nothing');
    assert.deepEqual(v.orderViolations, []);
    // One batch per shard waits; the backlog stays in Kinesis. Generous: catches unbounded buffering, not noise.
    assert.ok(maxRss < baselineRss + 150 * MiB, `RSS ${Math.round(maxRss / MiB)} MiB vs ${Math.round(baselineRss / MiB)} MiB before the outage`);
    if (mode === 'polling') {
      assert.ok(pulledDuringOutage <= phases.length * SHARDS * 2, `the source stopped polling while batches waited (${pulledDuringOutage} GetRecords during the outage)`);
    } else {
      // At most the one event per shard a waiting batch came from: the later phases' records stay in Kinesis.
      assert.ok(pulledDuringOutage <= recordsDuringOutage / 2, `the subscriptions were not read while batches waited (${pulledDuringOutage} of the ${recordsDuringOutage} records written during the outage pushed)`);
    }

    recordRow({
      scenario: `2 backend outage (503 → 429 → refused → hung), ${lab.modeLabel}`,
      produced: v.produced,
      delivered: v.delivered,
      lost: v.lost.length,
      duplicated: v.duplicated,
      storedTwice: v.storedTwice,
      deadLettered: v.deadLetters.length,
      recoveryMs,
      recoveredWhen: 'backend back → backlog drained',
      notes: `${((outageEnd - outageStart) / 1000).toFixed(1)} s outage (${phases.length} × ${PHASE_MS / 1000} s) with ${PER_PHASE * phases.length} events written during it; RSS ${Math.round(baselineRss / MiB)} → max ${Math.round(maxRss / MiB)} MiB; ${checks} checkpoint reads, none ahead of the ledger; ${mode === 'polling' ? `${pulledDuringOutage} GetRecords` : `${pulledDuringOutage} of ${recordsDuringOutage} records pushed`} during the outage (backpressure)`,
    });
  });
});
