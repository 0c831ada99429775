import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  AccessDeniedException,
  ExpiredIteratorException,
  GetRecordsCommand,
  GetShardIteratorCommand,
  LimitExceededException,
  ListShardsCommand,
  SplitShardCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { DeleteTableCommand, DynamoDBServiceException, ProvisionedThroughputExceededException as DynamoDbThrottled } from '@aws-sdk/client-dynamodb';
import type { ActivityEvent } from '../../src/events/model.ts';
import { Pipeline, type BatchOutcome } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { DELIVERED, MemorySink, type Sink, type SinkBatch, type SinkResult } from '../../src/sinks/sink.ts';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { SHARD_END, type LeaseCoordinator } from '../../src/source/checkpoints/store.ts';
import { streamRef } from '../../src/source/kinesis/client.ts';
import { silentLogger, type KinesisObserver } from '../../src/source/kinesis/observer.ts';
import { parseStartPosition, type BatchProcessor } from '../../src/source/kinesis/shard-delivery.ts';
import { KinesisConsumer, type KinesisConsumerOptions } from '../../src/source/kinesis/stream-consumer.ts';
import { DynamoDbLeaseCoordinator } from '../../src/source/leases/dynamodb-coordinator.ts';
import type { SourceRecord } from '../../src/source/record.ts';
import {
  createStream,
  listShards,
  payloadOf,
  plainRecordOpener,
  produce,
  startKinesalite,
  testRecords,
  waitActive,
  type LocalKinesis,
  type TestRecord,
} from '../support/kinesalite.ts';
import { startDynalite, type LocalDynamoDb } from '../support/dynalite.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { reshardUnderLoad } from '../support/reshard-scenario.ts';
import { CapturingLogger } from '../support/capturing-logger.ts';

async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function pipelineFor(...sinks: Sink[]): Pipeline {
  return new Pipeline({
    opener: plainRecordOpener,
    sinks,
    deadLetters: new MemoryDeadLetterSink(),
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
  });
}

const ids = (events: readonly ActivityEvent[]) => events.map((e) => payloadOf(e).id);

function duplicatesOf(values: readonly string[]): string[] {
  const seen = new Set<string>();
  return values.filter((v) => (seen.has(v) ? true : (seen.add(v), false)));
}

function missingFrom(delivered: readonly string[], produced: readonly TestRecord[]): string[] {
  const got = new Set(delivered);
  return produced.map((r) => r.id).filter((id) => !got.has(id));
}

/** A sink that answers `retryable` while `failing` is set, then behaves like MemorySink. */
class FlakySink implements Sink {
  readonly name = 'flaky';
  readonly events: ActivityEvent[] = [];
  failing = true;
  refusals = 0;

  async write(batch: SinkBatch): Promise<SinkResult> {
    if (this.failing) {
      this.refusals++;
      return { status: 'retryable', reason: 'backend down (test)', retryAfterMs: 10 };
    }
    this.events.push(...batch.events);
    return DELIVERED;
  }

  async close(): Promise<void> {}
}

/** Wraps `client.send` so a test can fail chosen calls the way Kinesis does. */
function interceptSend(client: KinesisClient, intercept: (command: unknown) => Error | undefined): () => void {
  const original = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
  (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
    const error = intercept(command);
    if (error) throw error;
    return original(command, options);
  };
  return () => {
    (client as { send: unknown }).send = original;
  };
}

describe('Kinesis consumer against kinesalite', function () {
  this.timeout(60_000);
  let kinesis: LocalKinesis;
  let stateDir: string;
  let streamCounter = 0;
  const running: KinesisConsumer[] = [];

  before(async () => {
    kinesis = await startKinesalite();
  });
  after(async () => {
    await kinesis?.stop();
  });
  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'das-kinesis-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
    await rm(stateDir, { recursive: true, force: true });
  });

  const newStream = async (shards: number) => {
    const name = `aws-rds-das-cluster-test${++streamCounter}`;
    await createStream(kinesis.client, name, shards);
    return name;
  };

  const consumer = (options: Partial<KinesisConsumerOptions> & { streams: string[]; pipeline: BatchProcessor }) => {
    const c = new KinesisConsumer({
      client: kinesis.client,
      coordinator: new FileCheckpointStore({ dir: stateDir }),
      limit: 100,
      pollIntervalMs: 20,
      discoveryIntervalMs: 200,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      log: new CapturingLogger(),
      ...options,
    });
    running.push(c);
    return c;
  };

  const checkpoints = async (stream: string): Promise<Record<string, { checkpoint: string | null }>> =>
    JSON.parse(await readFile(new FileCheckpointStore({ dir: stateDir }).fileFor(stream), 'utf8')).shards;
  const checkpointsSync = (stream: string): Record<string, { checkpoint: string | null }> => {
    try {
      return JSON.parse(readFileSync(new FileCheckpointStore({ dir: stateDir }).fileFor(stream), 'utf8')).shards;
    } catch {
      return {};
    }
  };

  it('delivers every record of 3 shards × 500 exactly once, and a restart after a clean stop re-reads nothing', async () => {
    const stream = await newStream(3);
    const produced = testRecords(1500, 60);
    await produce(kinesis.client, stream, produced);
    const shardIds = (await listShards(kinesis.client, stream)).map((s) => s.ShardId!);

    const sink = new MemorySink();
    const behind = new Map<string, number>();
    const observer: KinesisObserver = { millisBehindLatest: (_s, shardId) => behind.set(shardId, (behind.get(shardId) ?? 0) + 1) };
    const first = consumer({ streams: [stream], pipeline: pipelineFor(sink), observer });
    await first.start();
    await waitFor(() => sink.events.length >= produced.length, 20_000, () => `1500 events (have ${sink.events.length})`);
    assert.deepEqual(first.status(), [{ stream, up: true, reason: null, shards: 3 }]);
    await first.stop();

    assert.deepEqual(duplicatesOf(ids(sink.events)), []);
    assert.deepEqual(missingFrom(ids(sink.events), produced), []);
    assert.deepEqual(new Set(sink.events.map((e) => e.position!.shardId)), new Set(shardIds), 'every shard was read');
    for (const shardId of shardIds) assert.ok((behind.get(shardId) ?? 0) > 0, `MillisBehindLatest observed for ${shardId}`);
    for (const e of sink.events) assert.equal(e.eventId, `${stream}/${e.position!.shardId}/${e.position!.sequenceNumber}/0`);
    assert.equal(first.status()[0]!.reason, 'stopped');

    const again = new MemorySink();
    const polls = new Map<string, number>();
    let recordsRead = 0;
    const second = consumer({
      streams: [stream],
      pipeline: pipelineFor(again),
      observer: {
        millisBehindLatest: (_s, shardId) => polls.set(shardId, (polls.get(shardId) ?? 0) + 1),
        recordsRead: (_s, _shard, n) => (recordsRead += n),
      },
    });
    await second.start();
    await waitFor(
      () => shardIds.every((id) => (polls.get(id) ?? 0) >= 3),
      10_000,
      () => `three polls of every shard after the restart (have ${JSON.stringify([...polls])})`,
    );
    await second.stop();
    assert.equal(recordsRead, 0, 'no record read again');
    assert.equal(again.events.length, 0);
  });

  it('reads parents to their end before their children when a shard is split and two are merged under load', async () => {
    const stream = await newStream(2);
    await reshardUnderLoad({
      client: kinesis.client,
      stream,
      start: (sink) => consumer({ streams: [stream], pipeline: pipelineFor(sink), limit: 25 }),
      checkpoints: () => checkpoints(stream),
    });
  });

  it('started at latest, still delivers everything written after the start when a shard splits: children start at their beginning', async () => {
    const stream = await newStream(1);
    await produce(kinesis.client, stream, testRecords(50, 4, 'before'));
    // A slow sink keeps a backlog on the parent when it closes, so records reach the children before they are read.
    const sink = new MemorySink();
    const slow: Sink = { name: 'slow', write: async (batch) => (await new Promise((r) => setTimeout(r, 30)), sink.write(batch)), close: async () => {} };
    const c = consumer({ streams: [stream], pipeline: pipelineFor(slow), limit: 10, startPosition: { type: 'latest' } });
    await c.start();
    await waitFor(() => c.status()[0]?.shards === 1, 10_000, () => 'the reader of the only shard');
    await new Promise((r) => setTimeout(r, 300));

    const produced: TestRecord[] = [];
    const write = async (prefix: string, count: number) => {
      const records = testRecords(count, 8, prefix);
      await produce(kinesis.client, stream, records);
      produced.push(...records);
    };
    await write('parent', 120);
    const [shard0] = await listShards(kinesis.client, stream);
    const mid = (BigInt(shard0!.HashKeyRange!.StartingHashKey!) + BigInt(shard0!.HashKeyRange!.EndingHashKey!)) / 2n;
    await kinesis.client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shard0!.ShardId!, NewStartingHashKey: String(mid + 1n) }));
    await waitActive(kinesis.client, stream);
    await write('child', 120);

    await waitFor(() => sink.events.length >= produced.length, 20_000, () => `${produced.length} events written after the start (have ${sink.events.length})`);
    await c.stop();
    const delivered = ids(sink.events);
    assert.deepEqual(missingFrom(delivered, produced), [], 'nothing written after the start is skipped');
    assert.ok(!delivered.some((id) => id.startsWith('before')), 'records from before the start stay unread, as latest asks');
  });

  describe('started at latest on a stream resharded before the start', () => {
    /**
     * A stream split before this consumer started, every record already read
     * by another one (a replica whose state directory was lost, or the
     * consumer this one replaces). Started at latest with no state, the
     * consumer must read what is written from now on, and none of the
     * children's earlier records: they are not new because their parent
     * is still on the stream.
     */
    async function readAfterTheStart(coordinatorFor: (run: 'first' | 'second') => LeaseCoordinator) {
      const stream = await newStream(1);
      await produce(kinesis.client, stream, testRecords(40, 4, 'parent'));
      const [shard0] = await listShards(kinesis.client, stream);
      const mid = (BigInt(shard0!.HashKeyRange!.StartingHashKey!) + BigInt(shard0!.HashKeyRange!.EndingHashKey!)) / 2n;
      await kinesis.client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shard0!.ShardId!, NewStartingHashKey: String(mid + 1n) }));
      await waitActive(kinesis.client, stream);
      await produce(kinesis.client, stream, testRecords(80, 8, 'child'));
      const children = (await listShards(kinesis.client, stream)).filter((s) => s.ParentShardId).map((s) => s.ShardId!);
      assert.equal(children.length, 2);

      const earlier = new MemorySink();
      const first = consumer({ streams: [stream], pipeline: pipelineFor(earlier), coordinator: coordinatorFor('first') });
      await first.start();
      await waitFor(() => earlier.events.length >= 120, 20_000, () => `the first consumer reading all 120 (have ${earlier.events.length})`);
      await first.stop();

      const sink = new MemorySink();
      const polled = new Set<string>();
      const second = consumer({
        streams: [stream],
        pipeline: pipelineFor(sink),
        coordinator: coordinatorFor('second'),
        startPosition: { type: 'latest' },
        observer: { millisBehindLatest: (_stream, shardId) => void polled.add(shardId) },
      });
      await second.start();
      // Each child read once: its iterator is in place, so what is written now is after the start.
      await waitFor(() => children.every((c) => polled.has(c)), 20_000, () => `both children read (${[...polled].join(', ')})`);
      const after = testRecords(80, 8, 'after');
      await produce(kinesis.client, stream, after);
      await waitFor(() => ids(sink.events).filter((id) => id.startsWith('after')).length >= after.length, 20_000, () => `the ${after.length} records written after the start (have ${sink.events.length})`);
      await second.stop();

      const delivered = ids(sink.events);
      assert.deepEqual(missingFrom(delivered, after), [], 'everything written after the start is read');
      assert.deepEqual(delivered.filter((id) => !id.startsWith('after')), [], 'nothing written before the start is read again');
    }

    it('with file checkpoints, reads none of the children read before', async () => {
      const dirs = { first: stateDir, second: await mkdtemp(path.join(os.tmpdir(), 'das-kinesis-lost-')) };
      try {
        await readAfterTheStart((run) => new FileCheckpointStore({ dir: dirs[run], log: silentLogger }));
      } finally {
        await rm(dirs.second, { recursive: true, force: true });
      }
    });

    it('with DynamoDB leases, reads none of the children read before', async () => {
      const dynamo = await startDynalite();
      try {
        await readAfterTheStart(
          (run) =>
            new DynamoDbLeaseCoordinator({
              client: dynamo.client(),
              table: `das-leases-latest-${streamCounter}-${run}`,
              workerId: run,
              initialPosition: run === 'first' ? 'TRIM_HORIZON' : 'LATEST',
              log: silentLogger,
            }),
        );
      } finally {
        await dynamo.stop();
      }
    });
  });

  it('resumes after the last delivered record when an iterator expires, losing and repeating nothing', async () => {
    const stream = await newStream(2);
    const produced = testRecords(600, 20);
    await produce(kinesis.client, stream, produced);

    const sink = new MemorySink();
    const expired: string[] = [];
    const byShard = (shardId: string) => sink.events.filter((e) => e.position!.shardId === shardId).length;
    let expireFirstRead = true;
    // kinesalite expires iterators only after 5 minutes, so expire them on cue.
    const restore = interceptSend(kinesis.client, (command) => {
      if (!(command instanceof GetRecordsCommand)) return undefined;
      if (expireFirstRead) {
        expireFirstRead = false;
        expired.push('before any delivery');
        return new ExpiredIteratorException({ message: 'Iterator expired (test)', $metadata: {} });
      }
      if (expired.length === 1 && byShard('shardId-000000000000') >= 100 && byShard('shardId-000000000001') >= 100) {
        expired.push('mid-stream');
        return new ExpiredIteratorException({ message: 'Iterator expired (test)', $metadata: {} });
      }
      return undefined;
    });
    try {
      const c = consumer({ streams: [stream], pipeline: pipelineFor(sink) });
      await c.start();
      await waitFor(() => expired.length === 2, 10_000, () => `two expiries (had ${expired.length})`);
      const more = testRecords(200, 20, 'late');
      await produce(kinesis.client, stream, more);
      produced.push(...more);
      await waitFor(() => sink.events.length >= produced.length, 10_000, () => `${produced.length} events (have ${sink.events.length})`);
      await c.stop();
    } finally {
      restore();
    }
    assert.deepEqual(duplicatesOf(ids(sink.events)), []);
    assert.deepEqual(missingFrom(ids(sink.events), produced), []);
  });

  it('never checkpoints past records a failing sink has not taken, and delivers them all once it recovers', async () => {
    const stream = await newStream(2);
    const produced = testRecords(400, 20);
    await produce(kinesis.client, stream, produced);

    const sink = new FlakySink();
    const violations: string[] = [];
    const checkpointed: string[] = [];
    const observer: KinesisObserver = {
      checkpointed(_stream, shardId, position) {
        checkpointed.push(`${shardId}@${position}`);
        if (position === SHARD_END) return;
        const delivered = sink.events.some((e) => e.position!.shardId === shardId && e.position!.sequenceNumber === position);
        if (!delivered) violations.push(`${shardId} checkpointed at ${position}, which the sink never took`);
      },
    };
    const c = consumer({ streams: [stream], pipeline: pipelineFor(sink), observer });
    await c.start();
    await waitFor(() => sink.refusals >= 20, 10_000, () => `20 refused writes (have ${sink.refusals})`);
    assert.deepEqual(checkpointed, [], 'nothing checkpointed while the sink refuses');
    assert.ok(Object.values(await checkpoints(stream)).every((s) => s.checkpoint === null), 'no checkpoint on disk either');

    sink.failing = false;
    await waitFor(() => sink.events.length >= produced.length, 10_000, () => `${produced.length} events (have ${sink.events.length})`);
    await c.stop();
    assert.deepEqual(violations, []);
    assert.deepEqual(duplicatesOf(ids(sink.events)), []);
    assert.deepEqual(missingFrom(ids(sink.events), produced), []);
    const saved = await checkpoints(stream);
    for (const [shardId, s] of Object.entries(saved)) {
      const last = sink.events.filter((e) => e.position!.shardId === shardId).at(-1)!;
      assert.equal(s.checkpoint, last.position!.sequenceNumber, `${shardId} checkpointed at its last delivered record`);
    }
  });

  it('on stop, abandons a batch the sink keeps refusing without checkpointing it, and the next run delivers it', async () => {
    const stream = await newStream(1);
    const produced = testRecords(150, 5);
    await produce(kinesis.client, stream, produced);

    const stuck = new FlakySink();
    const first = consumer({ streams: [stream], pipeline: pipelineFor(stuck) });
    await first.start();
    await waitFor(() => stuck.refusals >= 5, 10_000, () => `5 refused writes (have ${stuck.refusals})`);
    await first.stop();
    assert.equal(stuck.events.length, 0);

    const sink = new MemorySink();
    const second = consumer({ streams: [stream], pipeline: pipelineFor(sink) });
    await second.start();
    await waitFor(() => sink.events.length >= produced.length, 10_000, () => `${produced.length} events (have ${sink.events.length})`);
    await second.stop();
    assert.deepEqual(duplicatesOf(ids(sink.events)), []);
    assert.deepEqual(missingFrom(ids(sink.events), produced), []);
  });

  it('stops only the stream whose pipeline verdict is fatal, says why once, and keeps the other flowing', async () => {
    const broken = await newStream(2);
    const healthy = await newStream(1);
    await produce(kinesis.client, broken, testRecords(100, 4, 'x'));
    const before = testRecords(100, 4, 'h');
    await produce(kinesis.client, healthy, before);

    const sink = new MemorySink();
    const real = pipelineFor(sink);
    const pipeline: BatchProcessor = {
      async process(records: readonly SourceRecord[], signal?: AbortSignal): Promise<BatchOutcome> {
        if (records[0]!.stream === broken) return { status: 'fatal', reason: 'kms_access_denied', message: 'not authorized to kms:Decrypt (test)' };
        return real.process(records, signal);
      },
    };
    const log = new CapturingLogger();
    const statuses: string[] = [];
    const c = consumer({
      streams: [broken, healthy],
      pipeline,
      log,
      observer: { streamStatus: (s) => statuses.push(`${s.stream}:${s.up}:${s.reason}`) },
    });
    await c.start();
    await waitFor(() => c.status()[0]!.reason === 'kms_access_denied', 10_000, () => `the broken stream to stop (status ${JSON.stringify(c.status())})`);
    await waitFor(() => sink.events.length >= 100, 10_000, () => `the healthy stream's first 100 events (have ${sink.events.length})`);
    const after = testRecords(100, 4, 'h2');
    await produce(kinesis.client, healthy, after);
    await waitFor(() => sink.events.length >= 200, 10_000, () => `the healthy stream's next 100 events (have ${sink.events.length})`);

    assert.deepEqual(c.status(), [
      { stream: broken, up: false, reason: 'kms_access_denied', shards: 0 },
      { stream: healthy, up: true, reason: null, shards: 1 },
    ]);
    await c.stop();
    const errors = log.lines.filter((l) => l.level === 'error');
    assert.equal(errors.length, 1, `one loud line, got ${JSON.stringify(errors)}`);
    assert.equal(errors[0]!.fields.stream, broken);
    assert.equal(errors[0]!.fields.reason, 'kms_access_denied');
    assert.ok(statuses.includes(`${broken}:false:kms_access_denied`));
    assert.deepEqual(statuses.slice(0, 2), [`${broken}:false:starting`, `${healthy}:false:starting`], 'each stream is reported (down, starting) from the start');
    assert.deepEqual(new Set(sink.events.map((e) => e.position!.stream)), new Set([healthy]));
    const saved = await checkpoints(broken);
    assert.ok(Object.values(saved).every((s) => s.checkpoint === null), 'the broken stream checkpointed nothing');
  });

  it('hands a stream a shard reader stops while discovery is retrying to the re-probe at once, instead of discovering it on', async () => {
    const stream = await newStream(1);
    await produce(kinesis.client, stream, testRecords(20, 4, 'r'));
    // Once the first batch is being processed, every ListShards is throttled: discovery retries, every ≤ 20 ms.
    let throttling = false;
    let throttled = 0;
    const restore = interceptSend(kinesis.client, (command) => {
      if (!(command instanceof ListShardsCommand) || !throttling) return undefined;
      throttled++;
      return new LimitExceededException({ message: 'Rate exceeded for stream (test)', $metadata: { httpStatusCode: 400 } });
    });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const pipeline: BatchProcessor = {
        async process(): Promise<BatchOutcome> {
          throttling = true;
          await released;
          return { status: 'fatal', reason: 'kms_access_denied', message: 'not authorized to kms:Decrypt (test)' };
        },
      };
      const c = consumer({ streams: [stream], pipeline, discoveryIntervalMs: 20, reprobe: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
      await c.start();
      await waitFor(() => throttled >= 3, 10_000, () => `discovery to be retrying a throttled ListShards (${throttled} so far)`);
      release();
      await waitFor(() => c.status()[0]!.reason === 'kms_access_denied', 10_000, () => `the stream to stop (status ${JSON.stringify(c.status())})`);
      const atStop = throttled;
      await new Promise((r) => setTimeout(r, 1_000));
      assert.ok(throttled - atStop <= 1, `discovery called ListShards ${throttled - atStop} more times in the second after the stream stopped: it should wait for the re-probe (60 s here)`);
      assert.deepEqual(c.status(), [{ stream, up: false, reason: 'kms_access_denied', shards: 0 }]);
    } finally {
      restore();
    }
  });

  it('stops a stream Kinesis denies access to, as kinesis_access_denied, and keeps the other flowing', async () => {
    const denied = await newStream(1);
    const allowed = await newStream(1);
    const produced = testRecords(50, 2, 'a');
    await produce(kinesis.client, allowed, produced);
    const restore = interceptSend(kinesis.client, (command) =>
      command instanceof GetShardIteratorCommand && command.input.StreamName === denied
        ? new AccessDeniedException({ message: 'not authorized to kinesis:GetShardIterator (test)', $metadata: { httpStatusCode: 400 } })
        : undefined,
    );
    try {
      const sink = new MemorySink();
      const c = consumer({ streams: [denied, allowed], pipeline: pipelineFor(sink) });
      await c.start();
      await waitFor(() => c.status()[0]!.reason === 'kinesis_access_denied', 10_000, () => `the denied stream to stop (${JSON.stringify(c.status())})`);
      await waitFor(() => sink.events.length >= produced.length, 10_000, () => `the allowed stream's events (have ${sink.events.length})`);
      assert.equal(c.status()[1]!.up, true);
      await c.stop();
    } finally {
      restore();
    }
  });

  describe('lease store failures are told apart from Kinesis ones', () => {
    let dynamo: LocalDynamoDb;
    before(async () => {
      dynamo = await startDynalite();
    });
    after(async () => {
      await dynamo?.stop();
    });

    const leased = (table: string, client = dynamo.client()) =>
      new DynamoDbLeaseCoordinator({ client, table, workerId: 'w', failoverTimeMs: 2_000, log: silentLogger, destroyClient: true });

    it('a lease table deleted under a running consumer stops the stream as lease_table_not_found, not stream_not_found', async () => {
      const stream = await newStream(1);
      await produce(kinesis.client, stream, testRecords(20, 2, 'b'));
      const table = `das-leases-gone-${streamCounter}`;
      const sink = new MemorySink();
      const c = consumer({ streams: [stream], pipeline: pipelineFor(sink), coordinator: leased(table) });
      await c.start();
      await waitFor(() => sink.events.length >= 20, 10_000, () => `the first events (have ${sink.events.length})`);
      await dynamo.client().send(new DeleteTableCommand({ TableName: table }));
      await produce(kinesis.client, stream, testRecords(5, 1, 'c'));
      await waitFor(() => c.status()[0]!.reason === 'lease_table_not_found', 10_000, () => `the stream to stop (${JSON.stringify(c.status())})`);
      assert.equal(c.status()[0]!.up, false);
    });

    it('a lease table that denies access stops the stream as lease_table_access_denied', async () => {
      const stream = await newStream(1);
      const client = dynamo.client();
      let denied = false;
      const original = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
      (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
        // As the SDK throws it: DynamoDB has no modelled class for it.
        if (denied) {
          throw new DynamoDBServiceException({ name: 'AccessDeniedException', $fault: 'client', $metadata: { httpStatusCode: 400 }, message: 'not authorized to perform dynamodb:Query on the lease table (test)' });
        }
        return original(command, options);
      };
      const c = consumer({ streams: [stream], pipeline: pipelineFor(new MemorySink()), coordinator: leased(`das-leases-denied-${streamCounter}`, client) });
      await c.start();
      await waitFor(() => c.status()[0]!.up, 10_000, () => `the stream to come up (${JSON.stringify(c.status())})`);
      denied = true;
      await waitFor(() => c.status()[0]!.reason === 'lease_table_access_denied', 10_000, () => `the stream to stop (${JSON.stringify(c.status())})`);
      denied = false;
    });
  });

  describe('a checkpoint write that fails', () => {
    /** The file store, its renames (the step that makes a write durable) failing with `refuse()` once it returns an error. */
    const refusingStore = (refuse: (from: string) => Error | undefined) =>
      new FileCheckpointStore({
        dir: stateDir,
        fs: {
          rename: async (from, to) => {
            const error = refuse(from);
            if (error) throw error;
            return rename(from, to);
          },
        },
      });
    const fsError = (code: string, message: string, file: string) => Object.assign(new Error(`${code}: ${message}, rename '${file}' (test)`), { code, syscall: 'rename', path: file });

    it('for good (the directory refuses writes) stops the stream as checkpoint_dir_denied instead of retrying forever, with nothing checkpointed', async () => {
      const stream = await newStream(1);
      let denied = false;
      const store = refusingStore((from) => (denied ? fsError('EACCES', 'permission denied', from) : undefined));
      const log = new CapturingLogger();
      const c = consumer({ streams: [stream], pipeline: pipelineFor(new MemorySink()), coordinator: store, log });
      await c.start();
      await waitFor(() => c.status()[0]!.up, 10_000, () => `the stream to come up (${JSON.stringify(c.status())})`);
      denied = true;
      await produce(kinesis.client, stream, testRecords(10, 1, 'd'));
      await waitFor(() => c.status()[0]!.reason === 'checkpoint_dir_denied', 10_000, () => `the stream to stop (${JSON.stringify(c.status())})`);
      assert.ok(log.lines.some((l) => l.level === 'error' && l.fields.reason === 'checkpoint_dir_denied'), 'one loud line says why');
      assert.equal(Object.values(checkpointsSync(stream)).filter((s) => s.checkpoint !== null).length, 0, 'nothing was checkpointed');
      // Writable again, so that stopping can write what is pending.
      denied = false;
    });

    it('for a while (disk full) is retried until it is on disk, the stream staying up', async () => {
      const stream = await newStream(1);
      let refusals = -1;
      const store = refusingStore((from) => (refusals >= 0 && refusals++ < 3 ? fsError('ENOSPC', 'no space left on device', from) : undefined));
      const sink = new MemorySink();
      const c = consumer({ streams: [stream], pipeline: pipelineFor(sink), coordinator: store });
      await c.start();
      await waitFor(() => c.status()[0]!.up, 10_000, () => `the stream to come up (${JSON.stringify(c.status())})`);
      refusals = 0;
      const produced = testRecords(10, 1, 'e');
      await produce(kinesis.client, stream, produced);
      await waitFor(() => refusals > 3 && Object.values(checkpointsSync(stream)).some((s) => s.checkpoint !== null), 10_000, () => `the checkpoint on disk (refusals ${refusals})`);
      assert.equal(c.status()[0]!.up, true);
      assert.deepEqual(missingFrom(ids(sink.events), produced), []);
    });
  });

  it('stops a stream whose checkpoint lock another host took over as checkpoint_lock_taken, checkpointing nothing, and resumes once the lock is free', async () => {
    const stream = await newStream(1);
    // host-a's clock never moves, so it writes no heartbeat: to host-b it looks dead, though it still reads.
    const aClock = new ManualClock();
    const a = new FileCheckpointStore({ dir: stateDir, hostname: 'host-a', now: aClock.now, sleep: aClock.sleep, log: silentLogger });
    const sink = new MemorySink();
    const log = new CapturingLogger();
    const c = consumer({ streams: [stream], pipeline: pipelineFor(sink), coordinator: a, log, reprobe: { baseDelayMs: 50, maxDelayMs: 100 } });
    await c.start();
    const first = testRecords(5, 1, 'a');
    await produce(kinesis.client, stream, first);
    await waitFor(() => Object.values(checkpointsSync(stream)).some((s) => s.checkpoint !== null), 10_000, () => 'the first checkpoint');
    const before = checkpointsSync(stream);

    const bClock = new ManualClock();
    const b = new FileCheckpointStore({ dir: stateDir, hostname: 'host-b', now: bClock.now, sleep: bClock.sleep, log: silentLogger });
    await bClock.run(b.initialize([stream]));
    const second = testRecords(5, 1, 'b');
    await produce(kinesis.client, stream, second);
    await waitFor(() => c.status()[0]!.reason === 'checkpoint_lock_taken', 10_000, () => `the stream to stop (${JSON.stringify(c.status())})`);
    assert.deepEqual(checkpointsSync(stream), before, 'host-a checkpointed nothing once the lock was host-b\'s');
    assert.ok(log.lines.some((l) => l.level === 'error' && l.fields.reason === 'checkpoint_lock_taken'), 'one loud line says why');

    await b.shutdown();
    await waitFor(() => c.status()[0]!.up && missingFrom(ids(sink.events), [...first, ...second]).length === 0, 10_000, () => `the stream to resume (${JSON.stringify(c.status())})`);
    await waitFor(
      () => JSON.stringify(checkpointsSync(stream)) !== JSON.stringify(before),
      10_000,
      () => 'host-a to checkpoint again once it took the lock back',
    );
  });

  it('refuses a second consumer of the same stream while the first runs', async () => {
    const stream = await newStream(1);
    const first = consumer({ streams: [stream], pipeline: pipelineFor(new MemorySink()) });
    await first.start();
    const second = consumer({ streams: [stream], pipeline: pipelineFor(new MemorySink()) });
    await assert.rejects(second.start(), (e: Error) => e.name === 'StreamOwnedError' && e.message.includes(`pid ${process.pid}`));
  });
});

describe('stream references', () => {
  it('addresses a stream by name with StreamName and by ARN with StreamARN', () => {
    assert.deepEqual(streamRef('aws-rds-das-cluster-ABC'), { name: 'aws-rds-das-cluster-ABC', arn: undefined, params: { StreamName: 'aws-rds-das-cluster-ABC' } });
    const arn = 'arn:aws:kinesis:eu-west-1:123456789012:stream/aws-rds-das-cluster-ABC';
    assert.deepEqual(streamRef(arn), { name: 'aws-rds-das-cluster-ABC', arn, params: { StreamARN: arn } });
    assert.throws(() => streamRef('arn:aws:sqs:eu-west-1:123456789012:queue'), /not a Kinesis stream ARN/);
  });

  it('parses start positions and names the expected forms when one is wrong', () => {
    assert.deepEqual(parseStartPosition('latest'), { type: 'latest' });
    assert.deepEqual(parseStartPosition('at_timestamp:2024-05-01T00:00:00Z'), { type: 'at_timestamp', timestamp: new Date('2024-05-01T00:00:00Z') });
    assert.throws(() => parseStartPosition('at_timestamp:yesterday'), /trim_horizon, latest or at_timestamp/);
  });
});
