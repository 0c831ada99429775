/**
 * Where decoded events go, and how a destination says what became of them.
 *
 * A `Sink` answers every write with a value, never an exception, for the
 * outcomes it expects: everything delivered, some events rejected for good
 * (the backend said why), or "try again later". Retrying, fanning out and
 * dead-lettering are separate wrappers (see retry.ts, fanout.ts), and only the
 * pipeline decides what moves a checkpoint.
 */
import type { PermanentReason } from '../errors.ts';
import type { ActivityEvent, Heartbeat } from '../events/model.ts';
import type { PolicyOutcome } from '../events/model.ts';
import type { PrepareStepName, PreparedBatch } from './prepared.ts';

export type { PreparedBatch } from './prepared.ts';

export interface SinkBatch {
  /** The events, in shard order. With `prepared`, they are decoded again on first read: a sink with a prepared form reads that instead. */
  readonly events: readonly ActivityEvent[];
  readonly heartbeats: readonly Heartbeat[];
  /** The sinks' prepare steps, run where the records were opened (worker threads), for each sink to find its own (`preparedBy`). */
  readonly prepared?: PreparedBatch;
  /** Without `prepared`: what the audit policy dropped and matched in these records (with it, each tally says). */
  readonly policy?: PolicyOutcome;
}

/** The number of events in a batch, without decoding prepared events again. */
export function eventCount(batch: SinkBatch): number {
  return batch.prepared ? batch.prepared.eventIds.length : batch.events.length;
}

/** What a dead letter of a refused event says: the backend refused it, or refused its timestamp as too old (Loki's reject_old_samples_max_age). */
export type RejectionReason = Extract<PermanentReason, 'rejected_by_backend' | 'rejected_too_old'>;

/** One event the backend refused for good, with the backend's own reason. */
export interface Rejection {
  eventId: string;
  reason: string;
  /** The dead letter's reason when the sink recognised the refusal; `rejected_by_backend` otherwise. */
  deadLetterReason?: RejectionReason;
}

export type SinkResult =
  | { status: 'delivered'; rejected: readonly Rejection[] }
  | { status: 'retryable'; reason: string; retryAfterMs?: number };

export interface Sink {
  readonly name: string;
  /**
   * The prepare step whose results this sink reads instead of the events
   * (sinks/prepared.ts), run where records are opened. Records are prepared
   * only when every sink has one; otherwise every sink reads events.
   */
  readonly prepareStep?: PrepareStepName;
  /** Runs when a batch is ready; resolves with its fate. Rejections of some events still count as delivered for the rest. */
  write(batch: SinkBatch): Promise<SinkResult>;
  /** Runs on shutdown: flush what is buffered and release resources. */
  close(): Promise<void>;
  /**
   * While the sink knows its writes cannot succeed as configured (they stay
   * retryable), a closed reason for `/readyz`, such as `otlp_unauthorized`;
   * null otherwise. Optional: most sinks never know.
   */
  blockedReason?(): string | null;
}

export const DELIVERED: SinkResult = Object.freeze({ status: 'delivered', rejected: Object.freeze([]) as readonly Rejection[] });

/** Collects every batch in memory: the test double that ships with the code. */
export class MemorySink implements Sink {
  readonly name = 'memory';
  readonly events: ActivityEvent[] = [];
  readonly heartbeats: Heartbeat[] = [];

  async write(batch: SinkBatch): Promise<SinkResult> {
    this.events.push(...batch.events);
    this.heartbeats.push(...batch.heartbeats);
    return DELIVERED;
  }

  async close(): Promise<void> {}
}
