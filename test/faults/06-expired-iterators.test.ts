/**
 * Fault 6: the consumer stalls (the backend answers 503) past shard iterator
 * expiry, so the iterators it holds are dead when it comes back. Kinesis
 * expires an iterator after 5 minutes; the proxy does it after 1.5 s, by the
 * same rule (GetRecords on an iterator handed out longer ago answers 400
 * `ExpiredIteratorException`), so the real recovery path runs: a new
 * AFTER_SEQUENCE_NUMBER iterator at the last delivered record. Resuming
 * there exactly means nothing lost (not later) and nothing read twice (not
 * earlier).
 */
import assert from 'node:assert/strict';
import { FaultLab } from './harness/lab.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTITERATOR0000000000000';
const SHARDS = 2;
const EXPIRY_MS = 1_500;
const STALL_MS = 4_000;

describe('fault 6: shard iterators expire while the consumer is stalled', function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('iterators');
  });
  after(async () => lab?.close());

  it('resumes right after the last delivered record: nothing lost, nothing read twice', async () => {
    const stream = await lab.stream(CLUSTER, SHARDS);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'iter', seed: FAULT_SEED + 6 });
    lab.kinesisProxy.iteratorExpiry(EXPIRY_MS);
    await producer.write(500);
    const exporter = lab.exporter(stream, { args: ['--get-records-limit', '50'] });
    await lab.until('the first events', () => (lab.delivered().size >= 500 ? true : undefined), 60_000);

    lab.receiver.answerAlways({ status: 503, message: 'Ingester is unavailable' });
    await producer.write(600);
    await new Promise((r) => setTimeout(r, STALL_MS));
    const iteratorRequestsBefore = lab.kinesisProxy.iteratorRequests.length;
    lab.receiver.answerAlways(null);
    const stallEnd = Date.now();
    await producer.write(300);
    await lab.until('every event', () => (lab.delivered().size >= producer.produced.length ? true : undefined), 60_000, 100);
    const recoveryMs = Date.now() - stallEnd;
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    const expired = lab.kinesisProxy.stats().injected.expired_iterator ?? 0;
    const resumed = lab.kinesisProxy.iteratorRequests.slice(iteratorRequestsBefore).map((r) => r.body.ShardIteratorType);
    assert.ok(expired >= SHARDS, `every shard's iterator expired at least once (${expired})`);
    assert.ok(resumed.length >= SHARDS && resumed.every((t) => t === 'AFTER_SEQUENCE_NUMBER'), `new iterators after the last delivered record (${resumed.join(', ')})`);
    assert.deepEqual(v.lost, [], 'nothing lost: it did not resume later');
    assert.equal(v.duplicated, 0, 'nothing read twice: it did not resume earlier');
    assert.deepEqual(v.orderViolations, []);
    assert.equal(v.deadLetters.length, 0);

    recordRow({
      scenario: '6 expired iterators after a stall',
      ...verdictColumns(v),
      recoveryMs,
      recoveredWhen: 'stall over → every event delivered',
      notes: `iterators expire after ${EXPIRY_MS / 1000} s (Kinesis: 300 s); ${STALL_MS / 1000} s stall; ${expired} ExpiredIteratorException answered; ${resumed.length} new iterators, all AFTER_SEQUENCE_NUMBER the last checkpoint`,
    });
  });
});
