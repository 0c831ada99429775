/**
 * Fault 3: the backend refuses some records for good. Loki answers 400 for
 * entries a limit refuses (storing the rest of the push), and a gateway in
 * front of it answers 413 for a body over its size limit. Only the refused
 * events may be dead-lettered, each with its reason, shard and sequence
 * number; every other event is delivered.
 */
import assert from 'node:assert/strict';
import { FaultLab } from './harness/lab.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTREJECTS000000000000';
const EVENTS = 1200;
const BODY_LIMIT = 96 * 1024;

const numberIn = (line: string): number | undefined => {
  const m = /fault:rej:(\d+)/.exec(line);
  return m ? Number(m[1]) : undefined;
};
const refusedByLimit = (n: number) => n % 97 === 13;
const tooLarge = (n: number) => n % 300 === 151;

describe('fault 3: permanent rejects (400 and 413)', function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('rejects');
  });
  after(async () => lab?.close());

  it('dead-letters exactly the refused events, with reason, shard and sequence number, and delivers the rest', async () => {
    const stream = await lab.stream(CLUSTER, 2);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'rej', seed: FAULT_SEED + 3 });
    lab.receiver.refuseWhere((entry) => {
      const n = numberIn(entry.line);
      return n !== undefined && refusedByLimit(n);
    }, "entry for stream '{service_name=\"x\"}' has timestamp too old (test limit)");
    lab.otlpProxy.maxBodyBytes(BODY_LIMIT);
    // 120 KiB of SQL: under Loki's 256 KiB line limit, over the gateway's body limit on its own.
    const sqlPadding = (n: number) => (tooLarge(n) ? ` AND note = '${'x'.repeat(120 * 1024)}'` : '');

    await producer.write(EVENTS / 2, { sqlPadding });
    const exporter = lab.exporter(stream);
    await producer.write(EVENTS / 2, { sqlPadding });

    const expectedDead = new Set(producer.produced.filter((p) => refusedByLimit(p.n) || tooLarge(p.n)).map((p) => p.id));
    await lab.until(
      'every event delivered or dead-lettered',
      () => {
        const v = lab.verdict(producer);
        return v.delivered + v.deadLetteredEvents.length >= EVENTS ? v : undefined;
      },
      90_000,
      250,
    );
    assert.equal(await exporter.stop(), 0, 'clean stop');
    const v = lab.verdict(producer);

    assert.deepEqual(v.lost, [], 'no event lost');
    assert.deepEqual(new Set(v.deadLetteredEvents), expectedDead, 'exactly the refused events are dead-lettered');
    assert.equal(v.deadLetters.length, expectedDead.size, 'each once, and nothing else');
    const byEventId = new Map(producer.produced.map((p) => [p.eventId, p]));
    for (const letter of v.deadLetters) {
      const p = byEventId.get(letter.eventId ?? '');
      assert.ok(p, `dead letter for an unknown event: ${JSON.stringify(letter).slice(0, 300)}`);
      assert.equal(letter.reason, 'rejected_by_backend');
      assert.equal(letter.stream, stream);
      assert.equal(letter.shardId, p.shardId);
      assert.equal(letter.sequenceNumber, p.sequenceNumber);
      assert.match(letter.message, tooLarge(p.n) ? /^HTTP 413/ : /^HTTP 400: .*timestamp too old/);
    }
    assert.equal(v.delivered, EVENTS - expectedDead.size, 'everything else delivered');
    assert.deepEqual(v.orderViolations, []);
    assert.deepEqual(v.idMismatches, []);

    const stats = lab.otlpProxy.stats();
    recordRow({
      scenario: '3 permanent rejects (400, 413)',
      ...verdictColumns(v),
      produced: EVENTS,
      recoveryMs: null,
      recoveredWhen: '',
      notes: `${[...expectedDead].filter((id) => refusedByLimit(Number(id.split(':')[2]))).length} refused by a Loki limit (400), ${[...expectedDead].filter((id) => tooLarge(Number(id.split(':')[2]))).length} over a ${BODY_LIMIT / 1024} KiB body limit (413); ${stats.injected['413'] ?? 0} 413s while bisecting, ${stats.total} POSTs; duplicates are Loki dropping entries it already stored from a refused push`,
    });
  });
});
