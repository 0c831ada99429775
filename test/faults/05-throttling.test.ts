/**
 * Fault 5: a fifth of every Kinesis and KMS call is throttled (Kinesis
 * `ProvisionedThroughputExceededException` / `LimitExceededException`, KMS
 * `ThrottlingException`, as the services send them). Nothing may be lost or
 * dead-lettered (throttling is never bad data), and the exporter must not
 * answer throttling with a storm: requests per second stay bounded.
 */
import assert from 'node:assert/strict';
import { FaultLab } from './harness/lab.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTTHROTTLE0000000000000';
const SHARDS = 3;
const EVENTS = 2000;
const SHARE = 0.2;

describe('fault 5: 20 % of Kinesis and KMS calls throttled', function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('throttle');
  });
  after(async () => lab?.close());

  it('loses nothing, dead-letters nothing, and keeps the request rate bounded', async () => {
    const stream = await lab.stream(CLUSTER, SHARDS);
    // A new data key every 2 records: plenty of KMS Decrypt calls to throttle.
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'thr', seed: FAULT_SEED + 5, recordsPerDataKey: 2 });
    lab.kinesisProxy.throttle(SHARE, FAULT_SEED + 51);
    lab.kmsProxy.throttle(SHARE, FAULT_SEED + 52);
    await producer.write(EVENTS / 4);
    const started = Date.now();
    const exporter = lab.exporter(stream, { args: ['--get-records-limit', '25'] });
    // The rest arrives over ~6 s, so shards keep polling (and being throttled) the whole time.
    for (let i = 0; i < 6; i++) {
      await producer.write(EVENTS / 8);
      await new Promise((r) => setTimeout(r, 1_000));
    }
    await lab.until('every event', () => (lab.delivered().size >= EVENTS ? true : undefined), 90_000, 100);
    const tookMs = Date.now() - started;
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    const dataKeys = Math.ceil(producer.recordsWritten / 2);
    const kinesis = lab.kinesisProxy.stats();
    const kms = lab.kmsProxy.stats();
    assert.deepEqual(v.lost, []);
    assert.equal(v.deadLetters.length, 0, 'throttling dead-letters nothing');
    assert.deepEqual(v.orderViolations, []);
    assert.ok((kinesis.injected.throttled ?? 0) > 0 && (kms.injected.throttled ?? 0) > 0, 'both were really throttled');
    // Polling allows 5 GetRecords a second per shard; retries back off. A storm would be hundreds.
    assert.ok(kinesis.maxPerSecond <= SHARDS * 5 * 2 + 5, `Kinesis peaked at ${kinesis.maxPerSecond} requests/s`);
    // No storm on KMS either: each data key is decrypted successfully once (cache, single flight); every other call retried a throttle.
    assert.equal(kms.total - (kms.injected.throttled ?? 0), dataKeys, `successful KMS calls = distinct data keys (${dataKeys})`);

    recordRow({
      scenario: '5 throttling 20 % (Kinesis + KMS)',
      ...verdictColumns(v),
      recoveryMs: null,
      recoveredWhen: '',
      notes: `Kinesis: ${kinesis.total} calls, ${kinesis.injected.throttled ?? 0} throttled, max ${kinesis.maxPerSecond} req/s (${SHARDS} shards); KMS: ${kms.total} calls for ${dataKeys} data keys, ${kms.injected.throttled ?? 0} throttled, max ${kms.maxPerSecond} req/s; all delivered ${(tookMs / 1000).toFixed(1)} s after start`,
    });
  });
});
