/**
 * Fault 4: records in the stream that can never be opened, between good
 * ones. Each must be dead-lettered exactly once with its own reason, shard
 * and sequence number (and its original bytes), and the events around it
 * must keep flowing. A 1 MB event is not bad: it is delivered with its body
 * cut at Loki's 256 KiB line limit and the full length kept.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { kmsDataKeySource, DasRecordFactory } from '../../src/demo/record-factory.ts';
import { flipCiphertextByte, rewritePayload } from '../support/record-mutations.ts';
import { FaultLab } from './harness/lab.ts';
import { pgEvent } from './harness/producer.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTBADRECORDS0000000000';
const OTHER_CLUSTER = 'cluster-SOMEOTHERCLUSTER000000000';
const GOOD_BETWEEN = 150;

describe('fault 4: bad records in the stream', function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('bad-records');
  });
  after(async () => lab?.close());

  it('dead-letters each bad record once with its reason, and keeps delivering the good ones around it', async () => {
    const stream = await lab.stream(CLUSTER, 2);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'bad', seed: FAULT_SEED + 4 });
    const good = async (events: unknown[]) => producer.factory.record({ clusterId: CLUSTER, instanceId: 'db-FAULTINSTANCE', events });
    const other = new DasRecordFactory({ resourceId: OTHER_CLUSTER, dataKeys: kmsDataKeySource(lab.kmsClient, lab.keyId) });

    const exporter = lab.exporter(stream);
    const bad: [kind: string, reason: string, make: () => Promise<Uint8Array>][] = [
      ['truncated base64', 'bad_base64', async () => {
        const envelope = JSON.parse(Buffer.from(await good([pgEvent('x', 0, new Date())])).toString('utf8')) as Record<string, string>;
        envelope.databaseActivityEvents = envelope.databaseActivityEvents!.slice(0, -3);
        return Buffer.from(JSON.stringify(envelope));
      }],
      ['broken JSON', 'invalid_json', async () => {
        const data = await good([pgEvent('x', 0, new Date())]);
        return data.subarray(0, Math.floor(data.length / 2));
      }],
      ['flipped ciphertext byte', 'auth_tag_mismatch', async () => rewritePayload(await good([pgEvent('x', 0, new Date())]), flipCiphertextByte)],
      ['wrong encryption context', 'kms_invalid_ciphertext', async () => other.record({ clusterId: OTHER_CLUSTER, instanceId: 'db-OTHER', events: [pgEvent('x', 0, new Date())] })],
      // 80 MiB of zeros gzip to ~80 KB: past the 64 MiB --max-record-bytes default.
      ['gzip bomb', 'too_large', async () => producer.factory.recordFromPlaintext(gzipSync(Buffer.alloc(80 * 1024 * 1024), { level: 9 }))],
      ['plaintext that is not gzip', 'not_gzip', async () => producer.factory.recordFromPlaintext(Buffer.from('{"type":"DatabaseActivityMonitoringRecord"}'))],
      ['gzip of broken event JSON', 'invalid_event_json', async () => producer.factory.recordFromPlaintext(gzipSync('{"type":"DatabaseActivityMonitoringRecord","databaseActivityEventList":[{"type":"rec')) ],
    ];
    for (const [kind, reason, make] of bad) {
      await producer.write(GOOD_BETWEEN);
      await producer.writeBad(kind, reason, await make());
    }
    // A 1 MB event (hex, so it stays large after gzip: a ~700 KB Kinesis record).
    const bigPadding = ` AND blob = '${randomBytes(500 * 1024).toString('hex')}'`;
    const [big] = await producer.write(1, { sqlPadding: () => bigPadding });
    await producer.write(GOOD_BETWEEN);
    const produced = producer.produced.length;

    await lab.until(
      'every good event delivered and every bad record dead-lettered',
      () => {
        const v = lab.verdict(producer);
        return v.delivered >= produced && v.deadLetters.length >= bad.length ? v : undefined;
      },
      90_000,
      250,
    );
    // A moment more, so a second dead letter for the same record would show.
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(await exporter.stop(), 0, 'clean stop');
    const v = lab.verdict(producer);

    assert.deepEqual(v.lost, [], 'no good event lost');
    assert.equal(v.delivered, produced);
    assert.deepEqual(v.orderViolations, []);
    const outcomes = producer.bad.map((b) => {
      const letters = v.deadLetters.filter((d) => d.shardId === b.shardId && d.sequenceNumber === b.sequenceNumber);
      return { kind: b.kind, expected: b.expectedReason, got: letters.map((l) => l.reason), withData: letters.every((l) => typeof l.data === 'string' && l.data.length > 0) };
    });
    for (const o of outcomes) {
      assert.deepEqual(o.got, [o.expected], `${o.kind}: dead-lettered once as ${o.expected} (got ${JSON.stringify(o.got)})`);
      assert.ok(o.withData, `${o.kind}: the dead letter keeps the record's bytes`);
    }
    assert.equal(v.deadLetters.length, bad.length, 'no other dead letter');

    const bigEntry = lab.receiver.ledger.find((e) => e.eventId === big!.eventId);
    assert.ok(bigEntry, 'the 1 MB event was delivered');
    assert.ok(Buffer.byteLength(bigEntry.line) <= 256 * 1024, 'its line fits Loki');
    assert.match(bigEntry.line, /…\[truncated: \d+ bytes in all\]$/);
    assert.ok(Number(bigEntry.metadata.aws_rds_das_query_text_length) > 1_000_000, 'the full length is kept');

    recordRow({
      scenario: '4 bad records in the stream',
      ...verdictColumns(v),
      produced: produced + bad.length,
      recoveryMs: null,
      recoveredWhen: '',
      notes: `${bad.length} bad records, each dead-lettered once: ${outcomes.map((o) => `${o.kind} → ${o.got.join(',')}`).join('; ')}; the 1 MB event delivered, cut to 256 KiB with its length kept (produced counts events + bad records)`,
    });
  });
});
