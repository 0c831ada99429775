import assert from 'node:assert/strict';
import type { Counter, Gauge, Histogram } from 'prom-client';
import type { SourceRecord } from '../../src/source/record.ts';
import { MetricsSink, metricsDataKeyObserver, metricsPipelineObserver, metricsStreamHealth } from '../../src/sinks/metrics-sink.ts';
import { DELIVERED } from '../../src/sinks/sink.ts';
import { createMetrics, createMetricsRegistry, type DasMetrics } from '../../src/telemetry/metrics.ts';
import {
  MYSQL_CLUSTER,
  MYSQL_INSTANCE,
  PG_CLUSTER,
  PG_INSTANCE,
  SQLSERVER_INSTANCE,
  heartbeat,
  mysqlFailedConnect,
  postgresSelect,
  sqlServerSelect,
  unixNano,
  withTrace,
} from '../support/events.ts';

type AnyMetric = Counter<string> | Gauge<string> | Histogram<string>;

/** Sum of the samples whose labels include `labels` (histograms: their `_count`). */
async function sum(metric: AnyMetric, labels: Record<string, string> = {}): Promise<number> {
  const { values } = await metric.get();
  return values
    .filter((v) => !('metricName' in v) || String(v.metricName).endsWith('_count'))
    .filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want))
    .reduce((total, v) => total + v.value, 0);
}

async function labelValues(metric: AnyMetric, label: string): Promise<string[]> {
  const { values } = await metric.get();
  return [...new Set(values.map((v) => String((v.labels as Record<string, unknown>)[label])))].sort();
}

function setup(options: { topN?: number; maxLabelLength?: number; now?: string } = {}): { metrics: DasMetrics; sink: MetricsSink } {
  const metrics = createMetrics(createMetricsRegistry());
  const now = Date.parse(options.now ?? '2019-12-27T19:31:48.451Z');
  const sink = new MetricsSink(metrics, { ...options, clock: () => now });
  return { metrics, sink };
}

function sourceRecord(stream: string, sequenceNumber: string): SourceRecord {
  return { stream, shardId: 'shardId-000000000000', sequenceNumber, data: new Uint8Array() };
}

describe('MetricsSink', () => {
  it('PostgreSQL SELECT from the docs: one successful READ statement, its user, its row and its lag', async () => {
    const { metrics, sink } = setup({ now: '2019-12-27T19:31:48.451Z' });
    const result = await sink.write({ events: [postgresSelect()], heartbeats: [] });

    assert.deepEqual(result, DELIVERED);
    const statement = {
      cluster: PG_CLUSTER, db_instance: PG_INSTANCE, engine: 'postgresql', database: 'postgres',
      class: 'READ', command: 'SELECT', outcome: 'success',
    };
    assert.equal(await sum(metrics.statements, statement), 1);
    assert.equal(await sum(metrics.statements), 1);
    assert.equal(await sum(metrics.userStatements, { cluster: PG_CLUSTER, user: 'rdsadmin', class: 'READ' }), 1);
    assert.equal(await sum(metrics.statementRows, { cluster: PG_CLUSTER, class: 'READ' }), 1);
    assert.equal(await sum(metrics.statementErrors), 0);
    assert.equal(await sum(metrics.loginAttempts), 0);

    const lag = (await metrics.eventLag.get()).values;
    const bucket = (le: number) => lag.find((v) => v.metricName === 'das_event_lag_seconds_bucket' && (v.labels as { le?: number }).le === le)?.value;
    assert.equal(lag.find((v) => v.metricName === 'das_event_lag_seconds_sum')?.value, 2);
    assert.equal(bucket(1), 0);
    assert.equal(bucket(2.5), 1);
    assert.equal(await sum(metrics.lastEventTimestamp, { cluster: PG_CLUSTER, db_instance: PG_INSTANCE }), Date.parse('2019-12-27T19:31:46.451Z') / 1000);
  });

  it('MySQL CONNECT refused with 1045: a failed login and an error with code 1045', async () => {
    const { metrics, sink } = setup();
    await sink.write({ events: [mysqlFailedConnect()], heartbeats: [] });

    assert.equal(await sum(metrics.loginAttempts, { cluster: MYSQL_CLUSTER, outcome: 'failure' }), 1);
    assert.equal(await sum(metrics.loginAttempts, { outcome: 'success' }), 0);
    assert.equal(await sum(metrics.statementErrors, { cluster: MYSQL_CLUSTER, engine: 'mysql', command: 'CONNECT', code: '1045' }), 1);
    assert.equal(
      await sum(metrics.statements, { cluster: MYSQL_CLUSTER, db_instance: MYSQL_INSTANCE, engine: 'mysql', class: 'MAIN', command: 'CONNECT', outcome: 'failure' }),
      1,
    );
  });

  it('a failed login names only users who already hold a slot; other names read __other__', async () => {
    const { metrics, sink } = setup();
    await sink.write({ events: [mysqlFailedConnect({ dbUserName: 'guess1' })], heartbeats: [] });
    await sink.write({ events: [mysqlFailedConnect({ dbUserName: 'app', exitCode: 0 })], heartbeats: [] });
    await sink.write({ events: [mysqlFailedConnect({ dbUserName: 'app' })], heartbeats: [] });

    assert.equal(await sum(metrics.loginAttempts, { user: '__other__', outcome: 'failure' }), 1);
    assert.equal(await sum(metrics.loginAttempts, { user: 'app', outcome: 'success' }), 1);
    assert.equal(await sum(metrics.loginAttempts, { user: 'app', outcome: 'failure' }), 1);
  });

  it('SQL Server: exitCode 1 (permission check passed) is success, 0 is failure with code 0', async () => {
    const { metrics, sink } = setup();
    await sink.write({ events: [sqlServerSelect({ exitCode: 1 }), sqlServerSelect({ exitCode: 0 })], heartbeats: [] });

    const where = { cluster: SQLSERVER_INSTANCE, db_instance: SQLSERVER_INSTANCE, engine: 'sqlserver', class: 'TABLE', command: 'SELECT' };
    assert.equal(await sum(metrics.statements, { ...where, outcome: 'success' }), 1);
    assert.equal(await sum(metrics.statements, { ...where, outcome: 'failure' }), 1);
    assert.equal(await sum(metrics.statementErrors), 1);
    assert.equal(await sum(metrics.statementErrors, { engine: 'sqlserver', code: '0' }), 1);
  });

  it('PostgreSQL AUTH FAILURE without exit code: a failed login with code failed_login', async () => {
    const { metrics, sink } = setup();
    await sink.write({ events: [postgresSelect({ class: 'MISC', command: 'AUTH FAILURE', rowCount: null })], heartbeats: [] });
    assert.equal(await sum(metrics.loginAttempts, { cluster: PG_CLUSTER, outcome: 'failure' }), 1);
    assert.equal(await sum(metrics.statementErrors, { command: 'AUTH FAILURE', code: 'failed_login' }), 1);
  });

  it('heartbeats move das_last_heartbeat_timestamp_seconds forward only, and count no statement', async () => {
    const { metrics, sink } = setup();
    const newer = unixNano('2024-03-01T10:00:05Z');
    const older = unixNano('2024-03-01T10:00:00Z');
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: newer })] });
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: older })] });

    assert.equal(await sum(metrics.lastHeartbeatTimestamp, { cluster: PG_CLUSTER, db_instance: PG_INSTANCE }), Date.parse('2024-03-01T10:00:05Z') / 1000);
    assert.equal(await sum(metrics.statements), 0);
    assert.equal((await metrics.lastEventTimestamp.get()).values.length, 0);
  });

  it('user, database and code beyond the top 3 fold into __other__, first seen wins', async () => {
    const { metrics, sink } = setup({ topN: 3 });
    const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u1'];
    await sink.write({ events: users.map((u, i) => postgresSelect({ dbUserName: u, databaseName: `db${i}` })), heartbeats: [] });
    const failedQueries = [1146, 1064, 1045, 1142, 1146].map((exitCode) =>
      mysqlFailedConnect({ command: 'QUERY', exitCode, dbUserName: 'u1', databaseName: 'db0' }),
    );
    await sink.write({ events: failedQueries, heartbeats: [] });

    assert.deepEqual(await labelValues(metrics.userStatements, 'user'), ['__other__', 'u1', 'u2', 'u3']);
    assert.equal(await sum(metrics.userStatements, { user: '__other__' }), 2);
    assert.equal(await sum(metrics.userStatements, { user: 'u1' }), 2 + 5);
    assert.deepEqual(await labelValues(metrics.statements, 'database'), ['__other__', 'db0', 'db1', 'db2']);
    assert.equal(await sum(metrics.statements, { database: '__other__' }), 3);
    assert.deepEqual(await labelValues(metrics.statementErrors, 'code'), ['1045', '1064', '1146', '__other__']);
    assert.equal(await sum(metrics.statementErrors, { code: '1146' }), 2);
    assert.equal(await sum(metrics.statementErrors, { code: '__other__' }), 1);
  });

  it('unknown commands and classes read __other__; long values are cut', async () => {
    const { metrics, sink } = setup({ maxLabelLength: 12 });
    await sink.write({ events: [postgresSelect({ command: 'FROBNICATE', class: 'NEWCLASS', dbUserName: 'a-very-long-user-name' })], heartbeats: [] });
    assert.equal(await sum(metrics.statements, { command: '__other__', class: '__other__' }), 1);
    assert.deepEqual(await labelValues(metrics.userStatements, 'user'), ['a-very-long-']);
    assert.deepEqual(await labelValues(metrics.statements, 'cluster'), [PG_CLUSTER.slice(0, 12)]);
  });

  it('attaches the trace id of a traced statement as the exemplar of its das_statements_total series', async () => {
    const { metrics, sink } = setup();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    await sink.write({ events: [withTrace(postgresSelect(), traceId), postgresSelect({ command: 'INSERT', class: 'WRITE' })], heartbeats: [] });

    const text = await metrics.registry.metrics();
    const lines = text.split('\n').filter((l) => l.startsWith('das_statements_total{'));
    const select = lines.find((l) => l.includes('command="SELECT"'));
    const insert = lines.find((l) => l.includes('command="INSERT"'));
    assert.match(select ?? '', new RegExp(` 1 # \\{trace_id="${traceId}"\\} 1 \\d+(\\.\\d+)?$`));
    assert.ok(insert && !insert.includes('#'), `no exemplar without trace context: ${insert}`);
    assert.ok(text.endsWith('# EOF\n'));
  });

  it('a negative lag (database clock ahead of ours) is observed as zero', async () => {
    const { metrics, sink } = setup({ now: '2019-12-27T19:31:40.000Z' });
    await sink.write({ events: [postgresSelect()], heartbeats: [] });
    const lag = (await metrics.eventLag.get()).values;
    assert.equal(lag.find((v) => v.metricName === 'das_event_lag_seconds_sum')?.value, 0);
  });
});

describe('MetricsSink forgets instances and clusters it no longer sees', () => {
  const HOUR = 3600_000;
  const DAY = 24 * HOUR;
  const T0 = Date.parse('2024-03-01T10:00:00Z');
  const OTHER_INSTANCE = 'db-OTHERINSTANCEOFPGCLUSTER00';

  /** A sink on a fake clock (epoch ms) that the test moves by hand. */
  function onFakeClock(expiryMs?: number) {
    const clock = { now: T0 };
    const metrics = createMetrics(createMetricsRegistry());
    const sink = new MetricsSink(metrics, { clock: () => clock.now, ...(expiryMs !== undefined ? { seriesExpiryMs: expiryMs } : {}) });
    return { clock, metrics, sink };
  }
  const pgInstance = { cluster: PG_CLUSTER, db_instance: PG_INSTANCE };
  const series = async (metric: AnyMetric, labels: Record<string, string>) => {
    const { values } = await metric.get();
    return values.filter((v) => Object.entries(labels).every(([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want)).length;
  };
  const at = (ms: number) => unixNano(new Date(ms).toISOString());

  it('keeps an instance seen 1 ms within the default 24 h, and removes its gauges and statement series at 24 h', async () => {
    const { clock, metrics, sink } = onFakeClock();
    await sink.write({ events: [postgresSelect({ logTimeUnixNano: at(T0) })], heartbeats: [heartbeat({ logTimeUnixNano: at(T0) })] });

    clock.now = T0 + DAY - 1;
    assert.deepEqual(sink.forgetUnseen(), { instances: [], clusters: [] });
    assert.equal(await sum(metrics.lastHeartbeatTimestamp, pgInstance), T0 / 1000);
    assert.equal(await sum(metrics.lastEventTimestamp, pgInstance), T0 / 1000);

    clock.now = T0 + DAY;
    assert.deepEqual(sink.forgetUnseen(), { instances: [{ cluster: PG_CLUSTER, instance: PG_INSTANCE }], clusters: [PG_CLUSTER] });
    assert.equal(await series(metrics.lastHeartbeatTimestamp, pgInstance), 0);
    assert.equal(await series(metrics.lastEventTimestamp, pgInstance), 0);
    assert.equal(await series(metrics.statements, pgInstance), 0);
    assert.equal(await series(metrics.userStatements, { cluster: PG_CLUSTER }), 0);
    assert.equal(await series(metrics.statementRows, { cluster: PG_CLUSTER }), 0);
    assert.equal(await series(metrics.eventLag, { cluster: PG_CLUSTER }), 0);
    assert.doesNotMatch(await metrics.registry.metrics(), new RegExp(PG_INSTANCE));
  });

  it('an instance that comes back after being forgotten starts its gauges afresh, even with an older time than before', async () => {
    const { clock, metrics, sink } = onFakeClock(HOUR);
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: at(T0) })] });
    clock.now = T0 + HOUR;
    sink.forgetUnseen();
    // A backlog read late: older than the forgotten value, which must not hold the gauge back.
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: at(T0 - 60_000) })] });
    assert.equal(await sum(metrics.lastHeartbeatTimestamp, pgInstance), (T0 - 60_000) / 1000);
  });

  it('heartbeats keep an idle instance: its last-event gauge stays while it sends nothing else for days', async () => {
    const { clock, metrics, sink } = onFakeClock();
    await sink.write({ events: [postgresSelect({ logTimeUnixNano: at(T0) })], heartbeats: [] });
    for (let hour = 1; hour <= 72; hour++) {
      clock.now = T0 + hour * HOUR;
      await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: at(clock.now) })] });
      assert.deepEqual(sink.forgetUnseen(), { instances: [], clusters: [] });
    }
    assert.equal(await sum(metrics.lastEventTimestamp, pgInstance), T0 / 1000);
    assert.equal(await sum(metrics.statements, pgInstance), 1);
  });

  it('a deleted instance goes while its cluster, still heartbeating through another instance, keeps its per-cluster series', async () => {
    const { clock, metrics, sink } = onFakeClock();
    await sink.write({ events: [postgresSelect()], heartbeats: [heartbeat({ logTimeUnixNano: at(T0) })] });
    clock.now = T0 + DAY / 2;
    await sink.write({ events: [], heartbeats: [heartbeat({ instanceId: OTHER_INSTANCE, logTimeUnixNano: at(clock.now) })] });
    clock.now = T0 + DAY;
    assert.deepEqual(sink.forgetUnseen(), { instances: [{ cluster: PG_CLUSTER, instance: PG_INSTANCE }], clusters: [] });
    assert.equal(await series(metrics.lastHeartbeatTimestamp, pgInstance), 0);
    assert.equal(await series(metrics.statements, pgInstance), 0);
    assert.equal(await sum(metrics.lastHeartbeatTimestamp, { cluster: PG_CLUSTER, db_instance: OTHER_INSTANCE }), (T0 + DAY / 2) / 1000);
    assert.equal(await sum(metrics.userStatements, { cluster: PG_CLUSTER, user: 'rdsadmin' }), 1);
  });

  it('only the unseen cluster goes: another cluster seen recently keeps every series', async () => {
    const { clock, metrics, sink } = onFakeClock();
    await sink.write({ events: [postgresSelect()], heartbeats: [heartbeat({ logTimeUnixNano: at(T0) })] });
    clock.now = T0 + HOUR;
    await sink.write({ events: [mysqlFailedConnect()], heartbeats: [] });
    clock.now = T0 + DAY;
    assert.deepEqual(sink.forgetUnseen().clusters, [PG_CLUSTER]);
    assert.equal(await sum(metrics.loginAttempts, { cluster: MYSQL_CLUSTER, outcome: 'failure' }), 1);
    assert.equal(await sum(metrics.statementErrors, { cluster: MYSQL_CLUSTER, code: '1045' }), 1);
    assert.equal(await sum(metrics.statements, { cluster: MYSQL_CLUSTER, db_instance: MYSQL_INSTANCE }), 1);
  });

  it('a heartbeat delivered in the same turn as a due sweep keeps its series, whichever runs first', async () => {
    const { clock, metrics, sink } = onFakeClock(HOUR);
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: at(T0) })] });
    clock.now = T0 + HOUR;

    // Delivered just before the sweep, the write not yet awaited: the instance is seen, nothing is removed.
    const before = sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: at(T0 + HOUR) })] });
    assert.deepEqual(sink.forgetUnseen(), { instances: [], clusters: [] });
    await before;
    assert.equal(await sum(metrics.lastHeartbeatTimestamp, pgInstance), (T0 + HOUR) / 1000);

    // Delivered just after a sweep that removed the series: it is there again with the new value.
    clock.now = T0 + 2 * HOUR;
    assert.equal(sink.forgetUnseen().instances.length, 1);
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: at(T0 + 2 * HOUR) })] });
    assert.equal(await sum(metrics.lastHeartbeatTimestamp, pgInstance), (T0 + 2 * HOUR) / 1000);
  });
});

describe('exporter health bindings', () => {
  it('the pipeline observer counts records, events, dead letters and sink retries of a finished batch', async () => {
    const metrics = createMetrics(createMetricsRegistry());
    const observer = metricsPipelineObserver(metrics);
    const stream = 'aws-rds-das-cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ';
    const records = [sourceRecord(stream, '1'), sourceRecord(stream, '2'), sourceRecord(stream, '3')];

    observer.recordFailed?.(records[1]!, 'kms_throttled');
    observer.retrying?.('open', 'kms_throttled');
    observer.recordFailed?.(records[2]!, 'auth_tag_mismatch');
    observer.deadLettered?.('auth_tag_mismatch');
    observer.retrying?.('otlp', 'backend_unavailable');
    observer.batchDelivered?.(records, { events: [postgresSelect(), postgresSelect()], heartbeats: [heartbeat({ logTimeUnixNano: 1n })] });

    assert.equal(await sum(metrics.records, { stream, outcome: 'delivered' }), 2);
    assert.equal(await sum(metrics.records, { stream, outcome: 'dead_lettered' }), 1);
    assert.equal(await sum(metrics.events, { stream, type: 'record' }), 2);
    assert.equal(await sum(metrics.events, { stream, type: 'heartbeat' }), 1);
    assert.equal(await sum(metrics.deadLetters, { reason: 'auth_tag_mismatch' }), 1);
    assert.deepEqual(await labelValues(metrics.exportRetries, 'sink'), ['otlp']);
  });

  it('the data-key observer counts KMS requests and cache lookups', async () => {
    const metrics = createMetrics(createMetricsRegistry());
    const observer = metricsDataKeyObserver(metrics);
    observer.cacheLookup('miss');
    observer.kmsRequest('throttled');
    observer.kmsRequest('success');
    observer.cacheLookup('hit');
    observer.cacheLookup('hit');
    assert.equal(await sum(metrics.kmsRequests, { outcome: 'success' }), 1);
    assert.equal(await sum(metrics.kmsRequests, { outcome: 'throttled' }), 1);
    assert.equal(await sum(metrics.dataKeyCacheLookups, { result: 'hit' }), 2);
    assert.equal(await sum(metrics.dataKeyCacheLookups, { result: 'miss' }), 1);
  });

  it('stream health sets lag, up and leases, and forgets a shard that ended', async () => {
    const metrics = createMetrics(createMetricsRegistry());
    const health = metricsStreamHealth(metrics);
    health.setMillisBehindLatest('s', 'shardId-0', 1500);
    health.setMillisBehindLatest('s', 'shardId-1', 0);
    health.setStreamUp('s', false);
    health.setLeasesHeld('s', 2);
    health.forgetShard('s', 'shardId-0');

    assert.deepEqual(await labelValues(metrics.millisBehindLatest, 'shard'), ['shardId-1']);
    assert.equal(await sum(metrics.streamUp, { stream: 's' }), 0);
    assert.equal(await sum(metrics.leasesHeld, { stream: 's' }), 2);
  });

  it('stream health counts subscriptions by shard and end reason, folds an unknown reason into unexpected, and forgets a shard that ended', async () => {
    const metrics = createMetrics(createMetricsRegistry());
    const health = metricsStreamHealth(metrics);
    for (const shard of ['shardId-0', 'shardId-1']) {
      health.subscriptionStarted('s', shard);
      health.subscriptionReceived('s', shard, 3, 300);
      health.subscriptionReceived('s', shard, 2, 50);
      health.subscriptionEnded('s', shard, 'completed');
    }
    health.subscriptionEnded('s', 'shardId-1', 'resource_in_use');
    health.subscriptionEnded('s', 'shardId-1', 'something new');
    assert.equal(await sum(metrics.efoSubscriptions, { shard: 'shardId-1' }), 1);
    assert.equal(await sum(metrics.efoReceivedRecords, { shard: 'shardId-1' }), 5);
    assert.equal(await sum(metrics.efoReceivedBytes, { shard: 'shardId-1' }), 350);
    assert.equal(await sum(metrics.efoSubscriptionsEnded, { shard: 'shardId-1', reason: 'resource_in_use' }), 1);
    assert.equal(await sum(metrics.efoSubscriptionsEnded, { shard: 'shardId-1', reason: 'unexpected' }), 1);

    health.forgetShard('s', 'shardId-0');
    for (const counter of [metrics.efoSubscriptions, metrics.efoReceivedRecords, metrics.efoReceivedBytes, metrics.efoSubscriptionsEnded]) {
      assert.deepEqual(await labelValues(counter, 'shard'), ['shardId-1']);
    }
  });
});
