/**
 * What is remembered about each shard, and who may read it: the contract
 * between the Kinesis consumer and whatever keeps its checkpoints.
 *
 * It is shaped after KCL leases so that a DynamoDB lease table (leaseKey =
 * shardId, leaseOwner, leaseCounter, checkpoint, checkpointSubSequenceNumber,
 * ownerSwitchesSinceCheckpoint, parentShardId) can implement it for several
 * workers, while the embedded default (file-store.ts) is one process owning
 * whole streams. The consumer only ever:
 * - tells the coordinator which shards exist (`syncShards`),
 * - reads the shards `acquire` hands it, from their checkpoint, else from
 *   where the lease says (the configured position, or TRIM_HORIZON for a
 *   shard born of a reshard while the stream was read), and stops reading
 *   any it no longer hands out (the lease moved elsewhere),
 * - checkpoints a sequence number only after the pipeline delivered it, and
 *   `SHARD_END` once a closed shard was read to its end.
 */

/** Checkpoint value of a shard read to its end: its children may be read. */
export const SHARD_END = 'SHARD_END';
export type ShardEnd = typeof SHARD_END;

/** The range of partition-key hashes a shard takes, as decimal strings (they reach 2^128 - 1). */
export interface HashKeyRange {
  startingHashKey: string;
  endingHashKey: string;
}

/** A shard as discovered on the stream. */
export interface ShardInfo {
  shardId: string;
  /** ParentShardId and AdjacentParentShardId (a merge has two), when the shard came from a reshard. */
  parentShardIds: readonly string[];
  /** As ListShards gives it; kept in the lease where the store is KCL's table. */
  hashKeyRange?: HashKeyRange;
}

/** A shard this worker may read now, and where to resume. */
export interface ShardLease {
  shardId: string;
  /** Last delivered sequence number; null when nothing was delivered yet (start at the configured position). */
  checkpoint: string | null;
  /**
   * Set when the shard was born of a reshard while the stream was being
   * read: with no checkpoint it starts at TRIM_HORIZON, whatever the
   * configured position, since everything in it was written after reading
   * began. Unset for the shards the stream already had when its store first
   * saw it, which start at the configured position even when their parent
   * is still on the stream.
   */
  fromTrimHorizon?: true;
}

/**
 * Which of the shards a store sees for the first time were born of a
 * reshard while the stream was being read: a shard with a parent the store
 * already knew, or with a parent that is itself such a shard (two reshards
 * between discoveries). A store seeing the stream for the first time knows
 * no parent, so every shard it sees then existed when reading began. This
 * is the rule KCL's shard syncer follows: a shard whose ancestor has a lease
 * starts at TRIM_HORIZON, any other at the initial position.
 */
export function bornWhileRead(shards: readonly ShardInfo[], known: (shardId: string) => boolean): Set<string> {
  const born = new Set<string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const shard of shards) {
      if (known(shard.shardId) || born.has(shard.shardId)) continue;
      if (shard.parentShardIds.some((parent) => known(parent) || born.has(parent))) {
        born.add(shard.shardId);
        grew = true;
      }
    }
  }
  return born;
}

/** The lease is no longer this worker's (taken over, or the stream released): stop reading the shard, do not retry. */
export class LeaseLostError extends Error {
  readonly stream: string;
  readonly shardId: string;

  constructor(stream: string, shardId: string, message = `lease on ${stream}/${shardId} is no longer held by this worker`) {
    super(message);
    this.name = 'LeaseLostError';
    this.stream = stream;
    this.shardId = shardId;
  }
}

/**
 * A checkpoint behind the stored one was refused, and the stored one left as
 * it was: its writer is stale (another reader of the shard got further, or it
 * replayed an older position). A LeaseLostError, so the shard's reader stops
 * without retrying; the shard is read again from the stored checkpoint.
 */
export class CheckpointRegressionError extends LeaseLostError {
  /** The checkpoint kept: a sequence number or SHARD_END. */
  readonly stored: string;
  readonly attempted: string;

  constructor(stream: string, shardId: string, stored: string, attempted: string) {
    super(stream, shardId, `checkpoint of ${stream}/${shardId} at ${attempted} refused: the stored checkpoint is already ${stored}, and checkpoints only move forward`);
    this.name = 'CheckpointRegressionError';
    this.stored = stored;
    this.attempted = attempted;
  }
}

/** Whether `position` is a checkpoint value: a Kinesis sequence number (decimal digits) or SHARD_END. */
export function isCheckpointPosition(position: string): boolean {
  return position === SHARD_END || /^\d+$/.test(position);
}

/**
 * Orders checkpoints: nothing delivered (null) < any sequence number <
 * SHARD_END. Sequence numbers are decimal strings of up to 129 digits, far
 * past 2^53: compared as BigInt, never as Number (which calls neighbours equal).
 */
export function compareCheckpoints(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null || b === SHARD_END) return -1;
  if (b === null || a === SHARD_END) return 1;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Another live process owns the stream's state: this one must not read it. */
export class StreamOwnedError extends Error {
  readonly stream: string;

  constructor(stream: string, message: string) {
    super(message);
    this.name = 'StreamOwnedError';
    this.stream = stream;
  }
}

export interface LeaseCoordinator {
  /** Runs once before any other call: take ownership of the streams' state (throws StreamOwnedError when another worker holds it). */
  initialize(streams: readonly string[]): Promise<void>;
  /**
   * Runs after each shard discovery: remembers new shards, their parents, and
   * whether each was born while the stream was read (bornWhileRead). Never
   * forgets a shard with a checkpoint.
   */
  syncShards(stream: string, shards: readonly ShardInfo[]): Promise<void>;
  /**
   * The shards this worker should be reading now: held by it, not ended, and
   * whose every parent is ended (or unknown: aged out of the stream's retention).
   */
  acquire(stream: string): Promise<readonly ShardLease[]>;
  /**
   * Whether this worker holds the shard as far as it knows, without asking
   * the store: true exactly when a checkpoint would be attempted rather than
   * refused with LeaseLostError (so false once a renewal, a checkpoint or a
   * look at the store found the lease another's, after renewals failed for
   * the failover time, after SHARD_END, release or shutdown, and for a shard
   * it never had). A reader asks before each delivery, so a reader whose
   * lease was taken delivers nothing more (its next owner does), even before
   * discovery stops it.
   */
  holds(stream: string, shardId: string): boolean;
  /** Durably records that everything up to `position` was delivered. Throws LeaseLostError when the lease is gone. */
  checkpoint(stream: string, shardId: string, position: string | ShardEnd): Promise<void>;
  /** This worker stops reading the shard (shutdown, or the stream stopped); its checkpoint stays. */
  release(stream: string, shardId: string): Promise<void>;
  /** Runs last: flush what is pending and give up ownership. */
  shutdown(): Promise<void>;
}
