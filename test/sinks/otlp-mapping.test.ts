import assert from 'node:assert/strict';
import fc from 'fast-check';
import path from 'node:path';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { distinctTimestamp, EVENT_NAME, LogRecordMapper, mapEvent, truncateUtf8 } from '../../src/sinks/otlp/mapping.ts';
import { encodeLogsRequest } from '../../src/sinks/otlp/protobuf.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';

type Json = Record<string, any>;

/** The first event of a documented example, decoded the way the pipeline does. */
function exampleEvent(file: string, patch: (event: Json) => void = () => {}): ActivityEvent {
  const json = readJsonFixture(path.join(DECRYPTED_EXAMPLES, file)) as Json;
  const inner: Json = json.type === 'DatabaseActivityMonitoringRecords' ? json.databaseActivityEvents : json;
  const version = json.type === 'DatabaseActivityMonitoringRecords' ? json.version : file.startsWith('rds-sqlserver') ? '1.4' : '1.2';
  patch(inner.databaseActivityEventList[0]);
  const decoded = decodeRecord(JSON.stringify(inner), {
    version,
    position: { stream: 'aws-rds-das-test', shardId: 'shardId-000000000000', sequenceNumber: '4960' },
  });
  return decoded.events[0]!;
}

const READ_AT = new Date('2024-05-01T12:00:00.000Z');
const TRACE = { traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', traceFlags: 1 };

function mapper(catalog = new ResourceCatalog({ region: 'eu-west-1', accountId: '123456789012' })) {
  return new LogRecordMapper({ resources: catalog, clock: () => READ_AT });
}

describe('OTLP log record mapping', () => {
  it('PostgreSQL SELECT from the docs, with a sqlcommenter trace', () => {
    const event = exampleEvent('aurora-postgresql-select.json');
    event.enrichment = {
      queryText: 'select * from my_table;',
      querySummary: 'SELECT my_table',
      operationName: 'SELECT',
      collectionName: 'my_table',
      trace: TRACE,
    };
    const record = mapper().map(event);

    assert.equal(record.eventName, EVENT_NAME);
    assert.equal(record.body, 'select * from my_table;');
    assert.equal(record.severityText, 'INFO');
    assert.equal(record.severityNumber, 9);
    // logTime 2019-05-24 00:39:49.940668+00
    // The microsecond DAS sent; the nanoseconds below it keep distinct events apart in Loki.
    assert.equal(record.hrTime[0], Date.UTC(2019, 4, 24, 0, 39, 49) / 1000);
    assert.equal(Math.floor(record.hrTime[1] / 1000), 940_668);
    assert.deepEqual(record.hrTimeObserved, [READ_AT.getTime() / 1000, 0]);
    assert.deepEqual(record.spanContext, { ...TRACE, isRemote: true });
    const a = record.attributes;
    assert.equal(a['db.system.name'], 'postgresql');
    assert.equal(a['db.namespace'], 'postgres');
    assert.equal(a['db.operation.name'], 'SELECT');
    assert.equal(a['db.collection.name'], 'my_table');
    assert.equal(a['db.query.summary'], 'SELECT my_table');
    assert.equal(a['db.query.text'], 'select * from my_table;');
    assert.equal(a['db.response.returned_rows'], 10);
    assert.equal(a['user.name'], 'rdsadmin');
    assert.equal(a['session.id'], '5ce73c6f.7e64');
    assert.equal(a['client.address'], '172.31.3.195');
    assert.equal(a['client.port'], 34534);
    assert.equal(a['server.address'], '172.31.3.192');
    assert.equal(a['network.transport'], 'tcp');
    assert.equal(a['log.record.uid'], event.eventId);
    assert.equal(a['aws.rds.das.class'], 'READ');
    assert.equal(a['aws.rds.das.statement_id'], '6');
    assert.equal(a['aws.rds.das.client_application'], 'psql');
    assert.equal(a['aws.rds.das.object_name'], 'public.my_table');
    assert.equal(a['aws.rds.das.start_time'], '2019-05-24 00:39:49.920564+00');
    assert.equal(a['aws.rds.das.pid'], 32356);
    assert.equal(a['aws.rds.das.server_version'], '2.3.1');
    assert.equal(a['db.response.status_code'], undefined, 'no error, no status code');
    assert.equal(a['error.type'], undefined);
    assert.equal(a['aws.rds.das.command_text'], undefined, 'the same SQL is not repeated');
    const resource = record.resource.attributes;
    assert.equal(resource['service.name'], 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ');
    assert.equal(resource['cloud.provider'], 'aws');
    assert.equal(resource['cloud.platform'], 'aws_rds');
    assert.equal(resource['cloud.region'], 'eu-west-1');
    assert.equal(resource['cloud.account.id'], '123456789012');
    assert.equal(resource['aws.rds.cluster_resource_id'], 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ');
    assert.equal(resource['aws.rds.instance_resource_id'], 'db-FZJTMYKCXQBUUZ6VLU7NW3ITCM');
    // Where the event was read: the stream and shard once per resource, the Kinesis record in the uid.
    assert.equal(resource['aws.rds.das.stream'], 'aws-rds-das-test');
    assert.equal(resource['aws.rds.das.shard_id'], 'shardId-000000000000');
    assert.equal(a['log.record.uid'], 'aws-rds-das-test/shardId-000000000000/4960/0');
    for (const moved of ['aws.rds.das.stream', 'aws.rds.das.shard_id', 'aws.rds.das.sequence_number']) assert.equal(a[moved], undefined, `${moved} is not repeated on every record`);
  });

  it('custom limits hold for the attribute budget too, on every path (lists, protobuf, mapEvent)', () => {
    const event = exampleEvent('rds-sqlserver-select.json');
    const limits = { maxEntries: 30, maxValueBytes: 8 };
    const custom = new LogRecordMapper({ resources: new ResourceCatalog(), clock: () => READ_AT, limits });
    const record = custom.map(event);
    // 30 entries, Loki's extras included: 5 non-indexed resource attributes (cloud provider and platform,
    // instance id, stream, shard), scope name/version, severity number/text, detected_level, observed_timestamp.
    assert.equal(Object.keys(record.attributes).length, 30 - 5 - 7, 'the budget of the custom limits, the dropped count included');
    assert.ok(record.droppedAttributesCount > 0);
    assert.equal(record.attributes['aws.rds.das.dropped_attributes'], record.droppedAttributesCount);
    assert.ok(String(record.attributes['log.record.uid']).endsWith('…[truncated]') || Buffer.byteLength(String(record.attributes['log.record.uid'])) <= 8);
    const viaMapEvent = mapEvent(event, { resource: custom.map(event).resource, observed: READ_AT, limits });
    assert.equal(viaMapEvent.droppedAttributesCount, record.droppedAttributesCount);
    // The protobuf writer asks the same budget as the lists.
    assert.ok(Buffer.from(custom.encode([event])).equals(Buffer.from(encodeLogsRequest([custom.mapFields(event)]))));
  });

  it('one resource per (cluster, instance, stream, shard), the same object for every event of it', () => {
    const catalog = new ResourceCatalog();
    const at = (stream: string, shardId: string) => ({ clusterId: 'cluster-A', instanceId: 'db-A', position: { stream, shardId } });
    const first = catalog.resourceFor(at('s', 'shardId-1'));
    assert.equal(catalog.resourceFor(at('s', 'shardId-1')), first);
    assert.notEqual(catalog.resourceFor(at('s', 'shardId-2')), first);
    assert.equal(catalog.resourceFor(at('s', 'shardId-1')), first, 'kept, not only the last one');
    assert.equal(catalog.resourceFor({ clusterId: 'cluster-A', instanceId: 'db-A' }).attributes['aws.rds.das.stream'], undefined, 'no position, no stream');
  });

  it('MySQL CONNECT refused with 1045 is a WARN with its status code and error type', () => {
    const event = exampleEvent('aurora-mysql-connect.json', (e) => {
      e.exitCode = '1045';
      e.errorMessage = "Access denied for user 'app'@'10.0.0.7' (using password: YES)";
    });
    assert.equal(event.outcome, 'failure');
    const record = mapper().map(event);
    assert.equal(record.severityText, 'WARN');
    assert.equal(record.severityNumber, 13);
    assert.equal(record.body, "CONNECT failed: Access denied for user 'app'@'10.0.0.7' (using password: YES)", 'no SQL: the body is the command and how it failed');
    const a = record.attributes;
    assert.equal(a['db.system.name'], 'mysql');
    assert.equal(a['db.response.status_code'], '1045');
    assert.equal(a['error.type'], '1045');
    assert.equal(a['aws.rds.das.exit_code'], 1045);
    assert.equal(a['aws.rds.das.error_message'], "Access denied for user 'app'@'10.0.0.7' (using password: YES)");
    assert.equal(a['aws.rds.das.login'], true);
    assert.equal(a['aws.rds.das.end_time'], '2020-05-22 18:07:13.267213+00');
    assert.equal(a['aws.rds.das.transaction_id'], '0');
    assert.equal(a['db.namespace'], undefined, 'DAS sent "" for the database');
    assert.equal(record.spanContext, undefined);
  });

  it('a successful MySQL CONNECT (exitCode "0") is INFO without a status code', () => {
    const record = mapper().map(exampleEvent('aurora-mysql-connect.json'));
    assert.equal(record.severityText, 'INFO');
    assert.equal(record.attributes['db.response.status_code'], undefined);
  });

  it('SQL Server SELECT from the docs keeps the native audit fields, and exitCode 1 is no error', () => {
    const event = exampleEvent('rds-sqlserver-select.json');
    const record = mapper().map(event);
    const a = record.attributes;
    assert.equal(a['db.system.name'], 'microsoft.sql_server');
    assert.equal(record.severityText, 'INFO');
    assert.equal(a['db.response.status_code'], undefined, 'SQL Server exitCode 1 means the permission check passed');
    assert.equal(a['aws.rds.das.native.server_instance_name'], 'EC2AMAZ-NFUJJNO');
    assert.equal(a['aws.rds.das.native.is_column_permission'], true);
    assert.equal(a['aws.rds.das.native.object_id'], 581577110);
    assert.equal(a['aws.rds.das.native.connection_id'], 'AD3A5084-FB83-45C1-8334-E923459A8109');
    assert.equal(a['aws.rds.das.native.target_server_principal_sid'], undefined, 'null is not an attribute value');
    assert.equal(a['session.id'], '62');
    assert.equal(a['aws.rds.das.statement_id'], '0x03baed90412f564fad640ebe51f89b99');
    assert.equal(record.resource.attributes['service.name'], 'db-4JCWQLUZVFYP7DIWP6JVQ77O3Q');
    assert.equal(record.resource.attributes['aws.rds.cluster_resource_id'], undefined);
    assert.equal(record.droppedAttributesCount, 0);
  });

  it('a SQL Server login refused (exitCode 0) is a WARN with status code "0"', () => {
    const event = exampleEvent('rds-sqlserver-select.json', (e) => {
      e.class = 'LOGIN';
      e.command = 'LOGIN FAILED';
      e.exitCode = 0;
    });
    const record = mapper().map(event);
    assert.equal(record.severityText, 'WARN');
    assert.equal(record.attributes['db.response.status_code'], '0');
  });

  it('SQL over 256 KiB is cut at a character boundary with a marker, and its full length kept', () => {
    const sql = `select '${'é'.repeat(200_000)}' from t`;
    const event = exampleEvent('aurora-postgresql-select.json');
    event.enrichment = { queryText: sql, querySummary: 'SELECT t', operationName: 'SELECT', collectionName: 't', trace: null };
    const record = mapper().map(event);
    const body = record.body as string;
    assert.ok(Buffer.byteLength(body, 'utf8') <= 256 * 1024);
    assert.ok(!body.includes('\uFFFD'), 'no character split');
    assert.match(body, /…\[truncated: \d+ bytes in all\]$/);
    assert.ok(sql.startsWith(body.slice(0, body.indexOf(' …[truncated'))));
    assert.equal(record.attributes['aws.rds.das.query_text_length'], Buffer.byteLength(sql, 'utf8'));
    const attr = record.attributes['db.query.text'] as string;
    assert.ok(Buffer.byteLength(attr, 'utf8') <= 4096, 'the attribute copy is capped: Loki allows 64 KiB of metadata');
  });

  it('truncateUtf8 never splits a multi-byte character', () => {
    assert.equal(truncateUtf8('aé', 2), 'a');
    assert.equal(truncateUtf8('a😀b', 4), 'a');
    assert.equal(truncateUtf8('a😀b', 5), 'a😀');
  });

  it('caps a record at 128 structured-metadata entries, Loki extras included, dropping native fields first', () => {
    const event = exampleEvent('rds-sqlserver-select.json', (e) => {
      for (let i = 0; i < 200; i++) e.engineNativeAuditFields[`zz_native_${String(i).padStart(3, '0')}`] = i;
      e.someNewField = 'kept: unknown fields outrank native ones';
    });
    event.enrichment = { queryText: 'select 1', querySummary: null, operationName: 'SELECT', collectionName: null, trace: TRACE };
    const record = mapper().map(event);
    const attributes = Object.keys(record.attributes);
    // What Loki adds: 6 non-indexed resource attributes (cloud provider, platform and account,
    // instance id, stream, shard), scope name/version, severity number/text, observed_timestamp,
    // detected_level, trace_id, span_id, flags, dropped_attributes_count.
    const lokiExtras = 6 + 2 + 2 + 1 + 1 + 3 + 1;
    assert.ok(attributes.length + lokiExtras <= 128, `${attributes.length} attributes + ${lokiExtras} Loki entries`);
    assert.ok(record.droppedAttributesCount > 100);
    assert.equal(record.attributes['aws.rds.das.dropped_attributes'], record.droppedAttributesCount);
    assert.equal(record.attributes['aws.rds.das.extra.someNewField'], 'kept: unknown fields outrank native ones');
    assert.equal(record.attributes['log.record.uid'], event.eventId);
    assert.equal(record.attributes['aws.rds.das.native.zz_native_199'], undefined, 'the last native field went first');
    // null and "" carry nothing and are never attributes.
    const totalNative = Object.values(event.engineNativeAuditFields!).filter((v) => v !== null && v !== '').length;
    const keptNative = attributes.filter((k) => k.startsWith('aws.rds.das.native.')).length;
    assert.equal(totalNative - keptNative, record.droppedAttributesCount, 'only native fields were dropped');
  });

  it('resource: OTEL_RESOURCE_ATTRIBUTES percent-decoded, friendly names, OTEL_SERVICE_NAME wins', () => {
    const env = loadOtlpEnvironment({
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=data%20platform,cloud.region=us-east-1',
    });
    const named = new ResourceCatalog({
      environment: env.resource,
      region: 'eu-west-1',
      serviceNames: { 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ': 'orders-db' },
    });
    const record = mapper(named).map(exampleEvent('aurora-postgresql-select.json'));
    const r = record.resource.attributes;
    assert.equal(r['service.name'], 'orders-db');
    assert.equal(r['deployment.environment.name'], 'prod');
    assert.equal(r['team'], 'data platform');
    assert.equal(r['cloud.region'], 'eu-west-1', 'what the stream tells wins over the environment');

    const overridden = new ResourceCatalog({
      environment: loadOtlpEnvironment({ OTEL_SERVICE_NAME: 'das', OTEL_RESOURCE_ATTRIBUTES: 'service.name=ignored' }).resource,
      serviceNames: { 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ': 'orders-db' },
    });
    assert.equal(mapper(overridden).map(exampleEvent('aurora-postgresql-select.json')).resource.attributes['service.name'], 'das');
  });

  it('one Resource object per cluster/instance, so a batch groups under it', () => {
    const m = mapper();
    const a = m.map(exampleEvent('aurora-postgresql-select.json'));
    const b = m.map(exampleEvent('aurora-postgresql-select.json'));
    assert.equal(a.resource, b.resource);
    assert.notEqual(a.resource, m.map(exampleEvent('rds-sqlserver-select.json')).resource);
  });
});

describe('timestamps Loki will not merge', () => {
  const at = (raw: string, nanos: bigint, shardId: string, sequenceNumber: string, index: number) => ({
    logTimeRaw: raw,
    startTimeRaw: null,
    logTimeUnixNano: nanos,
    position: { stream: 's', shardId, sequenceNumber, index },
    eventId: `s/${shardId}/${sequenceNumber}/${index}`,
  });
  const micro = 1_572_395_989_940_668_000n; // 2019-10-30 00:39:49.940668+00

  it('two events of one record in the same microsecond get different timestamps inside that microsecond', () => {
    const a = distinctTimestamp(at('2019-10-30 00:39:49.940668+00', micro, 'shardId-0', '49', 0), micro);
    const b = distinctTimestamp(at('2019-10-30 00:39:49.940668+00', micro, 'shardId-0', '49', 1), micro);
    assert.notEqual(a, b);
    for (const t of [a, b]) assert.equal(t / 1000n, micro / 1000n, 'still the microsecond DAS sent');
  });

  it('the same event always gets the same timestamp, so a re-delivered copy is deduplicated', () => {
    const event = at('2019-10-30 00:39:49.940668+00', micro, 'shardId-1', '4960', 3);
    assert.equal(distinctTimestamp(event, micro), distinctTimestamp({ ...event }, micro));
  });

  it('SQL Server times (100 ns) keep their seven digits', () => {
    const nanos = 1_665_091_499_942_226_800n; // 2022-10-06 21:24:59.9422268+00
    const t = distinctTimestamp(at('2022-10-06 21:24:59.9422268+00', nanos, 'shardId-0', '7', 42), nanos);
    assert.equal(t / 100n, nanos / 100n);
  });

  it('is what the plain definition gives, whatever events came before (the seed of the last record is remembered)', () => {
    // The definition: digits after the first [.,] of the raw time; FNV-1a of `<shard>/<sequence>` (or the id) plus the index, modulo the free range.
    const reference = (e: ReturnType<typeof at> | (Omit<ReturnType<typeof at>, 'position'> & { position: null }), nanos: bigint): bigint => {
      const digits = e.logTimeRaw ? (/[.,](\d+)/.exec(e.logTimeRaw)?.[1]?.length ?? 0) : 6;
      if (digits >= 9) return nanos;
      const free = 10 ** (9 - digits);
      if (nanos % BigInt(free) !== 0n) return nanos;
      const seed = e.position ? `${e.position.shardId}/${e.position.sequenceNumber}` : e.eventId;
      let hash = 0x811c9dc5;
      for (let i = 0; i < seed.length; i++) hash = Math.imul(hash ^ seed.charCodeAt(i), 0x01000193) >>> 0;
      return nanos + BigInt((hash + (e.position?.index ?? 0)) % free);
    };
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            raw: fc.constantFrom('2019-10-30 00:39:49.940668+00', '2022-10-06 21:24:59.9422268+00', '2021-01-15 00:15:36.2', '2019-10-30 00:39:49+00', 'x.y,12', '2019-10-30 00:39:49.940668123'),
            shard: fc.constantFrom('shardId-0', 'shardId-1'),
            sequence: fc.constantFrom('1', '49', '4960'),
            index: fc.nat(300),
            positioned: fc.boolean(),
          }),
          { maxLength: 30 },
        ),
        (events) => {
          for (const { raw, shard, sequence, index, positioned } of events) {
            const event = positioned ? at(raw, micro, shard, sequence, index) : { ...at(raw, micro, shard, sequence, index), position: null };
            assert.equal(distinctTimestamp(event, micro), reference(event, micro));
          }
        },
      ),
    );
  });

  it('a time already precise to the nanosecond is left alone', () => {
    const nanos = 1_572_395_989_940_668_123n;
    assert.equal(distinctTimestamp(at('2019-10-30 00:39:49.940668123+00', nanos, 'shardId-0', '1', 5), nanos), nanos);
  });
});
