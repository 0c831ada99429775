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
import { assertBoundedDuringOutage, kinesisPulls, OutageWatch, outagePhases, runOutage } from './harness/outage.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTOUTAGE000000000000000';
const SHARDS = 2;
const PHASE_MS = 3_000;
const BEFORE = 600;
const PER_PHASE = 400;

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
    const watch = new OutageWatch(exporter, checkpointFile, producer, () => lab.delivered());

    const phases = outagePhases({ answerAlways: (a) => lab.receiver.answerAlways(a), proxy: lab.otlpProxy }, { unavailable: 'Ingester is unavailable', rateLimited: 'Ingestion rate limit exceeded' });
    const outageStart = Date.now();
    const deliveredAtStart = lab.delivered().size;
    const { pulledDuringOutage, recordsDuringOutage } = await runOutage(phases, producer, kinesisPulls(lab, exporter), { perPhase: PER_PHASE, phaseMs: PHASE_MS });
    const deliveredDuringOutage = lab.delivered().size - deliveredAtStart;
    lab.receiver.answerAlways(null);
    const outageEnd = Date.now();
    await lab.until('the backlog to drain', () => (lab.delivered().size >= producer.produced.length ? true : undefined), 90_000, 100);
    const recoveryMs = Date.now() - outageEnd;
    await watch.stop();
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    const { aheadSeen, checks } = watch;
    assert.deepEqual(v.lost, [], 'no event lost');
    assert.deepEqual(aheadSeen, [], `the checkpoint was never ahead of the ledger (${checks} reads)`);
    assert.equal(deliveredDuringOutage, 0, 'nothing reached the ledger during the outage');
    assert.equal(v.deadLetters.length, 0, 'an outage dead-letters nothing');
    assert.deepEqual(v.orderViolations, []);
    const bounded = assertBoundedDuringOutage(lab, watch, baselineRss, { phases: phases.length, shards: SHARDS, pulledDuringOutage, recordsDuringOutage });

    recordRow({
      scenario: `2 backend outage (503 → 429 → refused → hung), ${lab.modeLabel}`,
      ...verdictColumns(v),
      recoveryMs,
      recoveredWhen: 'backend back → backlog drained',
      notes: `${((outageEnd - outageStart) / 1000).toFixed(1)} s outage (${phases.length} × ${PHASE_MS / 1000} s) with ${PER_PHASE * phases.length} events written during it; ${bounded}, none ahead of the ledger`,
    });
  });
});
