/**
 * Kinesis-side faults for enhanced fan-out, injected by the kinesis-local
 * test front (`test/support/kinesis-local.ts`) into the subscriptions it
 * forwards to the emulator: the HTTP/2 counterpart of the fault proxy, which
 * speaks HTTP/1.1 only. Each fault is what Kinesis documents or what the
 * network does to a long-lived HTTP/2 stream:
 *
 * - `resource_in_use`: SubscribeToShard refused with 400
 *   `ResourceInUseException` (a subscription of this consumer to this shard is
 *   still active), before any event;
 * - `limit_exceeded`: refused with 400 `LimitExceededException` (more than one
 *   call a second per consumer and shard);
 * - `internal_failure`: mid-stream, an event-stream `exception` message
 *   `InternalFailureException`, and the stream ends;
 * - `stream_reset`: mid-stream, half of the next event's bytes, then
 *   RST_STREAM(INTERNAL_ERROR) on that stream alone;
 * - `connection_reset`: mid-stream, half of the next event's bytes, then the
 *   TCP connection reset (RST), every stream on it gone;
 * - `ended_early`: mid-stream, the stream ends cleanly long before its 5
 *   minutes (an evicted subscription, or a proxy closing it).
 *
 * The mid-stream ones strike after a seeded number (1–3) of events that
 * carried records, at the next message the emulator pushes, so the exporter
 * is cut between events it has handled and one it has only partly received.
 * Faults are taken in the order they were scheduled, one per subscription;
 * after them every subscription passes untouched. Every SubscribeToShard call
 * is recorded, so a test can check where each resubscription started and how
 * often the exporter called. Faults and the benchmark's pacing (paceMs) are
 * not meant to be combined: a cut is written past what pacing holds back.
 */
export const SUBSCRIPTION_FAULTS = ['resource_in_use', 'limit_exceeded', 'internal_failure', 'stream_reset', 'connection_reset', 'ended_early'] as const;
export type SubscriptionFault = (typeof SUBSCRIPTION_FAULTS)[number];

/** Refusals answer the call itself; the others cut a running subscription. */
export type FaultPlan =
  | { fault: 'resource_in_use' | 'limit_exceeded'; refuse: string }
  | { fault: Exclude<SubscriptionFault, 'resource_in_use' | 'limit_exceeded'>; afterEvents: number };

export interface SubscribeCall {
  /** When the call's stream reached the front. */
  at: number;
  ShardId: string;
  StartingPosition: { Type: string; SequenceNumber?: string };
  /** The fault planned for it; one whose subscription ended before it could strike passes on to the next call. */
  fault?: SubscriptionFault;
}

const REFUSALS = { resource_in_use: 'ResourceInUseException', limit_exceeded: 'LimitExceededException' } as const;

export class SubscriptionFaults {
  readonly calls: SubscribeCall[] = [];
  /** Faults that struck, per kind (a mid-stream one counts once it has cut its subscription). */
  readonly injected: Partial<Record<SubscriptionFault, number>> = {};
  #queue: FaultPlan[] = [];

  /** Queues `faults` for the next subscriptions, one each, in this order; mid-stream ones strike after 1–3 events with records. */
  schedule(faults: readonly SubscriptionFault[], random: () => number): void {
    for (const fault of faults) {
      if (fault === 'resource_in_use' || fault === 'limit_exceeded') this.#queue.push({ fault, refuse: REFUSALS[fault] });
      else this.#queue.push({ fault, afterEvents: 1 + Math.floor(random() * 3) });
    }
  }

  /** Called by the front for every SubscribeToShard (`at`: when its stream arrived): the fault this subscription gets, if any. */
  take(input: { ShardId: string; StartingPosition: { Type: string; SequenceNumber?: string } }, at: number = Date.now()): FaultPlan | undefined {
    const plan = this.#queue.shift();
    this.calls.push({ at, ShardId: input.ShardId, StartingPosition: input.StartingPosition, ...(plan ? { fault: plan.fault } : {}) });
    if (plan && 'refuse' in plan) this.struck(plan.fault);
    return plan;
  }

  /** A fault whose subscription the emulator refused before it started: the next subscription gets it. */
  putBack(plan: FaultPlan): void {
    this.#queue.unshift(plan);
  }

  struck(fault: SubscriptionFault): void {
    this.injected[fault] = (this.injected[fault] ?? 0) + 1;
  }
}
