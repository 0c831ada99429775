/**
 * Consumes every shard of every configured stream: discovers shards on an
 * interval, asks the lease coordinator which ones to read now (parents before
 * children), runs one ShardReader per shard, and keeps a status per stream.
 *
 * A stream that cannot be read (Kinesis access denied, a `fatal` pipeline
 * verdict, credentials that keep failing; one failure of theirs is only
 * retried) is stopped on its own, logged once, and reported through
 * `status()`; the other streams keep flowing. A stopped stream is re-checked
 * with backoff (`reprobe`): its shards are read again from their checkpoints,
 * and it is reported up once a batch is delivered, so access granted again
 * resumes it without a restart. `stop()` stops polling, aborts
 * batches waiting on retries (the pipeline then answers `aborted` and nothing
 * past them is checkpointed), lets the rest finish and checkpoint, and hands
 * the leases back.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { describeError } from '../../errors.ts';
import { backoffDelay, sleep as defaultSleep, type BackoffOptions } from '../../util/backoff.ts';
import { retry, type RetryVerdict } from '../../util/retry.ts';
import { classifyLeaseStoreError, LeaseStoreError, leaseStoreCall } from '../checkpoints/failures.ts';
import type { LeaseCoordinator, ShardLease } from '../checkpoints/store.ts';
import { classifyKinesisError, streamRef, type StreamRef } from './client.ts';
import { listAllShards } from './discovery.ts';
import { Limiter } from './limiter.ts';
import { jsonLogger, type KinesisObserver, type Logger, type StreamStatus } from './observer.ts';
import { deregisterStreamConsumer, EfoSetupError, ensureStreamConsumer } from './efo-consumer.ts';
import { credentialsUnavailable, type BatchProcessor, type ShardOutcome, type StartPosition } from './shard-delivery.ts';
import { ShardReader } from './shard-reader.ts';
import { SubscriptionReader } from './subscription-reader.ts';

/** Shard discovery cannot go on: the stream stops (`reason`) until a re-probe finds it fixed. */
class DiscoveryStopped extends Error {
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

export interface KinesisConsumerOptions {
  client: KinesisClient;
  /** Stream names or ARNs. */
  streams: readonly string[];
  pipeline: BatchProcessor;
  coordinator: LeaseCoordinator;
  /** Where a shard without a checkpoint starts (default trim_horizon). */
  startPosition?: StartPosition;
  /** GetRecords Limit, and with enhanced fan-out the records of one event delivered at once (default 1000). */
  limit?: number;
  /** Least time between two GetRecords on one shard (default 200 ms: Kinesis allows 5 a second). */
  pollIntervalMs?: number;
  /** Time between shard discoveries (default 10 s); a shard reaching its end triggers one at once. */
  discoveryIntervalMs?: number;
  /**
   * Enhanced fan-out instead of polling: each stream is read as the registered consumer `consumerName`
   * (registered if missing), each shard by SubscribeToShard on `client` (an HTTP/2 client).
   */
  efo?: EfoOptions;
  /** Batches in the pipeline at once, across all shards and streams (default: no cap beyond one per shard). */
  maxConcurrentBatches?: number;
  retry?: BackoffOptions;
  /** Waits before re-reading a stream stopped by a fatal failure (default 10 s, doubling to 5 min, jittered). */
  reprobe?: BackoffOptions;
  observer?: KinesisObserver;
  log?: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export interface EfoOptions {
  /** Speaks HTTP/2, as SubscribeToShard requires: the SDK's default handler. */
  client: KinesisClient;
  consumerName: string;
  /** Deregister the consumer when the consumer stops (default false: it is kept, with its ARN, for the next start). */
  deregisterOnStop?: boolean;
  /** Least time between two SubscribeToShard calls on one shard (default 1 s). */
  subscribeIntervalMs?: number;
  /** Time between two looks at a consumer being registered (default 1 s). */
  registrationPollMs?: number;
}

type Shared = Required<Pick<KinesisConsumerOptions, 'startPosition' | 'discoveryIntervalMs'>> &
  KinesisConsumerOptions & { log: Logger; sleep: (ms: number, signal?: AbortSignal) => Promise<void>; limiter: Limiter | undefined };

export class KinesisConsumer {
  readonly #shared: Shared;
  readonly #refs: StreamRef[];
  readonly #streams: StreamConsumer[] = [];
  #started = false;
  #stopping: Promise<void> | undefined;

  constructor(options: KinesisConsumerOptions) {
    this.#refs = options.streams.map(streamRef);
    const names = this.#refs.map((r) => r.name);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new Error(`stream ${duplicate} is configured twice`);
    this.#shared = {
      startPosition: { type: 'trim_horizon' },
      discoveryIntervalMs: 10_000,
      ...options,
      log: options.log ?? jsonLogger(),
      sleep: options.sleep ?? defaultSleep,
      limiter: options.maxConcurrentBatches ? new Limiter(options.maxConcurrentBatches) : undefined,
    };
  }

  /** Takes ownership of the streams' checkpoints (throws if another owner holds them) and starts reading. */
  async start(): Promise<void> {
    if (this.#started) throw new Error('KinesisConsumer was already started');
    this.#started = true;
    await this.#shared.coordinator.initialize(this.#refs.map((r) => r.name));
    for (const ref of this.#refs) {
      const consumer = new StreamConsumer(ref, this.#shared);
      this.#streams.push(consumer);
      consumer.start();
    }
  }

  /** Stops every stream, waits for in-flight batches to finish or abort, then writes checkpoints and releases ownership. */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      await Promise.all(this.#streams.map((s) => s.stop()));
      if (this.#started) await this.#shared.coordinator.shutdown();
      if (this.#shared.efo?.deregisterOnStop) await Promise.all(this.#streams.map((s) => s.deregister()));
    })();
    return this.#stopping;
  }

  /** One entry per configured stream, in configuration order. */
  status(): StreamStatus[] {
    if (this.#streams.length === 0) return this.#refs.map((r) => ({ stream: r.name, up: false, reason: 'not_started', shards: 0 }));
    return this.#streams.map((s) => s.status());
  }
}

interface RunningShard {
  controller: AbortController;
  done: Promise<void>;
}

/** One stream: its discovery loop and its shard readers. */
class StreamConsumer {
  readonly #ref: StreamRef;
  readonly #o: Shared;
  /** Aborted by stop(): shutdown. */
  readonly #controller = new AbortController();
  /** The readers of one attempt at reading the stream; aborted when the stream stops on a fatal failure. */
  #attempt = new AbortController();
  readonly #readers = new Map<string, RunningShard>();
  #status: StreamStatus;
  #loop: Promise<void> = Promise.resolve();
  /** Set while the stream is stopped and waiting for its next re-probe. */
  #stoppedFor: string | undefined;
  /** The status holds a failure reason: cleared once a batch is delivered again. */
  #down = false;
  /** Fatal stops since the stream last delivered a batch; paces re-probes. */
  #stops = 0;
  #wake: (() => void) | undefined;
  #wakeRequested = false;
  /** Enhanced fan-out: the registered consumer's ARN, once found or registered; cleared when the stream stops. */
  #consumerArn: string | undefined;
  /** The Kinesis call shard discovery is making, for its failures' log line and retry label. */
  #discoveryCall: 'RegisterStreamConsumer' | 'ListShards' = 'ListShards';

  constructor(ref: StreamRef, shared: Shared) {
    this.#ref = ref;
    this.#o = shared;
    this.#status = { stream: ref.name, up: false, reason: 'starting', shards: 0 };
  }

  start(): void {
    // Reported from the start, so a stream that never comes up shows as down (das_stream_up 0), not as absent.
    this.#o.observer?.streamStatus?.(this.status());
    this.#loop = this.#discoverLoop().catch((error) => this.#fail('internal_error', `discovery failed: ${describeError(error)}`));
  }

  async stop(): Promise<void> {
    this.#controller.abort(new Error('shutdown requested'));
    this.#wakeUp();
    await this.#loop;
    await Promise.all([...this.#readers.values()].map((r) => r.done));
    if (!this.#down) this.#setStatus({ up: false, reason: 'stopped' });
  }

  status(): StreamStatus {
    return { ...this.#status, shards: this.#readers.size };
  }

  /** Enhanced fan-out with --deregister-on-stop: removes the consumer this stream was read as. */
  async deregister(): Promise<void> {
    const efo = this.#o.efo;
    if (!efo || !this.#consumerArn) return;
    try {
      await deregisterStreamConsumer(this.#o.client, this.#consumerArn);
      this.#o.log.info('deregistered the enhanced fan-out consumer', { stream: this.#ref.name, consumer: this.#consumerArn });
    } catch (error) {
      this.#o.log.warn('could not deregister the enhanced fan-out consumer', { stream: this.#ref.name, consumer: this.#consumerArn, error: describeError(error) });
    }
  }

  async #discoverLoop(): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      if (this.#stoppedFor !== undefined) {
        await this.#waitToReprobe(signal);
        continue;
      }
      try {
        await retry(() => this.#discover(signal), (error) => this.#discoveryVerdict(error), {
          signal,
          backoff: this.#o.retry,
          // A failed discovery is tried again no later than the next regular one; an ended shard wakes it early.
          sleep: (ms) => this.#idle(Math.min(ms, this.#o.discoveryIntervalMs), signal),
          onRetry: (reason, _failures, error) => {
            const cause = error instanceof LeaseStoreError ? error.cause : error;
            const where = error instanceof LeaseStoreError ? 'leases' : this.#discoveryCall;
            this.#o.observer?.retrying?.(this.#ref.name, null, where, reason);
            this.#o.log.warn(`shard discovery failed (${where === 'leases' ? 'lease store' : `Kinesis ${where}`}); retrying`, { stream: this.#ref.name, error: describeError(cause) });
          },
          exhausted: (_budget, attempts, error) => {
            const fromLeases = error instanceof LeaseStoreError;
            const stopped = credentialsUnavailable(fromLeases ? 'shard discovery (lease store)' : this.#discoveryCall, attempts, fromLeases ? error.cause : error);
            return new DiscoveryStopped(stopped.reason, stopped.message);
          },
        });
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof DiscoveryStopped) this.#fail(error.reason, error.message);
        else throw error;
        continue;
      }
      // Stopped meanwhile (a shard reader's fatal error): straight to the re-probe's wait.
      if (this.#stoppedFor !== undefined) continue;
      await this.#idle(this.#o.discoveryIntervalMs, signal);
    }
  }

  /** What a failed discovery means: try again (Kinesis or the lease store said so), or stop this stream (DiscoveryStopped). */
  #discoveryVerdict(error: unknown): RetryVerdict {
    if (this.#controller.signal.aborted) return { retry: false, error };
    // A shard reader stopped the stream meanwhile: the re-probe takes over from here.
    if (this.#stoppedFor !== undefined) return { retry: false, error: new DiscoveryStopped(this.#stoppedFor, 'stream stopped while discovery was retrying') };
    if (error instanceof EfoSetupError) return { retry: false, error: new DiscoveryStopped(error.reason, error.message) };
    const fromLeases = error instanceof LeaseStoreError;
    const failure = fromLeases ? classifyLeaseStoreError(error.cause) : classifyKinesisError(error);
    if (failure.kind === 'fatal') return { retry: false, error: new DiscoveryStopped(failure.reason, describeError(fromLeases ? error.cause : error)) };
    if (failure.kind === 'retryable') return { retry: true, reason: failure.reason, credentials: failure.reason === 'credentials' };
    return { retry: true, reason: 'unexpected' };
  }

  /** Lists the shards, records them, and starts a reader for each shard the coordinator hands out. */
  async #discover(signal: AbortSignal): Promise<void> {
    if (this.#stoppedFor !== undefined) return;
    this.#discoveryCall = 'RegisterStreamConsumer';
    const consumerArn = await this.#registeredConsumer(signal);
    this.#discoveryCall = 'ListShards';
    const shards = await listAllShards(this.#o.client, this.#ref, signal);
    await leaseStoreCall(() => this.#o.coordinator.syncShards(this.#ref.name, shards));
    const leases = await leaseStoreCall(() => this.#o.coordinator.acquire(this.#ref.name));
    if (signal.aborted || this.#stoppedFor !== undefined) return;
    const attempt = this.#attempt.signal;
    if (this.#status.reason === 'starting') this.#setStatus({ up: true, reason: null });
    const held = new Set(leases.map((l) => l.shardId));
    // A shard still being read but no longer handed out: its lease went to another worker.
    for (const [shardId, running] of this.#readers) if (!held.has(shardId)) running.controller.abort(new Error('lease lost'));
    for (const lease of leases) {
      if (this.#readers.has(lease.shardId)) continue;
      const controller = new AbortController();
      const reader = this.#reader(lease, consumerArn);
      const stopWithStream = () => controller.abort(signal.reason);
      const stopWithAttempt = () => controller.abort(attempt.reason);
      signal.addEventListener('abort', stopWithStream, { once: true });
      attempt.addEventListener('abort', stopWithAttempt, { once: true });
      const done = reader
        .run(controller.signal)
        .catch((error): ShardOutcome => ({ status: 'fatal', reason: 'internal_error', message: `shard reader failed: ${describeError(error)}` }))
        .then((outcome) => this.#shardStopped(lease.shardId, outcome))
        .finally(() => {
          signal.removeEventListener('abort', stopWithStream);
          attempt.removeEventListener('abort', stopWithAttempt);
        });
      this.#readers.set(lease.shardId, { controller, done });
    }
  }

  /** A polling reader, or with enhanced fan-out a subscription as the registered consumer. */
  #reader(lease: ShardLease, consumerArn: string | undefined): ShardReader | SubscriptionReader {
    const common = {
      stream: this.#ref,
      shardId: lease.shardId,
      checkpoint: lease.checkpoint,
      pipeline: this.#o.pipeline,
      coordinator: this.#o.coordinator,
      startPosition: startPositionOf(lease, this.#o.startPosition),
      log: this.#o.log,
      sleep: this.#o.sleep,
      ...(this.#o.retry ? { retry: this.#o.retry } : {}),
      ...(this.#o.limiter ? { limiter: this.#o.limiter } : {}),
      observer: this.#readerObserver(),
      ...(this.#o.now ? { now: this.#o.now } : {}),
    };
    const efo = this.#o.efo;
    if (efo && consumerArn) {
      return new SubscriptionReader({
        ...common,
        client: efo.client,
        consumerArn,
        ...(this.#o.limit !== undefined ? { limit: this.#o.limit } : {}),
        ...(efo.subscribeIntervalMs !== undefined ? { subscribeIntervalMs: efo.subscribeIntervalMs } : {}),
      });
    }
    return new ShardReader({
      ...common,
      client: this.#o.client,
      ...(this.#o.limit !== undefined ? { limit: this.#o.limit } : {}),
      ...(this.#o.pollIntervalMs !== undefined ? { pollIntervalMs: this.#o.pollIntervalMs } : {}),
    });
  }

  /** Enhanced fan-out: the consumer's ARN, found or registered once per attempt at reading the stream. */
  async #registeredConsumer(signal: AbortSignal): Promise<string | undefined> {
    const efo = this.#o.efo;
    if (!efo) return undefined;
    this.#consumerArn ??= await ensureStreamConsumer({
      client: this.#o.client,
      stream: this.#ref,
      consumerName: efo.consumerName,
      signal,
      sleep: this.#o.sleep,
      log: this.#o.log,
      ...(efo.registrationPollMs !== undefined ? { pollMs: efo.registrationPollMs } : {}),
    });
    return this.#consumerArn;
  }

  /** Runs when a shard reader returns: an ended shard lets its children start now; a fatal one stops the stream. */
  async #shardStopped(shardId: string, outcome: ShardOutcome): Promise<void> {
    this.#readers.delete(shardId);
    this.#o.observer?.shardStopped?.(this.#ref.name, shardId, outcome.status);
    if (outcome.status === 'fatal') this.#fail(outcome.reason, outcome.message);
    else if (outcome.status === 'ended') this.#wakeUp();
    if (outcome.status !== 'lease_lost') {
      await this.#o.coordinator.release(this.#ref.name, shardId).catch((error) => {
        this.#o.log.warn('lease release failed', { stream: this.#ref.name, shardId, error: describeError(error) });
      });
    }
  }

  /**
   * Stops this stream only (its readers, never a checkpoint), says why once,
   * loudly, and leaves the others running; a failed re-probe only warns.
   */
  #fail(reason: string, message: string): void {
    if (this.#stoppedFor !== undefined) return;
    this.#stoppedFor = reason;
    const fields = { stream: this.#ref.name, reason, detail: message };
    if (this.#down) this.#o.log.warn(`stream ${this.#ref.name} is still stopped: ${reason}`, fields);
    else this.#o.log.error(`stream ${this.#ref.name} stopped: ${reason}; its records are not read until this is fixed (re-checked with backoff)`, fields);
    this.#down = true;
    this.#setStatus({ up: false, reason });
    this.#attempt.abort(new Error(`stream stopped: ${reason}`));
    this.#wakeUp();
  }

  /** Runs while the stream is stopped: waits out the backoff and its readers, then lets discovery read it again. */
  async #waitToReprobe(signal: AbortSignal): Promise<void> {
    const waitMs = backoffDelay(this.#stops++, { baseDelayMs: 10_000, maxDelayMs: 300_000, ...this.#o.reprobe });
    // A plain sleep, not #idle: an ended shard must not cut the wait short.
    await this.#o.sleep(waitMs, signal).catch(() => {});
    await Promise.all([...this.#readers.values()].map((r) => r.done));
    if (signal.aborted) return;
    this.#o.log.info(`re-checking stopped stream ${this.#ref.name}`, { stream: this.#ref.name, reason: this.#stoppedFor, attempt: this.#stops });
    this.#attempt = new AbortController();
    this.#stoppedFor = undefined;
    // A consumer deleted under the stream (efo_consumer_not_found) is registered again.
    this.#consumerArn = undefined;
  }

  /** Runs when a reader checkpoints a delivered batch: a stopped stream that delivers again is up. */
  #delivered(): void {
    if (!this.#down || this.#stoppedFor !== undefined) return;
    this.#down = false;
    this.#stops = 0;
    this.#o.log.info(`stream ${this.#ref.name} resumed`, { stream: this.#ref.name });
    this.#setStatus({ up: true, reason: null });
  }

  /** The observer handed to shard readers: the configured one, plus the delivery that brings a stopped stream back up. */
  #readerObserver(): KinesisObserver {
    const base = this.#o.observer;
    return {
      millisBehindLatest: (stream, shardId, ms) => base?.millisBehindLatest?.(stream, shardId, ms),
      recordsRead: (stream, shardId, n) => base?.recordsRead?.(stream, shardId, n),
      retrying: (stream, shardId, operation, reason) => base?.retrying?.(stream, shardId, operation, reason),
      shardStarted: (stream, shardId) => base?.shardStarted?.(stream, shardId),
      subscriptionStarted: (stream, shardId) => base?.subscriptionStarted?.(stream, shardId),
      subscriptionEnded: (stream, shardId, reason) => base?.subscriptionEnded?.(stream, shardId, reason),
      subscriptionReceived: (stream, shardId, records, bytes) => base?.subscriptionReceived?.(stream, shardId, records, bytes),
      checkpointed: (stream, shardId, position) => {
        base?.checkpointed?.(stream, shardId, position);
        this.#delivered();
      },
    };
  }

  #setStatus(change: Pick<StreamStatus, 'up' | 'reason'>): void {
    this.#status = { ...this.#status, ...change };
    this.#o.observer?.streamStatus?.(this.status());
  }

  /** Waits for the next discovery: the interval, an ended shard, or shutdown. */
  async #idle(ms: number, signal: AbortSignal): Promise<void> {
    if (!this.#wakeRequested && !signal.aborted) {
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        this.#o.sleep(ms, signal).then(resolve, resolve);
      });
    }
    this.#wake = undefined;
    this.#wakeRequested = false;
  }

  #wakeUp(): void {
    this.#wakeRequested = true;
    this.#wake?.();
  }
}

/**
 * Where a shard without a checkpoint starts. The configured position applies
 * to the shards the stream had when reading began, children of a parent
 * still on the stream included: with `latest`, their earlier records are as
 * old as the parent's. A shard born of a reshard while the stream was read
 * (the lease says so: its store knew a parent before it) starts at
 * TRIM_HORIZON, as in KCL: with `latest` or a timestamp, everything written
 * to it while its parent was still being read would otherwise be skipped.
 */
export function startPositionOf(lease: ShardLease, configured: StartPosition): StartPosition {
  return lease.fromTrimHorizon ? { type: 'trim_horizon' } : configured;
}
