/**
 * Runs an audit policy on a decoded, enriched record, where the record was
 * opened (main thread or worker): dropped events leave `events`, tag and
 * alert matches are marked on their events, and everything the policy did is
 * counted in `record.policy` for the metrics sink, so that a drop is never an
 * invisible audit gap.
 */
import type { ActivityEvent, DecodedRecord, PolicyOutcome } from '../events/model.ts';
import { markOf, type CompiledPolicy } from './compile.ts';

export function applyPolicy(record: DecodedRecord, policy: CompiledPolicy | null | undefined): DecodedRecord {
  if (!policy || record.events.length === 0) return record;
  const outcome: PolicyOutcome = { dropped: [], matched: [], keptProtected: [] };
  const kept: ActivityEvent[] = [];
  for (const event of record.events) {
    const verdict = policy.evaluate(event);
    if (verdict === null) {
      kept.push(event);
      continue;
    }
    for (const rule of verdict.keptProtected) bump(outcome.keptProtected, rule);
    for (const rule of verdict.marks) {
      const trace = event.enrichment?.trace?.traceId ?? null;
      const entry = outcome.matched.find((m) => m.rule === rule.name);
      if (entry === undefined) outcome.matched.push({ rule: rule.name, action: rule.action as 'tag' | 'alert', severity: rule.severity ?? 'none', count: 1, traceId: trace });
      else {
        entry.count++;
        if (trace !== null) entry.traceId = trace;
      }
    }
    if (verdict.drop !== null) {
      bump(outcome.dropped, verdict.drop);
      continue;
    }
    if (verdict.marks.length > 0) event.policy = markOf(verdict.marks);
    kept.push(event);
  }
  record.events = kept;
  record.policy = outcome;
  return record;
}

function bump(counts: { rule: string; count: number }[], rule: string): void {
  const entry = counts.find((c) => c.rule === rule);
  if (entry === undefined) counts.push({ rule, count: 1 });
  else entry.count++;
}

/** Outcomes of several records as one (what a batch reports). */
export function mergeOutcomes(outcomes: readonly (PolicyOutcome | undefined)[]): PolicyOutcome | undefined {
  const present = outcomes.filter((o): o is PolicyOutcome => o !== undefined);
  if (present.length <= 1) return present[0];
  const merged: PolicyOutcome = { dropped: [], matched: [], keptProtected: [] };
  for (const o of present) {
    for (const d of o.dropped) addCount(merged.dropped, d);
    for (const k of o.keptProtected) addCount(merged.keptProtected, k);
    for (const m of o.matched) {
      const entry = merged.matched.find((e) => e.rule === m.rule && e.severity === m.severity);
      if (entry === undefined) merged.matched.push({ ...m });
      else {
        entry.count += m.count;
        if (m.traceId !== null) entry.traceId = m.traceId;
      }
    }
  }
  return merged;
}

function addCount(counts: { rule: string; count: number }[], add: { rule: string; count: number }): void {
  const entry = counts.find((c) => c.rule === add.rule);
  if (entry === undefined) counts.push({ ...add });
  else entry.count += add.count;
}
