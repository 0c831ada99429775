import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { errorMessage } from '../../src/sinks/otlp/exporter.ts';
import { LokiReceiver, normalizeLabel } from './loki-receiver.ts';

/** A hand-written OTLP/JSON request with one resource and the given records. */
function otlpJson(resource: Record<string, string>, records: Record<string, unknown>[]): string {
  return JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: Object.entries(resource).map(([key, v]) => ({ key, value: { stringValue: v } })) },
        scopeLogs: [{ scope: { name: 'test' }, logRecords: records }],
      },
    ],
  });
}

const nowNs = () => (BigInt(Date.now()) * 1_000_000n).toString();
const record = (uid: string, body: unknown = { stringValue: `line ${uid}` }, extra: Record<string, unknown>[] = []) => ({
  timeUnixNano: nowNs(),
  severityNumber: 9,
  severityText: 'INFO',
  body,
  attributes: [{ key: 'log.record.uid', value: { stringValue: uid } }, ...extra],
});

async function post(receiver: LokiReceiver, body: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const response = await fetch(receiver.logsEndpoint, { method: 'POST', headers, body });
  const bytes = new Uint8Array(await response.arrayBuffer());
  // `message`: the google.rpc.Status message, decoded as the exporter does.
  return { status: response.status, text: Buffer.from(bytes).toString('utf8'), message: errorMessage(bytes, response.headers.get('content-type')) };
}

describe('LokiReceiver, a stand-in for Loki 3 /otlp/v1/logs', () => {
  let receiver: LokiReceiver;
  beforeEach(async () => {
    receiver = await new LokiReceiver().start();
  });
  afterEach(async () => {
    await receiver.close();
  });

  it('promotes only default resource attributes to labels; the rest, flattened, is structured metadata', async () => {
    const res = await post(
      receiver,
      otlpJson({ 'service.name': 'orders-db', 'deployment.environment': 'prod', 'host.name': 'h1' }, [
        record('a', { kvlistValue: { values: [{ key: 'b', value: { intValue: '2' } }, { key: 'a', value: { stringValue: 'x' } }] } }, [
          { key: 'http.request', value: { kvlistValue: { values: [{ key: 'method', value: { stringValue: 'GET' } }] } } },
          { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'p' }, { intValue: 3 }] } } },
        ]),
      ]),
    );
    assert.equal(res.status, 204);
    const entry = receiver.ledger[0]!;
    assert.deepEqual(entry.labels, { service_name: 'orders-db', deployment_environment: 'prod' });
    assert.equal(entry.stream, '{deployment_environment="prod", service_name="orders-db"}');
    assert.equal(entry.line, '{"a":"x","b":2}', 'a map body is its JSON');
    assert.equal(entry.metadata.host_name, 'h1');
    assert.equal(entry.metadata.http_request_method, 'GET');
    assert.equal(entry.metadata.tags, '["p",3]');
    assert.equal(entry.metadata.scope_name, 'test');
    assert.equal(entry.metadata.detected_level, 'info');
    assert.equal(entry.eventId, 'a');
  });

  it('a resource without service.name gets service_name="unknown_service"', async () => {
    await post(receiver, otlpJson({}, [record('a')]));
    assert.deepEqual(receiver.ledger[0]!.labels, { service_name: 'unknown_service' });
  });

  it('a line over 256 KiB is refused with 400 while the other entries of the push are stored', async () => {
    const res = await post(receiver, otlpJson({ 'service.name': 's' }, [record('ok'), record('long', { stringValue: 'x'.repeat(256 * 1024 + 1) })]));
    assert.equal(res.status, 400);
    assert.match(res.text, /max entry size '262144' bytes exceeded for stream '\{service_name="s"\}' while adding an entry with length '262145' bytes/);
    assert.deepEqual(receiver.eventIds(), ['ok']);
  });

  it('more than 128 structured-metadata entries is a 400', async () => {
    const attributes = Array.from({ length: 125 }, (_, i) => ({ key: `k${i}`, value: { stringValue: 'v' } }));
    // 125 + log_record_uid + severity_number + severity_text + detected_level + scope_name = 130
    const res = await post(receiver, otlpJson({ 'service.name': 's' }, [record('a', undefined, attributes)]));
    assert.equal(res.status, 400);
    assert.match(res.text, /has too many structured metadata labels: '130', limit: '128'/);
    assert.equal(receiver.ledger.length, 0);
  });

  it('more than 15 label names refuses the whole stream', async () => {
    const resource: Record<string, string> = { 'service.name': 's' };
    for (const name of ['k8s.cluster.name', 'k8s.namespace.name', 'k8s.pod.name', 'k8s.container.name', 'container.name', 'k8s.replicaset.name', 'k8s.deployment.name', 'k8s.statefulset.name', 'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name', 'cloud.region', 'cloud.availability_zone', 'service.namespace', 'service.instance.id']) resource[name] = 'x';
    const res = await post(receiver, otlpJson(resource, [record('a')]));
    assert.equal(res.status, 400);
    assert.match(res.text, /has 16 label names; limit 15/);
  });

  it('entries older than 7 days or 10 minutes ahead are refused', async () => {
    const old = { ...record('old'), timeUnixNano: ((BigInt(Date.now()) - 8n * 86_400_000n) * 1_000_000n).toString() };
    const future = { ...record('future'), timeUnixNano: ((BigInt(Date.now()) + 3_600_000n) * 1_000_000n).toString() };
    const res = await post(receiver, otlpJson({ 'service.name': 's' }, [old, future, record('now')]));
    assert.equal(res.status, 400);
    assert.match(res.text, /timestamp too old/);
    assert.match(res.text, /timestamp too new/);
    assert.deepEqual(receiver.eventIds(), ['now']);
  });

  describe('reject_old_samples_max_age (168 h), on an injected clock', () => {
    const NOW = Date.parse('2026-05-01T12:00:00.500Z');
    const ns = (iso: string, extraNs = 0n) => (BigInt(Date.parse(iso)) * 1_000_000n + extraNs).toString();
    let old: LokiReceiver;
    beforeEach(async () => {
      old = await new LokiReceiver({ clock: () => new Date(NOW) }).start();
    });
    afterEach(async () => old.close());

    it("refuses an entry older than now − 168 h with Loki's text: 400, RFC 3339 seconds, the oldest acceptable time", async () => {
      const tooOld = { ...record('old'), timeUnixNano: ns('2026-04-24T12:00:00.499Z', 999_999n) };
      const res = await post(old, otlpJson({ 'service.name': 's' }, [tooOld]));
      assert.equal(res.status, 400);
      assert.equal(
        res.message,
        `entry for stream '{service_name="s"}' has timestamp too old: 2026-04-24T12:00:00Z, oldest acceptable timestamp is: 2026-04-24T12:00:00Z`,
      );
      assert.equal(old.ledger.length, 0);
    });

    it('accepts an entry at exactly now − 168 h (the bound is strict, as in Loki)', async () => {
      const res = await post(old, otlpJson({ 'service.name': 's' }, [{ ...record('edge'), timeUnixNano: ns('2026-04-24T12:00:00.500Z') }]));
      assert.equal(res.status, 204);
      assert.deepEqual(old.eventIds(), ['edge']);
    });

    it('judges the ObservedTimestamp when the Timestamp is 0, and only then', async () => {
      const week = ns('2026-04-20T00:00:00Z');
      const now = ns('2026-05-01T12:00:00Z');
      const res = await post(
        old,
        otlpJson({ 'service.name': 's' }, [
          { ...record('observed-now'), timeUnixNano: '0', observedTimeUnixNano: now },
          { ...record('observed-old'), timeUnixNano: '0', observedTimeUnixNano: week },
          { ...record('time-now'), timeUnixNano: now, observedTimeUnixNano: week },
        ]),
      );
      assert.equal(res.status, 400);
      assert.match(res.text, /has timestamp too old: 2026-04-20T00:00:00Z,/);
      assert.deepEqual(old.eventIds(), ['observed-now', 'time-now']);
      assert.equal(old.ledger[0]!.timestampNs, BigInt(now), 'the observed time is the entry time');
      assert.equal(old.ledger[0]!.metadata.observed_timestamp, undefined, 'and is not repeated as metadata');
      assert.equal(old.ledger[1]!.metadata.observed_timestamp, week);
    });

    it('groups the reasons of a push as util.GroupedErrors does', async () => {
      const at = (uid: string, iso: string) => ({ ...record(uid), timeUnixNano: ns(iso) });
      const res = await post(
        old,
        otlpJson({ 'service.name': 's' }, [at('a', '2026-04-01T00:00:00.100Z'), at('b', '2026-04-01T00:00:00.900Z'), at('c', '2026-04-02T00:00:00Z')]),
      );
      assert.equal(res.status, 400);
      const oldest = 'oldest acceptable timestamp is: 2026-04-24T12:00:00Z';
      assert.equal(
        res.message,
        `2 errors like: entry for stream '{service_name="s"}' has timestamp too old: 2026-04-01T00:00:00Z, ${oldest}; ` +
          `1 errors like: entry for stream '{service_name="s"}' has timestamp too old: 2026-04-02T00:00:00Z, ${oldest}`,
      );
    });
  });

  it('an exact repeat (same stream, timestamp and line) is dropped, as the head block does', async () => {
    const body = otlpJson({ 'service.name': 's' }, [record('a')]);
    await post(receiver, body);
    await post(receiver, body);
    assert.equal(receiver.ledger.length, 1);
    assert.equal(receiver.duplicates, 1);
  });

  it('decodes gzip, refuses unknown content types and paths', async () => {
    const gz = await post(receiver, gzipSync(otlpJson({ 'service.name': 's' }, [record('g')])), {
      'content-type': 'application/json',
      'content-encoding': 'gzip',
    });
    assert.equal(gz.status, 204);
    assert.deepEqual(receiver.eventIds(), ['g']);
    assert.equal((await post(receiver, 'x', { 'content-type': 'text/plain' })).status, 400);
    const wrongPath = await fetch(`${receiver.url}/v1/logs`, { method: 'POST', body: '{}' });
    assert.equal(wrongPath.status, 404);
  });

  it('scripted answers: a queue, then a standing answer until cleared', async () => {
    receiver.answerNext({ status: 429, retryAfter: '3' }, { status: 500 });
    const first = await fetch(receiver.logsEndpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(first.status, 429);
    assert.equal(first.headers.get('retry-after'), '3');
    assert.equal((await post(receiver, '{}')).status, 503, 'Loki answers 500s as 503');
    assert.equal((await post(receiver, '{}')).status, 204);
    receiver.answerAlways({ status: 400, message: 'nope' });
    assert.equal((await post(receiver, '{}')).status, 400);
    receiver.answerAlways(null);
    assert.equal((await post(receiver, '{}')).status, 204);
  });

  it('normalises attribute names like Prometheus labels', () => {
    assert.equal(normalizeLabel('db.query.text'), 'db_query_text');
    assert.equal(normalizeLabel('1st'), 'key_1st');
    assert.equal(normalizeLabel('_x'), 'key_x');
  });
});
