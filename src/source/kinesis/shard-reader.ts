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
import type { BatchOutcome } from '../../pipeline.ts';
import { CREDENTIALS_ATTEMPTS } from '../../util/aws-errors.ts';
import { backoffDelay, sleep as defaultSleep, type BackoffOptions } from '../../util/backoff.ts';
import { classifyLeaseStoreError } from '../checkpoints/failures.ts';
import { LeaseLostError, SHARD_END, type LeaseCoordinator, type ShardEnd } from '../checkpoints/store.ts';
import type { SourceRecord } from '../record.ts';
import { classifyKinesisError, type StreamRef } from './client.ts';
import type { Limiter } from './limiter.ts';
import type { KinesisObserver, Logger } from './observer.ts';

/** The outcome of a call path whose credentials kept failing: no longer a blip, the stream stops and says so. */
export function credentialsUnavailable(operation: string, attempts: number, error: unknown): ShardOutcome & { status: 'fatal' } {
  return { status: 'fatal', reason: 'credentials_unavailable', message: `${operation}: the AWS credentials kept failing (${attempts} attempts in a row): ${describeError(error)}` };
}

/** Where a shard without a checkpoint starts. */
export type StartPosition = { type: 'trim_horizon' } | { type: 'latest' } | { type: 'at_timestamp'; timestamp: Date };

/** `trim_horizon` | `latest` | `at_timestamp:<ISO 8601>`. */
export function parseStartPosition(text: string): StartPosition {
  if (text === 'trim_horizon') return { type: 'trim_horizon' };
  if (text === 'latest') return { type: 'latest' };
  if (text.startsWith('at_timestamp:')) {
    const timestamp = new Date(text.slice('at_timestamp:'.length));
    if (!Number.isNaN(timestamp.getTime())) return { type: 'at_timestamp', timestamp };
  }
  throw new Error(`start position must be trim_horizon, latest or at_timestamp:<ISO 8601 time> (actual: "${text}")`);
}

/** What the shard reader needs of the pipeline. */
export interface BatchProcessor {
  process(records: readonly SourceRecord[], signal?: AbortSignal): Promise<BatchOutcome>;
}

export type ShardOutcome =
  | { status: 'ended' }
  | { status: 'stopped' }
  | { status: 'lease_lost' }
  | { status: 'fatal'; reason: string; message: string };

export interface ShardReaderOptions {
  client: KinesisClient;
  stream: StreamRef;
  shardId: string;
  /** Last delivered sequence number, from the lease. */
  checkpoint: string | null;
  pipeline: BatchProcessor;
  coordinator: LeaseCoordinator;
  startPosition: StartPosition;
  /** GetRecords Limit (default 1000). */
  limit?: number;
  /** Least time between two GetRecords on this shard (default 200 ms). */
  pollIntervalMs?: number;
  retry?: BackoffOptions;
  limiter?: Limiter;
  observer?: KinesisObserver;
  log: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

/** Ends a read from deep inside the loop, with its outcome. */
class Stop extends Error {
  readonly outcome: ShardOutcome;

  constructor(outcome: ShardOutcome) {
    super(outcome.status);
    this.outcome = outcome;
  }
}

// Clock skew allowance when an unread `latest` iterator must be recreated as a timestamp.
const LATEST_SKEW_MS = 5_000;

export class ShardReader {
  readonly shardId: string;
  readonly #o: ShardReaderOptions;
  readonly #limit: number;
  readonly #pollIntervalMs: number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #now: () => number;
  /** Last sequence number the pipeline delivered and the coordinator recorded. */
  #lastDelivered: string | null;
  /** When a `latest` iterator was first taken, so an expired one loses nothing. */
  #latestSince: number | undefined;
  #lastReadAt = -Infinity;

  constructor(options: ShardReaderOptions) {
    this.#o = options;
    this.shardId = options.shardId;
    this.#limit = options.limit ?? 1000;
    this.#pollIntervalMs = options.pollIntervalMs ?? 200;
    this.#sleep = options.sleep ?? defaultSleep;
    this.#now = options.now ?? Date.now;
    this.#lastDelivered = options.checkpoint;
  }

  /** Reads until the shard ends, the signal aborts, the lease is lost or the stream must stop. */
  async run(signal: AbortSignal): Promise<ShardOutcome> {
    try {
      let iterator = await this.#initialize(signal);
      for (;;) {
        if (signal.aborted) return this.#shutdownRequested();
        const page = await this.#getRecords(iterator, signal);
        if (page === 'expired') {
          iterator = await this.#iteratorAfterLastDelivered(signal);
          continue;
        }
        if (page.records.length > 0) await this.#processRecords(page.records, signal);
        if (!page.next) return await this.#shardEnded(signal);
        iterator = page.next;
      }
    } catch (error) {
      if (error instanceof Stop) return error.outcome;
      if (error instanceof LeaseLostError) return this.#leaseLost();
      if (signal.aborted) return this.#shutdownRequested();
      throw error;
    }
  }

  /** Runs once before the first read: an iterator right after the checkpoint, else at the start position. */
  async #initialize(signal: AbortSignal): Promise<string> {
    this.#o.observer?.shardStarted?.(this.#o.stream.name, this.shardId);
    return this.#iteratorAfterLastDelivered(signal);
  }

  /** Runs for each non-empty batch: deliver through the pipeline, then checkpoint its last record. */
  async #processRecords(records: readonly KinesisRecord[], signal: AbortSignal): Promise<void> {
    const batch = records.map((r) => this.#toSourceRecord(r));
    const last = batch[batch.length - 1]!.sequenceNumber;
    this.#o.observer?.recordsRead?.(this.#o.stream.name, this.shardId, batch.length);
    const deliverAndCheckpoint = async () => {
      let outcome: BatchOutcome;
      try {
        outcome = await this.#o.pipeline.process(batch, signal);
      } catch (error) {
        throw new Stop({ status: 'fatal', reason: 'internal_error', message: `pipeline threw: ${describeError(error)}` });
      }
      if (outcome.status === 'aborted') throw new Stop(this.#shutdownRequested());
      if (outcome.status === 'fatal') throw new Stop({ status: 'fatal', reason: outcome.reason, message: outcome.message });
      await this.#checkpoint(last, signal);
      this.#lastDelivered = last;
    };
    // A batch and its checkpoint hold one slot together: at most one delivered-but-unrecorded batch per slot.
    if (this.#o.limiter) await this.#o.limiter.run(deliverAndCheckpoint, signal);
    else await deliverAndCheckpoint();
  }

  /** Runs when the lease is gone: stop at once; whoever holds it now resumes from the last checkpoint. */
  #leaseLost(): ShardOutcome {
    this.#o.log.warn('shard lease lost; stopping its reader', { stream: this.#o.stream.name, shardId: this.shardId });
    return { status: 'lease_lost' };
  }

  /** Runs when the shard is closed and read to its end: must checkpoint SHARD_END so its children can start. */
  async #shardEnded(signal: AbortSignal): Promise<ShardOutcome> {
    await this.#checkpoint(SHARD_END, signal);
    return { status: 'ended' };
  }

  /** Runs when shutdown was requested: nothing undelivered was checkpointed, so just stop. */
  #shutdownRequested(): ShardOutcome {
    return { status: 'stopped' };
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
    const input: GetShardIteratorCommandInput = { ...this.#o.stream.params, ShardId: this.shardId, ShardIteratorType: 'TRIM_HORIZON' };
    const start = this.#o.startPosition;
    if (this.#lastDelivered !== null) {
      input.ShardIteratorType = 'AFTER_SEQUENCE_NUMBER';
      input.StartingSequenceNumber = this.#lastDelivered;
    } else if (start.type === 'at_timestamp') {
      input.ShardIteratorType = 'AT_TIMESTAMP';
      input.Timestamp = start.timestamp;
    } else if (start.type === 'latest' && this.#latestSince === undefined) {
      input.ShardIteratorType = 'LATEST';
      this.#latestSince = this.#now();
    } else if (start.type === 'latest') {
      // A fresh LATEST would skip what arrived since the first one; nothing was delivered, so start from then.
      input.ShardIteratorType = 'AT_TIMESTAMP';
      input.Timestamp = new Date(this.#latestSince! - LATEST_SKEW_MS);
    }
    for (;;) {
      const out = await this.#call('GetShardIterator', signal, () => this.#o.client.send(new GetShardIteratorCommand(input), { abortSignal: signal }));
      if (out !== 'expired' && out.ShardIterator) return out.ShardIterator;
      if (out !== 'expired') throw new Stop({ status: 'ended' });
    }
  }

  /** One Kinesis call, retried with backoff while the failure is retryable. */
  async #call<T>(operation: string, signal: AbortSignal, send: () => Promise<T>): Promise<T | 'expired'> {
    let credentialFailures = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        return await send();
      } catch (error) {
        if (signal.aborted) throw new Stop(this.#shutdownRequested());
        const failure = classifyKinesisError(error);
        const fields = { stream: this.#o.stream.name, shardId: this.shardId, operation, error: describeError(error) };
        if (failure.kind === 'expired_iterator') {
          this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, operation, 'expired_iterator');
          this.#o.log.info('shard iterator expired; resuming after the last delivered record', { ...fields, after: this.#lastDelivered });
          return 'expired';
        }
        if (failure.kind === 'fatal') throw new Stop({ status: 'fatal', reason: failure.reason, message: describeError(error) });
        credentialFailures = failure.reason === 'credentials' ? credentialFailures + 1 : 0;
        if (credentialFailures >= CREDENTIALS_ATTEMPTS) throw new Stop(credentialsUnavailable(operation, credentialFailures, error));
        this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, operation, failure.reason);
        if (failure.reason === 'unexpected' || failure.reason === 'credentials' || attempt >= 3) this.#o.log.warn(`${operation} failed; retrying`, { ...fields, attempt });
        await this.#sleep(backoffDelay(attempt, this.#o.retry), signal).catch(() => {});
      }
    }
  }

  /** Records the position durably, retrying a failed write: the batch stays unacknowledged until it succeeds. */
  async #checkpoint(position: string | ShardEnd, signal: AbortSignal): Promise<void> {
    let credentialFailures = 0;
    for (let attempt = 0; ; attempt++) {
      try {
        await this.#o.coordinator.checkpoint(this.#o.stream.name, this.shardId, position);
        this.#o.observer?.checkpointed?.(this.#o.stream.name, this.shardId, position);
        return;
      } catch (error) {
        if (error instanceof LeaseLostError) throw error;
        const failure = classifyLeaseStoreError(error);
        if (failure.kind === 'fatal') throw new Stop({ status: 'fatal', reason: failure.reason, message: `checkpoint write failed: ${describeError(error)}` });
        credentialFailures = failure.reason === 'credentials' ? credentialFailures + 1 : 0;
        if (credentialFailures >= CREDENTIALS_ATTEMPTS) throw new Stop(credentialsUnavailable('checkpoint', credentialFailures, error));
        this.#o.observer?.retrying?.(this.#o.stream.name, this.shardId, 'checkpoint', failure.reason);
        this.#o.log.warn('checkpoint write failed; retrying', { stream: this.#o.stream.name, shardId: this.shardId, error: describeError(error) });
        // Delivered but unrecorded: on shutdown it is simply read again, a duplicate and never a loss.
        if (signal.aborted) throw new Stop(this.#shutdownRequested());
        await this.#sleep(backoffDelay(attempt, this.#o.retry), signal).catch(() => {});
      }
    }
  }

  /** Keeps GetRecords calls on this shard at least `pollIntervalMs` apart. */
  async #pace(signal: AbortSignal): Promise<void> {
    const wait = this.#lastReadAt + this.#pollIntervalMs - this.#now();
    if (wait > 0) await this.#sleep(wait, signal).catch(() => {});
    if (signal.aborted) throw new Stop(this.#shutdownRequested());
    this.#lastReadAt = this.#now();
  }

  #toSourceRecord(r: KinesisRecord): SourceRecord {
    const record: SourceRecord = {
      stream: this.#o.stream.name,
      shardId: this.shardId,
      sequenceNumber: r.SequenceNumber!,
      data: r.Data ?? new Uint8Array(),
    };
    if (r.ApproximateArrivalTimestamp) record.approximateArrivalTimestamp = r.ApproximateArrivalTimestamp;
    return record;
  }
}
