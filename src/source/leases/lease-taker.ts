/**
 * Which leases a worker should take this round, decided from one consistent
 * view of the table: KCL's DynamoDBLeaseTaker rule, as a pure function.
 *
 * - Workers are the distinct owners of leases that are not expired, plus this
 *   one; the target is ceil(leases / workers).
 * - Below target, take available leases first: unowned, expired (its counter
 *   did not move for the failover time on this worker's clock), or recorded
 *   as ours while we do not hold it (a lease we lost track of).
 * - With nothing available, steal one lease per round from the most loaded
 *   worker, when it holds more than the target (or exactly the target while
 *   we need more than one: otherwise 2,2,0 would never move).
 */
import type { LeaseItem } from './lease-table.ts';
import { shuffled } from '../../util/shuffle.ts';

export interface TakerView {
  workerId: string;
  /** Leases that could be read now: not ended, parents ended. */
  eligible: readonly LeaseItem[];
  /** Shard ids this worker holds and keeps renewing. */
  held: ReadonlySet<string>;
  isExpired(lease: LeaseItem): boolean;
  /** Order of candidates; KCL shuffles so that workers do not all race for the same lease. */
  shuffle?<T>(items: T[]): T[];
}

export interface TakerDecision {
  take: LeaseItem[];
  /** Set when `take` is one lease stolen from a live worker. */
  stealFrom?: string;
  target: number;
}

export function chooseLeasesToTake(view: TakerView): TakerDecision {
  const shuffle = view.shuffle ?? shuffled;
  const counts = new Map<string, number>([[view.workerId, 0]]);
  for (const lease of view.eligible) {
    if (view.held.has(lease.shardId)) counts.set(view.workerId, counts.get(view.workerId)! + 1);
    else if (lease.leaseOwner !== null && lease.leaseOwner !== view.workerId && !view.isExpired(lease)) {
      counts.set(lease.leaseOwner, (counts.get(lease.leaseOwner) ?? 0) + 1);
    }
  }
  const target = Math.ceil(view.eligible.length / counts.size);
  const needed = target - counts.get(view.workerId)!;
  if (needed <= 0) return { take: [], target };

  const available = view.eligible.filter(
    (lease) => !view.held.has(lease.shardId) && (lease.leaseOwner === null || lease.leaseOwner === view.workerId || view.isExpired(lease)),
  );
  if (available.length > 0) return { take: shuffle([...available]).slice(0, needed), target };

  let busiest: [string, number] | undefined;
  for (const entry of counts) if (entry[0] !== view.workerId && (!busiest || entry[1] > busiest[1])) busiest = entry;
  if (!busiest || !(busiest[1] > target || (busiest[1] === target && needed > 1))) return { take: [], target };
  const victim = shuffle(view.eligible.filter((lease) => lease.leaseOwner === busiest[0]))[0];
  return victim ? { take: [victim], stealFrom: busiest[0], target } : { take: [], target };
}
