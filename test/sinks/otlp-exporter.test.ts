import assert from 'node:assert/strict';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { loadOtlpEnvironment, type OtlpExporterConfig } from '../../src/sinks/otlp/config.ts';
import { OtlpLogSink, parseRetryAfter, type ExportOutcome } from '../../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { StdoutLogSink } from '../../src/sinks/otlp/stdout.ts';
import type { SinkBatch } from '../../src/sinks/sink.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';
import { VERSION } from '../../src/version.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';

type Json = Record<string, any>;

const TRACE = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7', traceFlags: 1 };
const PG_EXAMPLE = readJsonFixture(path.join(DECRYPTED_EXAMPLES, 'aurora-postgresql-select.json')) as Json;

/**
 * `n` PostgreSQL SELECTs shaped like the docs' example, logged a second ago
 * (Loki refuses week-old entries), each with its own SQL and id.
 */
function selects(n: number, options: { trace?: boolean } = {}): ActivityEvent[] {
  const inner = structuredClone(PG_EXAMPLE.databaseActivityEvents);
  const template = inner.databaseActivityEventList[0];
  const base = Date.now() - 1000;
  inner.databaseActivityEventList = Array.from({ length: n }, (_, i) => {
    const at = new Date(base + i).toISOString().replace('T', ' ').replace('Z', '+00');
    return { ...template, logTime: at, startTime: at, statementId: i + 1, commandText: `select * from orders where id = ${i};` };
  });
  const decoded = decodeRecord(JSON.stringify(inner), {
    version: '1.1',
    position: { stream: 'aws-rds-das-cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ', shardId: 'shardId-000000000000', sequenceNumber: '4960' },
  });
  for (const event of decoded.events) {
    event.enrichment = {
      queryText: event.commandText,
      querySummary: 'SELECT orders',
      operationName: 'SELECT',
      collectionName: 'orders',
      trace: options.trace ? TRACE : null,
    };
  }
  return decoded.events;
}

const batchOf = (events: ActivityEvent[]): SinkBatch => ({ events, heartbeats: [] });
const mapper = new LogRecordMapper({ resources: new ResourceCatalog({ region: 'eu-west-1', accountId: '123456789012' }) });

function config(receiver: LokiReceiver, env: NodeJS.ProcessEnv = {}): OtlpExporterConfig {
  const loaded = loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/otlp`, ...env });
  assert.ok(loaded.exporter);
  return loaded.exporter;
}

function counting() {
  const counts: Record<ExportOutcome | 'retries', number> = { delivered: 0, rejected: 0, retryable: 0, retries: 0 };
  return {
    counts,
    observer: {
      exported: (outcome: ExportOutcome, n: number) => void (counts[outcome] += n),
      exportRetry: () => void counts.retries++,
    },
  };
}

describe('OtlpLogSink against a Loki-faithful receiver', () => {
  let receiver: LokiReceiver;
  beforeEach(async () => {
    receiver = await new LokiReceiver().start();
  });
  afterEach(async () => {
    await receiver.close();
  });

  for (const [protocol, compression] of [
    ['http/protobuf', 'none'],
    ['http/protobuf', 'gzip'],
    ['http/json', 'none'],
    ['http/json', 'gzip'],
  ] as const) {
    it(`${protocol}, compression ${compression}: attributes and trace ids arrive, labels and structured metadata as Loki maps them`, async () => {
      const events = selects(3, { trace: true });
      const sink = new OtlpLogSink({
        config: config(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol, OTEL_EXPORTER_OTLP_COMPRESSION: compression }),
        mapper,
      });
      const result = await sink.write(batchOf(events));
      assert.deepEqual(result, { status: 'delivered', rejected: [] });

      const request = receiver.requests[0]!;
      assert.equal(request.path, '/otlp/v1/logs');
      assert.equal(request.contentType, protocol === 'http/json' ? 'application/json' : 'application/x-protobuf');
      assert.equal(request.contentEncoding, compression === 'gzip' ? 'gzip' : undefined);
      assert.equal(receiver.ledger.length, 3);

      const entry = receiver.ledger[0]!;
      const event = events[0]!;
      // Only Loki's default index attributes are labels.
      assert.deepEqual(entry.labels, { service_name: 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ', cloud_region: 'eu-west-1' });
      assert.equal(entry.line, 'select * from orders where id = 0;');
      // The time at the precision the event's raw text has (milliseconds here); the digits below keep distinct events apart in Loki.
      assert.equal(entry.timestampNs / 1_000_000n, event.logTimeUnixNano! / 1_000_000n);
      assert.equal(entry.eventId, event.eventId);
      const m = entry.metadata;
      assert.equal(m.trace_id, TRACE.traceId);
      assert.equal(m.span_id, TRACE.spanId);
      assert.equal(m.flags, '1');
      assert.equal(m.severity_text, 'INFO');
      assert.equal(m.severity_number, '9');
      assert.equal(m.detected_level, 'info');
      assert.equal(m.scope_name, 'das-exporter');
      assert.equal(m.db_system_name, 'postgresql');
      assert.equal(m.db_namespace, 'postgres');
      assert.equal(m.db_operation_name, 'SELECT');
      assert.equal(m.db_collection_name, 'orders');
      assert.equal(m.db_query_summary, 'SELECT orders');
      assert.equal(m.db_response_returned_rows, '10');
      assert.equal(m.client_port, '34534');
      assert.equal(m.user_name, 'rdsadmin');
      assert.equal(m.aws_rds_das_class, 'READ');
      assert.equal(m.log_record_uid, event.eventId);
      // Resource attributes Loki does not index are structured metadata on every entry.
      assert.equal(m.cloud_provider, 'aws');
      assert.equal(m.cloud_platform, 'aws_rds');
      assert.equal(m.cloud_account_id, '123456789012');
      assert.equal(m.aws_rds_cluster_resource_id, 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ');
      assert.equal(m.aws_rds_instance_resource_id, 'db-FZJTMYKCXQBUUZ6VLU7NW3ITCM');
      assert.equal(m.service_name, undefined, 'an indexed attribute is not repeated as metadata');
    });
  }

  it('503 then 200: retryable, then delivered, and the ledger holds every id exactly once', async () => {
    const events = selects(10);
    const { counts, observer } = counting();
    const sink = new OtlpLogSink({ config: config(receiver), mapper, observer });
    receiver.answerNext({ status: 503, message: 'ingester unavailable' });

    const first = await sink.write(batchOf(events));
    assert.equal(first.status, 'retryable');
    assert.match((first as { reason: string }).reason, /HTTP 503: ingester unavailable/);
    const second = await sink.write(batchOf(events));
    assert.deepEqual(second, { status: 'delivered', rejected: [] });

    assert.deepEqual([...receiver.eventIds()].sort(), events.map((e) => e.eventId).sort());
    assert.deepEqual(counts, { delivered: 10, rejected: 0, retryable: 10, retries: 1 });
  });

  it('429 with Retry-After: 2 is retryable with retryAfterMs 2000', async () => {
    const sink = new OtlpLogSink({ config: config(receiver), mapper });
    receiver.answerNext({ status: 429, retryAfter: '2', message: 'Ingestion rate limit exceeded' });
    const result = await sink.write(batchOf(selects(2)));
    assert.equal(result.status, 'retryable');
    assert.equal((result as { retryAfterMs?: number }).retryAfterMs, 2000);
    assert.equal(receiver.ledger.length, 0);
  });

  it('Retry-After as an HTTP date counts from the injected clock', () => {
    const now = new Date('2024-05-01T12:00:00Z');
    assert.equal(parseRetryAfter('Wed, 01 May 2024 12:00:05 GMT', now), 5000);
    assert.equal(parseRetryAfter('Wed, 01 May 2024 11:59:00 GMT', now), 0);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter(null, now), undefined);
  });

  it('a permanent 400 on one record of 50: exactly that record is rejected with Loki\'s reason, 49 delivered', async () => {
    const events = selects(50);
    const poison = events[31]!;
    receiver.refuseWhere((entry) => entry.eventId === poison.eventId, `stream '{service_name="x"}' has structured metadata too large`);
    const { counts, observer } = counting();
    const sink = new OtlpLogSink({ config: config(receiver), mapper, observer });

    const result = await sink.write(batchOf(events));
    assert.equal(result.status, 'delivered');
    assert.deepEqual(result.rejected, [
      { eventId: poison.eventId, reason: `HTTP 400: stream '{service_name="x"}' has structured metadata too large` },
    ]);
    // Loki stores the valid entries of a refused push and drops the exact repeats bisection resends.
    const ids = receiver.eventIds();
    assert.equal(ids.length, 49);
    assert.equal(new Set(ids).size, 49);
    assert.ok(!ids.includes(poison.eventId));
    assert.deepEqual(counts, { delivered: 49, rejected: 1, retryable: 0, retries: 0 });
  });

  it('a receiver that never answers: the timeout makes the batch retryable', async () => {
    receiver.answerAlways({ hang: true });
    const sink = new OtlpLogSink({ config: config(receiver, { OTEL_EXPORTER_OTLP_TIMEOUT: '200' }), mapper });
    const result = await sink.write(batchOf(selects(1)));
    assert.equal(result.status, 'retryable');
    assert.match((result as { reason: string }).reason, /no answer from the OTLP endpoint within 200 ms/);
  });

  it('nobody listening: a network error is retryable', async () => {
    const cfg = config(receiver);
    await receiver.close();
    receiver = await new LokiReceiver().start(); // afterEach closes this one
    const sink = new OtlpLogSink({ config: cfg, mapper });
    const result = await sink.write(batchOf(selects(1)));
    assert.equal(result.status, 'retryable');
    assert.match((result as { reason: string }).reason, /cannot reach the OTLP endpoint/);
  });

  it('an answer HTTP cannot carry (status 600) is retryable, counted as a retry, and its reason says so', async () => {
    const tcp = createTcpServer((socket) => socket.once('data', () => socket.end('HTTP/1.1 600 Weird\r\ncontent-length: 0\r\n\r\n')));
    await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
    try {
      const loaded = loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(tcp.address() as AddressInfo).port}/otlp` });
      const { counts, observer } = counting();
      const sink = new OtlpLogSink({ config: loaded.exporter!, mapper, observer });
      const result = await sink.write(batchOf(selects(2)));
      assert.equal(result.status, 'retryable');
      assert.match((result as { reason: string }).reason, /unreadable answer \(HTTP status 600\)/);
      assert.deepEqual(counts, { delivered: 0, rejected: 0, retryable: 2, retries: 1 });
      await sink.close();
    } finally {
      await new Promise((resolve) => tcp.close(resolve));
    }
  });

  it('sends OTEL_EXPORTER_OTLP_HEADERS (percent-decoded) and never puts them in a reason', async () => {
    const secret = 'Basic dGVuYW50OnMzY3IzdA==';
    const cfg = config(receiver, { OTEL_EXPORTER_OTLP_HEADERS: `Authorization=${encodeURIComponent(secret)},X-Scope-OrgID=tenant-1` });
    const sink = new OtlpLogSink({ config: cfg, mapper });
    await sink.write(batchOf(selects(1)));
    assert.equal(receiver.requests[0]!.headers.authorization, secret);
    assert.equal(receiver.requests[0]!.headers['x-scope-orgid'], 'tenant-1');

    // A backend that echoes the credential back in its error.
    receiver.answerNext({ status: 400, message: `bad request from ${secret}` });
    const refused = await sink.write(batchOf(selects(1)));
    assert.equal(refused.status, 'delivered');
    assert.ok(!JSON.stringify(refused).includes(secret));
    assert.match(refused.rejected[0]!.reason, /bad request from \*\*\*/);

    receiver.answerNext({ status: 401, message: `invalid credentials ${secret}` });
    const unauthorized = await sink.write(batchOf(selects(1)));
    assert.equal(unauthorized.status, 'retryable', 'a wrong token is a config problem, not bad data');
    assert.ok(!JSON.stringify(unauthorized).includes(secret));
  });

  it('every request says User-Agent: das-exporter/<version>, on the default transport and on fetch', async () => {
    for (const sink of [new OtlpLogSink({ config: config(receiver), mapper }), new OtlpLogSink({ config: config(receiver), mapper, fetch: globalThis.fetch })]) {
      await sink.write(batchOf(selects(1)));
      await sink.close();
    }
    assert.equal(receiver.requests.length, 2);
    for (const request of receiver.requests) assert.equal(request.headers['user-agent'], `das-exporter/${VERSION}`);
  });

  it('a User-Agent set in OTEL_EXPORTER_OTLP_HEADERS is sent instead of das-exporter\'s', async () => {
    const sink = new OtlpLogSink({ config: config(receiver, { OTEL_EXPORTER_OTLP_HEADERS: 'User-Agent=acme-audit/2' }), mapper });
    await sink.write(batchOf(selects(1)));
    await sink.close();
    assert.equal(receiver.requests[0]!.headers['user-agent'], 'acme-audit/2');
  });

  it('a record beyond every Loki limit still lands: the mapping keeps it within them', async () => {
    const [event] = selects(1);
    event!.engineNativeAuditFields = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`field_${i}`, 'x'.repeat(500)]));
    event!.enrichment!.queryText = 'select ' + 'x'.repeat(300 * 1024);
    const sink = new OtlpLogSink({ config: config(receiver), mapper });
    const result = await sink.write(batchOf([event!]));
    assert.deepEqual(result, { status: 'delivered', rejected: [] });
    assert.equal(receiver.ledger.length, 1);
    assert.ok(Number(receiver.ledger[0]!.metadata.dropped_attributes_count) > 0);
  });

  it('partial success: records the backend keeps rejecting are isolated and rejected, the rest delivered', async () => {
    const events = selects(8);
    const bad = new Set([events[2]!.eventId, events[5]!.eventId]);
    const posted: number[] = [];
    // A generic OTLP backend (not Loki) that drops records it dislikes and says how many.
    const fetchStub: typeof fetch = async (_url, init) => {
      const body = JSON.parse(Buffer.from(init!.body as Uint8Array).toString('utf8'));
      const records = body.resourceLogs.flatMap((r: Json) => r.scopeLogs.flatMap((s: Json) => s.logRecords));
      posted.push(records.length);
      const rejected = records.filter((r: Json) => r.attributes.some((a: Json) => a.key === 'log.record.uid' && bad.has(a.value.stringValue))).length;
      const response = rejected ? { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage: 'attribute value too long' } } : {};
      return new Response(JSON.stringify(response), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const sink = new OtlpLogSink({ config: config(receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), mapper, fetch: fetchStub });
    const result = await sink.write(batchOf(events));
    assert.equal(result.status, 'delivered');
    assert.deepEqual(
      result.rejected.map((r) => r.eventId).sort(),
      [...bad].sort(),
    );
    assert.match(result.rejected[0]!.reason, /partial success: 1 rejected: attribute value too long/);
    assert.equal(posted[0], 8);
  });

  it('a batch of 25 with maxRecordsPerRequest 10 goes as requests of 10, 10 and 5, and is delivered whole', async () => {
    const events = selects(25);
    const { counts, observer } = counting();
    const sink = new OtlpLogSink({ config: config(receiver), mapper, observer, maxRecordsPerRequest: 10 });
    assert.deepEqual(await sink.write(batchOf(events)), { status: 'delivered', rejected: [] });
    assert.deepEqual(receiver.requests.map((r) => r.records), [10, 10, 5]);
    assert.deepEqual(receiver.eventIds(), events.map((e) => e.eventId));
    assert.deepEqual(counts, { delivered: 25, rejected: 0, retryable: 0, retries: 0 });
  });

  it('the second request of three answers 503: the batch is retryable, the third is not sent, and the retry resends the first (at least once)', async () => {
    const events = selects(25);
    let calls = 0;
    const failSecond: typeof fetch = (url, init) =>
      ++calls === 2 ? Promise.resolve(new Response('ingester unavailable', { status: 503 })) : globalThis.fetch(url, init);
    const { counts, observer } = counting();
    const sink = new OtlpLogSink({ config: config(receiver), mapper, observer, fetch: failSecond, maxRecordsPerRequest: 10 });

    const first = await sink.write(batchOf(events));
    assert.equal(first.status, 'retryable');
    assert.match((first as { reason: string }).reason, /HTTP 503: ingester unavailable/);
    assert.deepEqual(receiver.requests.map((r) => r.records), [10]);
    const second = await sink.write(batchOf(events));
    assert.deepEqual(second, { status: 'delivered', rejected: [] });

    assert.deepEqual(receiver.requests.map((r) => r.records), [10, 10, 10, 5]);
    // Loki drops the exact repeats of the first ten; another backend would hold them twice.
    assert.deepEqual([...receiver.eventIds()].sort(), events.map((e) => e.eventId).sort());
    assert.deepEqual(counts, { delivered: 35, rejected: 0, retryable: 15, retries: 1 });
  });

  it('rejections from every request of the batch come back together', async () => {
    const events = selects(30);
    const bad = new Set([events[3]!.eventId, events[17]!.eventId, events[29]!.eventId]);
    receiver.refuseWhere((entry) => bad.has(entry.eventId ?? ''), 'entry refused by test predicate');
    const sink = new OtlpLogSink({ config: config(receiver), mapper, maxRecordsPerRequest: 10 });
    const result = await sink.write(batchOf(events));
    assert.equal(result.status, 'delivered');
    assert.deepEqual(result.rejected.map((r) => r.eventId), [...bad]);
    assert.equal(receiver.eventIds().length, 27);
  });

  it('a request over maxRequestBytes is split until each part fits, and every record arrives once', async () => {
    const events = selects(40);
    const sink = new OtlpLogSink({ config: config(receiver), mapper, maxRequestBytes: 8 * 1024 });
    assert.deepEqual(await sink.write(batchOf(events)), { status: 'delivered', rejected: [] });
    assert.ok(receiver.requests.length > 1);
    for (const request of receiver.requests) assert.ok(request.bodyBytes <= 8 * 1024, `${request.bodyBytes} bytes`);
    assert.deepEqual(receiver.eventIds(), events.map((e) => e.eventId));
  });

  it('one record larger than maxRequestBytes is still sent, alone', async () => {
    const sink = new OtlpLogSink({ config: config(receiver), mapper, maxRequestBytes: 16 });
    assert.deepEqual(await sink.write(batchOf(selects(2))), { status: 'delivered', rejected: [] });
    assert.deepEqual(receiver.requests.map((r) => r.records), [1, 1]);
  });

  it('heartbeats and empty batches send nothing', async () => {
    const sink = new OtlpLogSink({ config: config(receiver), mapper });
    assert.deepEqual(await sink.write({ events: [], heartbeats: [] }), { status: 'delivered', rejected: [] });
    assert.equal(receiver.requests.length, 0);
  });
});

describe('StdoutLogSink', () => {
  it('writes one OTLP-shaped JSON line per event', async () => {
    const out = new PassThrough();
    const chunks: string[] = [];
    out.on('data', (c) => chunks.push(String(c)));
    const events = selects(2, { trace: true });
    const { counts, observer } = counting();
    const result = await new StdoutLogSink(out, mapper, observer).write(batchOf(events));
    assert.deepEqual(result, { status: 'delivered', rejected: [] });
    const lines = chunks.join('').trimEnd().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.equal(lines[0].body, 'select * from orders where id = 0;');
    assert.equal(lines[0].traceId, TRACE.traceId);
    assert.equal(BigInt(lines[0].timeUnixNano) / 1_000_000n, events[0]!.logTimeUnixNano! / 1_000_000n);
    assert.equal(lines[0].attributes['log.record.uid'], events[0]!.eventId);
    assert.equal(lines[0].resource['service.name'], 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ');
    assert.equal(counts.delivered, 2);
  });
});
