/**
 * Moves the leases das-exporter wrote before it used KCL's key form
 * (leaseKey `<stream>:<shard id>`, `streamName` the bare stream name) to the
 * form the coordinator uses now, in place, when a worker starts.
 *
 * Each lease moves in two conditional writes: the new item is put only where
 * no item has its key, then the old one is deleted only if its counter did
 * not move since it was read. Interrupted between the two, both items are
 * there and the next start finishes the move: the new item takes the old
 * one's checkpoint where it is further, and the old one is deleted. Two
 * workers starting at once race on the same conditions, so a lease moves
 * once, and no position is lost or moved back. A worker still running the
 * previous version finds its old item gone at its next renewal or
 * checkpoint (the counter condition fails) and stops reading the shard; its
 * last checkpoint was carried over.
 */
import { compareCheckpoints } from '../checkpoints/store.ts';
import type { Logger } from '../kinesis/observer.ts';
import { INITIAL_POSITIONS, leaseKeyOf, type LeaseItem, type LeaseScope, type LeaseTable, type StoredLease } from './lease-table.ts';

/** Conditional writes refused in a row before a lease is left for the next start (another writer keeps moving it). */
const ATTEMPTS = 5;

/** Moves every lease of `stream` in the previous form to `scope`; answers how many moved. */
export async function migratePreviousLeases(table: LeaseTable, stream: string, scope: LeaseScope, stored: readonly StoredLease[], log: Logger): Promise<number> {
  const previous = stored.flatMap((lease) => (lease.form === 'previous' && lease.stream === stream ? [lease.item] : []));
  const shards = new Set(previous.map((item) => item.shardId));
  let moved = 0;
  for (const item of previous) {
    if (await moveLease(table, scope, item, item.parentShardIds.some((parent) => shards.has(parent)))) moved++;
    else log.warn('lease not moved to the KCL key form: it kept changing; the next start moves it', { stream, shardId: item.shardId, leaseKey: item.leaseKey });
  }
  return moved;
}

/**
 * One lease. A lease never read yet whose parent has a lease was started by
 * the previous version at TRIM_HORIZON (it started a child of a parent still
 * on the stream there): its new item says so, as the coordinator now writes it.
 */
async function moveLease(table: LeaseTable, scope: LeaseScope, old: LeaseItem, hasParentLease: boolean): Promise<boolean> {
  const newKey = leaseKeyOf(scope, old.shardId);
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const neverRead = INITIAL_POSITIONS.includes(old.checkpoint);
    const put = await table.putNew(scope, {
      shardId: old.shardId,
      leaseOwner: old.leaseOwner,
      leaseCounter: old.leaseCounter,
      checkpoint: neverRead && hasParentLease ? 'TRIM_HORIZON' : old.checkpoint,
      checkpointSubSequenceNumber: old.checkpointSubSequenceNumber,
      ownerSwitchesSinceCheckpoint: old.ownerSwitchesSinceCheckpoint,
      parentShardIds: old.parentShardIds,
      childShardIds: old.childShardIds,
      hashKeyRange: old.hashKeyRange,
    });
    if (!put) {
      // Moved before (an interrupted start, or another worker now): keep whichever checkpoint is further.
      const current = await table.get(newKey);
      if (!current) continue;
      if (compareCheckpoints(progressOf(old.checkpoint), progressOf(current.checkpoint)) > 0) {
        const carried = await table.moveCheckpoint(current, old.checkpoint, old.checkpointSubSequenceNumber);
        if (!carried) continue;
      }
    }
    if (await table.deleteIfUnchanged(old)) return true;
    const now = await table.get(old.leaseKey);
    // Another worker finished the move.
    if (!now) return true;
    // A worker of the previous version moved it on since: carry its new position over.
    old = now;
  }
  return false;
}

/** A checkpoint as compareCheckpoints orders it: a sentinel of a lease never read is no progress. */
function progressOf(checkpoint: string): string | null {
  return INITIAL_POSITIONS.includes(checkpoint) ? null : checkpoint;
}
