/**
 * Credentials that fail to refresh, on every AWS call path of a running
 * consumer, with the real SDK clients pointed at kinesalite, dynalite and the
 * local KMS: their `credentials` provider throws CredentialsProviderError
 * when the test says (test/support/flaky-credentials.ts).
 *
 * A blip (one refresh fails, the next works) costs one short retry: the
 * stream is never reported down and every record is delivered. A provider
 * that keeps failing stops the stream as `credentials_unavailable`, with one
 * loud log line, after CREDENTIALS_ATTEMPTS short retries in a row; it
 * resumes by itself once credentials come back.
 *
 * What the tests look at is the consumer's own account of itself: every
 * status it reported (what /readyz and das_stream_up show), every retry and
 * its reason, its log lines. Re-probes after a stop are made fast here, so a
 * stream that stopped shows as a status, not as a long wait.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PutRecordCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { contextResolver } from '../../src/cli/wiring.ts';
import { DataKeyCache, type KmsRequestOutcome } from '../../src/decrypt/data-keys.ts';
import { NativePayloadDecryptor } from '../../src/decrypt/fast/native-payload.ts';
import { DasRecordOpener } from '../../src/record/opener.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { Pipeline, type RecordOpener } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { MemorySink } from '../../src/sinks/sink.ts';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import type { LeaseCoordinator } from '../../src/source/checkpoints/store.ts';
import { createKinesisClient } from '../../src/source/kinesis/client.ts';
import type { StreamStatus } from '../../src/source/kinesis/observer.ts';
import { KinesisConsumer } from '../../src/source/kinesis/stream-consumer.ts';
import { DynamoDbLeaseCoordinator } from '../../src/source/leases/dynamodb-coordinator.ts';
import { CREDENTIALS_ATTEMPTS } from '../../src/util/aws-errors.ts';
import { startDynalite, type LocalDynamoDb } from '../support/dynalite.ts';
import { command, FlakyCredentials } from '../support/flaky-credentials.ts';
import { createStream, payloadOf, plainRecordOpener, produce, startKinesalite, testRecords, type LocalKinesis, type TestRecord } from '../support/kinesalite.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { CapturingLogger } from '../support/capturing-logger.ts';

async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What a consumer said about itself while it ran. */
interface Account {
  /** Every status it reported, in order. */
  statuses: StreamStatus[];
  /** Every retry, as `operation:reason`. */
  retries: string[];
  /** The retries made before the stream was first reported stopped. */
  retriesBeforeFirstStop: string[] | undefined;
  /** Every position checkpointed, in order. */
  checkpoints: string[];
  log: CapturingLogger;
}

/** Statuses that say the stream is not being read for a reason (`starting` is not one: it was never up yet). */
const stops = (account: Account) => account.statuses.filter((s) => !s.up && s.reason !== 'starting');

const missingFrom = (delivered: readonly string[], produced: readonly TestRecord[]) => {
  const got = new Set(delivered);
  return produced.map((r) => r.id).filter((id) => !got.has(id));
};

describe('credentials that fail to refresh, against the real SDK clients', function () {
  this.timeout(60_000);
  let kinesis: LocalKinesis;
  let dynamo: LocalDynamoDb;
  const kms = new LocalKms();
  let kmsEndpoint: string;
  let keyId: string;
  let stateDir: string;
  let counter = 0;
  let flaky: FlakyCredentials;
  /** The consumer's Kinesis client: the production one, its credentials from the flaky provider. */
  let client: KinesisClient;
  const cleanups: (() => unknown)[] = [];

  before(async () => {
    kinesis = await startKinesalite();
    dynamo = await startDynalite();
    kmsEndpoint = (await kms.listen()).endpoint;
    keyId = kms.createKey().keyId;
  });
  after(async () => {
    await kinesis?.stop();
    await dynamo?.stop();
    await kms.close();
  });
  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'das-credentials-'));
    flaky = new FlakyCredentials();
    client = flaky.attach(createKinesisClient({ endpoint: kinesis.endpoint, region: 'us-east-1', credentials: flaky.provider }));
  });
  afterEach(async () => {
    // Whatever a test left failing, let shutdown write and release what it holds.
    flaky.recover();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    client.destroy();
    await rm(stateDir, { recursive: true, force: true });
  });

  const newStream = async (name = `aws-rds-das-cluster-credentials${++counter}`) => {
    await createStream(kinesis.client, name, 1);
    return name;
  };

  /** A lease table client of the standard kind, its credentials from the same flaky provider as Kinesis's. */
  const leaseTable = (): LeaseCoordinator => {
    const dynamoClient = flaky.attach(
      new DynamoDBClient({ endpoint: dynamo.endpoint, region: 'us-east-1', credentials: flaky.provider, requestHandler: new NodeHttpHandler() }),
    );
    // No renewal while a test runs (a third of the failover time): the only lease writes are takes and checkpoints.
    return new DynamoDbLeaseCoordinator({ client: dynamoClient, table: `das-leases-credentials-${counter}`, workerId: 'w', failoverTimeMs: 300_000, log: new CapturingLogger(), destroyClient: true });
  };

  /** Starts a consumer of `stream` delivering to a memory sink, and keeps its account. */
  const consume = async (stream: string, options: { opener?: RecordOpener; coordinator?: LeaseCoordinator } = {}) => {
    const account: Account = { statuses: [], retries: [], retriesBeforeFirstStop: undefined, checkpoints: [], log: new CapturingLogger() };
    const sink = new MemorySink();
    const pipeline = new Pipeline({
      opener: options.opener ?? plainRecordOpener,
      sinks: [sink],
      deadLetters: new MemoryDeadLetterSink(),
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
    });
    const consumer = new KinesisConsumer({
      client,
      streams: [stream],
      pipeline,
      coordinator: options.coordinator ?? new FileCheckpointStore({ dir: stateDir }),
      limit: 100,
      pollIntervalMs: 20,
      // One discovery: every later request comes from the one shard's reader, one at a time.
      discoveryIntervalMs: 300_000,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      reprobe: { baseDelayMs: 50, maxDelayMs: 100 },
      log: account.log,
      observer: {
        streamStatus: (status) => {
          account.statuses.push(status);
          if (!status.up && status.reason !== 'starting') account.retriesBeforeFirstStop ??= [...account.retries];
        },
        retrying: (_stream, _shard, operation, reason) => void account.retries.push(`${operation}:${reason}`),
        checkpointed: (_stream, _shard, position) => void account.checkpoints.push(position),
      },
    });
    cleanups.push(() => consumer.stop());
    await consumer.start();
    return { consumer, sink, account };
  };

  const plainIds = (sink: MemorySink) => sink.events.map((e) => payloadOf(e).id);

  /** The stream never said it stopped, nothing was logged as an error, and the one retry was for `retry`. */
  function assertBlipOnly(account: Account, retry: string): void {
    assert.deepEqual(stops(account), [], 'the stream was never reported down');
    assert.deepEqual(account.retries, [retry], 'one short retry, for the credentials');
    assert.deepEqual(account.log.lines.filter((l) => l.level === 'error'), []);
    assert.ok(!account.log.lines.some((l) => l.message.startsWith('re-checking stopped stream')), 'no re-probe: the stream never stopped');
  }

  describe('a provider that fails once', () => {
    for (const operation of ['ListShards', 'GetShardIterator', 'GetRecords']) {
      it(`on Kinesis ${operation}: retried at once, the stream never reported down, every record delivered`, async () => {
        const stream = await newStream();
        const produced = testRecords(60, 4);
        await produce(kinesis.client, stream, produced);
        flaky.failOnce(command(operation));
        const { consumer, sink, account } = await consume(stream);
        await waitFor(() => missingFrom(plainIds(sink), produced).length === 0, 10_000, () => `every record (have ${sink.events.length})`);

        assert.deepEqual(flaky.failed, [`${operation}Command`]);
        assertBlipOnly(account, `${operation}:credentials`);
        assert.deepEqual(consumer.status(), [{ stream, up: true, reason: null, shards: 1 }]);
      });
    }

    it('on the lease table read of shard discovery (DynamoDB Scan): retried at once, the stream never reported down', async () => {
      const stream = await newStream();
      const produced = testRecords(60, 4);
      await produce(kinesis.client, stream, produced);
      flaky.failOnce(command('Scan'));
      const { sink, account } = await consume(stream, { coordinator: leaseTable() });
      await waitFor(() => missingFrom(plainIds(sink), produced).length === 0, 10_000, () => `every record (have ${sink.events.length})`);

      assert.deepEqual(flaky.failed, ['ScanCommand']);
      assertBlipOnly(account, 'leases:credentials');
    });

    it('on a lease checkpoint write (DynamoDB UpdateItem): retried at once, the checkpoint lands, the stream never reported down', async () => {
      const stream = await newStream();
      const produced = testRecords(60, 4);
      await produce(kinesis.client, stream, produced);
      const coordinator = leaseTable();
      let sink: MemorySink | undefined;
      // The first lease write after a delivery is that batch's checkpoint (the take came before it).
      flaky.failOnce((r) => command('UpdateItem')(r) && (sink?.events.length ?? 0) > 0);
      const started = await consume(stream, { coordinator });
      sink = started.sink;
      await waitFor(() => missingFrom(plainIds(started.sink), produced).length === 0, 10_000, () => `every record (have ${started.sink.events.length})`);
      const last = started.sink.events.at(-1)!.position!.sequenceNumber;
      await waitFor(() => started.account.checkpoints.at(-1) === last, 10_000, () => 'the checkpoint of the last record');

      assert.deepEqual(flaky.failed, ['UpdateItemCommand']);
      assertBlipOnly(started.account, 'checkpoint:credentials');
      const [lease] = await (coordinator as DynamoDbLeaseCoordinator).leases(stream);
      assert.equal(lease!.checkpoint, last, 'the lease table holds the last delivered record');
    });

    it('on KMS Decrypt: retried after one short backoff, the stream never reported down, every event decrypted and delivered', async () => {
      const { stream, written } = await writeDasRecords(30, 4);
      const kmsOutcomes: KmsRequestOutcome[] = [];
      const kmsSleeps: number[] = [];
      flaky.failOnce(command('Decrypt'));
      const { sink, account } = await consume(stream, { opener: dasOpener(kmsOutcomes, kmsSleeps) });
      await waitFor(() => sink.events.length >= written.length, 10_000, () => `every event (have ${sink.events.length})`);

      assert.deepEqual(sink.events.map((e) => e.eventId).sort(), [...written].sort());
      assert.deepEqual(flaky.failed, ['DecryptCommand']);
      assert.deepEqual(kmsOutcomes, ['credentials', 'success', 'success', 'success'], 'one retried call, then one call per data key');
      assert.deepEqual(kmsSleeps, [100], 'the first, shortest step of the backoff');
      assert.deepEqual(stops(account), [], 'the stream was never reported down');
      assert.deepEqual(account.log.lines.filter((l) => l.level === 'error'), []);
    });
  });

  describe('a provider that keeps failing', () => {
    /** The stream stopped once, as credentials_unavailable, after CREDENTIALS_ATTEMPTS - 1 retries of `retry`, saying so in one error line naming `operation`. */
    function assertStoppedClearly(account: Account, retry: string, operation: RegExp): void {
      assert.equal(stops(account)[0]?.reason, 'credentials_unavailable');
      assert.deepEqual(account.retriesBeforeFirstStop, Array(CREDENTIALS_ATTEMPTS - 1).fill(retry), 'short retries first, in a row');
      const errors = account.log.lines.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1, `one loud line, got ${JSON.stringify(errors)}`);
      assert.equal(errors[0]!.fields.reason, 'credentials_unavailable');
      assert.match(String(errors[0]!.fields.detail), operation);
      assert.match(String(errors[0]!.fields.detail), new RegExp(`AWS credentials kept failing \\(${CREDENTIALS_ATTEMPTS} attempts in a row\\): CredentialsProviderError`));
    }

    it('on Kinesis GetRecords: the stream stops as credentials_unavailable, says why once, and resumes when credentials come back', async () => {
      const stream = await newStream();
      const produced = testRecords(40, 4);
      await produce(kinesis.client, stream, produced);
      flaky.failAlways(command('GetRecords'));
      const { consumer, sink, account } = await consume(stream);
      await waitFor(() => consumer.status()[0]!.reason === 'credentials_unavailable', 10_000, () => `the stream to stop (${JSON.stringify(consumer.status())})`);
      assert.equal(sink.events.length, 0);

      flaky.recover();
      await waitFor(() => consumer.status()[0]!.up && missingFrom(plainIds(sink), produced).length === 0, 10_000, () => `the stream to resume (${JSON.stringify(consumer.status())})`);
      assertStoppedClearly(account, 'GetRecords:credentials', /^GetRecords: /);
    });

    it('on lease checkpoint writes: the stream stops as credentials_unavailable, moving no checkpoint, and resumes when credentials come back', async () => {
      const stream = await newStream();
      const produced = testRecords(40, 4);
      await produce(kinesis.client, stream, produced);
      const coordinator = leaseTable();
      let sink: MemorySink | undefined;
      flaky.failAlways((r) => command('UpdateItem')(r) && (sink?.events.length ?? 0) > 0);
      const started = await consume(stream, { coordinator });
      sink = started.sink;
      const { consumer, account } = started;
      await waitFor(() => consumer.status()[0]!.reason === 'credentials_unavailable', 10_000, () => `the stream to stop (${JSON.stringify(consumer.status())})`);
      const table = coordinator as DynamoDbLeaseCoordinator;
      assert.ok((await table.leases(stream)).every((lease) => !/^\d+$/.test(lease.checkpoint)), 'no checkpoint written while credentials failed');

      flaky.recover();
      await waitFor(() => consumer.status()[0]!.up, 10_000, () => `the stream to resume (${JSON.stringify(consumer.status())})`);
      assert.deepEqual(missingFrom(plainIds(started.sink), produced), []);
      assertStoppedClearly(account, 'checkpoint:credentials', /^checkpoint: /);
    });

    it('on KMS Decrypt: the stream stops as credentials_unavailable (a fatal batch, nothing dead-lettered) after the short retries', async () => {
      const { stream, written } = await writeDasRecords(5, 2);
      const kmsOutcomes: KmsRequestOutcome[] = [];
      const kmsSleeps: number[] = [];
      flaky.failAlways(command('Decrypt'));
      const { consumer, sink, account } = await consume(stream, { opener: dasOpener(kmsOutcomes, kmsSleeps) });
      await waitFor(() => consumer.status()[0]!.reason === 'credentials_unavailable', 10_000, () => `the stream to stop (${JSON.stringify(consumer.status())})`);
      assert.equal(sink.events.length, 0);
      assert.deepEqual(kmsOutcomes.slice(0, CREDENTIALS_ATTEMPTS), Array(CREDENTIALS_ATTEMPTS).fill('credentials'));
      const errors = account.log.lines.filter((l) => l.level === 'error');
      assert.equal(errors.length, 1);
      assert.match(String(errors[0]!.fields.detail), new RegExp(`^KMS cannot be called: the AWS credentials kept failing \\(${CREDENTIALS_ATTEMPTS} attempts`));

      flaky.recover();
      await waitFor(() => consumer.status()[0]!.up && sink.events.length >= written.length, 10_000, () => `the stream to resume (${JSON.stringify(consumer.status())})`);
    });
  });

  /** `count` DAS records of `events` PostgreSQL SELECTs each, encrypted as RDS does, 10 per data key, on a new stream; returns the event ids. */
  async function writeDasRecords(count: number, events: number): Promise<{ stream: string; written: string[] }> {
    const cluster = `cluster-CREDENTIALS${++counter}`;
    const stream = await newStream(`aws-rds-das-${cluster}`);
    const producerKms = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'AKIDPRODUCER', secretAccessKey: 'producer-secret' } });
    const factory = new DasRecordFactory({ resourceId: cluster, dataKeys: kmsDataKeySource(producerKms, keyId), profile: AURORA_POSTGRESQL, recordsPerDataKey: 10 });
    const written: string[] = [];
    try {
      for (let r = 0; r < count; r++) {
        const data = await factory.record({
          clusterId: cluster,
          instanceId: 'db-CREDENTIALSINSTANCE',
          events: Array.from({ length: events }, (_, i) => rawPostgresSelect(r * events + i, new Date(), `SELECT ${r * events + i}`)),
        });
        const out = await kinesis.client.send(new PutRecordCommand({ StreamName: stream, PartitionKey: `p${r}`, Data: data }));
        for (let i = 0; i < events; i++) written.push(`${stream}/${out.ShardId}/${out.SequenceNumber}/${i}`);
      }
    } finally {
      producerKms.destroy();
    }
    return { stream, written };
  }

  /** The decrypting opener of `run`, its KMS client built as createKmsClient() builds it but with the flaky credentials; KMS waits are recorded, not slept. */
  function dasOpener(outcomes: KmsRequestOutcome[], sleeps: number[]): RecordOpener {
    const consumerKms = flaky.attach(
      new KMSClient({
        endpoint: kmsEndpoint,
        region: 'us-east-1',
        credentials: flaky.provider,
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true }),
      }),
    );
    cleanups.push(() => consumerKms.destroy());
    return new DasRecordOpener({
      dataKeys: new DataKeyCache({
        kms: consumerKms,
        random: () => 1,
        sleep: async (ms) => void sleeps.push(ms),
        observer: { kmsRequest: (outcome) => void outcomes.push(outcome), cacheLookup: () => {} },
      }),
      decryptor: new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() }),
      contextFor: contextResolver({}),
      setup: { redact: 'none', maxRecordBytes: 64 * 1024 * 1024, steps: [] },
    });
  }
});
