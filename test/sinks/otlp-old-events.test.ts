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
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';

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

  it('LOKI_TOO_OLD matches Loki\'s message alone and grouped, not look-alikes', () => {
    const one = "entry for stream '{service_name=\"s\"}' has timestamp too old: 2026-04-01T00:00:00Z, oldest acceptable timestamp is: 2026-04-24T12:00:00Z";
    assert.ok(LOKI_TOO_OLD.test(one));
    assert.ok(LOKI_TOO_OLD.test(`3 errors like: ${one}; 1 errors like: ${one.replace('01T', '02T')}`));
    assert.ok(!LOKI_TOO_OLD.test("entry for stream '{service_name=\"x\"}' has timestamp too old (test limit)"));
    assert.ok(!LOKI_TOO_OLD.test('timestamp too old'));
  });
});
