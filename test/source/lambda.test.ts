/**
 * The Lambda handler on events shaped like the real Aurora MySQL one in
 * test/fixtures, carrying records made by the record factory with the local
 * KMS, delivered to the Loki-faithful OTLP receiver: a healthy batch reports
 * no failures; an outage past the deadline, or KMS access denied, reports the
 * first undelivered record; a poison record is dead-lettered, not reported.
 */
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { KMSClient } from '@aws-sdk/client-kms';
import { buildOpener, createKmsClient } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { flipCiphertextByte, rewritePayload } from '../support/record-mutations.ts';
import { Pipeline } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import type { Sink } from '../../src/sinks/sink.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { createLambdaHandler, lambdaDependenciesFromEnvironment, type KinesisStreamEvent } from '../../src/source/lambda.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { TraceReceiver } from '../support/trace-receiver.ts';

const CLUSTER = 'cluster-LAMBDAHANDLER000000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;
const SHARD = 'shardId-000000000001';
const FIXTURE = new URL('../fixtures/real-records/aurora-mysql-lambda-kinesis-event.json', import.meta.url);

const TRACE = '0af7651916cd43dd8448eb211c80319c';

/** Every even statement carries an application's traceparent, its own parent span each. */
function pgSelect(n: number): Record<string, unknown> {
  const comment = n % 2 === 0 ? ` /*traceparent='00-${TRACE}-${(0xa0000000n + BigInt(n)).toString(16).padStart(16, '0')}-01'*/` : '';
  return rawPostgresSelect(n, new Date(), `SELECT * FROM orders WHERE id = ${n}${comment}`);
}

const sequence = (i: number) => `4964288148067676369424230943454560676270057741489694${String(1000 + i)}`;
const context = (remainingMs: number) => ({ getRemainingTimeInMillis: () => remainingMs });

describe('Lambda handler', function () {
  const kms = new LocalKms();
  let keyId: string;
  let receiver: LokiReceiver;
  let env: NodeJS.ProcessEnv;
  const saved = { ...process.env };
  const template = (JSON.parse(readFileSync(FIXTURE, 'utf8')) as { Records: Record<string, any>[] }).Records[0]!;
  let batchNumber = 0;

  before(async () => {
    const { endpoint } = await kms.listen();
    keyId = kms.createKey().keyId;
    receiver = await new LokiReceiver().start();
    Object.assign(process.env, { AWS_ENDPOINT_URL_KMS: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example' });
    env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint, OTEL_EXPORTER_OTLP_TIMEOUT: '2000' };
  });
  after(async () => {
    await receiver.close();
    await kms.close();
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });
  afterEach(() => {
    receiver.answerAlways(null);
    kms.denyAccess(false);
  });

  /** An event like the fixture's, for `count` records of two events each; `poison` records get a flipped ciphertext byte. */
  async function kinesisEvent(count: number, poison: number[] = []): Promise<{ event: KinesisStreamEvent; sequences: string[]; ids: string[] }> {
    const kmsClient = new KMSClient({ endpoint: process.env.AWS_ENDPOINT_URL_KMS, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: kmsDataKeySource(kmsClient, keyId), profile: AURORA_POSTGRESQL, recordsPerDataKey: 3 });
    const base = 100 * ++batchNumber;
    const records: Record<string, unknown>[] = [];
    const sequences: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      let data = await factory.record({ clusterId: CLUSTER, instanceId: 'db-LAMBDAINSTANCE', events: [pgSelect(base + 2 * i), pgSelect(base + 2 * i + 1)] });
      if (poison.includes(i)) data = rewritePayload(data, flipCiphertextByte);
      const seq = sequence(base + i);
      sequences.push(seq);
      if (!poison.includes(i)) ids.push(`${STREAM}/${SHARD}/${seq}/0`, `${STREAM}/${SHARD}/${seq}/1`);
      records.push({
        ...template,
        kinesis: { ...template.kinesis, sequenceNumber: seq, data: Buffer.from(data).toString('base64'), approximateArrivalTimestamp: Date.now() / 1000 },
        eventID: `${SHARD}:${seq}`,
        eventSourceARN: `arn:aws:kinesis:us-east-1:111122223333:stream/${STREAM}`,
      });
    }
    kmsClient.destroy();
    return { event: { Records: records }, sequences, ids };
  }

  const stdout = () => {
    const lines: string[] = [];
    const out = new Writable({
      write(chunk, _encoding, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    return { out, lines };
  };

  it('delivers a healthy batch and reports no failures', async () => {
    const { event, ids } = await kinesisEvent(5);
    const handler = createLambdaHandler(() => lambdaDependenciesFromEnvironment(env, { kms: createKmsClient(), log: silentLogger, chunkSize: 2 }));
    assert.deepEqual(await handler(event, context(60_000)), { batchItemFailures: [] });
    for (const id of ids) assert.ok(receiver.eventIds().includes(id), `${id} reached the receiver`);
    const entry = receiver.ledger.find((e) => e.eventId === ids[0])!;
    assert.equal(entry.labels.service_name, CLUSTER);
  });

  it('with OTEL_TRACES_EXPORTER=otlp also sends each traced statement as a span, and answers only once both endpoints took the batch', async () => {
    const traces = await new TraceReceiver().start();
    try {
      const { event, sequences, ids } = await kinesisEvent(4);
      const tracesEnv = { ...env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces.endpoint };
      traces.down(503);
      const down = createLambdaHandler(() => lambdaDependenciesFromEnvironment(tracesEnv, { kms: createKmsClient(), log: silentLogger, reserveMs: 500, chunkSize: 2 }));
      assert.deepEqual(await down(event, context(1_500)), { batchItemFailures: [{ itemIdentifier: sequences[0] }] }, 'the traces endpoint refused: Lambda retries the batch');
      assert.equal(traces.spans.size, 0);
      traces.up();
      const handler = createLambdaHandler(() => lambdaDependenciesFromEnvironment(tracesEnv, { kms: createKmsClient(), log: silentLogger, chunkSize: 2 }));
      assert.deepEqual(await handler(event, context(60_000)), { batchItemFailures: [] });
      const traced = ids.filter((_, i) => i % 2 === 0);
      assert.equal(traces.spans.size, traced.length, 'one span per traced statement, none for the others');
      for (const id of traced) {
        const span = traces.byLogRecordUid(id);
        assert.equal(span?.traceId, TRACE, id);
        assert.ok(receiver.eventIds().includes(id), `${id}: its log record too`);
      }
    } finally {
      await traces.close();
    }
  });

  it('applies the audit policy of DAS_POLICY_FILE, as run does', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'das-lambda-policy-'));
    const file = path.join(dir, 'policy.yaml');
    // Drop the untraced statements (odd ids) of user app; tag the others.
    writeFileSync(file, ['version: 1', 'mode: all-match', 'rules:', '  - name: untraced-app-reads', '    match: { user: app, traced: false }', '    action: drop', '  - name: traced-app', '    match: { user: app, traced: true }', '    action: tag', '    severity: warning', ''].join('\n'));
    try {
      const { event, ids } = await kinesisEvent(2);
      const handler = createLambdaHandler(() => lambdaDependenciesFromEnvironment({ ...env, DAS_POLICY_FILE: file }, { kms: createKmsClient(), log: silentLogger }));
      assert.deepEqual(await handler(event, context(60_000)), { batchItemFailures: [] });
      const [kept0, dropped0, kept1, dropped1] = ids;
      for (const id of [dropped0!, dropped1!]) assert.ok(!receiver.eventIds().includes(id), `${id} dropped by the policy`);
      for (const id of [kept0!, kept1!]) {
        const entry = receiver.ledger.find((e) => e.eventId === id);
        assert.ok(entry, `${id} delivered`);
        assert.equal(entry.metadata['das_policy_rule'], 'traced-app', `${id} tagged`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reports the first undelivered record when the backend is down until the deadline', async () => {
    const { event, sequences, ids } = await kinesisEvent(6);
    const config = loadConfig({}, env);
    const otlp = loadOtlpEnvironment(env);
    const otlpSink = new OtlpLogSink({ config: otlp.exporter!, mapper: new LogRecordMapper({ resources: new ResourceCatalog({}) }) });
    // The backend answers the first chunk, then goes down with 503 for good.
    const goesDownAfterFirstDelivery: Sink = {
      name: 'otlp',
      async write(batch) {
        const result = await otlpSink.write(batch);
        if (result.status === 'delivered') receiver.answerAlways({ status: 503, message: 'ingester unavailable' });
        return result;
      },
      close: () => otlpSink.close(),
    };
    const pipeline = new Pipeline({ opener: buildOpener(config, createKmsClient()), sinks: [goesDownAfterFirstDelivery], deadLetters: new MemoryDeadLetterSink(), retry: { baseDelayMs: 20, maxDelayMs: 100 } });
    const handler = createLambdaHandler({ pipeline, deadLetters: new MemoryDeadLetterSink(), log: silentLogger, reserveMs: 500, chunkSize: 2 });

    const response = await handler(event, context(2_000));
    assert.deepEqual(response, { batchItemFailures: [{ itemIdentifier: sequences[2] }] }, 'Lambda retries from the first record of the second chunk');
    assert.ok(ids.slice(0, 4).every((id) => receiver.eventIds().includes(id)), 'the first chunk was delivered');
    assert.ok(!ids.slice(4).some((id) => receiver.eventIds().includes(id)), 'nothing after it was');
    assert.ok(receiver.requests.some((r) => r.status === 503), 'the outage was retried');
  });

  it('reports the first record when the backend is down from the start', async () => {
    const { event, sequences } = await kinesisEvent(3);
    receiver.answerAlways({ status: 503 });
    const handler = createLambdaHandler(() => lambdaDependenciesFromEnvironment(env, { kms: createKmsClient(), log: silentLogger, reserveMs: 500 }));
    assert.deepEqual(await handler(event, context(1_500)), { batchItemFailures: [{ itemIdentifier: sequences[0] }] });
  });

  it('dead-letters a poison record (flipped ciphertext byte) to stdout and does not report it', async () => {
    const { event, sequences, ids } = await kinesisEvent(4, [1]);
    const { out, lines } = stdout();
    const handler = createLambdaHandler(() => lambdaDependenciesFromEnvironment(env, { kms: createKmsClient(), stdout: out, log: silentLogger, chunkSize: 2 }));
    assert.deepEqual(await handler(event, context(60_000)), { batchItemFailures: [] });
    for (const id of ids) assert.ok(receiver.eventIds().includes(id), `${id} reached the receiver`);
    const letters = lines.map((l) => JSON.parse(l) as { deadLetter?: { reason: string; sequenceNumber: string; shardId: string; stream: string } });
    assert.equal(letters.length, 1, lines.join('\n'));
    const { stream, shardId, sequenceNumber } = letters[0]!.deadLetter!;
    assert.deepEqual({ stream, shardId, sequenceNumber }, { stream: STREAM, shardId: SHARD, sequenceNumber: sequences[1] });
    assert.match(letters[0]!.deadLetter!.reason, /auth_tag_mismatch|truncated_message|signature_invalid/);
  });

  it('reports the first record when KMS denies access, and delivers nothing', async () => {
    const { event, sequences, ids } = await kinesisEvent(3);
    kms.denyAccess(true);
    const handler = createLambdaHandler(() => lambdaDependenciesFromEnvironment(env, { kms: createKmsClient(), log: silentLogger }));
    assert.deepEqual(await handler(event, context(60_000)), { batchItemFailures: [{ itemIdentifier: sequences[0] }] });
    assert.ok(!ids.some((id) => receiver.eventIds().includes(id)));
  });

  it('dead-letters an entry that is no Kinesis record and delivers the rest', async () => {
    const { event, ids } = await kinesisEvent(2);
    const broken = { ...(event.Records[0] as object), kinesis: { sequenceNumber: sequence(9999) } };
    const deadLetters = new MemoryDeadLetterSink();
    const deps = await lambdaDependenciesFromEnvironment(env, { kms: createKmsClient(), log: silentLogger });
    const handler = createLambdaHandler({ ...deps, deadLetters });
    assert.deepEqual(await handler({ Records: [...event.Records, broken] }, context(60_000)), { batchItemFailures: [] });
    assert.ok(ids.every((id) => receiver.eventIds().includes(id)));
    assert.equal(deadLetters.letters.length, 1);
    assert.equal(deadLetters.letters[0]!.reason, 'invalid_source_record');
  });
});
