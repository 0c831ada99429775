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
 * - reads the shards `acquire` hands it, and stops reading any it no longer
 *   hands out (the lease moved elsewhere),
 * - checkpoints a sequence number only after the pipeline delivered it, and
 *   `SHARD_END` once a closed shard was read to its end.
 */

/** Checkpoint value of a shard read to its end: its children may be read. */
export const SHARD_END = 'SHARD_END';
export type ShardEnd = typeof SHARD_END;

/** A shard as discovered on the stream. */
export interface ShardInfo {
  shardId: string;
  /** ParentShardId and AdjacentParentShardId (a merge has two), when the shard came from a reshard. */
  parentShardIds: readonly string[];
}

/** A shard this worker may read now, and where to resume. */
export interface ShardLease {
  shardId: string;
  /** Last delivered sequence number; null when nothing was delivered yet (start at the configured position). */
  checkpoint: string | null;
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
  /** Runs after each shard discovery: remembers new shards and their parents. Never forgets a shard with a checkpoint. */
  syncShards(stream: string, shards: readonly ShardInfo[]): Promise<void>;
  /**
   * The shards this worker should be reading now: held by it, not ended, and
   * whose every parent is ended (or unknown: aged out of the stream's retention).
   */
  acquire(stream: string): Promise<readonly ShardLease[]>;
  /** Durably records that everything up to `position` was delivered. Throws LeaseLostError when the lease is gone. */
  checkpoint(stream: string, shardId: string, position: string | ShardEnd): Promise<void>;
  /** This worker stops reading the shard (shutdown, or the stream stopped); its checkpoint stays. */
  release(stream: string, shardId: string): Promise<void>;
  /** Runs last: flush what is pending and give up ownership. */
  shutdown(): Promise<void>;
}
