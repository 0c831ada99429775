/**
 * Reads one shard by enhanced fan-out: SubscribeToShard as a registered
 * consumer, then every SubscribeToShardEvent the subscription pushes, through
 * the same delivery as polling (pipeline, then checkpoint).
 *
 * - The next event is read only after the previous one was delivered and
 *   checkpointed, so a slow sink stops reading the HTTP/2 stream and flow
 *   control holds Kinesis back: memory stays one event per shard. A large
 *   event (a backlog) is delivered and checkpointed in slices of `limit`
 *   records, so a crash repeats no more than polling's batch would.
 * - A subscription ends after 5 minutes (or on an error): the next one starts
 *   right after the last event handled (its ContinuationSequenceNumber), else
 *   after the checkpoint, else at the start position. SubscribeToShard is
 *   called at most once a second per shard, as the service allows.
 * - A closed shard's last event carries ChildShards and no continuation:
 *   SHARD_END is checkpointed and the children start (parents first).
 * - Failures follow the documented retry rules, each counted by reason:
 *   another subscription still active (`resource_in_use`, e.g. a lease just
 *   taken from a process that has not noticed yet) and too many subscribe
 *   calls (`limit_exceeded`) are waited out; internal failures, resets and
 *   timeouts resubscribe from the last event handled, and so does a
 *   subscription silent for `idleTimeoutMs` while nothing was being delivered
 *   (a connection dropped without a reset). A consumer or shard
 *   that no longer exists, access denied or an unusable stream key stop the
 *   stream with a reason, as polling does.
 */
import { SubscribeToShardCommand, type KinesisClient, type StartingPosition, type SubscribeToShardEvent, type SubscribeToShardEventStream } from '@aws-sdk/client-kinesis';
import { describeError } from '../../errors.ts';
import { sleep as defaultSleep } from '../../util/backoff.ts';
import { retry, type RetryVerdict } from '../../util/retry.ts';
import { LeaseLostError } from '../checkpoints/store.ts';
import { classifySubscriptionError, type SubscriptionEnd } from './efo-errors.ts';
import { credentialsUnavailable, ShardDelivery, Stop, STOPPED, type ReadPosition, type ShardOutcome, type ShardReadOptions } from './shard-delivery.ts';

export interface SubscriptionReaderOptions extends ShardReadOptions {
  /** A client whose handler speaks HTTP/2 (SubscribeToShard is HTTP/2 only): the SDK's default one. */
  client: KinesisClient;
  consumerArn: string;
  /**
   * Records handed to the pipeline at once (default 1000, `--get-records-limit`): an event holds up to
   * 10,000, and a checkpoint after each slice bounds what a crash repeats, as a GetRecords batch does.
   */
  limit?: number;
  /** Least time between two SubscribeToShard calls on this shard (default 1 s: the service allows one a second). */
  subscribeIntervalMs?: number;
  /** Silence after which a subscription is taken for a dead connection and replaced (default 30 s; Kinesis pushes every few seconds). */
  idleTimeoutMs?: number;
}

/** A subscription the service ends on its own lasts 5 minutes; one that ends this much earlier was cut. */
const SUBSCRIPTION_LIFETIME_MS = 290_000;

/** How one subscription ended: the shard's end, or a reason to subscribe again (and whether it handled an event first). */
type Resubscribe = { kind: 'resubscribe'; reason: SubscriptionEnd; error?: unknown; progressed?: boolean };
type Ended = { kind: 'shard_end' } | Resubscribe;

/** A subscription ended early: the retry loop subscribes again after a backoff. */
class SubscriptionCut extends Error {
  readonly ended: Resubscribe;

  constructor(ended: Resubscribe) {
    super(`subscription ended: ${ended.reason}`);
    this.ended = ended;
  }
}

/** A subscription that handled events before it was cut is progress: its successor backs off from the start. */
function cutVerdict(ended: Resubscribe): RetryVerdict {
  return { retry: true, reason: ended.reason, credentials: ended.reason === 'credentials', fresh: ended.progressed === true };
}

export class SubscriptionReader {
  readonly shardId: string;
  readonly #o: SubscriptionReaderOptions;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #interval: number;
  readonly #limit: number;
  readonly #idleMs: number;
  readonly #delivery: ShardDelivery;
  /** The last handled event's ContinuationSequenceNumber: where the next subscription starts. */
  #continuation: string | undefined;
  #lastSubscribeAt = -Infinity;

  constructor(options: SubscriptionReaderOptions) {
    this.#o = options;
    this.shardId = options.shardId;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#now = options.now ?? Date.now;
    this.#interval = options.subscribeIntervalMs ?? 1_000;
    this.#limit = options.limit ?? 1000;
    this.#idleMs = options.idleTimeoutMs ?? 30_000;
    this.#delivery = new ShardDelivery({ ...options, sleep: this.#sleep, now: this.#now });
  }

  /** Reads until the shard ends, the signal aborts, the lease is lost or the stream must stop. */
  async run(signal: AbortSignal): Promise<ShardOutcome> {
    const { stream } = this.#o;
    try {
      this.#o.observer?.shardStarted?.(stream.name, this.shardId);
      return await retry(() => this.#subscribeUntilCut(signal), (error) => (error instanceof SubscriptionCut ? cutVerdict(error.ended) : { retry: false, error }), {
        signal,
        sleep: this.#sleep,
        backoff: { baseDelayMs: 1_000, maxDelayMs: 30_000, ...this.#o.retry },
        onRetry: (reason, failures, error) => {
          const ended = (error as SubscriptionCut).ended;
          const fields = { stream: stream.name, shardId: this.shardId, reason, error: describeError(ended.error) };
          if (reason === 'unexpected' || reason === 'credentials' || failures > 3) this.#o.log.warn('subscription ended; subscribing again', { ...fields, attempt: failures });
          else this.#o.log.info('subscription ended; subscribing again', fields);
        },
        exhausted: (_budget, attempts, error) => new Stop(credentialsUnavailable('SubscribeToShard', attempts, (error as SubscriptionCut).ended.error)),
        aborted: () => new Stop(STOPPED),
      });
    } catch (error) {
      if (error instanceof Stop) return error.outcome;
      if (error instanceof LeaseLostError) {
        this.#o.log.warn('shard lease lost; ending its subscription', { stream: stream.name, shardId: this.shardId });
        return { status: 'lease_lost' };
      }
      if (signal.aborted) return STOPPED;
      throw error;
    }
  }

  /**
   * Subscribes again and again while the service ends each subscription after
   * its 5 minutes (`completed`), until the shard ends (its outcome) or a
   * subscription is cut (thrown as a SubscriptionCut, for the retry loop to
   * back off; one that follows a completed subscription counts as progress).
   */
  async #subscribeUntilCut(signal: AbortSignal): Promise<ShardOutcome> {
    let completed = false;
    for (;;) {
      if (signal.aborted) return STOPPED;
      const ended = await this.#subscribeOnce(signal);
      this.#o.observer?.subscriptionEnded?.(this.#o.stream.name, this.shardId, ended.kind === 'shard_end' ? 'shard_end' : ended.reason);
      if (ended.kind === 'shard_end') {
        await this.#delivery.shardEnded(signal);
        return { status: 'ended' };
      }
      if (ended.reason === 'completed') {
        completed = true;
        continue;
      }
      throw new SubscriptionCut(completed ? { ...ended, progressed: true } : ended);
    }
  }

  /** One subscription, from its call to its end; the HTTP/2 stream is closed whichever way it ends. */
  async #subscribeOnce(signal: AbortSignal): Promise<Ended> {
    await this.#pace(signal);
    const cancel = new AbortController();
    const onAbort = () => cancel.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      let events: AsyncIterable<SubscribeToShardEventStream>;
      try {
        const out = await this.#o.client.send(
          new SubscribeToShardCommand({ ConsumerARN: this.#o.consumerArn, ShardId: this.shardId, StartingPosition: this.#startingPosition() }),
          { abortSignal: cancel.signal },
        );
        if (!out.EventStream) return { kind: 'resubscribe', reason: 'unexpected', error: new Error('SubscribeToShard answered without an event stream') };
        events = out.EventStream;
      } catch (error) {
        return this.#failed(error, signal);
      }
      this.#o.observer?.subscriptionStarted?.(this.#o.stream.name, this.shardId);
      const startedAt = this.#now();
      // Kinesis pushes an event every few seconds, empty ones too: silence while nothing is being delivered is a dead connection.
      let idle: NodeJS.Timeout | undefined;
      let idled = false;
      const watch = () => {
        clearTimeout(idle);
        idle = setTimeout(() => {
          idled = true;
          cancel.abort(new Error(`no event for ${this.#idleMs} ms`));
        }, this.#idleMs);
        idle.unref?.();
      };
      let progressed = false;
      try {
        watch();
        for await (const message of events) {
          clearTimeout(idle);
          if (signal.aborted) throw new Stop(STOPPED);
          const event = message.SubscribeToShardEvent;
          if (!event) return { ...this.#failed(errorMember(message), signal), progressed };
          if (await this.#handle(event, signal)) return { kind: 'shard_end' };
          progressed = true;
          watch();
        }
        if (signal.aborted) throw new Stop(STOPPED);
        if (idled) return this.#idledOut(progressed);
        // The SDK ends the event stream quietly on a reset too: only an end near the 5 minutes is the service's.
        if (this.#now() - startedAt >= SUBSCRIPTION_LIFETIME_MS) return { kind: 'resubscribe', reason: 'completed', progressed };
        this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, 'SubscribeToShard', 'ended_early');
        return { kind: 'resubscribe', reason: 'ended_early', progressed, error: new Error(`the subscription ended after ${this.#now() - startedAt} ms, before its 5 minutes (a reset or a closed connection)`) };
      } catch (error) {
        if (error instanceof Stop || error instanceof LeaseLostError) throw error;
        if (idled && !signal.aborted) return this.#idledOut(progressed);
        return { ...this.#failed(error, signal), progressed };
      } finally {
        clearTimeout(idle);
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      // Ends the HTTP/2 stream if it is still open (a failure, a stop, the shard's end).
      cancel.abort(new Error('subscription closed'));
    }
  }

  /** Delivers one event's records and remembers where it left off; true when it was the shard's last. */
  async #handle(event: SubscribeToShardEvent, signal: AbortSignal): Promise<boolean> {
    const { stream } = this.#o;
    const records = event.Records ?? [];
    this.#o.observer?.subscriptionReceived?.(stream.name, this.shardId, records.length, records.reduce((n, r) => n + (r.Data?.byteLength ?? 0), 0));
    if (event.MillisBehindLatest !== undefined) this.#o.observer?.millisBehindLatest?.(stream.name, this.shardId, event.MillisBehindLatest);
    for (let from = 0; from < records.length; from += this.#limit) {
      // A stop or a lost lease ends the event between slices: what is left is read again from the checkpoint.
      if (signal.aborted) throw new Stop(STOPPED);
      await this.#delivery.deliver(records.slice(from, from + this.#limit), signal);
    }
    if (event.ContinuationSequenceNumber) {
      this.#continuation = event.ContinuationSequenceNumber;
      return false;
    }
    // A closed shard's end: no continuation, and ChildShards name its children. Anything less is not taken for an end.
    if ((event.ChildShards?.length ?? 0) > 0) return true;
    this.#o.log.warn('an event came with neither a continuation nor child shards; the next subscription starts after the last event handled', { stream: stream.name, shardId: this.shardId });
    return false;
  }

  /** The watchdog ended a subscription that went silent. */
  #idledOut(progressed: boolean): Resubscribe {
    this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, 'SubscribeToShard', 'idle_timeout');
    return { kind: 'resubscribe', reason: 'idle_timeout', progressed, error: new Error(`no event for ${this.#idleMs} ms while nothing was being delivered: the connection is taken for dead`) };
  }

  /** A failed call or a failure mid-stream: stop the stream, or say why to subscribe again. */
  #failed(error: unknown, signal: AbortSignal): Resubscribe {
    if (signal.aborted) throw new Stop(STOPPED);
    const failure = classifySubscriptionError(error);
    if (failure.kind === 'fatal') throw new Stop({ status: 'fatal', reason: failure.reason, message: `SubscribeToShard (${this.#o.consumerArn}, ${this.shardId}): ${describeError(error)}` });
    this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, 'SubscribeToShard', failure.reason);
    return { kind: 'resubscribe', reason: failure.reason, error };
  }

  /** Right after the last event handled, else after the checkpoint, else the start position. */
  #startingPosition(): StartingPosition {
    const position: ReadPosition = this.#continuation
      ? { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: this.#continuation }
      : this.#delivery.nextPosition();
    return position;
  }

  /** Keeps SubscribeToShard calls on this shard at least `subscribeIntervalMs` apart. */
  async #pace(signal: AbortSignal): Promise<void> {
    const wait = this.#lastSubscribeAt + this.#interval - this.#now();
    if (wait > 0) await this.#sleep(wait, signal).catch(() => {});
    if (signal.aborted) throw new Stop(STOPPED);
    this.#lastSubscribeAt = this.#now();
  }
}

/** The error an event-stream message carries instead of an event (a modeled exception, or one the SDK does not know). */
function errorMember(message: SubscribeToShardEventStream): unknown {
  for (const [name, value] of Object.entries(message)) {
    if (value === undefined) continue;
    if (value instanceof Error) return value;
    const error = new Error(`event stream message ${name}: ${JSON.stringify(value)}`);
    error.name = name === '$unknown' && Array.isArray(value) ? String(value[0]) : name;
    return error;
  }
  return new Error('empty event stream message');
}
