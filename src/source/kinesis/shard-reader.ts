/**
 * Reads one shard from its checkpoint to its end, one batch at a time: get
 * records, hand them to the pipeline, and checkpoint the last one only once
 * the pipeline says they were delivered. The next GetRecords waits for that,
 * so a shard never holds more than one batch (the backpressure).
 *
 * Calls are spaced at least `pollIntervalMs` apart (Kinesis allows 5 reads a
 * second per shard). Throttling and outages are waited out with backoff, and
 * so are credentials being refreshed, CREDENTIALS_ATTEMPTS times in a row
 * before they end the read as `credentials_unavailable`; an expired iterator
 * is replaced by one right after the last delivered record; access denied or
 * a `fatal` pipeline verdict ends the read with a reason the stream consumer
 * acts on.
 */
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  type _Record as KinesisRecord,
} from '@aws-sdk/client-kinesis';
import { describeError } from '../../errors.ts';
import { sleep as defaultSleep } from '../../util/backoff.ts';
import { retry } from '../../util/retry.ts';
import { LeaseLostError } from '../checkpoints/store.ts';
import { classifyKinesisError } from './client.ts';
import { credentialsUnavailable, ShardDelivery, Stop, STOPPED, type ShardOutcome, type ShardReadOptions } from './shard-delivery.ts';

export interface ShardReaderOptions extends ShardReadOptions {
  client: KinesisClient;
  /** GetRecords Limit (default 1000). */
  limit?: number;
  /** Least time between two GetRecords on this shard (default 200 ms). */
  pollIntervalMs?: number;
}

export class ShardReader {
  readonly shardId: string;
  readonly #o: ShardReaderOptions;
  readonly #limit: number;
  readonly #pollIntervalMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  readonly #delivery: ShardDelivery;
  #lastReadAt = -Infinity;

  constructor(options: ShardReaderOptions) {
    this.#o = options;
    this.shardId = options.shardId;
    this.#limit = options.limit ?? 1000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 200;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#now = options.now ?? Date.now;
    this.#delivery = new ShardDelivery({ ...options, sleep: this.#sleep, now: this.#now });
  }

  /** Reads until the shard ends, the signal aborts, the lease is lost or the stream must stop. */
  async run(signal: AbortSignal): Promise<ShardOutcome> {
    try {
      this.#o.observer?.shardStarted?.(this.#o.stream.name, this.shardId);
      let iterator = await this.#iteratorAfterLastDelivered(signal);
      for (;;) {
        if (signal.aborted) return STOPPED;
        const page = await this.#getRecords(iterator, signal);
        if (page === 'expired') {
          iterator = await this.#iteratorAfterLastDelivered(signal);
          continue;
        }
        if (page.records.length > 0) await this.#delivery.deliver(page.records, signal);
        if (!page.next) {
          // Closed and read to its end: SHARD_END lets its children start.
          await this.#delivery.shardEnded(signal);
          return { status: 'ended' };
        }
        iterator = page.next;
      }
    } catch (error) {
      if (error instanceof Stop) return error.outcome;
      if (error instanceof LeaseLostError) return this.#leaseLost();
      if (signal.aborted) return STOPPED;
      throw error;
    }
  }

  /** Runs when the lease is gone: stop at once; whoever holds it now resumes from the last checkpoint. */
  #leaseLost(): ShardOutcome {
    this.#o.log.warn('shard lease lost; stopping its reader', { stream: this.#o.stream.name, shardId: this.shardId });
    return { status: 'lease_lost' };
  }

  async #getRecords(iterator: string, signal: AbortSignal): Promise<{ records: KinesisRecord[]; next: string | undefined } | 'expired'> {
    await this.#pace(signal);
    const out = await this.#call('GetRecords', signal, () =>
      this.#o.client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: this.#limit }), { abortSignal: signal }),
    );
    if (out === 'expired') return 'expired';
    if (out.MillisBehindLatest !== undefined) this.#o.observer?.millisBehindLatest?.(this.#o.stream.name, this.shardId, out.MillisBehindLatest);
    return { records: out.Records ?? [], next: out.NextShardIterator ?? undefined };
  }

  async #iteratorAfterLastDelivered(signal: AbortSignal): Promise<string> {
    const position = this.#delivery.nextPosition();
    const input: GetShardIteratorCommandInput = { ...this.#o.stream.params, ShardId: this.shardId, ShardIteratorType: position.Type };
    if (position.Type === 'AFTER_SEQUENCE_NUMBER') input.StartingSequenceNumber = position.SequenceNumber;
    if (position.Type === 'AT_TIMESTAMP') input.Timestamp = position.Timestamp;
    for (;;) {
      const out = await this.#call('GetShardIterator', signal, () => this.#o.client.send(new GetShardIteratorCommand(input), { abortSignal: signal }));
      if (out !== 'expired' && out.ShardIterator) return out.ShardIterator;
      if (out !== 'expired') throw new Stop({ status: 'ended' });
    }
  }

  /** One Kinesis call, retried with backoff while the failure is retryable; an expired iterator is `expired`, for the caller to resume. */
  async #call<T>(operation: string, signal: AbortSignal, send: () => Promise<T>): Promise<T | 'expired'> {
    const fields = (error: unknown) => ({ stream: this.#o.stream.name, shardId: this.shardId, operation, error: describeError(error) });
    try {
      return await retry(send, (error) => {
        if (signal.aborted) return { retry: false, error: new Stop(STOPPED) };
        const failure = classifyKinesisError(error);
        if (failure.kind === 'expired_iterator') return { retry: false, error: new IteratorExpired(error) };
        if (failure.kind === 'fatal') return { retry: false, error: new Stop({ status: 'fatal', reason: failure.reason, message: describeError(error) }) };
        return { retry: true, reason: failure.reason, credentials: failure.reason === 'credentials' };
      }, {
        signal,
        sleep: this.#sleep,
        ...(this.#o.retry ? { backoff: this.#o.retry } : {}),
        exhausted: (_budget, attempts, error) => new Stop(credentialsUnavailable(operation, attempts, error)),
        onRetry: (reason, failures, error) => {
          this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, operation, reason);
          if (reason === 'unexpected' || reason === 'credentials' || failures > 3) this.#o.log.warn(`${operation} failed; retrying`, { ...fields(error), attempt: failures - 1 });
        },
        aborted: () => new Stop(STOPPED),
      });
    } catch (error) {
      if (!(error instanceof IteratorExpired)) throw error;
      this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, operation, 'expired_iterator');
      this.#o.log.info('shard iterator expired; resuming after the last delivered record', { ...fields(error.cause), after: this.#delivery.lastDelivered });
      return 'expired';
    }
  }

  /** Keeps GetRecords calls on this shard at least `pollIntervalMs` apart. */
  async #pace(signal: AbortSignal): Promise<void> {
    const wait = this.#lastReadAt + this.#pollIntervalMs - this.#now();
    if (wait > 0) await this.#sleep(wait, signal).catch(() => {});
    if (signal.aborted) throw new Stop(STOPPED);
    this.#lastReadAt = this.#now();
  }
}

/** The iterator a call used has expired (Kinesis's 5 minutes): not a failure to retry, a position to resume from. */
class IteratorExpired extends Error {
  constructor(cause: unknown) {
    super('shard iterator expired', { cause });
  }
}
