/**
 * Fault 10: Kinesis-side faults in enhanced fan-out mode, while events keep
 * arriving. kinesis-local's test front (`subscription-faults.ts`) gives
 * successive subscriptions, twice each in a seeded order, every fault a
 * subscription meets on AWS: SubscribeToShard refused with
 * ResourceInUseException and with LimitExceededException, and, mid-stream
 * after 1–3 events with records, an InternalFailureException event, a
 * reset stream (half an event, then RST_STREAM), a reset TCP connection (half
 * an event, then RST) and a stream ended early. Each cut comes between an event
 * the exporter has handled and one it has only partly received.
 *
 * Nothing may be lost and nothing read twice: a subscription is only ever
 * cut between events, so the next one must start right after the last event
 * handled (at-least-once allows no more here than polling allows after a
 * throttled GetRecords: nothing). Each fault is counted under its reason in
 * `das_efo_subscriptions_ended_total`, the exporter keeps its
 * SubscribeToShard calls on a shard apart (Kinesis allows one a second),
 * stays ready (these are transient), and stops with exit 0.
 */
import assert from 'node:assert/strict';
import { FaultLab } from './harness/lab.ts';
import { FAULT_SEED, seeded } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';
import { SUBSCRIPTION_FAULTS, type SubscriptionFault } from '../support/subscription-faults.ts';
import { shuffled } from '../../src/util/shuffle.ts';

const CLUSTER = 'cluster-FAULTEFOCUTS00000000000000';
const SHARDS = 2;
const UPFRONT = 600;
const PER_TICK = 60;

/**
 * The reasons das_efo_subscriptions_ended_total may count each fault under. A reset connection reaches the SDK
 * either as an error or as the quiet end of its event stream, depending on where the reset lands.
 */
const COUNTED_AS: Record<SubscriptionFault, readonly string[]> = {
  resource_in_use: ['resource_in_use'],
  limit_exceeded: ['limit_exceeded'],
  internal_failure: ['internal_failure'],
  stream_reset: ['network'],
  connection_reset: ['network', 'ended_early'],
  ended_early: ['ended_early'],
};
const REASONS = [...new Set(Object.values(COUNTED_AS).flat())];

describe('fault 10: enhanced fan-out subscriptions refused, failed, reset and ended early', function () {
  this.timeout(240_000);
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('efo-cuts', { mode: 'efo' });
  });
  after(async () => lab?.close());

  it('loses nothing, reads nothing twice, counts each fault by reason, and keeps its calls on a shard apart', async () => {
    const random = seeded(FAULT_SEED + 10);
    const stream = await lab.stream(CLUSTER, SHARDS);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'efo', seed: FAULT_SEED + 10 });
    const faults = lab.subscriptionFaults;
    const planned = shuffled([...SUBSCRIPTION_FAULTS, ...SUBSCRIPTION_FAULTS], random);
    faults.schedule(planned, random);
    await producer.write(UPFRONT);
    const exporter = lab.exporter(stream, { args: ['--get-records-limit', '100'] });

    // Events keep arriving until every fault has struck, so each cut lands while data flows.
    const started = Date.now();
    const struck = () => Object.values(faults.injected).reduce((a, b) => a + b, 0);
    const notReady: string[] = [];
    let wasReady = false;
    while (struck() < planned.length) {
      assert.ok(exporter.running, `the exporter exited during the faults: ${exporter.stderr.slice(-2000)}`);
      assert.ok(Date.now() - started < 120_000, `only ${struck()} of ${planned.length} faults struck in 120 s (${JSON.stringify(faults.injected)}): ${exporter.stderr.slice(-2000)}`);
      await producer.write(PER_TICK);
      if (exporter.metricsUrl) {
        const { body } = await exporter.readyz();
        if (!body.ready && wasReady) notReady.push(JSON.stringify(body.streams));
        wasReady ||= body.ready;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    const faultsOver = Date.now();
    await producer.write(PER_TICK);
    await lab.until('every event', () => (lab.delivered().size >= producer.produced.length ? true : undefined), 60_000, 100);
    const recoveryMs = Date.now() - faultsOver;
    const counted = Object.fromEntries(await Promise.all(REASONS.map(async (reason) => [reason, await exporter.metricSum('das_efo_subscriptions_ended_total', { reason })] as const)));
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    assert.deepEqual(v.lost, [], 'no event lost');
    assert.equal(v.duplicated, 0, 'nothing read twice: every resubscription started right after the last event handled');
    assert.deepEqual(v.orderViolations, []);
    assert.equal(v.deadLetters.length, 0, 'a subscription fault dead-letters nothing');
    assert.ok(wasReady, 'the exporter became ready');
    assert.deepEqual(notReady, [], 'once ready, transient subscription faults never make the exporter unready');

    // Every group of reasons counts at least the faults that can only be counted within it.
    for (const reasons of new Set(Object.values(COUNTED_AS))) {
      const injected = planned.filter((fault) => COUNTED_AS[fault].every((r) => reasons.includes(r))).length;
      const seen = reasons.reduce((n, r) => n + counted[r]!, 0);
      assert.ok(seen >= injected, `das_efo_subscriptions_ended_total{reason=~"${reasons.join('|')}"} is ${seen}, for ${injected} faults injected (counted: ${JSON.stringify(counted)}; injected: ${JSON.stringify(faults.injected)})`);
    }

    // Kinesis allows one SubscribeToShard a second per consumer and shard. The exporter keeps 1 s between its calls; the
    // bound here is half that, room for this busy test process's own delays, and still far from a retry storm.
    const tooSoon: string[] = [];
    const byShard = new Map<string, number[]>();
    for (const call of faults.calls) byShard.set(call.ShardId, [...(byShard.get(call.ShardId) ?? []), call.at]);
    for (const [shardId, at] of byShard) for (let i = 1; i < at.length; i++) if (at[i]! - at[i - 1]! < 500) tooSoon.push(`${shardId}: ${at[i]! - at[i - 1]!} ms`);
    assert.deepEqual(tooSoon, [], 'no two SubscribeToShard calls on a shard within half a second');
    const afterHandled = faults.calls.filter((c) => c.StartingPosition.Type === 'AFTER_SEQUENCE_NUMBER').length;

    recordRow({
      scenario: `10 enhanced fan-out subscriptions refused, failed, reset, ended early (kinesis-local)`,
      ...verdictColumns(v),
      recoveryMs,
      recoveredWhen: 'last fault → every event delivered',
      notes: `${planned.length} faults over ${((faultsOver - started) / 1000).toFixed(1)} s (${SUBSCRIPTION_FAULTS.join(', ')}, twice each); ${faults.calls.length} SubscribeToShard calls on ${SHARDS} shards, ${afterHandled} of them AFTER_SEQUENCE_NUMBER; counted as ${Object.entries(counted).map(([r, n]) => `${r} ${n}`).join(', ')}`,
    });
  });
});
