/**
 * The validator run after every scenario: compares what the producer wrote
 * with what the receiver's ledger accepted and what the exporter set aside.
 *
 * - lost: produced events neither in the ledger nor dead-lettered (must be 0);
 * - duplicated: redeliveries, counted and reported (at-least-once allows
 *   them): exact repeats Loki's head block dropped plus repeats that made it
 *   into the ledger;
 * - order: per shard, first deliveries come in sequence-number order, and per
 *   partition key in production order; after a reshard, every parent's
 *   events come before any of its children's (`parentsBeforeChildren`);
 * - dead letters: every one names a produced event or a record written bad
 *   on purpose, with reason, shard and sequence number; none is unexplained.
 */
import { readFileSync } from 'node:fs';
import type { DeadLetter } from '../../../src/sinks/dead-letter.ts';
import type { LokiReceiver } from '../../support/loki-receiver.ts';
import { ID_PATTERN, type ProducedEvent } from './producer.ts';

export interface Verdict {
  produced: number;
  /** Distinct produced events the ledger holds. */
  delivered: number;
  lost: string[];
  duplicated: number;
  /** Of those, repeats stored in the ledger (the rest were exact repeats Loki dropped). */
  storedTwice: number;
  /** Produced events dead-lettered (refused by the backend). */
  deadLetteredEvents: string[];
  /** Every line of dead-letters.jsonl. */
  deadLetters: DeadLetter[];
  orderViolations: string[];
  /** Ledger entries whose log.record.uid is not the one the producer expects for that id. */
  idMismatches: string[];
}

export function readDeadLetters(file: string): DeadLetter[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as DeadLetter);
}

/** Distinct produced ids the ledger holds right now. */
export function deliveredIds(receiver: LokiReceiver): Set<string> {
  const ids = new Set<string>();
  for (const entry of receiver.ledger) {
    const id = ID_PATTERN.exec(entry.line)?.[0];
    if (id) ids.add(id);
  }
  return ids;
}

/** Distinct `log.record.uid`s the ledger holds right now. */
export function deliveredUids(receiver: LokiReceiver): Set<string> {
  return new Set(receiver.ledger.map((e) => e.eventId ?? ''));
}

export function checkLedger(produced: readonly ProducedEvent[], receiver: LokiReceiver, deadLetters: DeadLetter[]): Verdict {
  const byId = new Map(produced.map((p) => [p.id, p]));
  const byUid = new Map(produced.map((p) => [p.eventId, p]));
  const seen = new Set<string>();
  let repeats = 0;
  const orderViolations: string[] = [];
  const idMismatches: string[] = [];
  const lastByShard = new Map<string, ProducedEvent>();
  const lastByKey = new Map<string, ProducedEvent>();
  for (const entry of receiver.ledger) {
    // The id is in the SQL; a body cut at Loki's line limit may have lost it, and then the uid says which event it was.
    const inLine = ID_PATTERN.exec(entry.line)?.[0];
    const p = inLine ? byId.get(inLine) : byUid.get(entry.eventId ?? '');
    if (!p) continue;
    const id = p.id;
    if (seen.has(id)) {
      repeats++;
      continue;
    }
    seen.add(id);
    if (entry.eventId !== p.eventId) idMismatches.push(`${id}: ledger uid ${entry.eventId}, expected ${p.eventId}`);
    const prev = lastByShard.get(p.shardId);
    if (prev && comparePosition(prev, p) > 0) orderViolations.push(`${p.shardId}: ${p.id} (${p.sequenceNumber}/${p.index}) after ${prev.id} (${prev.sequenceNumber}/${prev.index})`);
    lastByShard.set(p.shardId, p);
    const prevKey = lastByKey.get(p.partitionKey);
    if (prevKey && prevKey.n > p.n) orderViolations.push(`${p.partitionKey}: ${p.id} after ${prevKey.id}`);
    lastByKey.set(p.partitionKey, p);
  }
  const deadLettered = new Set(deadLetters.map((d) => d.eventId).filter((e): e is string => !!e));
  const deadLetteredEvents = produced.filter((p) => deadLettered.has(p.eventId)).map((p) => p.id);
  const lost = produced.filter((p) => !seen.has(p.id) && !deadLettered.has(p.eventId)).map((p) => p.id);
  return {
    produced: produced.length,
    delivered: seen.size,
    lost,
    duplicated: repeats + receiver.duplicates,
    storedTwice: repeats,
    deadLetteredEvents,
    deadLetters,
    orderViolations,
    idMismatches,
  };
}

/**
 * After a split or merge: whether each child shard's first delivery came
 * after the last first delivery of each of its parents (ledger order).
 * Returns the children that started early.
 */
export function parentsBeforeChildren(produced: readonly ProducedEvent[], receiver: LokiReceiver, parents: ReadonlyMap<string, readonly string[]>): string[] {
  const byId = new Map(produced.map((p) => [p.id, p]));
  const byUid = new Map(produced.map((p) => [p.eventId, p]));
  const seen = new Set<string>();
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  receiver.ledger.forEach((entry, i) => {
    const inLine = ID_PATTERN.exec(entry.line)?.[0];
    const p = inLine ? byId.get(inLine) : byUid.get(entry.eventId ?? '');
    if (!p || seen.has(p.id)) return;
    seen.add(p.id);
    if (!first.has(p.shardId)) first.set(p.shardId, i);
    last.set(p.shardId, i);
  });
  const early: string[] = [];
  for (const [child, of] of parents) {
    const start = first.get(child);
    if (start === undefined) continue;
    for (const parent of of) {
      const end = last.get(parent);
      if (end !== undefined && end > start) early.push(`${child} first delivered at ledger entry ${start}, before ${parent}'s last first delivery at ${end}`);
    }
  }
  return early;
}

/** Whether everything at or below each shard's checkpoint is in the ledger or dead-lettered; returns what is not. */
export function checkpointAheadOfLedger(
  checkpoints: Record<string, string | null>,
  produced: readonly ProducedEvent[],
  delivered: ReadonlySet<string>,
  deadLetteredEventIds: ReadonlySet<string>,
): string[] {
  const ahead: string[] = [];
  for (const p of produced) {
    const checkpoint = checkpoints[p.shardId];
    if (checkpoint === null || checkpoint === undefined) continue;
    const covered = checkpoint === 'SHARD_END' || BigInt(p.sequenceNumber) <= BigInt(checkpoint);
    if (covered && !delivered.has(p.id) && !deadLetteredEventIds.has(p.eventId)) ahead.push(`${p.id} (${p.shardId} ${p.sequenceNumber} ≤ checkpoint ${checkpoint})`);
  }
  return ahead;
}

/** The checkpoints of one stream from the state directory's file, per shard; {} before the first write. */
export function readCheckpoints(file: string): Record<string, string | null> {
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as { shards: Record<string, { checkpoint: string | null }> };
    return Object.fromEntries(Object.entries(parsed.shards).map(([id, s]) => [id, s.checkpoint]));
  } catch {
    return {};
  }
}

function comparePosition(a: ProducedEvent, b: ProducedEvent): number {
  const sa = BigInt(a.sequenceNumber);
  const sb = BigInt(b.sequenceNumber);
  if (sa !== sb) return sa < sb ? -1 : 1;
  return a.index - b.index;
}
