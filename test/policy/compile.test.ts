import assert from 'node:assert/strict';
import { applyPolicy } from '../../src/policy/apply.ts';
import { CompiledPolicy, statementClass } from '../../src/policy/compile.ts';
import { parsePolicy } from '../../src/policy/document.ts';
import type { ActivityEvent, DecodedRecord } from '../../src/events/model.ts';
import { documented, oracle, sqlServerLoginFailed, variant } from '../support/policy-events.ts';

/** A one-rule policy's verdict on `event`: whether the rule matched. */
function matches(match: string, event: ActivityEvent, names?: Record<string, string>): boolean {
  const policy = new CompiledPolicy(parsePolicy(`version: 1\nmode: all-match\nrules:\n  - name: r\n    match: ${match}\n    action: tag\n`), names ? { names } : {});
  return policy.evaluate(event) !== null;
}

const PG_SELECT = 'aurora-postgresql-select.json';
const PG_CREATE = 'aurora-postgresql-create-table.json';
const MYSQL_MAIN = 'aurora-mysql-select-main.json';
const MYSQL_AUX = 'aurora-mysql-select-aux.json';
const SQLSERVER = 'rds-sqlserver-select.json';

describe('policy match keys, on the documented events of each engine', () => {
  it('engine, user, database: exact, glob, regex, and a list means any', () => {
    const pg = documented(PG_SELECT);
    assert.ok(matches('{ engine: postgresql, user: rdsadmin, database: postgres }', pg));
    assert.ok(matches('{ engine: POSTGRESQL }', pg), 'engine is case-insensitive');
    assert.ok(matches('{ user: "rds*" }', pg));
    assert.ok(matches('{ user: "/^RDS/i" }', pg));
    assert.ok(!matches('{ user: RDSADMIN }', pg), 'a user name is case-sensitive');
    assert.ok(matches('{ user: [app, rdsadmin] }', pg));
    assert.ok(!matches('{ user: app_user }', pg));
    assert.ok(!matches('{ engine: mysql }', pg));
  });

  it('class: what DAS sent, or the statement class on every engine (READ for a MySQL MAIN SELECT and its AUX READ)', () => {
    assert.ok(matches('{ class: READ }', documented(PG_SELECT)));
    assert.ok(matches('{ class: READ }', documented(MYSQL_MAIN)));
    assert.ok(matches('{ class: MAIN }', documented(MYSQL_MAIN)));
    assert.ok(matches('{ class: READ }', documented(MYSQL_AUX)));
    assert.ok(matches('{ class: READ }', documented(SQLSERVER)));
    assert.ok(matches('{ class: DDL }', documented(PG_CREATE)));
    assert.ok(!matches('{ class: WRITE }', documented(PG_SELECT)));
    assert.equal(statementClass(oracle()), 'LOGIN');
    assert.equal(statementClass(variant(PG_SELECT, { command: 'GRANT', commandText: 'GRANT SELECT ON t TO bob', class: 'ROLE' })), 'ROLE');
  });

  it('command: what DAS sent or the operation', () => {
    assert.ok(matches('{ command: "create table" }', documented(PG_CREATE)));
    assert.ok(matches('{ command: SELECT }', documented(MYSQL_MAIN)), 'MySQL sends QUERY; the operation is SELECT');
    assert.ok(matches('{ command: QUERY }', documented(MYSQL_MAIN)));
    assert.ok(matches('{ command: LOGON }', oracle()));
  });

  it('objects: tables from the SQL and the object DAS names, in their short and database-qualified forms', () => {
    const sqlServer = documented(SQLSERVER);
    for (const name of ['TestTable', 'dbo.TestTable', 'testdb.dbo.testtable', 'testDB.dbo.Test*']) assert.ok(matches(`{ objects: "${name}" }`, sqlServer), name);
    const mysql = documented(MYSQL_MAIN);
    assert.ok(matches('{ objects: "test.test1" }', mysql), 'qualified with the database');
    assert.ok(matches('{ objects: "test1" }', documented(MYSQL_AUX)), 'the AUX event names its object');
    const join = variant(PG_SELECT, { commandText: 'SELECT c.pan FROM payments.cards c JOIN orders o ON o.card = c.id' });
    assert.ok(matches('{ objects: ["payments.card*"] }', join));
    assert.ok(matches('{ objects: ["postgres.orders"] }', join));
    assert.ok(!matches('{ objects: ["payments.accounts"] }', join));
    assert.ok(!matches('{ objects: anything }', oracle()), 'a logon touches no object');
  });

  it('outcome and error_code: a failed SQL Server login, and a MySQL statement error by its exit code', () => {
    const failed = sqlServerLoginFailed();
    assert.ok(matches('{ outcome: failure }', failed));
    assert.ok(!matches('{ outcome: success }', failed));
    assert.ok(matches('{ outcome: [success, failure] }', failed));
    const mysqlError = variant(MYSQL_MAIN, { exitCode: '1146', errorMessage: "Table 'test.nope' doesn't exist" });
    assert.ok(matches('{ outcome: failure, error_code: 1146 }', mysqlError));
    assert.ok(!matches('{ error_code: 1045 }', mysqlError));
    assert.ok(!matches('{ error_code: 1146 }', documented(MYSQL_MAIN)), 'a success has no error code');
  });

  it('remote_host: exact, glob and CIDR, IPv4 and IPv6', () => {
    const pg = documented(PG_SELECT);
    assert.ok(matches('{ remote_host: 172.31.0.0/16 }', pg));
    assert.ok(matches('{ remote_host: ["10.0.0.0/8", "172.31.3.195"] }', pg));
    assert.ok(!matches('{ remote_host: 10.0.0.0/8 }', pg));
    assert.ok(matches('{ remote_host: "172.31.*" }', pg));
    assert.ok(matches('{ remote_host: "fd00::/8" }', variant(PG_SELECT, { remoteHost: 'fd12:3456::1' })));
    assert.ok(matches('{ remote_host: localhost }', documented(MYSQL_MAIN)));
    assert.ok(!matches('{ remote_host: 127.0.0.0/8 }', documented(MYSQL_MAIN)), 'a name is not an address');
  });

  it('cluster and instance: the resource id or its friendly name', () => {
    const pg = documented(PG_SELECT);
    assert.ok(matches(`{ cluster: ${pg.clusterId} }`, pg));
    assert.ok(matches('{ cluster: "orders-*" }', pg, { [pg.clusterId!]: 'orders-prod' }));
    assert.ok(!matches('{ cluster: "orders-*" }', pg));
    assert.ok(matches('{ instance: "db-*" }', pg));
  });

  it('time: weekday and hours in a named time zone, ranges past midnight', () => {
    // 2019-05-24 00:39 UTC: a Friday; 02:39 in Paris, 20:39 on Thursday in New York.
    const pg = documented(PG_SELECT);
    assert.ok(matches('{ time: { days: [fri], hours: "00:00-01:00" } }', pg));
    assert.ok(matches('{ time: { days: [fri], hours: "02:00-03:00", tz: Europe/Paris } }', pg));
    assert.ok(matches('{ time: { days: [thursday], hours: ["20:00-21:00"], tz: America/New_York } }', pg));
    assert.ok(matches('{ time: { hours: "22:00-06:00" } }', pg), 'wraps past midnight');
    assert.ok(!matches('{ time: { days: [mon, tue, wed, thu], tz: UTC } }', pg));
    assert.ok(!matches('{ time: { hours: "08:00-18:00", tz: Europe/Paris } }', pg));
  });

  it('traced: whether the statement carried a W3C traceparent', () => {
    const traced = variant(PG_SELECT, { commandText: "select 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/" });
    assert.ok(matches('{ traced: true }', traced));
    assert.ok(matches('{ traced: false }', documented(PG_SELECT)));
  });

  it('unless: the rule holds only when the exception does not', () => {
    const policy = `{ class: DDL }\n    unless: { time: { days: [mon, tue, wed, thu, fri], hours: "00:00-01:00" } }`;
    assert.ok(!matches(policy, documented(PG_CREATE)), '2019-05-24 00:36 UTC is a Friday inside the window');
    assert.ok(matches(policy, variant(PG_CREATE, { logTime: '2019-05-25 00:36:54.494235+00' })), 'a Saturday');
  });
});

describe('policy actions and modes', () => {
  const record = (events: ActivityEvent[]): DecodedRecord => ({ version: '1.2', clusterId: null, instanceId: null, events, heartbeats: [] });
  const compiled = (text: string) => new CompiledPolicy(parsePolicy(text));

  it('drop removes the event and counts it by rule; tag and alert mark it with the rules and the highest severity', () => {
    const policy = compiled(
      `version: 1\nmode: all-match\nrules:\n  - name: noise\n    match: { user: rdsadmin, class: READ }\n    action: drop\n` +
        `  - name: mysql-reads\n    match: { engine: mysql, class: READ }\n    action: tag\n    labels: { team: shop }\n` +
        `  - name: test-db\n    match: { database: test }\n    action: alert\n    severity: error\n`,
    );
    const events = [documented(PG_SELECT), documented(MYSQL_MAIN), documented(SQLSERVER)];
    const out = applyPolicy(record(events), policy);
    assert.deepEqual(out.events.map((e) => e.engine), ['mysql', 'sqlserver']);
    assert.deepEqual(out.events[0]!.policy, { matched: ['mysql-reads', 'test-db'], severity: 'error', labels: { team: 'shop' } });
    assert.equal(out.events[1]!.policy, undefined);
    assert.deepEqual(out.policy, {
      dropped: [{ rule: 'noise', count: 1 }],
      matched: [
        { rule: 'mysql-reads', action: 'tag', severity: 'none', count: 1, traceId: null },
        { rule: 'test-db', action: 'alert', severity: 'error', count: 1, traceId: null },
      ],
      keptProtected: [],
    });
  });

  it('first-match stops at the first rule that matches', () => {
    const policy = compiled(
      `version: 1\nmode: first-match\nrules:\n  - name: first\n    match: { engine: mysql }\n    action: tag\n  - name: second\n    match: { class: READ }\n    action: alert\n`,
    );
    const out = applyPolicy(record([documented(MYSQL_MAIN), documented(PG_SELECT)]), policy);
    assert.deepEqual(out.events.map((e) => e.policy?.matched), [['first'], ['second']]);
  });

  it('a drop rule keeps failed logins and privilege changes unless it says force: true, and counts what it kept', () => {
    const grant = variant(PG_SELECT, { class: 'ROLE', command: 'GRANT', commandText: 'GRANT SELECT ON my_table TO bob' });
    const events = () => [sqlServerLoginFailed(), grant, oracle(), variant(MYSQL_MAIN, { commandText: 'ALTER USER bob IDENTIFIED BY ***' })];
    const everything = compiled(`version: 1\nmode: all-match\nrules:\n  - name: all\n    match: {}\n    action: drop\n`);
    const kept = applyPolicy(record(events()), everything);
    assert.deepEqual(kept.events.map((e) => e.command), ['LOGIN FAILED', 'GRANT', 'QUERY'], 'the successful Oracle logon is dropped, the others kept');
    assert.deepEqual(kept.policy!.keptProtected, [{ rule: 'all', count: 3 }]);
    const forced = compiled(`version: 1\nmode: all-match\nrules:\n  - name: all\n    match: {}\n    action: drop\n    force: true\n`);
    assert.equal(applyPolicy(record(events()), forced).events.length, 0);
  });

  it('a privilege change inside a batch, REASSIGN OWNED and SQL Server role procedures are protected; a batch takes its strongest class', () => {
    const dropAll = compiled(`version: 1\nmode: all-match\nrules:\n  - name: noise\n    match: { user: app, class: [READ, MISC] }\n    action: drop\n`);
    const kept = [
      variant(MYSQL_MAIN, { dbUserName: 'app', commandText: 'SELECT 1; GRANT SELECT ON u TO bob' }),
      variant(PG_SELECT, { dbUserName: 'app', class: 'MISC', command: 'REASSIGN OWNED', commandText: 'REASSIGN OWNED BY a TO b' }),
      variant(SQLSERVER, { dbUserName: 'app', command: 'EXECUTE', commandText: "EXEC sp_addrolemember 'db_owner', 'eve'" }),
      variant(SQLSERVER, { dbUserName: 'app', command: 'ALTER SERVER ROLE', commandText: 'ALTER SERVER ROLE sysadmin ADD MEMBER eve' }),
    ];
    assert.equal(applyPolicy(record(kept), dropAll).events.length, 4, 'none dropped');
    const mixed = variant(MYSQL_MAIN, { dbUserName: 'app', commandText: 'SELECT 1; DROP TABLE t' });
    assert.equal(statementClass(mixed), 'DDL');
    assert.equal(applyPolicy(record([mixed]), dropAll).events.length, 1, 'a DROP behind a SELECT is not a read');
  });

  it('objects: a name qualified in the SQL is not put in the session database', () => {
    const crossDb = variant(MYSQL_MAIN, { databaseName: 'scratch', objectName: null, commandText: 'SELECT * FROM payments.cards' });
    assert.ok(!matches('{ objects: "scratch.*" }', crossDb));
    assert.ok(matches('{ objects: "payments.cards" }', crossDb));
    assert.ok(matches('{ objects: "scratch.notes" }', variant(MYSQL_MAIN, { databaseName: 'scratch', commandText: 'SELECT * FROM notes' })));
  });

  it('an alert on a dropped event still counts, with the trace id as its exemplar', () => {
    const traced = variant(PG_SELECT, { commandText: "select 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/" });
    const policy = compiled(`version: 1\nmode: all-match\nrules:\n  - name: see\n    match: { traced: true }\n    action: alert\n  - name: gone\n    match: {}\n    action: drop\n`);
    const out = applyPolicy(record([traced]), policy);
    assert.equal(out.events.length, 0);
    assert.deepEqual(out.policy!.matched, [{ rule: 'see', action: 'alert', severity: 'warning', count: 1, traceId: '4bf92f3577b34da6a3ce929d0e0e4736' }]);
  });
});
