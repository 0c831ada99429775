/**
 * The enhanced fan-out reader against a SubscribeToShard stand-in that the
 * real AWS SDK client reads over HTTP/2: where each subscription starts, the
 * shard's end by ChildShards, every documented failure counted by its reason
 * with nothing lost or repeated, a stop or a lost lease closing the stream,
 * and HTTP/2 flow control holding the server back while the sink is behind.
 */
import assert from 'node:assert/strict';
import { CapturingLogger } from '../support/capturing-logger.ts';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import type { BatchOutcome } from '../../src/pipeline.ts';
import { LeaseLostError, SHARD_END, type LeaseCoordinator, type ShardEnd } from '../../src/source/checkpoints/store.ts';
import { classifySubscriptionError } from '../../src/source/kinesis/efo-errors.ts';
import { streamRef } from '../../src/source/kinesis/client.ts';
import { silentLogger, type KinesisObserver, type Logger } from '../../src/source/kinesis/observer.ts';
import type { ShardOutcome, StartPosition } from '../../src/source/kinesis/shard-delivery.ts';
import { SubscriptionReader } from '../../src/source/kinesis/subscription-reader.ts';
import type { SourceRecord } from '../../src/source/record.ts';
import { SubscriptionStandIn, type StandInEvent, type Step } from '../support/subscription-stand-in.ts';

const STREAM = streamRef('aws-rds-das-cluster-efo');
const CONSUMER = 'arn:aws:kinesis:us-east-1:000000000000:stream/aws-rds-das-cluster-efo/consumer/das:1';
const SHARD = 'shardId-000000000000';

/** Sequence numbers as strings that sort as numbers do (Kinesis's are decimal). */
const seq = (n: number) => String(10_000_000 + n);

/** An event of records `from`..`to` (inclusive), continuing after the last. */
function event(from: number, to: number, extra: Partial<StandInEvent> = {}): Step {
  const records = [];
  for (let n = from; n <= to; n++) records.push({ SequenceNumber: seq(n), Data: Buffer.from(`r${n}`) });
  return { event: { Records: records, ContinuationSequenceNumber: seq(to), ...extra } };
}

class Checkpoints {
  readonly positions: (string | ShardEnd)[] = [];
  loseLeaseAfter = Infinity;
  /** Whether the coordinator still counts the lease this worker's (a renewal may find it taken between two checkpoints). */
  held = true;
  afterCheckpoint: (() => void) | undefined;

  coordinator(): LeaseCoordinator {
    return {
      holds: () => this.held,
      checkpoint: async (_stream: string, shardId: string, position: string | ShardEnd) => {
        // As both coordinators: a lease they no longer hold refuses its checkpoint.
        if (!this.held || this.positions.length >= this.loseLeaseAfter) throw new LeaseLostError(STREAM.name, shardId);
        this.positions.push(position);
        this.afterCheckpoint?.();
      },
    } as unknown as LeaseCoordinator;
  }
}

class Pipeline {
  readonly delivered: string[] = [];
  gate: Promise<void> | undefined;
  onBatch: (() => void) | undefined;

  async process(records: readonly SourceRecord[]): Promise<BatchOutcome> {
    await this.gate;
    this.onBatch?.();
    for (const r of records) this.delivered.push(Buffer.from(r.data).toString());
    return { status: 'done', records: records.length, events: records.length, deadLettered: 0 };
  }
}

describe('enhanced fan-out reader (SubscribeToShard stand-in, AWS SDK over HTTP/2)', function () {
  this.timeout(20_000);
  let standIn: SubscriptionStandIn;
  let client: KinesisClient;
  let script: (index: number, first: number) => Step[] | AsyncIterable<Step>;

  before(async () => {
    // `first`: the record a subscription starts at, by its StartingPosition (sequence numbers are seq(n)).
    standIn = new SubscriptionStandIn((request, index) => {
      const after = request.StartingPosition.SequenceNumber;
      return script(index, after === undefined ? 1 : Number(after) - 10_000_000 + 1);
    });
    const endpoint = await standIn.listen();
    client = new KinesisClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, maxAttempts: 1 });
  });
  after(async () => {
    client.destroy();
    await standIn.close();
  });
  beforeEach(() => standIn.subscriptions.splice(0));
  afterEach(() => assert.deepEqual(standIn.errors.splice(0), [], 'the stand-in ran its script'));

  interface Run {
    outcome: Promise<ShardOutcome>;
    pipeline: Pipeline;
    checkpoints: Checkpoints;
    ended: string[];
    retried: string[];
    sleeps: number[];
    abort: AbortController;
  }

  function read(options: { checkpoint?: string | null; startPosition?: StartPosition; pipeline?: Pipeline; checkpoints?: Checkpoints; now?: () => number; limit?: number; idleTimeoutMs?: number; log?: Logger } = {}): Run {
    const pipeline = options.pipeline ?? new Pipeline();
    const checkpoints = options.checkpoints ?? new Checkpoints();
    const ended: string[] = [];
    const retried: string[] = [];
    const sleeps: number[] = [];
    const observer: KinesisObserver = {
      subscriptionEnded: (_s, _shard, reason) => ended.push(reason),
      retrying: (_s, _shard, _op, reason) => retried.push(reason),
    };
    const abort = new AbortController();
    const reader = new SubscriptionReader({
      client,
      stream: STREAM,
      consumerArn: CONSUMER,
      shardId: SHARD,
      checkpoint: options.checkpoint ?? null,
      pipeline,
      coordinator: checkpoints.coordinator(),
      startPosition: options.startPosition ?? { type: 'trim_horizon' },
      observer,
      log: options.log ?? silentLogger,
      ...(options.now ? { now: options.now } : {}),
      ...(options.limit ? { limit: options.limit } : {}),
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      // Waits are recorded, and kept short so the test runs quickly.
      sleep: (ms, signal) => {
        sleeps.push(ms);
        return new Promise((resolve, reject) => {
          const timer = setTimeout(resolve, Math.min(ms, 5));
          signal?.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
        });
      },
    });
    return { outcome: reader.run(abort.signal), pipeline, checkpoints, ended, retried, sleeps, abort };
  }

  const positions = () => standIn.subscriptions.map((s) => s.request.StartingPosition);
  const records = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `r${from + i}`);

  it('follows a closed shard to its end: the event with ChildShards and no continuation checkpoints SHARD_END', async () => {
    script = () => [event(1, 3), { event: { Records: [{ SequenceNumber: seq(4), Data: Buffer.from('r4') }], ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: [SHARD] }] } }];
    const run = read();
    assert.deepEqual(await run.outcome, { status: 'ended' });
    assert.deepEqual(run.pipeline.delivered, records(1, 4));
    assert.deepEqual(run.checkpoints.positions, [seq(3), seq(4), SHARD_END]);
    assert.deepEqual(run.ended, ['shard_end']);
    assert.deepEqual(positions(), [{ Type: 'TRIM_HORIZON' }]);
  });

  it('delivers and checkpoints a large event in slices of the limit, so a crash repeats no more than one slice', async () => {
    const shardEnd: Step = { event: { Records: [], ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: [SHARD] }] } };
    script = () => [event(1, 25), shardEnd];
    const run = read({ limit: 10 });
    assert.deepEqual(await run.outcome, { status: 'ended' });
    assert.deepEqual(run.pipeline.delivered, records(1, 25));
    assert.deepEqual(run.checkpoints.positions, [seq(10), seq(20), seq(25), SHARD_END]);
  });

  it('stops between the slices of an event on shutdown: the rest is read again from the checkpoint', async () => {
    script = () => [event(1, 25), { hold: true }];
    const pipeline = new Pipeline();
    const run = read({ limit: 10, pipeline });
    pipeline.onBatch = () => run.abort.abort(new Error('SIGTERM'));
    assert.deepEqual(await run.outcome, { status: 'stopped' });
    assert.deepEqual(run.pipeline.delivered, records(1, 10));
    assert.deepEqual(run.checkpoints.positions, [seq(10)]);
  });

  it('takes a subscription silent while nothing is delivered for a dead connection: idle_timeout, then again after the last event handled', async () => {
    const shardEnd: Step = { event: { Records: [], ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: [SHARD] }] } };
    script = (i, first) => (i === 0 ? [event(1, 2), { hold: true }] : [event(first, 4), shardEnd]);
    const run = read({ idleTimeoutMs: 300 });
    assert.deepEqual(await run.outcome, { status: 'ended' });
    assert.deepEqual(run.pipeline.delivered, records(1, 4));
    assert.deepEqual(run.ended, ['idle_timeout', 'shard_end']);
    assert.deepEqual(positions()[1], { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: seq(2) });
    await waitUntil(() => standIn.subscriptions[0]!.closed, 'the silent stream closed');
  });

  it('starts after the checkpoint, and each new subscription after the last event handled, when one ends after its 5 minutes', async () => {
    const shardEnd: Step = { event: { Records: [], ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: [SHARD] }] } };
    script = (i) => [[event(5, 6), { end: true } as Step], [event(7, 7), { event: { Records: [], ContinuationSequenceNumber: seq(9) } }, { end: true } as Step], [shardEnd]][i]!;
    // The service ends a subscription after 5 minutes: each batch takes that long on this clock.
    let skew = 0;
    const pipeline = new Pipeline();
    pipeline.onBatch = () => (skew += 300_000);
    const run = read({ checkpoint: seq(4), now: () => Date.now() + skew, pipeline });
    assert.deepEqual(await run.outcome, { status: 'ended' });
    assert.deepEqual(run.pipeline.delivered, records(5, 7));
    assert.deepEqual(positions(), [
      { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: seq(4) },
      { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: seq(6) },
      // An empty event's continuation moves the next start on, though nothing was checkpointed for it.
      { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: seq(9) },
    ]);
    assert.deepEqual(run.ended, ['completed', 'completed', 'shard_end']);
    assert.deepEqual(run.retried, [], 'an ordinary end is no failure');
  });

  const failures: [string, Step, string][] = [
    ['ResourceInUseException before the stream (another subscription still active)', { refuse: 'ResourceInUseException' }, 'resource_in_use'],
    ['LimitExceededException before the stream (over one SubscribeToShard a second)', { refuse: 'LimitExceededException' }, 'limit_exceeded'],
    ['InternalFailureException before the stream (HTTP 500)', { refuse: 'InternalFailureException', status: 500 }, 'internal_failure'],
    ['InternalFailureException mid-stream', { exception: 'InternalFailureException' }, 'internal_failure'],
    ['ResourceInUseException mid-stream', { exception: 'ResourceInUseException' }, 'resource_in_use'],
    ['KMSThrottlingException mid-stream', { exception: 'KMSThrottlingException' }, 'throttled'],
    // The SDK ends the event stream quietly when the connection is reset: an end long before the 5 minutes.
    ['a connection reset mid-stream', { reset: true }, 'ended_early'],
  ];
  for (const [what, failure, reason] of failures) {
    it(`${what}: counted as ${reason}, subscribed again after the last event handled, nothing lost or repeated`, async () => {
      const shardEnd: Step = { event: { Records: [], ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: [SHARD] }] } };
      const before = 'refuse' in failure ? [] : [event(1, 2)];
      // The second subscription serves the shard from wherever it asks to start: what the first delivered is not sent again.
      script = (i, first) => (i === 0 ? [...before, failure] : [event(first, 4), shardEnd]);
      const run = read();
      assert.deepEqual(await run.outcome, { status: 'ended' });
      assert.deepEqual(run.pipeline.delivered, records(1, 4));
      assert.deepEqual(run.ended, [reason, 'shard_end']);
      assert.deepEqual(run.retried, [reason]);
      assert.ok(run.sleeps.some((ms) => ms >= 500), `waited before subscribing again (waits: ${run.sleeps.join(', ')})`);
      assert.ok(run.sleeps.some((ms) => ms >= 900), `SubscribeToShard is paced to one a second per shard (waits: ${run.sleeps.join(', ')})`);
      const delivered = run.checkpoints.positions.length > 2;
      assert.deepEqual(positions()[1], delivered ? { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: seq(2) } : { Type: 'TRIM_HORIZON' });
    });
  }

  it('a subscription cut after it delivered starts the backoff over: six such cuts in a row are each an info line and a first wait', async () => {
    const shardEnd: Step = { event: { Records: [], ChildShards: [{ ShardId: 'shardId-000000000001', ParentShards: [SHARD] }] } };
    // Each subscription delivers one event, then fails mid-stream (InternalFailureException); the seventh reaches the shard's end.
    let subscriptions = 0;
    script = (_i, first) => (subscriptions++ < 6 ? [event(first, first), { exception: 'InternalFailureException' }] : [event(first, first), shardEnd]);
    const log = new CapturingLogger();
    const run = read({ log });
    assert.deepEqual(await run.outcome, { status: 'ended' });
    assert.deepEqual(run.pipeline.delivered, records(1, 7), `ended: ${run.ended.join(', ')}; subscriptions: ${subscriptions}`);
    const resubscribes = log.lines.filter((l) => l.message === 'subscription ended; subscribing again');
    assert.equal(resubscribes.length, 6);
    assert.deepEqual(resubscribes.map((l) => l.level), Array(6).fill('info'), 'progress between cuts: none of them is worth a warning');
    // The backoff's first step (1 s base, jittered), never a grown one: under 2 s each.
    const backoffs = run.sleeps.filter((ms) => ms >= 500 && ms !== 1_000);
    assert.ok(backoffs.every((ms) => ms < 2_000), `waits after the cuts: ${run.sleeps.join(', ')}`);
  });

  const fatal: [string, Step, string][] = [
    ['the consumer or shard is gone (ResourceNotFoundException)', { refuse: 'ResourceNotFoundException' }, 'efo_consumer_not_found'],
    ['the role may not subscribe (AccessDeniedException)', { refuse: 'AccessDeniedException' }, 'efo_access_denied'],
    ['the stream key is disabled (KMSDisabledException mid-stream)', { exception: 'KMSDisabledException' }, 'stream_key_unusable'],
  ];
  for (const [what, failure, reason] of fatal) {
    it(`stops the stream when ${what}: ${reason}, nothing checkpointed past what was delivered`, async () => {
      script = () => ('refuse' in failure ? [failure] : [event(1, 2), failure]);
      const run = read();
      const outcome = await run.outcome;
      assert.equal(outcome.status, 'fatal');
      assert.equal((outcome as { reason: string }).reason, reason);
      assert.match((outcome as { message: string }).message, new RegExp(SHARD));
      assert.deepEqual(run.checkpoints.positions, 'refuse' in failure ? [] : [seq(2)]);
    });
  }

  it('stops on shutdown mid-subscription: the HTTP/2 stream is closed and nothing past the delivered records is checkpointed', async () => {
    script = () => [event(1, 2), { hold: true }];
    const run = read();
    while (run.pipeline.delivered.length < 2) await new Promise((r) => setTimeout(r, 10));
    run.abort.abort(new Error('SIGTERM'));
    assert.deepEqual(await run.outcome, { status: 'stopped' });
    await waitUntil(() => standIn.subscriptions[0]!.closed, 'the server sees its stream closed');
    assert.deepEqual(run.checkpoints.positions, [seq(2)]);
  });

  it('ends the subscription when the lease is lost, and closes the stream', async () => {
    script = () => [event(1, 2), event(3, 4), { hold: true }];
    const checkpoints = new Checkpoints();
    checkpoints.loseLeaseAfter = 1;
    const run = read({ checkpoints });
    assert.deepEqual(await run.outcome, { status: 'lease_lost' });
    await waitUntil(() => standIn.subscriptions[0]!.closed, 'the server sees its stream closed');
    assert.deepEqual(checkpoints.positions, [seq(2)]);
  });

  it('delivers nothing more once the coordinator found the lease taken, before any checkpoint is refused: the new owner reads it', async () => {
    script = () => [event(1, 2), event(3, 4), { hold: true }];
    const checkpoints = new Checkpoints();
    // Right after the first event's checkpoint, a renewal finds the lease another worker's.
    checkpoints.afterCheckpoint = () => void (checkpoints.held = false);
    const run = read({ checkpoints });
    assert.deepEqual(await run.outcome, { status: 'lease_lost' });
    assert.deepEqual(run.pipeline.delivered, ['r1', 'r2'], 'records 3 and 4 were not delivered by the worker that lost the lease');
    assert.deepEqual(checkpoints.positions, [seq(2)]);
    await waitUntil(() => standIn.subscriptions[0]!.closed, 'the server sees its stream closed');
  });

  it('holds the server back by HTTP/2 flow control while the sink is behind: one event in memory, the rest unsent', async () => {
    const big = Buffer.alloc(60_000, 7);
    const many: Step[] = Array.from({ length: 200 }, (_, i) => ({ event: { Records: [{ SequenceNumber: seq(i + 1), Data: big }], ContinuationSequenceNumber: seq(i + 1) } }));
    script = () => [...many, { hold: true }];
    const pipeline = new Pipeline();
    let release!: () => void;
    pipeline.gate = new Promise((resolve) => (release = resolve));
    const run = read({ pipeline });
    await waitUntil(() => (standIn.subscriptions[0]?.blockedWrites ?? 0) > 0, 'the server to find the stream full');
    const subscription = standIn.subscriptions[0]!;
    assert.ok(subscription.written < 200, `the server could not write all 200 events of 60 kB (wrote ${subscription.written})`);
    assert.equal(pipeline.delivered.length, 0);
    release();
    await waitUntil(() => pipeline.delivered.length === 200, 'all 200 events once the sink caught up');
    run.abort.abort(new Error('done'));
    assert.deepEqual(await run.outcome, { status: 'stopped' });
  });
});

describe('enhanced fan-out failures', () => {
  const cases: [string, object, ReturnType<typeof classifySubscriptionError>][] = [
    ['ResourceInUseException', { name: 'ResourceInUseException', $metadata: { httpStatusCode: 400 } }, { kind: 'retryable', reason: 'resource_in_use' }],
    ['LimitExceededException', { name: 'LimitExceededException', $metadata: { httpStatusCode: 400 } }, { kind: 'retryable', reason: 'limit_exceeded' }],
    ['InternalFailureException', { name: 'InternalFailureException' }, { kind: 'retryable', reason: 'internal_failure' }],
    ['ExpiredTokenException', { name: 'ExpiredTokenException', $metadata: { httpStatusCode: 400 } }, { kind: 'retryable', reason: 'credentials' }],
    ['a 503', { name: 'ServiceUnavailable', $metadata: { httpStatusCode: 503 } }, { kind: 'retryable', reason: 'internal_failure' }],
    ['an HTTP/2 stream reset', { name: 'Error', code: 'ERR_HTTP2_STREAM_ERROR' }, { kind: 'retryable', reason: 'network' }],
    ['ResourceNotFoundException', { name: 'ResourceNotFoundException', $metadata: { httpStatusCode: 400 } }, { kind: 'fatal', reason: 'efo_consumer_not_found' }],
    ['AccessDeniedException', { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } }, { kind: 'fatal', reason: 'efo_access_denied' }],
    ['KMSAccessDeniedException', { name: 'KMSAccessDeniedException', $metadata: { httpStatusCode: 400 } }, { kind: 'fatal', reason: 'stream_key_unusable' }],
  ];
  for (const [name, error, expected] of cases) it(`${name}: ${expected.kind} ${expected.reason}`, () => assert.deepEqual(classifySubscriptionError(error), expected));
});

async function waitUntil(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
