/**
 * What every way of reading a shard shares, polling (GetRecords) or enhanced
 * fan-out (SubscribeToShard): hand a batch to the pipeline, checkpoint its
 * last record only once the pipeline says it was delivered, retry a failed
 * checkpoint write, and know where to read from next (right after the last
 * delivered record, else the configured start position). A reader only
 * decides how records arrive; what happens to them is decided here, once.
 */
import type { _Record as KinesisRecord } from '@aws-sdk/client-kinesis';
import { describeError } from '../../errors.ts';
import type { BatchOutcome } from '../../pipeline.ts';
import type { BackoffOptions } from '../../util/backoff.ts';
import { retry } from '../../util/retry.ts';
import { classifyLeaseStoreError } from '../checkpoints/failures.ts';
import { LeaseLostError, SHARD_END, type LeaseCoordinator, type ShardEnd } from '../checkpoints/store.ts';
import type { SourceRecord } from '../record.ts';
import type { StreamRef } from './client.ts';
import type { Limiter } from './limiter.ts';
import type { KinesisObserver, Logger } from './observer.ts';

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

/** What a shard reader needs of the pipeline. */
export interface BatchProcessor {
  process(records: readonly SourceRecord[], signal?: AbortSignal): Promise<BatchOutcome>;
}

export type ShardOutcome =
  | { status: 'ended' }
  | { status: 'stopped' }
  | { status: 'lease_lost' }
  | { status: 'fatal'; reason: string; message: string };

/** Ends a read from deep inside its loop, with its outcome. */
export class Stop extends Error {
  readonly outcome: ShardOutcome;

  constructor(outcome: ShardOutcome) {
    super(outcome.status);
    this.outcome = outcome;
  }
}

export const STOPPED: ShardOutcome = { status: 'stopped' };

/** The outcome of a call path whose credentials kept failing: no longer a blip, the stream stops and says so. */
export function credentialsUnavailable(operation: string, attempts: number, error: unknown): ShardOutcome & { status: 'fatal' } {
  return { status: 'fatal', reason: 'credentials_unavailable', message: `${operation}: the AWS credentials kept failing (${attempts} attempts in a row): ${describeError(error)}` };
}

/**
 * Where to read next, in the terms both APIs share (GetShardIterator's
 * ShardIteratorType, SubscribeToShard's StartingPosition.Type).
 */
export type ReadPosition =
  | { Type: 'AFTER_SEQUENCE_NUMBER'; SequenceNumber: string }
  | { Type: 'TRIM_HORIZON' }
  | { Type: 'LATEST' }
  | { Type: 'AT_TIMESTAMP'; Timestamp: Date };

// Clock skew allowance when an unread `latest` position must be taken again as a timestamp.
const LATEST_SKEW_MS = 5_000;

/** What every shard reader is given, whichever way it reads. */
export interface ShardReadOptions {
  stream: StreamRef;
  shardId: string;
  /** Last delivered sequence number, from the lease. */
  checkpoint: string | null;
  pipeline: BatchProcessor;
  coordinator: LeaseCoordinator;
  startPosition: StartPosition;
  retry?: BackoffOptions;
  limiter?: Limiter;
  observer?: KinesisObserver;
  log: Logger;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  now?: () => number;
}

export type ShardDeliveryOptions = ShardReadOptions & Required<Pick<ShardReadOptions, 'sleep' | 'now'>>;

export class ShardDelivery {
  readonly #o: ShardDeliveryOptions;
  /** Last sequence number the pipeline delivered and the coordinator recorded. */
  #lastDelivered: string | null;
  /** When a `latest` position was first taken, so a second read from it loses nothing. */
  #latestSince: number | undefined;

  constructor(options: ShardDeliveryOptions) {
    this.#o = options;
    this.#lastDelivered = options.checkpoint;
  }

  get lastDelivered(): string | null {
    return this.#lastDelivered;
  }

  /**
   * Right after the last delivered record, else the start position. A
   * `latest` taken again before anything was delivered becomes the time it
   * was first taken: a fresh LATEST would skip what arrived in between.
   */
  nextPosition(): ReadPosition {
    if (this.#lastDelivered !== null) return { Type: 'AFTER_SEQUENCE_NUMBER', SequenceNumber: this.#lastDelivered };
    const start = this.#o.startPosition;
    if (start.type === 'at_timestamp') return { Type: 'AT_TIMESTAMP', Timestamp: start.timestamp };
    if (start.type === 'latest' && this.#latestSince === undefined) {
      this.#latestSince = this.#o.now();
      return { Type: 'LATEST' };
    }
    if (start.type === 'latest') return { Type: 'AT_TIMESTAMP', Timestamp: new Date(this.#latestSince! - LATEST_SKEW_MS) };
    return { Type: 'TRIM_HORIZON' };
  }

  /** Delivers a non-empty batch through the pipeline, then checkpoints its last record. */
  async deliver(records: readonly KinesisRecord[], signal: AbortSignal): Promise<void> {
    const batch = records.map((r) => this.#toSourceRecord(r));
    const last = batch[batch.length - 1]!.sequenceNumber;
    this.#o.observer?.recordsRead?.(this.#o.stream.name, this.#o.shardId, batch.length);
    const deliverAndCheckpoint = async () => {
      // Checked once the batch has its slot, right before it goes out. Stopped meanwhile (shutdown, or
      // discovery found the lease gone): whoever reads the shard next delivers these records.
      if (signal.aborted) throw new Stop(STOPPED);
      // Taken by another worker, as a renewal or a look at the table found: it reads these from the last
      // checkpoint, so delivering them here would only duplicate them.
      if (!this.#o.coordinator.holds(this.#o.stream.name, this.#o.shardId)) throw new LeaseLostError(this.#o.stream.name, this.#o.shardId);
      let outcome: BatchOutcome;
      try {
        outcome = await this.#o.pipeline.process(batch, signal);
      } catch (error) {
        throw new Stop({ status: 'fatal', reason: 'internal_error', message: `pipeline threw: ${describeError(error)}` });
      }
      if (outcome.status === 'aborted') throw new Stop(STOPPED);
      if (outcome.status === 'fatal') throw new Stop({ status: 'fatal', reason: outcome.reason, message: outcome.message });
      await this.checkpoint(last, signal);
      this.#lastDelivered = last;
    };
    // A batch and its checkpoint hold one slot together: at most one delivered-but-unrecorded batch per slot.
    if (this.#o.limiter) await this.#o.limiter.run(deliverAndCheckpoint, signal);
    else await deliverAndCheckpoint();
  }

  /** Records the position durably, retrying a failed write: the batch stays unacknowledged until it succeeds. */
  async checkpoint(position: string | ShardEnd, signal: AbortSignal): Promise<void> {
    const { stream, shardId } = this.#o;
    await retry(
      () => this.#o.coordinator.checkpoint(stream.name, shardId, position),
      (error) => {
        if (error instanceof LeaseLostError) return { retry: false, error };
        const failure = classifyLeaseStoreError(error);
        if (failure.kind === 'fatal') return { retry: false, error: new Stop({ status: 'fatal', reason: failure.reason, message: `checkpoint write failed: ${describeError(error)}` }) };
        return { retry: true, reason: failure.reason, credentials: failure.reason === 'credentials' };
      },
      {
        signal,
        sleep: this.#o.sleep,
        ...(this.#o.retry ? { backoff: this.#o.retry } : {}),
        exhausted: (_budget, attempts, error) => new Stop(credentialsUnavailable('checkpoint', attempts, error)),
        onRetry: (reason, _failures, error) => {
          this.#o.observer?.retrying?.(stream.name, shardId, 'checkpoint', reason);
          this.#o.log.warn('checkpoint write failed; retrying', { stream: stream.name, shardId, error: describeError(error) });
        },
        // Delivered but unrecorded: on shutdown it is simply read again, a duplicate and never a loss.
        aborted: () => new Stop(STOPPED),
      },
    );
    this.#o.observer?.checkpointed?.(stream.name, shardId, position);
  }

  /** The closed shard was read to its end: SHARD_END lets its children start. */
  shardEnded(signal: AbortSignal): Promise<void> {
    return this.checkpoint(SHARD_END, signal);
  }

  #toSourceRecord(r: KinesisRecord): SourceRecord {
    const record: SourceRecord = {
      stream: this.#o.stream.name,
      shardId: this.#o.shardId,
      sequenceNumber: r.SequenceNumber!,
      data: r.Data ?? new Uint8Array(),
    };
    if (r.ApproximateArrivalTimestamp) record.approximateArrivalTimestamp = r.ApproximateArrivalTimestamp;
    return record;
  }
}
