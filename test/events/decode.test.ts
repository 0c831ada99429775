import assert from 'node:assert/strict';
import { DasError } from '../../src/errors.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { ORACLE_LOGON, SQLSERVER_LOGIN_FAILED } from '../support/documented-events.ts';
import { decryptedExamples, loadExample } from '../support/fixtures.ts';

type Json = Record<string, any>;

function record(events: unknown[], ids: { clusterId?: string; instanceId?: string } = {}): string {
  return JSON.stringify({
    type: 'DatabaseActivityMonitoringRecord',
    clusterId: ids.clusterId ?? '',
    instanceId: ids.instanceId ?? 'db-TESTINSTANCE',
    databaseActivityEventList: events,
  });
}

const POSITION = { stream: 'aws-rds-das-cluster-TEST', shardId: 'shardId-000000000001', sequenceNumber: '4959' };

const PG_CLUSTER = 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ';
const PG_INSTANCE = 'db-FZJTMYKCXQBUUZ6VLU7NW3ITCM';
const PG_COMMON = {
  type: 'record', engine: 'postgresql', clusterId: PG_CLUSTER, instanceId: PG_INSTANCE,
  databaseName: 'postgres', dbUserName: 'rdsadmin', remoteHost: '172.31.3.195',
  serverHost: '172.31.3.192', clientApplication: 'psql', substatementId: 1, transactionId: null,
  endTimeUnixNano: null, endTimeRaw: null, exitCode: null, errorMessage: null,
  serverType: 'PostgreSQL', serverVersion: '2.3.1', serviceName: 'Amazon Aurora PostgreSQL-Compatible edition',
  dbProtocol: 'Postgres 3.0', netProtocol: 'TCP', engineNativeAuditFields: null, extra: {},
  statementKey: null, auxObjects: null,
} as const;

const MYSQL_COMMON = {
  type: 'record', engine: 'mysql', clusterId: 'cluster-some_id', instanceId: 'db-some_id',
  paramList: null, remoteHost: 'localhost', serverHost: 'master', clientApplication: null, pid: 2830,
  transactionId: '0', errorMessage: null, serverType: 'MySQL', serverVersion: 'MySQL 5.7.12',
  serviceName: 'Amazon Aurora MySQL', dbProtocol: 'MySQL', netProtocol: 'TCP', engineNativeAuditFields: null,
  extra: {}, auxObjects: null,
} as const;

/** Expected decoding of the single event in each documented example, decoded without a position. */
const GOLDEN: { name: string; file: string; expected: ActivityEvent }[] = [
  {
    name: 'PostgreSQL CONNECT from the docs',
    file: 'aurora-postgresql-connect.json',
    expected: {
      ...PG_COMMON, paramList: [], class: 'MISC', command: 'CONNECT', commandText: null, objectType: null, objectName: null,
      remotePort: 49804, pid: 18251, sessionId: '5ce5f7f0.474b', statementId: '1', rowCount: null,
      logTimeUnixNano: 1572395989990579000n, logTimeRaw: '2019-10-30 00:39:49.990579+00',
      startTimeUnixNano: 1572395989940668000n, startTimeRaw: '2019-10-30 00:39:49.940668+00',
      outcome: 'success', isLogin: true, position: null, eventId: 'local/0',
    },
  },
  {
    name: 'PostgreSQL CREATE TABLE from the docs',
    file: 'aurora-postgresql-create-table.json',
    expected: {
      ...PG_COMMON, paramList: [], class: 'DDL', command: 'CREATE TABLE',
      commandText: 'create table my_table (id serial primary key, name varchar(32));', objectType: null, objectName: null,
      remotePort: 34534, pid: 32356, sessionId: '5ce73c6f.7e64', statementId: '2', rowCount: null,
      logTimeUnixNano: 1558658214494235000n, logTimeRaw: '2019-05-24 00:36:54.494235+00',
      startTimeUnixNano: 1558658214403455000n, startTimeRaw: '2019-05-24 00:36:54.403455+00',
      outcome: 'success', isLogin: false, position: null, eventId: 'local/0',
    },
  },
  {
    name: 'PostgreSQL SELECT from the docs',
    file: 'aurora-postgresql-select.json',
    expected: {
      ...PG_COMMON, paramList: [], class: 'READ', command: 'SELECT', commandText: 'select * from my_table;',
      objectType: 'TABLE', objectName: 'public.my_table',
      remotePort: 34534, pid: 32356, sessionId: '5ce73c6f.7e64', statementId: '6', rowCount: 10,
      logTimeUnixNano: 1558658389940668000n, logTimeRaw: '2019-05-24 00:39:49.940668+00',
      startTimeUnixNano: 1558658389920564000n, startTimeRaw: '2019-05-24 00:39:49.920564+00',
      outcome: 'success', isLogin: false, position: null, eventId: 'local/0',
    },
  },
  {
    name: 'MySQL CONNECT from the docs',
    file: 'aurora-mysql-connect.json',
    expected: {
      ...MYSQL_COMMON, class: 'MAIN', command: 'CONNECT', commandText: '', databaseName: '', dbUserName: 'rdsadmin',
      objectType: 'TABLE', objectName: '', remotePort: 11053, sessionId: '725121', statementId: '0', substatementId: 1,
      logTimeUnixNano: 1590170833267214000n, logTimeRaw: '2020-05-22 18:07:13.267214+00',
      startTimeUnixNano: 1590170833267207000n, startTimeRaw: '2020-05-22 18:07:13.267207+00',
      endTimeUnixNano: 1590170833267213000n, endTimeRaw: '2020-05-22 18:07:13.267213+00',
      exitCode: 0, rowCount: 0, outcome: 'success', isLogin: true,
      statementKey: 'db-some_id/725121/0', position: null, eventId: 'local/0',
    },
  },
  {
    name: 'MySQL CREATE TABLE MAIN from the docs',
    file: 'aurora-mysql-create-table-main.json',
    expected: {
      ...MYSQL_COMMON, class: 'MAIN', command: 'QUERY', commandText: 'CREATE TABLE test1 (id INT)', databaseName: 'test',
      dbUserName: 'master', objectType: 'TABLE', objectName: 'test1', remotePort: 11054, sessionId: '725118',
      statementId: '65459278', substatementId: 1,
      logTimeUnixNano: 1590170832250221000n, logTimeRaw: '2020-05-22 18:07:12.250221+00',
      startTimeUnixNano: 1590170832226384000n, startTimeRaw: '2020-05-22 18:07:12.226384+00',
      endTimeUnixNano: 1590170832250222000n, endTimeRaw: '2020-05-22 18:07:12.250222+00',
      exitCode: 0, rowCount: 0, outcome: 'success', isLogin: false,
      statementKey: 'db-some_id/725118/65459278', position: null, eventId: 'local/0',
    },
  },
  {
    name: 'MySQL CREATE TABLE AUX from the docs',
    file: 'aurora-mysql-create-table-aux.json',
    expected: {
      ...MYSQL_COMMON, class: 'AUX', command: 'CREATE', commandText: 'test1', databaseName: 'test',
      dbUserName: 'master', objectType: 'TABLE', objectName: 'test1', remotePort: 11054, sessionId: '725118',
      statementId: '65459278', substatementId: 2,
      logTimeUnixNano: 1590170832247182000n, logTimeRaw: '2020-05-22 18:07:12.247182+00',
      startTimeUnixNano: 1590170832226384000n, startTimeRaw: '2020-05-22 18:07:12.226384+00',
      endTimeUnixNano: 1590170832247182000n, endTimeRaw: '2020-05-22 18:07:12.247182+00',
      exitCode: null, rowCount: 0, outcome: 'success', isLogin: false,
      statementKey: 'db-some_id/725118/65459278', position: null, eventId: 'local/0',
    },
  },
  {
    name: 'MySQL SELECT MAIN from the docs',
    file: 'aurora-mysql-select-main.json',
    expected: {
      ...MYSQL_COMMON, class: 'MAIN', command: 'QUERY', commandText: 'SELECT * FROM test1 WHERE id < 28', databaseName: 'test',
      dbUserName: 'master', objectType: 'TABLE', objectName: 'test1', remotePort: 11054, sessionId: '726571',
      statementId: '65469218', substatementId: 1,
      logTimeUnixNano: 1590172197986467000n, logTimeRaw: '2020-05-22 18:29:57.986467+00',
      startTimeUnixNano: 1590172197986364000n, startTimeRaw: '2020-05-22 18:29:57.986364+00',
      endTimeUnixNano: 1590172197986467000n, endTimeRaw: '2020-05-22 18:29:57.986467+00',
      exitCode: 0, rowCount: 2, outcome: 'success', isLogin: false,
      statementKey: 'db-some_id/726571/65469218', position: null, eventId: 'local/0',
    },
  },
  {
    name: 'MySQL SELECT AUX from the docs (record without clusterId)',
    file: 'aurora-mysql-select-aux.json',
    expected: {
      ...MYSQL_COMMON, clusterId: null, class: 'AUX', command: 'READ', commandText: 'test1', databaseName: 'test',
      dbUserName: 'master', objectType: 'TABLE', objectName: 'test1', remotePort: 11054, sessionId: '726571',
      statementId: '65469218', substatementId: 2,
      logTimeUnixNano: 1590172197986399000n, logTimeRaw: '2020-05-22 18:29:57.986399+00',
      startTimeUnixNano: 1590172197986364000n, startTimeRaw: '2020-05-22 18:29:57.986364+00',
      endTimeUnixNano: 1590172197986399000n, endTimeRaw: '2020-05-22 18:29:57.986399+00',
      exitCode: null, rowCount: 0, outcome: 'success', isLogin: false,
      statementKey: 'db-some_id/726571/65469218', position: null, eventId: 'local/0',
    },
  },
  {
    name: 'SQL Server SELECT from the docs',
    file: 'rds-sqlserver-select.json',
    expected: {
      type: 'record', engine: 'sqlserver', clusterId: null, instanceId: 'db-4JCWQLUZVFYP7DIWP6JVQ77O3Q',
      class: 'TABLE', command: 'SELECT', commandText: 'select * from [testDB].[dbo].[TestTable]', paramList: null,
      databaseName: 'testDB', dbUserName: 'test', objectType: 'TABLE', objectName: 'TestTable',
      remoteHost: 'local machine', remotePort: null, serverHost: '172.31.30.159',
      clientApplication: 'Microsoft SQL Server Management Studio - Query', pid: null,
      sessionId: '62', statementId: '0x03baed90412f564fad640ebe51f89b99', substatementId: 1, transactionId: '4532935',
      logTimeUnixNano: 1665091499942226800n, logTimeRaw: '2022-10-06 21:24:59.9422268+00',
      startTimeUnixNano: null, startTimeRaw: null, endTimeUnixNano: null, endTimeRaw: null,
      exitCode: 1, errorMessage: null, rowCount: 0,
      serverType: 'SQLSERVER', serverVersion: '15.00.4073.23.v1.R1', serviceName: 'sqlserver-ee',
      dbProtocol: 'SQLSERVER', netProtocol: null,
      engineNativeAuditFields: {
        target_database_principal_id: 0, target_server_principal_id: 0, target_database_principal_name: '',
        server_principal_id: 2, user_defined_information: '', response_rows: 0, database_principal_name: 'dbo',
        target_server_principal_name: '', schema_name: 'dbo', is_column_permission: true, object_id: 581577110,
        server_instance_name: 'EC2AMAZ-NFUJJNO', target_server_principal_sid: null, additional_information: '',
        duration_milliseconds: 0, permission_bitmask: '0x00000000000000000000000000000001',
        data_sensitivity_information: '', session_server_principal_name: 'test',
        connection_id: 'AD3A5084-FB83-45C1-8334-E923459A8109', audit_schema_version: 1, database_principal_id: 1,
        server_principal_sid: '0x010500000000000515000000bdc2795e2d0717901ba6998cf4010000',
        user_defined_event_id: 0, host_name: 'EC2AMAZ-NFUJJNO',
      },
      extra: {}, outcome: 'success', isLogin: false, statementKey: null, auxObjects: null,
      position: null, eventId: 'local/0',
    },
  },
];

describe('decodeRecord: documented examples', () => {
  it('has an expectation for every file in decrypted-examples', () => {
    assert.deepEqual(GOLDEN.map((g) => g.file).sort(), decryptedExamples().map((e) => e.name));
  });

  for (const { name, file, expected } of GOLDEN) {
    it(name, () => {
      const { record: inner, version } = loadExample(file);
      const decoded = decodeRecord(JSON.stringify(inner), { version });
      assert.equal(decoded.version, version);
      assert.equal(decoded.clusterId, expected.clusterId);
      assert.equal(decoded.instanceId, expected.instanceId);
      assert.deepEqual(decoded.heartbeats, []);
      assert.equal(decoded.events.length, 1);
      assert.deepStrictEqual(decoded.events[0], expected);
    });
  }

  it('accepts the record as UTF-8 bytes and sets the stream position', () => {
    const { record: inner, version } = loadExample('aurora-postgresql-connect.json');
    const [event] = decodeRecord(new TextEncoder().encode(JSON.stringify(inner)), { version, position: POSITION }).events;
    assert.deepEqual(event!.position, { ...POSITION, index: 0 });
    assert.equal(event!.eventId, 'aws-rds-das-cluster-TEST/shardId-000000000001/4959/0');
    assert.equal(event!.sessionId, '5ce5f7f0.474b');
  });
});

describe('decodeRecord: Aurora MySQL MAIN and AUX in one record', () => {
  const main = loadExample('aurora-mysql-select-main.json').record.databaseActivityEventList[0];
  const aux = loadExample('aurora-mysql-select-aux.json').record.databaseActivityEventList[0];
  const ids = { clusterId: 'cluster-some_id', instanceId: 'db-some_id' };
  const readTest1 = [{ command: 'READ', objectType: 'TABLE', objectName: 'test1' }];

  it('links the SELECT when MAIN comes first', () => {
    const { events } = decodeRecord(record([main, aux], ids), { version: '1.2' });
    assert.deepEqual(events.map((e) => e.class), ['MAIN', 'AUX']);
    assert.deepEqual(events[0]!.auxObjects, readTest1);
    assert.equal(events[1]!.auxObjects, null);
    assert.deepEqual(events.map((e) => e.statementKey), ['db-some_id/726571/65469218', 'db-some_id/726571/65469218']);
  });

  it('links the SELECT when AUX comes first', () => {
    const { events } = decodeRecord(record([aux, main], ids), { version: '1.2' });
    assert.deepEqual(events.map((e) => e.class), ['AUX', 'MAIN']);
    assert.deepEqual(events[1]!.auxObjects, readTest1);
    assert.equal(events[0]!.auxObjects, null);
  });

  it('collects every AUX object of one statement in list order', () => {
    const second = { ...aux, command: 'WRITE', objectName: 'test2', commandText: 'test2' };
    const { events } = decodeRecord(record([aux, main, second], ids), { version: '1.2' });
    assert.deepEqual(events[1]!.auxObjects, [...readTest1, { command: 'WRITE', objectType: 'TABLE', objectName: 'test2' }]);
  });

  it('does not link an AUX event of another statement', () => {
    const createAux = loadExample('aurora-mysql-create-table-aux.json').record.databaseActivityEventList[0];
    const { events } = decodeRecord(record([main, createAux], ids), { version: '1.2' });
    assert.equal(events[0]!.auxObjects, null);
  });

  it('does not link the same statement id on another session', () => {
    const { events } = decodeRecord(record([main, { ...aux, sessionId: '1' }], ids), { version: '1.2' });
    assert.equal(events[0]!.auxObjects, null);
  });
});

describe('decodeRecord: RDS for Oracle', () => {
  it('Oracle LOGON from the docs', () => {
    const decoded = decodeRecord(record([ORACLE_LOGON], { instanceId: 'db-ORACLEINSTANCE' }), { version: '1.3', position: POSITION });
    assert.deepStrictEqual(decoded.events[0], {
      type: 'record', engine: 'oracle', clusterId: null, instanceId: 'db-ORACLEINSTANCE',
      class: 'Standard', command: 'LOGON', commandText: null, paramList: [], databaseName: 'ORCL', dbUserName: 'TEST',
      objectType: null, objectName: null, remoteHost: '123.456.789.012', remotePort: 25440, serverHost: '987.654.321.098',
      clientApplication: 'JDBC Thin Client', pid: 17904, sessionId: '987654321', statementId: '1', substatementId: null,
      transactionId: '0000000000000000',
      logTimeUnixNano: 1610669736233787000n, startTimeUnixNano: null, endTimeUnixNano: null,
      logTimeRaw: '2021-01-15 00:15:36.233787', startTimeRaw: null, endTimeRaw: null,
      exitCode: 0, errorMessage: null, rowCount: null,
      serverType: 'oracle', serverVersion: '19.0.0.0.ru-2020-01.rur-2020-01.r1.EE.3', serviceName: 'oracle-ee',
      dbProtocol: 'oracle', netProtocol: 'tcp',
      engineNativeAuditFields: ORACLE_LOGON.engineNativeAuditFields,
      extra: { dbid: '0123456789' },
      outcome: 'success', isLogin: true, statementKey: null, auxObjects: null,
      position: { ...POSITION, index: 0 }, eventId: 'aws-rds-das-cluster-TEST/shardId-000000000001/4959/0',
    } satisfies ActivityEvent);
  });

  it('Oracle LOGON with RETURN_CODE 1017 is a failed login', () => {
    const [event] = decodeRecord(record([{ ...ORACLE_LOGON, exitCode: 1017 }]), { version: '1.3' }).events;
    assert.equal(event!.outcome, 'failure');
    assert.equal(event!.isLogin, true);
    assert.equal(event!.exitCode, 1017);
  });

  it('an Oracle event that names no engine is Oracle by its 1.3 envelope', () => {
    const { serverType, dbProtocol, serviceName, ...anonymous } = ORACLE_LOGON;
    const [event] = decodeRecord(record([anonymous]), { version: '1.3' }).events;
    assert.equal(event!.engine, 'oracle');
  });
});

describe('decodeRecord: RDS for SQL Server failed login', () => {
  it('SQL Server LOGIN FAILED from the docs is a failed login', () => {
    const [event] = decodeRecord(record([SQLSERVER_LOGIN_FAILED]), { version: '1.4' }).events;
    assert.equal(event!.engine, 'sqlserver');
    assert.equal(event!.outcome, 'failure');
    assert.equal(event!.isLogin, true);
    assert.equal(event!.exitCode, 0);
    assert.equal(event!.sessionId, '0');
    assert.equal(event!.statementId, '0x1eb0d1808d34a94b9d3dcf5432750f02');
    assert.equal(event!.logTimeUnixNano, 1665092082711307200n);
    assert.equal(event!.clusterId, null);
  });

  it('keeps a SQL Server statementId sent in upper case as lower-case hex', () => {
    const [event] = decodeRecord(record([{ ...SQLSERVER_LOGIN_FAILED, statementId: '0x1EB0D1808D34A94B9D3DCF5432750F02' }]), { version: '1.4' }).events;
    assert.equal(event!.statementId, '0x1eb0d1808d34a94b9d3dcf5432750f02');
  });
});

describe('decodeRecord: heartbeats', () => {
  // The guides say only that list entries have type `record` or `heartbeat`;
  // the heartbeat body here is an assumption (a logTime and whatever else).
  const heartbeat = { type: 'heartbeat', logTime: '2022-10-06 21:25:00.0000000+00', serverType: 'SQLSERVER', beat: 7 };
  const select = loadExample('rds-sqlserver-select.json').record.databaseActivityEventList[0];

  it('goes to heartbeats, and indexes still count it', () => {
    const decoded = decodeRecord(record([heartbeat, select, heartbeat]), { version: '1.4', position: POSITION });
    assert.equal(decoded.events.length, 1);
    assert.equal(decoded.events[0]!.eventId, 'aws-rds-das-cluster-TEST/shardId-000000000001/4959/1');
    assert.equal(decoded.events[0]!.position!.index, 1);
    assert.equal(decoded.heartbeats.length, 2);
    assert.deepStrictEqual(decoded.heartbeats[0], {
      type: 'heartbeat', engine: 'sqlserver', clusterId: null, instanceId: 'db-TESTINSTANCE',
      logTimeUnixNano: 1665091500000000000n, logTimeRaw: '2022-10-06 21:25:00.0000000+00',
      extra: { serverType: 'SQLSERVER', beat: 7 },
    });
  });

  it('a heartbeat that names no engine takes the engine of its record', () => {
    const { heartbeats } = decodeRecord(record([{ type: 'heartbeat' }, select]), { version: '1.2' });
    assert.equal(heartbeats[0]!.engine, 'sqlserver');
    assert.equal(heartbeats[0]!.logTimeUnixNano, null);
    assert.deepEqual(heartbeats[0]!.extra, {});
  });

  it('a record of heartbeats only decodes to no events', () => {
    const decoded = decodeRecord(record([{ type: 'heartbeat' }]), { version: '1.2' });
    assert.deepEqual(decoded.events, []);
    assert.equal(decoded.heartbeats[0]!.engine, 'unknown');
  });

  it('an empty event list is a valid record', () => {
    const decoded = decodeRecord(record([]), { version: '1.1' });
    assert.deepEqual([decoded.events, decoded.heartbeats], [[], []]);
  });
});

describe('decodeRecord: nothing an auditor needs is dropped', () => {
  const pgSelect = loadExample('aurora-postgresql-select.json').record.databaseActivityEventList[0];

  it('keeps unknown fields in extra', () => {
    const [event] = decodeRecord(record([{ ...pgSelect, newField: { a: 1 }, dbid: 42 }]), { version: '1.1' }).events;
    assert.deepEqual(event!.extra, { newField: { a: 1 }, dbid: 42 });
  });

  it('keeps a field of an unexpected type in extra and reads it as null, without dropping the event', () => {
    const [event] = decodeRecord(
      record([{
        ...pgSelect,
        remotePort: 'not-a-port', exitCode: true, sessionId: { id: 1 }, logTime: 1572395989, rowCount: 1.5,
        engineNativeAuditFields: 'text', paramList: 'a,b', commandText: 7, type: 'audit',
      }]),
      { version: '1.1' },
    ).events;
    assert.equal(event!.type, 'record');
    assert.equal(event!.remotePort, null);
    assert.equal(event!.exitCode, null);
    assert.equal(event!.sessionId, null);
    assert.equal(event!.logTimeRaw, null);
    assert.equal(event!.logTimeUnixNano, null);
    assert.equal(event!.rowCount, null);
    assert.equal(event!.engineNativeAuditFields, null);
    assert.equal(event!.paramList, null);
    assert.equal(event!.commandText, null);
    assert.deepEqual(event!.extra, {
      remotePort: 'not-a-port', exitCode: true, sessionId: { id: 1 }, logTime: 1572395989, rowCount: 1.5,
      engineNativeAuditFields: 'text', paramList: 'a,b', commandText: 7, type: 'audit',
    });
    assert.equal(event!.command, 'SELECT');
  });

  it('keeps an unparseable time as raw text with null nanoseconds', () => {
    const [event] = decodeRecord(record([{ ...pgSelect, logTime: 'yesterday' }]), { version: '1.1' }).events;
    assert.equal(event!.logTimeRaw, 'yesterday');
    assert.equal(event!.logTimeUnixNano, null);
    assert.deepEqual(event!.extra, {});
  });

  it('turns paramList elements into strings and keeps null elements', () => {
    const [event] = decodeRecord(record([{ ...pgSelect, paramList: ['x', 1, null, true, { a: 1 }] }]), { version: '1.1' }).events;
    assert.deepEqual(event!.paramList, ['x', '1', null, 'true', '{"a":1}']);
  });

  it('reads a MySQL CONNECT refused with exitCode "1045" as a failed login', () => {
    const connect = loadExample('aurora-mysql-connect.json').record.databaseActivityEventList[0];
    const [event] = decodeRecord(record([{ ...connect, exitCode: '1045', errorMessage: '' }]), { version: '1.2' }).events;
    assert.equal(event!.exitCode, 1045);
    assert.equal(event!.errorMessage, null);
    assert.deepEqual([event!.outcome, event!.isLogin], ['failure', true]);
  });

  it('reads a PostgreSQL AUTH FAILURE as a failed login', () => {
    const connect = loadExample('aurora-postgresql-connect.json').record.databaseActivityEventList[0];
    const [event] = decodeRecord(record([{ ...connect, command: 'AUTH FAILURE' }]), { version: '1.1' }).events;
    assert.deepEqual([event!.outcome, event!.isLogin], ['failure', true]);
  });

  it('does not let a __proto__ field change the prototype of extra', () => {
    const json = record([pgSelect]).replace('"type":"record"', '"type":"record","__proto__":{"polluted":true}');
    const [event] = decodeRecord(json, { version: '1.1' }).events;
    assert.equal(Object.getPrototypeOf(event!.extra), Object.prototype);
    assert.deepEqual(Object.getOwnPropertyDescriptor(event!.extra, '__proto__')?.value, { polluted: true });
  });
});

describe('decodeRecord: records that cannot be read', () => {
  function assertFails(json: string | Uint8Array, reason: string, message?: RegExp): void {
    assert.throws(
      () => decodeRecord(json, { version: '1.2' }),
      (error: unknown) => {
        assert.ok(error instanceof DasError);
        assert.equal(error.reason, reason);
        assert.equal(error.disposition, 'permanent');
        if (message) assert.match(error.message, message);
        return true;
      },
    );
  }

  it('text that is not JSON is invalid_event_json', () => assertFails('{"type":', 'invalid_event_json'));
  it('bytes that are not UTF-8 are invalid_event_json', () => assertFails(new Uint8Array([0x7b, 0xff, 0x7d]), 'invalid_event_json'));
  it('empty input is invalid_event_json', () => assertFails('', 'invalid_event_json'));
  it('a JSON array is not_das_record', () => assertFails('[]', 'not_das_record'));
  it('JSON null is not_das_record', () => assertFails('null', 'not_das_record'));
  it('the outer envelope is not_das_record', () =>
    assertFails(JSON.stringify({ type: 'DatabaseActivityMonitoringRecords', version: '1.2', databaseActivityEvents: 'AAAA', key: 'AAAA' }), 'not_das_record', /DatabaseActivityMonitoringRecords/));
  it('a record without databaseActivityEventList is not_das_record', () =>
    assertFails(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', instanceId: 'db-X' }), 'not_das_record'));
  it('a databaseActivityEventList that is not a list is not_das_record', () =>
    assertFails(JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', databaseActivityEventList: {} }), 'not_das_record'));
  it('a list entry that is a number is invalid_event', () => assertFails(record([{ type: 'heartbeat' }, 42]), 'invalid_event', /\[1\]/));
  it('a list entry that is null is invalid_event', () => assertFails(record([null]), 'invalid_event'));
  it('a list entry that is an array is invalid_event', () => assertFails(record([[]]), 'invalid_event'));
});
