/**
 * Events older than Loki's `reject_old_samples_max_age` (168 h): a replay or
 * a catch-up after a week-long outage. Loki refuses them with a 400 the
 * exporter recognises (`rejected_too_old`, not the generic
 * `rejected_by_backend`), and `--old-events observed-time` lets them through
 * with the event's own time kept. The receiver and the mapper share one
 * injected clock: no test waits for a week to pass.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { loadOtlpEnvironment, type OtlpExporterConfig } from '../../src/sinks/otlp/config.ts';
import { LOKI_TOO_OLD, OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { EVENT_TIME_ATTRIBUTE, LogRecordMapper, rfc3339Nanos } from '../../src/sinks/otlp/mapping.ts';
import { ObservedTimes } from '../../src/sinks/otlp/observed-times.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';
import type { SinkBatch } from '../../src/sinks/sink.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';
import { LOGS_STEP } from '../../src/sinks/prepared.ts';

const PG = readJsonFixture(path.join(DECRYPTED_EXAMPLES, 'aurora-postgresql-select.json')) as Record<string, any>;
const NOW = Date.parse('2026-05-01T12:00:00.250Z');
const DAY = 86_400_000;
const clock = () => new Date(NOW);

/** DAS's PostgreSQL time format, microseconds: `2026-04-20 09:15:02.123456+00`. */
function dasTime(ms: number, micros = 0): string {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.(\d{3})Z$/, (_m, f: string) => `.${f}${String(micros).padStart(3, '0')}+00`);
}

/** One record's events, logged at the given times, each with its own SQL unless `sameSql`. */
function eventsAt(times: readonly string[], options: { sameSql?: boolean; sequenceNumber?: string } = {}): ActivityEvent[] {
  const inner = structuredClone(PG.databaseActivityEvents);
  const template = inner.databaseActivityEventList[0];
  inner.databaseActivityEventList = times.map((at, i) => ({
    ...template,
    logTime: at,
    startTime: at,
    statementId: i + 1,
    commandText: options.sameSql ? 'select 1;' : `select ${i};`,
  }));
  return decodeRecord(JSON.stringify(inner), {
    version: '1.1',
    position: { stream: 'aws-rds-das-cluster-OLDEVENTS', shardId: 'shardId-000000000000', sequenceNumber: options.sequenceNumber ?? '4960' },
  }).events;
}

/** `n` sequence numbers shaped like Kinesis's (56 digits, increasing, far apart), the same on every run. */
function kinesisSequenceNumbers(n: number): string[] {
  let state = 0x2545f491n;
  let current = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n;
  return Array.from({ length: n }, () => {
    state = (state * 6_364_136_223_846_793_005n + 1_442_695_040_888_963_407n) % 2n ** 64n;
    current += 1_000_000_000_000_000_000_000n + (state % 10n ** 20n);
    return current.toString();
  });
}

function config(receiver: LokiReceiver, env: NodeJS.ProcessEnv = {}): OtlpExporterConfig {
  return loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/otlp`, ...env }).exporter!;
}

const resources = new ResourceCatalog({ region: 'eu-west-1', accountId: '123456789012' });

describe('events older than Loki accepts (reject_old_samples_max_age)', () => {
  let receiver: LokiReceiver;
  beforeEach(async () => {
    receiver = await new LokiReceiver({ clock }).start();
  });
  afterEach(async () => receiver.close());

  describe('by default (the event\'s own time)', () => {
    it('Loki\'s 400 for a week-old event is recognised: rejected_too_old, with Loki\'s reason; the recent ones delivered', async () => {
      const mapper = new LogRecordMapper({ resources, clock });
      const sink = new OtlpLogSink({ config: config(receiver), mapper, clock });
      const events = eventsAt([dasTime(NOW - 1000), dasTime(NOW - 8 * DAY), dasTime(NOW - 2000), dasTime(NOW - 9 * DAY)]);
      const result = await sink.write({ events, heartbeats: [] });
      assert.equal(result.status, 'delivered');
      assert.ok(result.status === 'delivered');
      assert.deepEqual(
        result.rejected.map((r) => [r.eventId, r.deadLetterReason]),
        [
          [events[1]!.eventId, 'rejected_too_old'],
          [events[3]!.eventId, 'rejected_too_old'],
        ],
      );
      for (const r of result.rejected) assert.match(r.reason, /^HTTP 400: entry for stream '\{.*\}' has timestamp too old: 2026-04-2\dT.*Z, oldest acceptable timestamp is: 2026-04-24T12:00:00Z$/);
      assert.deepEqual(receiver.eventIds().sort(), [events[0]!.eventId, events[2]!.eventId].sort());
      await sink.close();
    });

    it('recognises the refusal from the whole message, though the reason keeps only an excerpt of it', async () => {
      const sink = new OtlpLogSink({ config: config(receiver), mapper: new LogRecordMapper({ resources, clock }), clock, reasonLength: 20 });
      const result = await sink.write({ events: eventsAt([dasTime(NOW - 8 * DAY)]), heartbeats: [] });
      assert.ok(result.status === 'delivered');
      assert.equal(result.rejected[0]!.deadLetterReason, 'rejected_too_old');
      assert.ok(!result.rejected[0]!.reason.includes('too old'), `the reason is cut short: ${result.rejected[0]!.reason}`);
      await sink.close();
    });

    it('any other 400 stays rejected_by_backend (no deadLetterReason), whatever it says about time', async () => {
      const sink = new OtlpLogSink({ config: config(receiver), mapper: new LogRecordMapper({ resources, clock }), clock });
      for (const message of ['max entry size exceeded', "entry for stream '{service_name=\"x\"}' has timestamp too old (test limit)", 'entry for stream \'{a="b"}\' has timestamp too new: 2026-05-02T00:00:00Z']) {
        receiver.answerNext({ status: 400, message });
        const result = await sink.write({ events: eventsAt([dasTime(NOW - 1000)]), heartbeats: [] });
        assert.ok(result.status === 'delivered');
        assert.equal(result.rejected.length, 1);
        assert.equal(result.rejected[0]!.deadLetterReason, undefined, message);
      }
      await sink.close();
    });
  });

  describe('--old-events observed-time', () => {
    const nowNs = BigInt(NOW) * 1_000_000n;
    /** The times of a week-old backlog: 8 and 9 days ago, with DAS's microseconds. */
    const backlog = (n: number) => Array.from({ length: n }, (_, i) => dasTime(NOW - (8 + (i % 2)) * DAY + i, 123));
    /** The mode, its read times starting at the millisecond's first nanosecond (a process picks its own at random). */
    const observedTime = (offsetNs = 0) => ({ oldEvents: 'observed-time' as const, observedTimes: new ObservedTimes({ offsetNs }) });

    for (const protocol of ['http/protobuf', 'http/json']) {
      it(`${protocol}: a week-old backlog is accepted, filed at the time it was read, the event's own time in ${EVENT_TIME_ATTRIBUTE}`, async () => {
        const mapper = new LogRecordMapper({ resources, clock, ...observedTime() });
        const sink = new OtlpLogSink({ config: config(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol }), mapper, clock });
        const events = eventsAt(backlog(6));
        assert.deepEqual(await sink.write({ events, heartbeats: [] }), { status: 'delivered', rejected: [] });
        assert.deepEqual(receiver.eventIds().sort(), events.map((e) => e.eventId).sort());
        assert.deepEqual(
          receiver.ledger.map((e) => e.timestampNs - nowNs).sort((x, y) => Number(x - y)),
          [0n, 1n, 2n, 3n, 4n, 5n],
          'filed at the millisecond they were read, a nanosecond each',
        );
        for (const entry of receiver.ledger) {
          const event = events.find((e) => e.eventId === entry.eventId)!;
          assert.equal(entry.metadata.aws_rds_das_event_time, rfc3339Nanos(event.logTimeUnixNano!));
          assert.match(entry.metadata.aws_rds_das_event_time!, /^2026-04-2[23]T\d\d:\d\d:\d\d\.\d{3}123000Z$/, 'RFC 3339 UTC, nine digits, DAS\'s microseconds');
          assert.equal(entry.metadata.observed_timestamp, undefined, 'Loki stores no second time: the entry time is the observed one');
        }
        await sink.close();
      });
    }

    it('leaves the OTLP Timestamp unset (0) and puts the read time in ObservedTimestamp; the default mode does neither', () => {
      const [event] = eventsAt([dasTime(NOW - 8 * DAY)]);
      const observed = new LogRecordMapper({ resources, clock, ...observedTime(4242) }).map(event!);
      assert.deepEqual(observed.hrTime, [0, 0]);
      assert.deepEqual(observed.hrTimeObserved, [Math.floor(NOW / 1000), (NOW % 1000) * 1_000_000 + 4242], 'the read millisecond, at the process\'s nanosecond');
      assert.equal(observed.attributes[EVENT_TIME_ATTRIBUTE], rfc3339Nanos(event!.logTimeUnixNano!));
      const byDefault = new LogRecordMapper({ resources, clock }).map(event!);
      assert.equal(byDefault.hrTime[0], Math.floor(Number(event!.logTimeUnixNano! / 1_000_000_000n)));
      assert.deepEqual(byDefault.hrTimeObserved, [Math.floor(NOW / 1000), (NOW % 1000) * 1_000_000]);
      assert.equal(byDefault.attributes[EVENT_TIME_ATTRIBUTE], undefined);
    });

    it('200 events with the same SQL read in the same millisecond are 200 Loki entries, not one', async () => {
      const sink = new OtlpLogSink({ config: config(receiver), mapper: new LogRecordMapper({ resources, clock, ...observedTime() }), clock });
      const events = [...eventsAt(backlog(100), { sameSql: true }), ...eventsAt(backlog(100), { sameSql: true, sequenceNumber: '4961' })];
      assert.deepEqual(await sink.write({ events, heartbeats: [] }), { status: 'delivered', rejected: [] });
      assert.equal(receiver.duplicates, 0);
      assert.equal(new Set(receiver.ledger.map((e) => e.timestampNs)).size, 200);
      assert.equal(receiver.ledger.length, 200);
    });

    it('3,000 records of one event each, the same SQL, read in the same millisecond: 3,000 Loki entries (no two share a time)', async () => {
      const sink = new OtlpLogSink({ config: config(receiver), mapper: new LogRecordMapper({ resources, clock, ...observedTime() }), clock });
      const events = kinesisSequenceNumbers(3000).flatMap((sequenceNumber) => eventsAt(backlog(1), { sameSql: true, sequenceNumber }));
      assert.deepEqual(await sink.write({ events, heartbeats: [] }), { status: 'delivered', rejected: [] });
      assert.equal(receiver.duplicates, 0, 'Loki merged none of them');
      assert.equal(receiver.ledger.length, 3000);
    });

    for (const protocol of ['http/protobuf', 'http/json']) {
      it(`${protocol}: events sent again later (a retried batch) land on their first copy: the read time is fixed when an event is first mapped`, async () => {
        let now = NOW;
        const mapper = new LogRecordMapper({ resources, clock: () => new Date(now), ...observedTime() });
        const sink = new OtlpLogSink({ config: config(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol }), mapper, clock, maxRecordsPerRequest: 10 });
        const events = eventsAt(backlog(25));
        // The batch's first request was accepted, its second failed: the first ten are in Loki already.
        receiver.answerNext({ status: 204 }, { status: 503 });
        assert.equal((await sink.write({ events, heartbeats: [] })).status, 'retryable');
        assert.deepEqual(await sink.write({ events: events.slice(0, 10), heartbeats: [] }), { status: 'delivered', rejected: [] });
        now += 5_000;
        assert.deepEqual(await sink.write({ events, heartbeats: [] }), { status: 'delivered', rejected: [] });
        assert.equal(receiver.ledger.length, 25);
        assert.equal(receiver.duplicates, 10, 'the ten sent again are exact repeats, which Loki drops');
        const firstSent = new Set(events.slice(0, 20).map((e) => e.eventId));
        for (const entry of receiver.ledger) {
          const readAt = firstSent.has(entry.eventId!) ? nowNs : nowNs + 5_000_000_000n;
          assert.ok(entry.timestampNs >= readAt && entry.timestampNs < readAt + 1_000_000n, `${entry.eventId} at ${entry.timestampNs}`);
        }
        await sink.close();
      });
    }

    it('records prepared by the workers carry the read time they were prepared with', async () => {
      const mapper = new LogRecordMapper({ resources, clock: () => new Date(0), ...observedTime() });
      const events = eventsAt(backlog(4));
      const batch: SinkBatch = {
        events,
        heartbeats: [],
        prepared: { eventIds: events.map((e) => e.eventId), results: [{ [LOGS_STEP]: mapper.encodeEach(events, NOW) }] },
      };
      const sink = new OtlpLogSink({ config: config(receiver), mapper, clock });
      assert.deepEqual(await sink.write(batch), { status: 'delivered', rejected: [] });
      assert.equal(receiver.ledger.length, 4);
      for (const entry of receiver.ledger) {
        assert.ok(entry.timestampNs >= nowNs && entry.timestampNs < nowNs + 1_000_000n);
        assert.ok(entry.metadata.aws_rds_das_event_time);
      }
      await sink.close();
    });

    it('keeps the event time when the record is over its attribute budget (it ranks second)', async () => {
      const [event] = eventsAt([dasTime(NOW - 8 * DAY)]);
      event!.engineNativeAuditFields = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`field_${i}`, 'x'.repeat(500)]));
      const sink = new OtlpLogSink({ config: config(receiver), mapper: new LogRecordMapper({ resources, clock, ...observedTime() }), clock });
      assert.deepEqual(await sink.write({ events: [event!], heartbeats: [] }), { status: 'delivered', rejected: [] });
      const entry = receiver.ledger[0]!;
      assert.ok(Number(entry.metadata.aws_rds_das_dropped_attributes) > 0, 'attributes were dropped');
      assert.equal(entry.metadata.aws_rds_das_event_time, rfc3339Nanos(event!.logTimeUnixNano!));
      await sink.close();
    });
  });

  it('LOKI_TOO_OLD matches Loki\'s message alone and grouped, not look-alikes', () => {
    const one = "entry for stream '{service_name=\"s\"}' has timestamp too old: 2026-04-01T00:00:00Z, oldest acceptable timestamp is: 2026-04-24T12:00:00Z";
    assert.ok(LOKI_TOO_OLD.test(one));
    assert.ok(LOKI_TOO_OLD.test(`3 errors like: ${one}; 1 errors like: ${one.replace('01T', '02T')}`));
    assert.ok(!LOKI_TOO_OLD.test("entry for stream '{service_name=\"x\"}' has timestamp too old (test limit)"));
    assert.ok(!LOKI_TOO_OLD.test('timestamp too old'));
  });
});
