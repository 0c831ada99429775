/**
 * Database spans (spans.ts, traces.ts) as a traces receiver sees them: the
 * documented events of each engine, carrying an application's traceparent,
 * sent by the real sink in protobuf and JSON to a receiver that decodes them
 * with its own reader (test/support/trace-receiver.ts).
 */
import assert from 'node:assert/strict';
import type { ActivityEvent } from '../../src/events/model.ts';
import { OtlpTraceSink } from '../../src/sinks/otlp/traces.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import type { OtlpProtocol } from '../../src/sinks/otlp/config.ts';
import { documented, oracle, variant } from '../support/policy-events.ts';
import { TraceReceiver } from '../support/trace-receiver.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';
const COMMENT = `/*traceparent='00-${TRACE}-${PARENT}-01'*/`;

let sequence = 0;
/** `event` with an id of its own, as each event of a stream has (the helpers' events share one position). */
const own = (event: ActivityEvent): ActivityEvent => ({ ...event, eventId: `aws-rds-das-test/shardId-000000000000/${++sequence}/0` });

/** The documented event of `file` with the application's traceparent appended to its SQL. */
const traced = (file: string, fields: Record<string, unknown> = {}) => {
  const base = documented(file);
  return own(variant(file, { commandText: `${base.commandText ?? 'SELECT 1'} ${COMMENT}`, ...fields }));
};

describe('database spans to an OTLP traces receiver', () => {
  let receiver: TraceReceiver;
  before(async () => (receiver = await new TraceReceiver().start()));
  after(() => receiver.close());
  beforeEach(() => {
    receiver.spans.clear();
    receiver.duplicates = 0;
  });

  const sinkFor = (protocol: OtlpProtocol, untracedRatio = 0) =>
    new OtlpTraceSink({
      config: { endpoint: receiver.endpoint, headers: {}, protocol, compression: 'none', timeoutMs: 5000 },
      resources: new ResourceCatalog({ serviceNames: {} }),
      untracedRatio,
    });

  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`${protocol}: one SERVER span per traced event of each engine, child of the application's span, timed by the engine's own fields`, async () => {
      const pg = traced('aurora-postgresql-select.json');
      const mysql = traced('aurora-mysql-select-main.json');
      const sqlServer = traced('rds-sqlserver-select.json', { engineNativeAuditFields: { ...documented('rds-sqlserver-select.json').engineNativeAuditFields, duration_milliseconds: 12 } });
      const ora = own(oracle({ command: 'SELECT', commandText: `SELECT * FROM hr.employees ${COMMENT}` }));
      const untraced = [documented('aurora-postgresql-select.json'), documented('aurora-mysql-connect.json'), oracle()].map(own);
      const sink = sinkFor(protocol);
      assert.deepEqual(await sink.write({ events: [pg, ...untraced, mysql, sqlServer, ora], heartbeats: [] }), { status: 'delivered', rejected: [] });
      await sink.close();

      assert.equal(receiver.spans.size, 4, 'one span per traced event, none for the others');
      for (const event of [pg, mysql, sqlServer, ora]) {
        const span = receiver.byLogRecordUid(event.eventId)!;
        assert.ok(span, `${event.engine}: a span with the log record's uid`);
        assert.deepEqual([span.traceId, span.parentSpanId, span.kind, span.scope], [TRACE, PARENT, 2, 'das-exporter'], event.engine);
        assert.match(span.spanId, /^[0-9a-f]{16}$/);
        assert.equal(span.status.code, 0);
      }
      const pgSpan = receiver.byLogRecordUid(pg.eventId)!;
      assert.equal(pgSpan.name, 'SELECT my_table');
      assert.deepEqual([pgSpan.startTimeUnixNano, pgSpan.endTimeUnixNano], [pg.startTimeUnixNano, pg.logTimeUnixNano], 'PostgreSQL: startTime to logTime');
      assert.equal(pg.logTimeUnixNano! - pg.startTimeUnixNano!, 20_104_000n, 'the documented statement took 20.104 ms');
      assert.equal(pgSpan.attributes['das.span.timing'], 'event_times');
      assert.deepEqual([pgSpan.attributes['db.system.name'], pgSpan.attributes['db.namespace'], pgSpan.attributes['user.name'], pgSpan.attributes['db.query.summary']], ['postgresql', 'postgres', 'rdsadmin', 'SELECT my_table']);
      const mysqlSpan = receiver.byLogRecordUid(mysql.eventId)!;
      assert.deepEqual([mysqlSpan.startTimeUnixNano, mysqlSpan.endTimeUnixNano], [mysql.startTimeUnixNano, mysql.endTimeUnixNano], 'MySQL: startTime to endTime');
      assert.ok(mysql.endTimeUnixNano! > mysql.startTimeUnixNano!);
      const ssSpan = receiver.byLogRecordUid(sqlServer.eventId)!;
      assert.equal(ssSpan.endTimeUnixNano - ssSpan.startTimeUnixNano, 12_000_000n, 'SQL Server: logTime and its duration_milliseconds');
      const oraSpan = receiver.byLogRecordUid(ora.eventId)!;
      assert.equal(oraSpan.startTimeUnixNano, oraSpan.endTimeUnixNano, 'Oracle: no start or end, a zero-length span at logTime');
      assert.equal(oraSpan.attributes['das.span.timing'], 'log_time');
      assert.equal(oraSpan.resource['aws.rds.instance_resource_id'], 'db-ORACLEINSTANCE');
      // A span's resource is the database's; the Kinesis stream and shard are the log records' resource only.
      assert.equal(oraSpan.resource['aws.rds.das.stream'], undefined);
      assert.equal(oraSpan.resource['aws.rds.das.shard_id'], undefined);
    });
  }

  it('a failed statement is an ERROR span with the engine error; the redacted text is all a span holds of a password', async () => {
    const failed = traced('aurora-mysql-select-main.json', { exitCode: '1146', errorMessage: "Table 'test.nope' doesn't exist", commandText: `SELECT * FROM nope ${COMMENT}` });
    const password = own(variant('aurora-postgresql-select.json', { command: 'ALTER ROLE', commandText: `ALTER USER app WITH PASSWORD 'Sup3r-Secret-99' ${COMMENT}` }));
    const sink = sinkFor('http/protobuf');
    assert.equal((await sink.write({ events: [failed, password], heartbeats: [] })).status, 'delivered');
    await sink.close();
    const error = receiver.byLogRecordUid(failed.eventId)!;
    assert.deepEqual([error.status.code, error.status.message, error.attributes['db.response.status_code'], error.attributes['error.type']], [2, "Table 'test.nope' doesn't exist", '1146', '1146']);
    const secret = receiver.byLogRecordUid(password.eventId)!;
    assert.ok(secret, 'the traced ALTER USER has a span');
    assert.ok(!JSON.stringify(secret, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes('Sup3r-Secret-99'), JSON.stringify(secret.attributes));
    assert.match(String(secret.attributes['db.query.text']), /\*\*\*/);
  });

  it('the same event sent again is the same span (the span id derives from the event), so a retry makes no second one', async () => {
    const event: ActivityEvent = traced('aurora-postgresql-select.json');
    const sink = sinkFor('http/protobuf');
    await sink.write({ events: [event], heartbeats: [] });
    await sink.write({ events: [event], heartbeats: [] });
    await sink.close();
    assert.equal(receiver.spans.size, 1);
    assert.equal(receiver.duplicates, 1);
  });

  it('DAS_TRACES_SAMPLE_UNTRACED: a chosen untraced statement is the root span of a trace of its own, the same choice and span every time', async () => {
    const statements = Array.from({ length: 400 }, () => own(documented('aurora-postgresql-select.json')));
    const login = own(documented('aurora-mysql-connect.json'));
    const app = traced('aurora-postgresql-select.json');
    const everyOne = sinkFor('http/protobuf', 1);
    await everyOne.write({ events: [app, login, ...statements.slice(0, 3)], heartbeats: [] });
    await everyOne.close();
    assert.equal(receiver.spans.size, 4, 'the traced statement, and each untraced statement, not the login (no SQL)');
    assert.equal(receiver.byLogRecordUid(app.eventId)!.parentSpanId, PARENT, 'a traced statement keeps its application parent');
    const root = receiver.byLogRecordUid(statements[0]!.eventId)!;
    assert.deepEqual([root.parentSpanId, root.kind, root.attributes['das.span.sampled']], ['', 2, true]);
    assert.match(root.traceId, /^[0-9a-f]{32}$/);
    assert.notEqual(root.traceId, receiver.byLogRecordUid(statements[1]!.eventId)!.traceId, 'a trace per statement');
    assert.equal(receiver.byLogRecordUid(app.eventId)!.attributes['das.span.sampled'], undefined);

    receiver.spans.clear();
    const tenth = sinkFor('http/json', 0.1);
    await tenth.write({ events: statements, heartbeats: [] });
    const chosen = new Set(receiver.logRecordUids());
    // Seeded by the event ids: 400 draws at 10 % land in 25..55 with a probability far above 99.9 %.
    assert.ok(chosen.size >= 25 && chosen.size <= 55, `about a tenth of 400: ${chosen.size}`);
    receiver.spans.clear();
    await tenth.write({ events: statements, heartbeats: [] });
    await tenth.close();
    assert.deepEqual(new Set(receiver.logRecordUids()), chosen, 'the same statements are chosen again (a retry makes the same spans)');
    assert.ok([...receiver.spans.values()].every((s) => s.parentSpanId === '' && s.attributes['das.span.sampled'] === true && s.attributes['das.span.sample_ratio'] === 0.1));

    receiver.spans.clear();
    const none = sinkFor('http/protobuf');
    await none.write({ events: statements, heartbeats: [] });
    await none.close();
    assert.equal(receiver.spans.size, 0, 'off by default');
  });

  it('an outage of the traces endpoint is retryable, never delivered, never rejected', async () => {
    receiver.down(503);
    const sink = sinkFor('http/protobuf');
    try {
      const result = await sink.write({ events: [traced('aurora-postgresql-select.json')], heartbeats: [] });
      assert.equal(result.status, 'retryable');
      assert.equal(receiver.spans.size, 0);
    } finally {
      receiver.up();
      await sink.close();
    }
  });
});
