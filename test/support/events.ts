/**
 * Builds ActivityEvent and Heartbeat values for sink tests, shaped like the
 * AWS documentation's examples. `outcome` and `isLogin` are judged by the
 * real rules (src/events/outcome.ts) unless a test overrides them, so a
 * factory event fails exactly when a decoded one would.
 */
import type { ActivityEvent, Engine, Heartbeat } from '../../src/events/model.ts';
import { judgeOutcome } from '../../src/events/outcome.ts';

export const PG_CLUSTER = 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ';
export const PG_INSTANCE = 'db-FZJTMYKCXQBUUZ6VLU7NW3ITCM';
export const MYSQL_CLUSTER = 'cluster-BTZR3BNVXHYYXGAKSIKZFYOKYQ';
export const MYSQL_INSTANCE = 'db-NZ7VWOGSYQM7KCTKUAQRQCMBTA';
export const SQLSERVER_INSTANCE = 'db-4JCWQLUZVFYP7DIWP6JVQ77O3Q';

/** Epoch nanoseconds of an ISO time. */
export function unixNano(iso: string): bigint {
  return BigInt(Date.parse(iso)) * 1_000_000n;
}

let counter = 0;

export function activityEvent(fields: Partial<ActivityEvent> & { engine: Engine }): ActivityEvent {
  const base: Omit<ActivityEvent, 'outcome' | 'isLogin'> = {
    type: 'record',
    clusterId: null,
    instanceId: null,
    class: null,
    command: null,
    commandText: null,
    paramList: null,
    databaseName: null,
    dbUserName: null,
    objectType: null,
    objectName: null,
    remoteHost: null,
    remotePort: null,
    serverHost: null,
    clientApplication: null,
    pid: null,
    sessionId: null,
    statementId: null,
    substatementId: null,
    transactionId: null,
    logTimeUnixNano: null,
    startTimeUnixNano: null,
    endTimeUnixNano: null,
    logTimeRaw: null,
    startTimeRaw: null,
    endTimeRaw: null,
    exitCode: null,
    errorMessage: null,
    rowCount: null,
    serverType: null,
    serverVersion: null,
    serviceName: null,
    dbProtocol: null,
    netProtocol: null,
    engineNativeAuditFields: null,
    extra: {},
    statementKey: null,
    auxObjects: null,
    position: null,
    eventId: `test/${++counter}`,
    ...fields,
  };
  const verdict = judgeOutcome({ engine: base.engine, command: base.command, exitCode: base.exitCode, errorMessage: base.errorMessage });
  return { ...base, outcome: fields.outcome ?? verdict.outcome, isLogin: fields.isLogin ?? verdict.isLogin };
}

/** The Aurora PostgreSQL SELECT of the docs (class READ, one row). */
export function postgresSelect(fields: Partial<ActivityEvent> = {}): ActivityEvent {
  return activityEvent({
    engine: 'postgresql',
    clusterId: PG_CLUSTER,
    instanceId: PG_INSTANCE,
    class: 'READ',
    command: 'SELECT',
    commandText: 'select * from pg_catalog.pg_tables limit 1;',
    databaseName: 'postgres',
    dbUserName: 'rdsadmin',
    remoteHost: '172.31.3.195',
    serverHost: '172.31.3.192',
    clientApplication: 'psql',
    sessionId: '5e0e7f2c.4fd6',
    statementId: '2',
    substatementId: 1,
    logTimeUnixNano: unixNano('2019-12-27T19:31:46.451Z'),
    logTimeRaw: '2019-12-27 19:31:46.451046+00',
    rowCount: 1,
    serverType: 'PostgreSQL',
    serverVersion: '2.3.1',
    serviceName: 'Amazon Aurora PostgreSQL-Compatible edition',
    dbProtocol: 'Postgres 3.0',
    netProtocol: 'TCP',
    ...fields,
  });
}

/** An Aurora MySQL CONNECT refused with 1045 (access denied). */
export function mysqlFailedConnect(fields: Partial<ActivityEvent> = {}): ActivityEvent {
  return activityEvent({
    engine: 'mysql',
    clusterId: MYSQL_CLUSTER,
    instanceId: MYSQL_INSTANCE,
    class: 'MAIN',
    command: 'CONNECT',
    commandText: '',
    databaseName: '',
    dbUserName: 'intruder',
    remoteHost: '10.0.4.12',
    remotePort: 50222,
    serverHost: 'master',
    sessionId: '725122',
    statementId: '0',
    substatementId: 1,
    logTimeUnixNano: unixNano('2020-05-22T18:07:14.000Z'),
    logTimeRaw: '2020-05-22 18:07:14.000000+00',
    exitCode: 1045,
    rowCount: 0,
    serverType: 'MySQL',
    serverVersion: 'MySQL 5.7.12',
    serviceName: 'Amazon Aurora MySQL',
    dbProtocol: 'MySQL',
    netProtocol: 'TCP',
    ...fields,
  });
}

/** The RDS for SQL Server SELECT of the docs; `exitCode` 1 (permission check passed) unless given. */
export function sqlServerSelect(fields: Partial<ActivityEvent> = {}): ActivityEvent {
  return activityEvent({
    engine: 'sqlserver',
    clusterId: null,
    instanceId: SQLSERVER_INSTANCE,
    class: 'TABLE',
    command: 'SELECT',
    commandText: 'select * from [testDB].[dbo].[TestTable]',
    databaseName: 'testDB',
    dbUserName: 'test',
    objectType: 'TABLE',
    objectName: 'TestTable',
    remoteHost: 'local machine',
    serverHost: '172.31.30.159',
    clientApplication: 'Microsoft SQL Server Management Studio - Query',
    sessionId: '62',
    statementId: '0x03baed90412f564fad640ebe51f89b99',
    substatementId: 1,
    transactionId: '4532935',
    logTimeUnixNano: unixNano('2022-10-06T21:24:59.942Z'),
    logTimeRaw: '2022-10-06 21:24:59.9422268+00',
    exitCode: 1,
    rowCount: 0,
    serverType: 'SQLSERVER',
    serverVersion: '15.00.4073.23.v1.R1',
    serviceName: 'sqlserver-ee',
    dbProtocol: 'SQLSERVER',
    ...fields,
  });
}

export function heartbeat(fields: Partial<Heartbeat> & { logTimeUnixNano: bigint }): Heartbeat {
  return {
    type: 'heartbeat',
    engine: 'postgresql',
    clusterId: PG_CLUSTER,
    instanceId: PG_INSTANCE,
    logTimeRaw: null,
    extra: {},
    ...fields,
  };
}

/** A W3C trace context as the enrich stage leaves it on an event. */
export function withTrace(event: ActivityEvent, traceId: string, spanId = '00f067aa0ba902b7'): ActivityEvent {
  return {
    ...event,
    enrichment: {
      queryText: event.commandText,
      querySummary: null,
      operationName: event.command,
      collectionName: null,
      trace: { traceId, spanId, traceFlags: 1 },
    },
  };
}
