/**
 * Fault 1: `das-exporter run` killed with SIGKILL at seeded random moments,
 * several times, while events keep arriving. Nothing may be lost, and a
 * duplicate is allowed only for a batch that was in flight at a kill:
 * delivered to the backend but not yet checkpointed. After each kill the
 * checkpoint file (final: its writer is dead) says exactly which delivered
 * events were past it; those, and only those, may come again. Run in both
 * consumer modes: polling (one GetRecords batch per shard in flight) and
 * enhanced fan-out (one slice of a SubscribeToShardEvent per shard in flight).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONSUMER_MODES, FaultLab } from './harness/lab.ts';
import { readCheckpoints } from './harness/ledger-check.ts';
import { FAULT_SEED, seeded } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTCRASH0000000000000000';
const SHARDS = 3;
const KILLS = 5;
const LIMIT = 10; // records per GetRecords: small batches, so kills land mid-stream
const UPFRONT = 2000;
const PER_ROUND = 200;

for (const mode of CONSUMER_MODES) describe(`fault 1: SIGKILL at random moments (${mode})`, function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('crash', { mode });
  });
  after(async () => lab?.close());

  it(`loses nothing over ${KILLS} kills, and repeats only events in flight at a kill`, async () => {
    const random = seeded(FAULT_SEED + 1);
    const stream = await lab.stream(CLUSTER, SHARDS);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'crash', seed: FAULT_SEED + 1 });
    const checkpointFile = path.join(lab.stateDir, `${stream}.checkpoints.json`);
    await producer.write(UPFRONT);

    const inFlightAtKill = new Set<string>();
    const restartToDeliveryMs: number[] = [];
    const killedAfterMs: number[] = [];
    let last: ReturnType<FaultLab['exporter']> | undefined;
    for (let round = 0; round <= KILLS; round++) {
      const have = lab.delivered().size;
      const exporter = lab.exporter(stream, { args: ['--get-records-limit', String(LIMIT)] });
      last = exporter;
      const writing = producer.write(PER_ROUND);
      await lab.until(`run ${round} to deliver something new`, () => (lab.delivered().size > have || !exporter.running ? true : undefined), 60_000, 10);
      restartToDeliveryMs.push(Date.now() - exporter.startedAt);
      await writing;
      if (round === KILLS) break;

      // Somewhere in the rest of this run's share of the backlog, then a few random milliseconds more.
      const left = producer.produced.length - lab.delivered().size;
      const target = lab.delivered().size + Math.floor(random() * (left / (KILLS - round + 1)));
      await lab.until(`run ${round} to reach ${target} delivered`, () => (lab.delivered().size >= target || !exporter.running ? true : undefined), 60_000, 5);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 150)));
      assert.ok(exporter.running, `run ${round} exited on its own: ${exporter.stderr.slice(-2000)}`);
      exporter.kill('SIGKILL');
      assert.equal(await exporter.exited, 'SIGKILL');
      killedAfterMs.push(Date.now() - exporter.startedAt);

      // What the next run will read again: delivered, but past its shard's checkpoint.
      const checkpoints = readCheckpoints(checkpointFile);
      const delivered = lab.delivered();
      const past = producer.produced.filter((p) => delivered.has(p.id) && (checkpoints[p.shardId] == null || BigInt(p.sequenceNumber) > BigInt(checkpoints[p.shardId]!)));
      const recordsPastPerShard = new Map<string, Set<string>>();
      for (const p of past) {
        inFlightAtKill.add(p.id);
        recordsPastPerShard.set(p.shardId, (recordsPastPerShard.get(p.shardId) ?? new Set()).add(p.sequenceNumber));
      }
      // One batch per shard: a GetRecords page, or a slice of --get-records-limit records of a subscription event.
      for (const [shard, records] of recordsPastPerShard) {
        assert.ok(records.size <= LIMIT, `kill ${round}: ${records.size} delivered records past the checkpoint of ${shard}, more than one batch (${LIMIT})`);
      }
    }

    await lab.until('every event after the last restart', () => (lab.delivered().size >= producer.produced.length ? true : undefined), 60_000, 100);
    assert.equal(await last!.stop(), 0, 'the last run stops cleanly');
    const v = lab.verdict(producer);
    assert.deepEqual(v.lost, [], 'no event lost');
    assert.deepEqual(v.orderViolations, [], 'order kept per shard and per partition key');
    assert.deepEqual(v.idMismatches, []);
    assert.equal(v.deadLetters.length, 0);
    // Loki drops exact repeats, so a redelivery shows in its duplicate count, not in the ledger.
    assert.ok(v.duplicated <= inFlightAtKill.size, `duplicates ${v.duplicated} ≤ events in flight at the kills ${inFlightAtKill.size}`);
    assert.ok(inFlightAtKill.size <= KILLS * SHARDS * LIMIT * 8, 'in flight ≤ kills × shards × one batch');

    recordRow({
      scenario: `1 SIGKILL ×${KILLS} (seeded), ${lab.modeLabel}`,
      ...verdictColumns(v),
      recoveryMs: Math.max(...restartToDeliveryMs.slice(1)),
      recoveredWhen: 'max restart → first new delivery',
      notes: `${SHARDS} shards, batches of ≤${LIMIT} records${mode === 'efo' ? ' (slices of a subscription event)' : ''} (1–8 events each); kills at ${killedAfterMs.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s into each run; ${inFlightAtKill.size} events were delivered-not-checkpointed at the kills (the bound), ${v.duplicated} came again`,
    });
  });
});
