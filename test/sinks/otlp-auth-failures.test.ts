/**
 * A refused credential surfaces without losing anything: 401, 403 and 407
 * stay retryable, and from the second in a row the OTLP sink reports
 * `otlp_unauthorized`, counts each refusal, and logs one line a minute (on an
 * injected clock) naming the endpoint without any credential in it.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import type { Logger } from '../../src/source/kinesis/observer.ts';
import { AuthFailureWatch, OTLP_UNAUTHORIZED } from '../../src/sinks/otlp/auth-failures.ts';
import { endpointForLogs, loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';

type Line = { level: 'info' | 'warn' | 'error'; message: string; fields: Record<string, unknown> };

function recordingLogger(): { log: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (message: string, fields: Record<string, unknown> = {}) => void lines.push({ level, message, fields });
  return { lines, log: { info: at('info'), warn: at('warn'), error: at('error') } };
}

function fakeClock(start = '2026-05-01T12:00:00Z') {
  let now = Date.parse(start);
  return { clock: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

const TOKEN = 'Bearer s3cr3t-t0ken-0123456789';
const PASSWORD = 'pa55w0rd-in-url';
const QUERY_KEY = 'qk-9f8e7d6c5b4a';

describe('AuthFailureWatch', () => {
  const endpoint = `https://tenant:${PASSWORD}@logs.example.com/otlp/v1/logs?api_key=${QUERY_KEY}#frag`;

  it('one refusal is not yet a problem; the second is: unauthorized, and one error line naming the endpoint', () => {
    const { log, lines } = recordingLogger();
    const { clock } = fakeClock();
    const watch = new AuthFailureWatch({ endpoint, headerNames: ['Authorization'], clock, log });
    watch.refused(401);
    assert.equal(watch.unauthorized, false);
    assert.equal(lines.length, 0);
    watch.refused(401);
    assert.equal(watch.unauthorized, true);
    assert.equal(lines.length, 1);
    assert.equal(lines[0]!.level, 'error');
    assert.match(lines[0]!.message, /refuses das-exporter's credentials/);
    assert.deepEqual(lines[0]!.fields, { endpoint: 'https://logs.example.com/otlp/v1/logs', status: 401, consecutiveRefusals: 2, headers: ['Authorization'] });
  });

  it('logs at most once a minute while refused, and says so when accepted again', () => {
    const { log, lines } = recordingLogger();
    const { clock, advance } = fakeClock();
    const watch = new AuthFailureWatch({ endpoint, headerNames: [], clock, log });
    for (let i = 0; i < 10; i++) {
      watch.refused(403);
      advance(5_000);
    }
    assert.equal(lines.length, 1, '10 refusals over 50 s: one line');
    advance(15_000);
    watch.refused(403);
    assert.equal(lines.length, 2, 'a minute after the first line, the next');
    assert.equal(lines[1]!.fields.consecutiveRefusals, 11);
    watch.accepted();
    assert.equal(watch.unauthorized, false);
    assert.equal(lines.length, 3);
    assert.equal(lines[2]!.level, 'info');
    assert.match(lines[2]!.message, /accepts das-exporter's credentials again/);
    // A new run of refusals starts over: the second logs at once.
    watch.refused(401);
    watch.refused(401);
    assert.equal(lines.length, 4);
  });

  it('an accepted request in between resets the count: refusals must be consecutive', () => {
    const watch = new AuthFailureWatch({ endpoint, headerNames: [], clock: fakeClock().clock });
    watch.refused(401);
    watch.accepted();
    watch.refused(401);
    assert.equal(watch.unauthorized, false);
  });

  it('407 names the proxy', () => {
    const { log, lines } = recordingLogger();
    const watch = new AuthFailureWatch({ endpoint, headerNames: [], clock: fakeClock().clock, log });
    watch.refused(407);
    watch.refused(407);
    assert.match(lines[0]!.message, /the proxy in front of the OTLP endpoint wants credentials/);
  });

  it('endpointForLogs drops user info, query and fragment', () => {
    assert.equal(endpointForLogs(endpoint), 'https://logs.example.com/otlp/v1/logs');
    assert.equal(endpointForLogs('not a url'), 'configured');
  });
});

describe('OtlpLogSink when the endpoint refuses its credentials', () => {
  const PG = readJsonFixture(path.join(DECRYPTED_EXAMPLES, 'aurora-postgresql-select.json')) as Record<string, any>;
  const mapper = new LogRecordMapper({ resources: new ResourceCatalog({ region: 'eu-west-1', accountId: '123456789012' }) });
  let receiver: LokiReceiver;
  beforeEach(async () => {
    receiver = await new LokiReceiver().start();
  });
  afterEach(async () => receiver.close());

  function events(n: number): ActivityEvent[] {
    const inner = structuredClone(PG.databaseActivityEvents);
    const template = inner.databaseActivityEventList[0];
    const at = new Date(Date.now() - 1000).toISOString().replace('T', ' ').replace('Z', '+00');
    inner.databaseActivityEventList = Array.from({ length: n }, (_, i) => ({ ...template, logTime: at, statementId: i + 1, commandText: `select ${i};` }));
    return decodeRecord(JSON.stringify(inner), { version: '1.1', position: { stream: 'aws-rds-das-cluster-AUTH', shardId: 'shardId-000000000000', sequenceNumber: '1' } }).events;
  }

  it('401, 401, then 200: retryable twice, unauthorized after the second, counted, logged once without a secret; then everything delivered', async () => {
    const url = new URL(receiver.logsEndpoint);
    const endpoint = `http://tenant:${PASSWORD}@${url.host}${url.pathname}?api_key=${QUERY_KEY}`;
    const exporter = loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: endpoint, OTEL_EXPORTER_OTLP_HEADERS: `Authorization=${encodeURIComponent(TOKEN)}` }).exporter!;
    const { log, lines } = recordingLogger();
    const statuses: number[] = [];
    const sink = new OtlpLogSink({ config: exporter, mapper, log, clock: fakeClock().clock, observer: { authFailure: (status) => void statuses.push(status) } });
    const batch = { events: events(5), heartbeats: [] };
    receiver.answerNext({ status: 401, message: `invalid token ${TOKEN}` }, { status: 401, message: 'invalid token' });

    const first = await sink.write(batch);
    assert.equal(first.status, 'retryable', 'nothing is dead-lettered for a refused credential');
    assert.equal(sink.blockedReason(), null, 'one refusal may be a token being rotated');
    const second = await sink.write(batch);
    assert.equal(second.status, 'retryable');
    assert.equal(sink.blockedReason(), OTLP_UNAUTHORIZED);
    assert.deepEqual(statuses, [401, 401]);
    assert.equal(lines.filter((l) => l.level === 'error').length, 1);
    assert.equal(lines[0]!.fields.endpoint, `http://${url.host}${url.pathname}`);

    const third = await sink.write(batch);
    assert.deepEqual(third, { status: 'delivered', rejected: [] });
    assert.equal(sink.blockedReason(), null);
    assert.deepEqual([...receiver.eventIds()].sort(), batch.events.map((e) => e.eventId).sort(), 'delivered once the credentials are accepted');
    assert.equal(receiver.requests[0]!.headers.authorization, TOKEN, 'the credential was sent');

    const logged = JSON.stringify(lines);
    for (const secret of [TOKEN, TOKEN.slice('Bearer '.length), PASSWORD, QUERY_KEY]) assert.ok(!logged.includes(secret), `the log holds ${secret}`);
    await sink.close();
  });

  it('403 and 407 count as refused credentials; 404 and 503 do not', async () => {
    const exporter = loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint }).exporter!;
    const statuses: number[] = [];
    const sink = new OtlpLogSink({ config: exporter, mapper, observer: { authFailure: (status) => void statuses.push(status) } });
    const batch = { events: events(1), heartbeats: [] };
    receiver.answerNext({ status: 404 }, { status: 503 }, { status: 403 }, { status: 407 });
    for (let i = 0; i < 4; i++) assert.equal((await sink.write(batch)).status, 'retryable');
    assert.deepEqual(statuses, [403, 407]);
    assert.equal(sink.blockedReason(), OTLP_UNAUTHORIZED);
    await sink.close();
  });
});
