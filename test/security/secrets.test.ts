/**
 * No secret reaches a log line, a metric, a health body, stdout or a dead
 * letter. `das-exporter run` (startApp, as in test/cli/run.test.ts) reads a
 * stream with known plaintext data keys, AWS credentials in the environment,
 * an OTLP `Authorization` header and a metrics bearer token, while failures
 * are forced: records that cannot be opened (dead letters), a backend that
 * answers 401 and then 400 echoing the header and the bare token back, and
 * KMS throttling then access denied. Every output is then searched for every
 * secret in raw, hex and base64 form.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { PutRecordCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { KMSClient } from '@aws-sdk/client-kms';
import { startApp } from '../../src/app.ts';
import { createKmsClient } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource, type DataKeyGenerator } from '../../src/demo/record-factory.ts';
import { flipCiphertextByte, rewritePayload } from '../support/record-mutations.ts';
import { jsonLogger } from '../../src/source/kinesis/observer.ts';
import { createStream, startKinesalite, waitActive, type LocalKinesis } from '../support/kinesalite.ts';
import { until } from '../support/until.ts';

const CLUSTER = 'cluster-SECRETS00000000000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;
const OTLP_TOKEN = 's3cr3t-otlp-token-7f9c2a41d0e85b36';
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY1';
const AWS_SESSION = 'FwoGZXIvYXdzEXAMPLESESSIONTOKENd8f7a6b5c4e3d2c1b0a9';
const METRICS_TOKEN = 'metrics-bearer-token-5c1e0a9b7d3f';

/** Every form a secret could take in text: raw, hex (both cases), base64 (standard and URL-safe, unpadded). */
function forms(secret: Uint8Array | string): string[] {
  const bytes = Buffer.from(secret);
  const b64 = bytes.toString('base64');
  const out = [bytes.toString('hex'), bytes.toString('hex').toUpperCase(), b64.replace(/=+$/, ''), bytes.toString('base64url')];
  if (typeof secret === 'string') out.push(secret, encodeURIComponent(secret));
  // A base64 form also shows inside longer base64 at three alignments; the middle of each is what must not appear.
  for (let shift = 1; shift < 3; shift++) out.push(Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64').slice(4, -4));
  return out.filter((f) => f.length >= 12);
}

/** An OTLP backend that refuses: 401 for the first requests, then 400; each answer echoes what it was sent. */
async function refusingBackend(unauthorized: number): Promise<{ server: Server; url: string; requests: number }> {
  const state = { server: undefined as unknown as Server, url: '', requests: 0 };
  state.server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      state.requests++;
      const auth = req.headers.authorization ?? '';
      const status = state.requests <= unauthorized ? 401 : 400;
      res.writeHead(status, { 'content-type': 'application/json', 'www-authenticate': `Bearer error="invalid_token", token="${auth}"` });
      res.end(JSON.stringify({ code: 3, message: `rejected request with Authorization "${auth}"; token ${auth.replace(/^Bearer /, '')} is not valid here` }));
    });
  });
  await new Promise<void>((resolve) => state.server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}/v1/logs`;
  return state;
}

describe('security: no secret in any output', function () {
  this.timeout(120_000);
  let kinesis: LocalKinesis;
  let client: KinesisClient;
  const kms = new LocalKms();
  let kmsEndpoint: string;
  let keyId: string;
  let stateDir: string;
  const saved = { ...process.env };

  before(async () => {
    kinesis = await startKinesalite();
    client = kinesis.client;
    kmsEndpoint = (await kms.listen()).endpoint;
    keyId = kms.createKey().keyId;
    stateDir = mkdtempSync(path.join(tmpdir(), 'das-secrets-'));
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: kmsEndpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDSECRETSTEST00001',
      AWS_SECRET_ACCESS_KEY: AWS_SECRET,
      AWS_SESSION_TOKEN: AWS_SESSION,
    });
    await createStream(client, STREAM, 1);
    await waitActive(client, STREAM);
  });

  after(async () => {
    await kms.close();
    await kinesis.stop();
    rmSync(stateDir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('data keys, AWS credentials, the OTLP header and the metrics token appear in no log, metric, health body, stdout or dead letter', async () => {
    const dataKeys: Uint8Array[] = [];
    const kmsClient = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const generator = kmsDataKeySource(kmsClient, keyId);
    const capturing: DataKeyGenerator = {
      async generateDataKey(context) {
        const key = await generator.generateDataKey(context);
        dataKeys.push(new Uint8Array(key.plaintext));
        return key;
      },
    };
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: capturing, profile: AURORA_POSTGRESQL, recordsPerDataKey: 2 });
    const event = (n: number) => ({
      type: 'record', class: 'READ', command: 'SELECT', commandText: `SELECT * FROM orders WHERE id = ${n}`, databaseName: 'shop', dbUserName: 'app',
      serverType: 'PostgreSQL', logTime: '2024-05-01 10:00:00.000001+00', statementId: n, sessionId: 's1',
    });
    const put = async (data: Uint8Array | string) => client.send(new PutRecordCommand({ StreamName: STREAM, PartitionKey: 'p', Data: typeof data === 'string' ? Buffer.from(data) : data }));

    // Good records, then records that cannot be opened: not JSON, a foreign data key blob, an altered payload.
    for (let n = 0; n < 4; n++) await put(await factory.record({ clusterId: CLUSTER, instanceId: 'db-SECRETS', events: [event(n)] }));
    await put(`{"type":"DatabaseActivityMonitoringRecords","key":"${Buffer.from(AWS_SECRET).toString('base64')}"`);
    const good = await factory.record({ clusterId: CLUSTER, instanceId: 'db-SECRETS', events: [event(9)] });
    const envelope = JSON.parse(Buffer.from(good).toString()) as Record<string, string>;
    await put(JSON.stringify({ ...envelope, key: Buffer.from('not a KMS blob at all, sorry').toString('base64') }));
    await put(rewritePayload(good, flipCiphertextByte));

    const backend = await refusingBackend(3);
    const logLines: string[] = [];
    const stdout = new PassThrough();
    const stdoutText: string[] = [];
    stdout.on('data', (chunk: Buffer) => stdoutText.push(chunk.toString()));
    const env = {
      ...process.env,
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: backend.url,
      OTEL_EXPORTER_OTLP_HEADERS: `Authorization=Bearer%20${OTLP_TOKEN},X-Scope-OrgID=tenant-1`,
      DAS_METRICS_TOKEN: METRICS_TOKEN,
    };
    const config = loadConfig({ streams: [STREAM], stateDir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1 }, env);
    const app = await startApp(config, {
      kinesis: client,
      kms: createKmsClient(),
      env,
      stdout,
      log: jsonLogger((line) => void logLines.push(line)),
      processMetrics: false,
    });
    const deadLetterFile = path.join(stateDir, 'dead-letters.jsonl');
    const responses: string[] = [];
    const scrape = async () => {
      for (const p of ['/metrics', '/readyz', '/healthz']) {
        const res = await fetch(`${app.metricsUrl}${p}`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
        responses.push(`${p} ${res.status} ${JSON.stringify([...res.headers])} ${await res.text()}`);
      }
    };
    try {
      // 3 unopenable records + 4 events the backend refuses once it says 400.
      await until('dead letters for bad records and refused events', () => {
        const lines = existsSync(deadLetterFile) ? readFileSync(deadLetterFile, 'utf8').trim().split('\n') : [];
        return lines.length >= 7 ? lines : undefined;
      });
      assert.ok(backend.requests > 3, 'the backend answered 401 before 400');
      await scrape();

      // KMS now throttles, then denies: the stream stops, and says why.
      kms.failNext(2, 'ThrottlingException', { operation: 'Decrypt' });
      kms.failNext(1, 'AccessDeniedException', { operation: 'Decrypt' });
      const fresh = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: capturing, profile: AURORA_POSTGRESQL });
      await put(await fresh.record({ clusterId: CLUSTER, instanceId: 'db-SECRETS', events: [event(20)] }));
      await until('the stream stopped on access denied', () => (app.consumer.status().some((s) => !s.up && s.reason === 'kms_access_denied') ? true : undefined));
      await scrape();
    } finally {
      await app.stop();
      backend.server.close();
      kmsClient.destroy();
    }

    const deadLetters = readFileSync(deadLetterFile, 'utf8');
    assert.match(deadLetters, /rejected_by_backend/);
    assert.match(deadLetters, /HTTP 400/, 'the backend reason is kept');
    assert.ok(dataKeys.length >= 3, 'data keys were captured');

    const outputs: Record<string, string> = {
      'log lines (stderr)': logLines.join(''),
      stdout: stdoutText.join(''),
      'dead-letters.jsonl': deadLetters,
      'metrics server responses': responses.join('\n'),
    };
    const secrets: [string, Uint8Array | string][] = [
      ...dataKeys.map((k, i): [string, Uint8Array] => [`data key ${i}`, k]),
      ['AWS_SECRET_ACCESS_KEY', AWS_SECRET],
      ['AWS_SESSION_TOKEN', AWS_SESSION],
      ['OTLP Authorization token', OTLP_TOKEN],
      ['metrics bearer token', METRICS_TOKEN],
    ];
    const leaks: string[] = [];
    for (const [where, text] of Object.entries(outputs)) {
      for (const [name, secret] of secrets) {
        for (const form of forms(secret)) if (text.includes(form)) leaks.push(`${name} in ${where} (as ${JSON.stringify(form.slice(0, 12))}…)`);
      }
    }
    assert.deepEqual(leaks, []);
    assert.ok(outputs['log lines (stderr)']!.includes('kms_access_denied'), 'the stop was logged with its reason');
  });
});
