/**
 * Records prepared in worker threads against the plain path on the main
 * thread, on the same encrypted records of simulated traffic of every
 * engine: the same OTLP/protobuf bytes, metric tallies, event ids and
 * events; the same failure reasons; and nothing lost when a worker is.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { contextResolver } from '../../src/cli/wiring.ts';
import { NativePayloadDecryptor } from '../../src/decrypt/fast/native-payload.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import { DasRecordFactory } from '../../src/demo/record-factory.ts';
import { flipCiphertextByte, InMemoryDataKeys, rewritePayload } from '../support/record-mutations.ts';
import { DEMO_CLUSTERS, TrafficEncryptor, TrafficSimulator } from '../../src/demo/traffic.ts';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { isDasError } from '../../src/errors.ts';
import { Pipeline, type OpenedRecord } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { tallyEvents } from '../../src/sinks/metrics-tally.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { assembleLogsRequest, type EncodedRef } from '../../src/sinks/otlp/protobuf.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import type { EncryptionContext, SourceRecord } from '../../src/source/record.ts';
import { DasRecordOpener, unlock, type DataKeySource } from '../../src/record/opener.ts';
import { gunzipCappedSync } from '../../src/decrypt/gunzip.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import type { DecodedRecord } from '../../src/events/model.ts';
import { PreparePool } from '../../src/workers/pool.ts';
import type { PrepareSetup } from '../../src/record/processor.ts';
import { LOGS_STEP, METRICS_STEP } from '../../src/sinks/prepared.ts';
import type { EncodedLogRecords } from '../../src/sinks/otlp/protobuf.ts';

const OBSERVED_MS = Date.parse('2026-11-22T04:00:00.123Z');
const SETUP: PrepareSetup = {
  redact: 'passwords',
  maxRecordBytes: 1024 * 1024,
  resources: { region: 'eu-west-1', accountId: '111122223333', serviceNames: { [DEMO_CLUSTERS[0]!.resourceId]: 'orders' } },
  steps: [LOGS_STEP, METRICS_STEP],
};


function refsOf(records: readonly OpenedRecord[]): EncodedRef[] {
  return records.flatMap((r) => {
    const set = r.prepared!.results[LOGS_STEP] as EncodedLogRecords;
    return Array.from(set.ends, (_, index) => ({ set, index }));
  });
}

/** The steps composed by hand, apart from the processor and the opener: the reference they are held to. */
function byHand(dataKeys: DataKeySource, contextFor: (record: SourceRecord) => EncryptionContext): { open(record: SourceRecord): Promise<DecodedRecord> } {
  const decryptor = new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() });
  return {
    open: async (record) => {
      const { payload, dataKey, decode } = await unlock(record, { dataKeys, contextFor });
      const json = gunzipCappedSync(await decryptor.decrypt(payload, dataKey), SETUP.maxRecordBytes);
      return enrichRecord(decodeRecord(json, decode), SETUP.redact);
    },
  };
}

/** Events as JSON, bigints as strings: what deepEqual can compare across threads. */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));

describe('records prepared in worker threads', function () {
  this.timeout(120_000);
  const keys = new InMemoryDataKeys();
  const dataKeys = keys;
  const contextFor = contextResolver({});
  const records: SourceRecord[] = [];
  let pool: PreparePool;

  before(async () => {
    const simulator = new TrafficSimulator({ seed: 11, clock: () => Date.parse('2026-11-22T04:00:00Z'), rate: 150 });
    const encryptor = new TrafficEncryptor({ dataKeys: keys, clusters: DEMO_CLUSTERS, recordsPerDataKey: 10 });
    for (const batch of simulator.tick(60_000)) {
      const encrypted = await encryptor.encrypt(batch);
      records.push({ stream: encrypted.stream, shardId: 'shardId-000000000001', sequenceNumber: String(records.length + 1), data: encrypted.data });
    }
    pool = new PreparePool({ size: 2, setup: SETUP });
  });

  after(async () => {
    await pool.close();
  });

  it('prepare in two workers exactly what the main thread prepares, and what the plain opener, mapper and tally give', async () => {
    const fallbacks: string[] = [];
    const inWorkers = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP, pool, clock: () => OBSERVED_MS, onLocalFallback: (r) => fallbacks.push(r) });
    const onMain = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP, clock: () => OBSERVED_MS });
    const plainOpener = byHand(dataKeys, contextFor);
    // The same opener without prepare steps: records opened for their events.
    const forEvents = new DasRecordOpener({ dataKeys, contextFor, setup: { ...SETUP, steps: [] } });
    const mapper = new LogRecordMapper({ resources: new ResourceCatalog(SETUP.resources), clock: () => new Date(OBSERVED_MS) });

    const fromWorkers = await Promise.all(records.map((r) => inWorkers.open(r)));
    const fromMain = await Promise.all(records.map((r) => onMain.open(r)));
    // Alone, a record is inflated on the main thread itself rather than on the thread pool: the same result.
    const oneByOne: OpenedRecord[] = [];
    for (const r of records) oneByOne.push(await onMain.open(r));
    const reference = await Promise.all(records.map((r) => plainOpener.open(r)));
    const opened = await Promise.all(records.map((r) => forEvents.open(r)));
    assert.ok(opened.every((r) => r.prepared === undefined), 'without steps, records are not prepared');
    assert.deepEqual(plain(opened), plain(reference), 'without steps: the events of the steps composed by hand');
    assert.deepEqual(fallbacks, [], 'every record prepared in a worker');
    const events = reference.flatMap((r) => r.events);
    assert.ok(events.length > 3_000, `enough events to cover the mix (got ${events.length})`);
    assert.deepEqual(new Set(events.map((e) => e.engine)), new Set(['postgresql', 'mysql', 'sqlserver']));
    assert.ok(reference.some((r) => r.heartbeats.length > 0), 'the traffic has heartbeats');

    const expected = Buffer.from(mapper.encode(events));
    for (const [path, opened] of [['workers', fromWorkers], ['main thread', fromMain], ['main thread, one at a time', oneByOne]] as const) {
      assert.ok(opened.every((r) => r.prepared !== undefined), `${path}: every record prepared`);
      assert.ok(Buffer.from(assembleLogsRequest(refsOf(opened))).equals(expected), `${path}: the same request bytes`);
      assert.deepEqual(opened.map((r) => r.prepared!.results[METRICS_STEP]), reference.map((r) => tallyEvents(r.events)), `${path}: the same tallies`);
      assert.deepEqual(opened.flatMap((r) => r.prepared!.eventIds), events.map((e) => e.eventId), `${path}: the same event ids`);
      assert.deepEqual(plain(opened.map((r) => r.heartbeats)), plain(reference.map((r) => r.heartbeats)), `${path}: the same heartbeats`);
      // Decoded again on demand: the same events as the plain opener's, redaction and enrichment included.
      assert.deepEqual(plain(opened.flatMap((r) => r.events)), plain(events), `${path}: the same events`);
    }
    // Any run of records assembles as the mapper encodes that run (requests are cut anywhere in a batch).
    const refs = refsOf(fromWorkers);
    for (const [from, to] of [[0, 1], [5, 900], [1000, 1001], [refs.length - 700, refs.length]] as const) {
      assert.ok(Buffer.from(assembleLogsRequest(refs.slice(from, to))).equals(Buffer.from(mapper.encode(events.slice(from, to)))), `records ${from}…${to}`);
    }
  });

  it('fail in a worker, and on the main thread one at a time or together, with the reason the plain opener gives', async () => {
    const factory = new DasRecordFactory({ resourceId: DEMO_CLUSTERS[0]!.resourceId, dataKeys: keys });
    const stream = `aws-rds-das-${DEMO_CLUSTERS[0]!.resourceId}`;
    const good = await factory.record({ clusterId: DEMO_CLUSTERS[0]!.resourceId, instanceId: 'db-A', events: [] });
    const cases: [string, Uint8Array][] = [
      ['a flipped ciphertext byte', rewritePayload(good, flipCiphertextByte)],
      ['a payload that is not gzip', await factory.recordFromPlaintext(Buffer.from('{"plain": "json"}'))],
      ['gzip of something that is not JSON', await factory.recordFromPlaintext(gzipSync('not json at all'))],
      ['gzip beyond the record cap', await factory.recordFromPlaintext(gzipSync(Buffer.alloc(SETUP.maxRecordBytes + 1, 0x20)))],
    ];
    const plainOpener = byHand(dataKeys, contextFor);
    const inWorkers = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP, pool });
    const onMain = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP });
    const reasons = new Set<string>();
    for (const [name, data] of cases) {
      const record: SourceRecord = { stream, shardId: 'shardId-000000000000', sequenceNumber: '1', data };
      const expected = await plainOpener.open(record).then(
        () => assert.fail(`${name}: the plain opener opened it`),
        (error: unknown) => error,
      );
      const refused = (opening: Promise<unknown>, where: string) =>
        opening.then(
          () => assert.fail(`${name}: opened ${where}`),
          (error: unknown) => error,
        );
      const alone = await refused(onMain.open(record), 'on the main thread');
      const together = await Promise.all([refused(onMain.open(record), 'on the main thread'), refused(onMain.open(record), 'on the main thread')]);
      for (const [where, actual] of [['in a worker', await refused(inWorkers.open(record), 'in a worker')], ['alone', alone], ['together', together[0]]] as const) {
        assert.ok(isDasError(expected) && isDasError(actual), `${name} ${where}: both DasErrors (${String(expected)}, ${String(actual)})`);
        assert.equal(actual.reason, expected.reason, `${name} ${where}`);
        assert.equal(actual.message, expected.message, `${name} ${where}`);
        reasons.add(actual.reason);
      }
    }
    assert.equal(reasons.size, cases.length, `four different reasons: ${[...reasons].join(', ')}`);
  });

  it('go through the pipeline to the OTLP exporter as the bytes the mapper writes, and a rejected one is dead-lettered whole', async () => {
    const bodies: Buffer[] = [];
    // A backend that refuses any request holding the poisoned event, so the exporter bisects down to it.
    const poisoned = records[3]!;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        bodies.push(body);
        const refuse = body.includes(Buffer.from(`${poisoned.stream}/${poisoned.shardId}/${poisoned.sequenceNumber}/0`));
        res.writeHead(refuse ? 400 : 200, { 'content-type': 'text/plain' });
        res.end(refuse ? 'poisoned' : '');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/logs`;
      const mapper = new LogRecordMapper({ resources: new ResourceCatalog(SETUP.resources), clock: () => new Date(OBSERVED_MS) });
      const otlp = new OtlpLogSink({ config: { endpoint, headers: {}, protocol: 'http/protobuf', compression: 'none', timeoutMs: 10_000 }, mapper, maxRecordsPerRequest: 250 });
      const deadLetters = new MemoryDeadLetterSink();
      const opener = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP, pool, clock: () => OBSERVED_MS });
      const pipeline = new Pipeline({ opener, sinks: [otlp], deadLetters, concurrency: 4 });
      const some = records.slice(0, 20);
      const outcome = await pipeline.process(some);

      const reference = await Promise.all(some.map((r) => new DasRecordOpener({ dataKeys, contextFor, setup: SETUP }).open(r)));
      const events = reference.flatMap((r) => r.events);
      assert.deepEqual(outcome, { status: 'done', records: some.length, events: events.length, deadLettered: 1 });
      const [letter] = deadLetters.letters;
      assert.equal(letter?.eventId, events.find((e) => e.position?.sequenceNumber === poisoned.sequenceNumber)!.eventId);
      assert.equal(letter?.reason, 'rejected_by_backend');
      assert.deepEqual(letter?.event, plain(events.find((e) => e.eventId === letter?.eventId)), 'the dead letter holds the event, decoded again');
      // The first request is the first 250 records exactly as the mapper encodes them.
      assert.ok(bodies[0]!.equals(Buffer.from(mapper.encode(events.slice(0, 250)))), 'request bytes');
    } finally {
      server.close();
    }
  });

  it('lose nothing when a worker dies: its records are prepared on the main thread, and after three deaths the pool stops starting workers', async () => {
    const lost: string[] = [];
    // A 1 MiB heap: each worker runs out of memory while loading, a real death.
    const doomed = new PreparePool({ size: 1, setup: SETUP, maxHeapMiB: 1, onWorkerLost: (reason) => lost.push(reason) });
    const fallbacks: string[] = [];
    try {
      const opener = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP, pool: doomed, clock: () => OBSERVED_MS, onLocalFallback: (r) => fallbacks.push(r) });
      const healthy = new DasRecordOpener({ dataKeys, contextFor, setup: SETUP, clock: () => OBSERVED_MS });
      const some = records.slice(0, 6);
      const opened: OpenedRecord[] = [];
      for (const r of some) opened.push(await opener.open(r));
      const expected = await Promise.all(some.map((r) => healthy.open(r)));
      assert.ok(Buffer.from(assembleLogsRequest(refsOf(opened))).equals(Buffer.from(assembleLogsRequest(refsOf(expected)))));
      assert.equal(fallbacks.length, some.length, 'every record prepared on the main thread');
      assert.equal(lost.length, 3, `three workers lost, then no more started: ${lost.join('; ')}`);
      for (const reason of lost) assert.match(reason, /memory/i);
      assert.match(fallbacks.at(-1)!, /3 prepare workers died in a row/);
    } finally {
      await doomed.close();
    }
  });
});
