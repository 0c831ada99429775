/**
 * The policies das-exporter ships (policies/), each on events of all four
 * engines that must and must not match: the documented examples of the AWS
 * guides, changed where a case needs it (variant()).
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ActivityEvent } from '../../src/events/model.ts';
import { PolicyHolder } from '../../src/policy/holder.ts';
import { documented, enriched, oracle, sqlServerLoginFailed, variant } from '../support/policy-events.ts';
import { TrafficSimulator } from '../../src/demo/traffic/simulator.ts';

const POLICIES = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'policies');

/** The rules of `file` that match `event` (drop rules included), by name. */
function rulesMatching(file: string, event: ActivityEvent): string[] {
  const verdict = new PolicyHolder(path.join(POLICIES, file)).current.compiled.evaluate(event);
  if (verdict === null) return [];
  return [...(verdict.drop ? [verdict.drop] : []), ...verdict.marks.map((r) => r.name), ...verdict.keptProtected.map((r) => `kept:${r}`)];
}

const PG = 'aurora-postgresql-select.json';
const MYSQL = 'aurora-mysql-select-main.json';
const MYSQL_CONNECT = 'aurora-mysql-connect.json';
const SQLSERVER = 'rds-sqlserver-select.json';
const PG_CREATE = 'aurora-postgresql-create-table.json';

describe('shipped policy: default (RDS internal noise)', () => {
  const file = 'default.yaml';
  it('drops rdsadmin reads from the instance itself on PostgreSQL and MySQL', () => {
    assert.deepEqual(rulesMatching(file, variant(PG, { remoteHost: '127.0.0.1', commandText: 'SELECT 1' })), ['rds-internal-reads']);
    assert.deepEqual(rulesMatching(file, variant(MYSQL, { dbUserName: 'rdsadmin', commandText: 'SELECT @@session.transaction_read_only' })), ['rds-internal-reads']);
  });

  it("drops rdsadmin's writes to mysql.rds_heartbeat2", () => {
    const heartbeat = variant(MYSQL, { dbUserName: 'rdsadmin', remoteHost: 'localhost', commandText: 'INSERT INTO mysql.rds_heartbeat2(id, value) values (1,1600000000000) ON DUPLICATE KEY UPDATE value = 1600000000000' });
    assert.deepEqual(rulesMatching(file, heartbeat), ['rds-mysql-heartbeat-table']);
  });

  it('drops the reads of rdsa on SQL Server and RDSADMIN on Oracle', () => {
    assert.deepEqual(rulesMatching(file, variant(SQLSERVER, { dbUserName: 'rdsa' })), ['rds-sqlserver-internal-reads']);
    assert.deepEqual(rulesMatching(file, oracle({ dbUserName: 'RDSADMIN', command: 'SELECT', commandText: 'SELECT 1 FROM DUAL' })), ['rds-oracle-internal-reads']);
  });

  it('keeps the documented examples, rdsadmin from another address, its logins and its writes, and every other user', () => {
    for (const event of [documented(PG), documented(MYSQL), documented(SQLSERVER), oracle(), documented(PG_CREATE)]) assert.deepEqual(rulesMatching(file, event), [], event.eventId);
    assert.deepEqual(rulesMatching(file, documented(MYSQL_CONNECT)), [], "rdsadmin's login from localhost");
    assert.deepEqual(rulesMatching(file, variant(PG, { remoteHost: '127.0.0.1', commandText: 'UPDATE t SET a = 1', command: 'UPDATE', class: 'WRITE' })), []);
    assert.deepEqual(rulesMatching(file, variant(SQLSERVER, { dbUserName: 'rdsa', command: 'DELETE', commandText: 'delete from [dbo].[T]' })), []);
    assert.deepEqual(rulesMatching(file, sqlServerLoginFailed({ dbUserName: 'rdsa' })), []);
  });
});

describe('shipped policy: PCI DSS 10.2', () => {
  const file = 'examples/pci-dss-10.2.yaml';
  it('10.2.1.1: access to card data tables on every engine, and nothing else', () => {
    assert.deepEqual(rulesMatching(file, variant(PG, { commandText: 'SELECT pan FROM payments.cards WHERE id = 1', dbUserName: 'app' })), ['pci-cardholder-data-access']);
    assert.deepEqual(rulesMatching(file, variant(MYSQL, { commandText: 'SELECT * FROM cards LIMIT 1', databaseName: 'payments', dbUserName: 'app' })), ['pci-cardholder-data-access']);
    assert.deepEqual(rulesMatching(file, variant(SQLSERVER, { commandText: 'select * from [shop].[dbo].[cardholders]', objectName: 'cardholders' })), ['pci-cardholder-data-access']);
    assert.deepEqual(rulesMatching(file, variant(PG, { commandText: 'SELECT * FROM payments.invoices', dbUserName: 'app' })), []);
  });

  it('10.2.1.2: administrators are tagged; 10.2.1.4: failed logins and permission errors alert', () => {
    assert.deepEqual(rulesMatching(file, variant(MYSQL, { dbUserName: 'master' })), ['pci-administrative-actions']);
    assert.deepEqual(rulesMatching(file, oracle({ dbUserName: 'ops_admin' })), ['pci-administrative-actions']);
    assert.deepEqual(rulesMatching(file, sqlServerLoginFailed()), ['pci-failed-logins']);
    assert.deepEqual(rulesMatching(file, variant(MYSQL, { exitCode: '1142', errorMessage: "SELECT command denied to user 'app'" })).sort(), ['pci-administrative-actions', 'pci-permission-denied']);
    assert.deepEqual(rulesMatching(file, variant(PG, { dbUserName: 'app', exitCode: '1', errorMessage: 'relation does not exist' })), []);
  });

  it('10.2.1.5 and 10.2.1.7: privilege changes alert, DDL is tagged', () => {
    assert.deepEqual(rulesMatching(file, variant(PG, { dbUserName: 'app', class: 'ROLE', command: 'GRANT', commandText: 'GRANT SELECT ON payments.cards TO bob' })), ['pci-cardholder-data-access', 'pci-credential-and-privilege-changes']);
    assert.deepEqual(rulesMatching(file, variant(SQLSERVER, { dbUserName: 'app', command: 'CREATE LOGIN', commandText: "CREATE LOGIN eve WITH PASSWORD = '***'" })), ['pci-credential-and-privilege-changes']);
    assert.deepEqual(rulesMatching(file, variant(PG_CREATE, { dbUserName: 'app' })), ['pci-system-level-objects']);
  });
});

describe('shipped policy: DDL outside the change window', () => {
  const file = 'examples/off-hours-ddl.yaml';
  const create = (logTime: string) => variant(PG_CREATE, { logTime });
  it('alerts on DDL on a Friday night and a Tuesday at 08:59 London time, on every engine', () => {
    assert.deepEqual(rulesMatching(file, documented(PG_CREATE)), ['ddl-outside-change-window'], 'the documented CREATE TABLE, a Friday at 01:36 London');
    assert.deepEqual(rulesMatching(file, create('2019-05-28 07:59:00.000000+00')), ['ddl-outside-change-window'], 'Tuesday 08:59 BST');
    assert.deepEqual(rulesMatching(file, variant('aurora-mysql-create-table-main.json', { logTime: '2020-05-23 12:00:00.000000+00' })), ['ddl-outside-change-window'], 'MySQL, a Saturday');
    assert.deepEqual(rulesMatching(file, variant(SQLSERVER, { command: 'DROP TABLE', commandText: 'drop table [dbo].[T]', logTime: '2022-10-08 10:00:00.0000000+00' })), ['ddl-outside-change-window']);
    assert.deepEqual(rulesMatching(file, oracle({ command: 'CREATE TABLE', commandText: 'CREATE TABLE t (a NUMBER)' })), ['ddl-outside-change-window'], 'the Oracle example is a Sunday');
  });

  it('stays quiet inside the window and for anything but DDL', () => {
    assert.deepEqual(rulesMatching(file, create('2019-05-28 08:00:00.000000+00')), [], 'Tuesday 09:00 BST');
    assert.deepEqual(rulesMatching(file, create('2019-05-30 15:59:00.000000+00')), [], 'Thursday 16:59 BST');
    assert.deepEqual(rulesMatching(file, create('2019-12-05 16:30:00.000000+00')), [], 'Thursday 16:30 GMT, in winter');
    assert.deepEqual(rulesMatching(file, documented(PG)), []);
  });
});

describe('shipped policy: unknown user or service-account host', () => {
  const file = 'examples/new-user-or-host.yaml';
  it('alerts on a user not on the list, on every engine, and on a service account logging in from outside the subnets', () => {
    assert.deepEqual(rulesMatching(file, documented(MYSQL)), ['unknown-user'], 'master');
    assert.deepEqual(rulesMatching(file, documented(SQLSERVER)), ['unknown-user'], 'test');
    assert.deepEqual(rulesMatching(file, oracle()), ['unknown-user'], 'TEST');
    assert.deepEqual(rulesMatching(file, variant(MYSQL_CONNECT, { dbUserName: 'svc-batch', remoteHost: '192.168.1.9' })), ['service-account-from-new-host']);
  });

  it('stays quiet for the known users and a service account from its subnet', () => {
    assert.deepEqual(rulesMatching(file, documented(PG)), [], 'rdsadmin');
    assert.deepEqual(rulesMatching(file, variant(PG, { dbUserName: 'app_orders' })), []);
    assert.deepEqual(rulesMatching(file, variant(MYSQL_CONNECT, { dbUserName: 'svc-batch', remoteHost: '10.20.3.4' })), []);
    assert.deepEqual(rulesMatching(file, variant(MYSQL, { dbUserName: 'svc-batch', remoteHost: '192.168.1.9' })), [], 'a statement, not a login');
  });
});

describe('shipped policy: the demo policy (examples/demo.yaml)', () => {
  it("every rule matches the demo's own traffic within 5,000 events, one alert rule per severity", () => {
    const holder = new PolicyHolder(path.join(POLICIES, 'examples/demo.yaml'));
    const seen = new Map<string, number>();
    const simulator = new TrafficSimulator({ seed: 7, clock: () => Date.parse('2026-12-07T10:00:00Z') });
    for (const batch of simulator.next(5_000)) {
      const record = { type: 'DatabaseActivityMonitoringRecord', clusterId: batch.clusterId, instanceId: batch.instanceId, databaseActivityEventList: batch.events };
      for (const event of enriched(record, batch.profile.version)) {
        for (const rule of rulesMatchingEvent(holder, event)) seen.set(rule, (seen.get(rule) ?? 0) + 1);
      }
    }
    const rules = holder.current.document.rules;
    assert.deepEqual(rules.filter((r) => !seen.has(r.name)).map((r) => r.name), [], JSON.stringify([...seen]));
    assert.deepEqual(new Set(rules.filter((r) => r.action === 'alert').map((r) => r.severity)), new Set(['info', 'warning', 'error', 'critical']));
  });
});

function rulesMatchingEvent(holder: PolicyHolder, event: ActivityEvent): string[] {
  const verdict = holder.current.compiled.evaluate(event);
  return verdict === null ? [] : [...(verdict.drop ? [verdict.drop] : []), ...verdict.marks.map((r) => r.name)];
}
