/**
 * No log record's body is empty, read back from the bytes the OTLP sink
 * sends by the Loki stand-in's own protobuf and JSON decoders (written apart
 * from the exporter's encoder), for every event of every engine's documented
 * examples (test/fixtures, and the RDS guide's Oracle and SQL Server login
 * events) and for the failed logins each engine reports, in every redaction
 * mode, on the plain path and as records prepared in a worker. An event
 * without SQL text (Aurora MySQL sends '' for a login) reads as its command
 * and outcome: `CONNECT failed: Access denied for user …`.
 */
import assert from 'node:assert/strict';
import { REDACTION_MODES, type RedactionMode } from '../../src/enrich/redact.ts';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import type { SinkBatch } from '../../src/sinks/sink.ts';
import { tallyEvents } from '../../src/sinks/metrics-tally.ts';
import { ORACLE_LOGON, SQLSERVER_LOGIN_FAILED } from '../support/documented-events.ts';
import { decryptedExamples, loadExample } from '../support/fixtures.ts';
import { asString, decodeJsonRequest, decodeProtobufRequest, LokiReceiver, type AnyValue } from '../support/loki-receiver.ts';
import { LOGS_STEP, METRICS_STEP } from '../../src/sinks/prepared.ts';

type Raw = Record<string, unknown>;

interface Case {
  name: string;
  version: string;
  events: Raw[];
  /** The body expected of the first event in every mode, when it has no SQL text to show. */
  body?: string;
}

const MYSQL_CONNECT = loadExample('aurora-mysql-connect.json').record.databaseActivityEventList[0] as Raw;
const PG_CONNECT = loadExample('aurora-postgresql-connect.json').record.databaseActivityEventList[0] as Raw;

const CASES: Case[] = [
  ...decryptedExamples().map(({ name }) => {
    const { record, version } = loadExample(name);
    return { name, version, events: record.databaseActivityEventList as Raw[] };
  }),
  { name: "the RDS guide's Oracle LOGON", version: '1.3', events: [ORACLE_LOGON], body: 'LOGON' },
  { name: "the RDS guide's SQL Server LOGIN FAILED", version: '1.4', events: [SQLSERVER_LOGIN_FAILED] },
  {
    name: 'Aurora MySQL CONNECT refused with 1045 (commandText "")',
    version: '1.2',
    events: [{ ...MYSQL_CONNECT, exitCode: '1045', errorMessage: "Access denied for user 'app'@'10.0.0.7' (using password: YES)" }],
    body: "CONNECT failed: Access denied for user 'app'@'10.0.0.7' (using password: YES)",
  },
  { name: 'Aurora MySQL CONNECT refused with 1045 and no message', version: '1.2', events: [{ ...MYSQL_CONNECT, exitCode: '1045', errorMessage: '' }], body: 'CONNECT failed (code 1045)' },
  { name: 'Aurora MySQL CONNECT that succeeded (commandText "")', version: '1.2', events: [MYSQL_CONNECT], body: 'CONNECT' },
  {
    name: 'Aurora PostgreSQL AUTH FAILURE',
    version: '1.1',
    events: [{ ...PG_CONNECT, command: 'AUTH FAILURE', commandText: '', errorMessage: 'password authentication failed for user "rdsadmin"' }],
    body: 'AUTH FAILURE: password authentication failed for user "rdsadmin"',
  },
  { name: 'RDS for SQL Server LOGIN FAILED without text', version: '1.4', events: [{ ...SQLSERVER_LOGIN_FAILED, commandText: '' }], body: 'LOGIN FAILED (code 0)' },
  { name: 'RDS for Oracle LOGON refused with ORA-01017', version: '1.3', events: [{ ...ORACLE_LOGON, exitCode: 1017 }], body: 'LOGON failed (code 1017)' },
  {
    name: 'RDS for Oracle LOGON refused, with a message',
    version: '1.3',
    events: [{ ...ORACLE_LOGON, exitCode: 1017, errorMessage: 'ORA-01017: invalid username/password; logon denied' }],
    body: 'LOGON failed: ORA-01017: invalid username/password; logon denied',
  },
  { name: 'an event with neither text nor command nor class', version: '1.2', events: [{ ...MYSQL_CONNECT, command: null, class: '  ' }], body: 'database activity' },
];

const POSITION = { stream: 'aws-rds-das-cluster-BODYTEST', shardId: 'shardId-000000000000', sequenceNumber: '1' };
const RESOURCES = { region: 'eu-west-1', accountId: '123456789012' };

function decoded(c: Case, mode: RedactionMode): ActivityEvent[] {
  const json = JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', clusterId: 'cluster-BODYTEST', instanceId: 'db-BODYTEST', databaseActivityEventList: c.events });
  return enrichRecord(decodeRecord(json, { version: c.version, position: POSITION }), mode).events;
}

/** Every log record body in a request, by the stand-in's own decoders. */
function bodiesOf(body: Uint8Array, json: boolean): AnyValue[] {
  const request = json ? decodeJsonRequest(Buffer.from(body).toString('utf8')) : decodeProtobufRequest(body);
  return request.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords.map((l) => l.body)));
}

describe('OTLP log record bodies, decoded from the bytes sent', () => {
  // Loki refuses entries older than a week; these are the guides' events from 2019 to 2022.
  let receiver: LokiReceiver;
  before(async () => {
    receiver = await new LokiReceiver({ limits: { rejectOldSamplesMaxAgeMs: null } }).start();
  });
  after(async () => {
    await receiver.close();
  });

  const mapper = new LogRecordMapper({ resources: new ResourceCatalog(RESOURCES), clock: () => new Date('2026-11-22T04:00:00Z') });

  for (const protocol of ['http/protobuf', 'http/json', 'http/protobuf, prepared'] as const) {
    describe(protocol, () => {
      for (const c of CASES) {
        it(`${c.name}: no body is empty, in any mode`, async () => {
          const sent: Uint8Array[] = [];
          const config = loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/otlp`, OTEL_EXPORTER_OTLP_PROTOCOL: protocol.split(',')[0]! }).exporter!;
          const fetch: typeof globalThis.fetch = async (url, init) => {
            sent.push(new Uint8Array(init!.body as Uint8Array));
            return globalThis.fetch(url, init);
          };
          const sink = new OtlpLogSink({ config, mapper, fetch });
          const lines = receiver.ledger.length;
          const received = () => receiver.ledger.length + receiver.duplicates;
          const before = received();
          for (const mode of REDACTION_MODES) {
            const events = decoded(c, mode);
            const batch: SinkBatch = protocol.endsWith('prepared')
              ? { events, heartbeats: [], prepared: { eventIds: events.map((e) => e.eventId), results: [{ [LOGS_STEP]: mapper.encodeEach(events), [METRICS_STEP]: tallyEvents(events) }] } }
              : { events, heartbeats: [] };
            assert.deepEqual(await sink.write(batch), { status: 'delivered', rejected: [] });
            const bodies = bodiesOf(sent.at(-1)!, protocol === 'http/json');
            assert.equal(bodies.length, events.length);
            for (const [i, body] of bodies.entries()) {
              assert.ok('string' in body, `mode ${mode}: the body is a string, not ${JSON.stringify(body)}`);
              assert.notEqual(body.string.trim(), '', `mode ${mode}: event ${i} of ${c.name} has an empty body`);
            }
            if (c.body !== undefined) assert.equal(asString(bodies[0]!), c.body, `mode ${mode}`);
          }
          // What Loki stores (an exact repeat of a line once): a line for every record, none blank.
          assert.equal(received() - before, c.events.length * REDACTION_MODES.length);
          assert.ok(receiver.ledger.slice(lines).every((entry) => entry.line.trim() !== ''));
        });
      }
    });
  }

  it('the SQL stays the body when there is some', async () => {
    const [event] = decoded({ name: 'select', version: '1.2', events: [loadExample('aurora-mysql-select-main.json').record.databaseActivityEventList[0]] }, 'passwords');
    assert.equal(mapper.map(event!).body, 'SELECT * FROM test1 WHERE id < 28');
  });
});
