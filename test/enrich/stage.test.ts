/**
 * The enrich stage on decoded events: a password reaches no field, neither
 * the SQL nor the fields that echo it (the error message, the other native
 * audit fields, raw values kept under `extra`), and a redaction that failed
 * closed is marked, counted per engine in `das_redaction_fail_closed_total`.
 */
import assert from 'node:assert/strict';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { enrichEvent } from '../../src/enrich/stage.ts';
import { MetricsSink } from '../../src/sinks/metrics-sink.ts';
import { createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';

const PW = 'zqTiger77secret';

/** One raw DAS event of `engine`, decoded as the pipeline does (not yet enriched). */
function decoded(engine: 'postgresql' | 'mysql' | 'sqlserver' | 'oracle', fields: Record<string, unknown>): ActivityEvent {
  const serverType = { postgresql: 'PostgreSQL', mysql: 'MySQL', sqlserver: 'SQLSERVER', oracle: 'ORACLE' }[engine];
  const raw = { type: 'record', logTime: '2024-05-01 10:00:00.000001+00', serverType, command: 'QUERY', class: 'MAIN', ...fields };
  const record = { type: 'DatabaseActivityMonitoringRecord', clusterId: 'cluster-A', instanceId: 'db-A', databaseActivityEventList: [raw] };
  return decodeRecord(JSON.stringify(record), { version: engine === 'sqlserver' ? '1.4' : engine === 'oracle' ? '1.3' : '1.2' }).events[0]!;
}

const everything = (event: ActivityEvent): string => JSON.stringify(event, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));

describe('enrich stage: what may echo a password', () => {
  it("MySQL's syntax error quoting the statement is scrubbed of the password", () => {
    const event = decoded('mysql', {
      commandText: `CREATE USER \\'app\\'@\\'%\\' IDENTIFIED BY \\'${PW}\\' REQUIRES SSL`,
      exitCode: '1064',
      errorMessage: `You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near 'REQUIRES SSL' at line 1 (after '${PW}')`,
    });
    enrichEvent(event, 'passwords');
    assert.ok(!everything(event).includes(PW), everything(event));
    assert.match(event.errorMessage!, /near 'REQUIRES SSL' at line 1 \(after '\*\*\*'\)$/);
  });

  it("MySQL's excerpt cut at 80 characters inside the password is scrubbed too", () => {
    const sql = `ALTER USER app IDENTIFIED BY '${PW}' PASSWORD EXPIRE NEVER`;
    const excerpt = sql.slice(sql.indexOf('BY'), sql.indexOf(PW) + 5);
    const event = decoded('mysql', { commandText: sql, exitCode: '1064', errorMessage: `… to use near '${excerpt}' at line 1` });
    enrichEvent(event, 'passwords');
    assert.ok(!event.errorMessage!.includes(PW.slice(0, 5)), event.errorMessage!);
  });

  it('PostgreSQL: a bind value of a password statement, quoted by the error, is scrubbed', () => {
    const event = decoded('postgresql', {
      commandText: 'ALTER ROLE app PASSWORD $1',
      paramList: [PW],
      errorMessage: `password "${PW}" does not meet the requirements`,
    });
    enrichEvent(event, 'passwords');
    assert.deepEqual(event.paramList, ['***']);
    assert.equal(event.errorMessage, 'password "***" does not meet the requirements');
  });

  it('SQL Server: the native statement is redacted and the other native fields are scrubbed', () => {
    const event = decoded('sqlserver', {
      commandText: `CREATE LOGIN app WITH PASSWORD = N'${PW}'`,
      exitCode: 1,
      engineNativeAuditFields: { statement: `CREATE LOGIN app WITH PASSWORD = N'${PW}'`, additional_information: `<batch>CREATE LOGIN app WITH PASSWORD = N'${PW}'</batch>`, object_id: 5 },
    });
    enrichEvent(event, 'passwords');
    assert.ok(!everything(event).includes(PW), everything(event));
    assert.equal(event.engineNativeAuditFields!.statement, "CREATE LOGIN app WITH PASSWORD = '***'");
    assert.equal(event.engineNativeAuditFields!.object_id, 5);
  });

  it('Oracle: SQL_TEXT is redacted and SQL_BINDS masked', () => {
    const event = decoded('oracle', {
      commandText: `ALTER USER scott IDENTIFIED BY ${PW}`,
      engineNativeAuditFields: { SQL_TEXT: `ALTER USER scott IDENTIFIED BY ${PW}`, SQL_BINDS: ` #1(15):${PW}`, OS_USERNAME: 'oracle' },
    });
    enrichEvent(event, 'passwords');
    assert.ok(!everything(event).includes(PW), everything(event));
    assert.equal(event.engineNativeAuditFields!.SQL_TEXT, "ALTER USER scott IDENTIFIED BY '***'");
  });

  it('a commandText DAS sent as something else than a string is kept under extra, redacted', () => {
    const event = decoded('postgresql', { commandText: [`ALTER ROLE app PASSWORD '${PW}'`], unknownSql: `CREATE ROLE b PASSWORD '${PW}'` });
    assert.ok(everything(event).includes(PW), 'the raw value is kept');
    enrichEvent(event, 'passwords');
    assert.deepEqual(event.extra.commandText, ["ALTER ROLE app PASSWORD '***'"]);
    assert.equal(event.extra.unknownSql, "CREATE ROLE b PASSWORD '***'");

    const hidden = decoded('postgresql', { commandText: { sql: 'SELECT 1' } });
    enrichEvent(hidden, 'all');
    assert.deepEqual(hidden.extra.commandText, { sql: null }, '`all` leaves no SQL text under extra either');
  });

  it("an unqualified `user` table is MySQL's account table when the session's database is mysql", () => {
    const inMysql = decoded('mysql', { databaseName: 'mysql', commandText: `INSERT INTO user VALUES ('%', 'app', '${PW}')` });
    enrichEvent(inMysql, 'passwords');
    assert.ok(!inMysql.commandText!.includes(PW));
    const inShop = decoded('mysql', { databaseName: 'shop', commandText: "INSERT INTO user VALUES (1, 'ann')" });
    enrichEvent(inShop, 'passwords');
    assert.equal(inShop.commandText, "INSERT INTO user VALUES (1, 'ann')", 'an application table named user is left alone');
  });

  it('mode none leaves every field as received', () => {
    const event = decoded('mysql', { commandText: `SET PASSWORD = '${PW}'`, errorMessage: `near '${PW}'` });
    enrichEvent(event, 'none');
    assert.equal(event.commandText, `SET PASSWORD = '${PW}'`);
    assert.equal(event.errorMessage, `near '${PW}'`);
  });
});

describe('enrich stage: redaction that fails closed', () => {
  it('is marked on the event and counted per engine in das_redaction_fail_closed_total', async () => {
    const events = [
      decoded('mysql', { commandText: `ALTER USER app IDENTIFIED BY '${PW}` }),
      decoded('mysql', { commandText: `INSERT INTO mysql.user VALUES ('%', 'app', '${PW}')` }),
      decoded('oracle', { commandText: `ALTER USER scott IDENTIFIED BY "${PW}` }),
      decoded('postgresql', { commandText: `ALTER ROLE app PASSWORD '${PW}'` }),
    ];
    for (const event of events) enrichEvent(event, 'passwords');
    assert.deepEqual(events.map((e) => e.enrichment!.redactionFailedClosed ?? false), [true, true, true, false]);
    assert.equal(events[0]!.commandText, "ALTER USER app '***'");

    const metrics = createMetrics(createMetricsRegistry());
    await new MetricsSink(metrics).write({ events, heartbeats: [] });
    const text = await metrics.registry.metrics();
    assert.match(text, /^das_redaction_fail_closed_total\{engine="mysql"\} 2$/m);
    assert.match(text, /^das_redaction_fail_closed_total\{engine="oracle"\} 1$/m);
    assert.doesNotMatch(text, /das_redaction_fail_closed_total\{engine="postgresql"\}/);
    assert.ok(!text.includes(PW));
  });
});
