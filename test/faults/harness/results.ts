/**
 * The fault run's table: every scenario adds one row; after the last one the
 * table is printed and written as JSON to a temporary file (or to
 * DAS_FAULTS_RESULTS when set), never into the repository by default.
 *
 * Loaded through .mocharc.faults.json `require`, so `mochaHooks` runs once
 * after every scenario file.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Verdict } from './ledger-check.ts';
import { FAULT_SEED } from './random.ts';

export interface ScenarioRow {
  scenario: string;
  produced: number;
  delivered: number;
  lost: number;
  duplicated: number;
  /** Of the duplicates, those stored twice (the others were exact repeats Loki dropped on arrival). */
  storedTwice: number;
  deadLettered: number;
  /** Milliseconds from the end of the fault to the point stated in `recoveredWhen`; null when not applicable. */
  recoveryMs: number | null;
  recoveredWhen: string;
  notes: string;
}

const rows: ScenarioRow[] = [];

/** The row's counts from the validator's verdict (a scenario may count `produced` its own way). */
export function verdictColumns(v: Verdict): Pick<ScenarioRow, 'produced' | 'delivered' | 'lost' | 'duplicated' | 'storedTwice' | 'deadLettered'> {
  return { produced: v.produced, delivered: v.delivered, lost: v.lost.length, duplicated: v.duplicated, storedTwice: v.storedTwice, deadLettered: v.deadLetters.length };
}

export function recordRow(row: ScenarioRow): void {
  rows.push(row);
  process.stdout.write(`      → ${row.scenario}: produced ${row.produced}, delivered ${row.delivered}, lost ${row.lost}, duplicated ${row.duplicated}, dead-lettered ${row.deadLettered}; ${row.notes}\n`);
}

export function formatTable(list: readonly ScenarioRow[]): string {
  const header = ['scenario', 'produced', 'delivered', 'lost', 'duplicated', 'dead-lettered', 'recovery', 'notes'];
  const body = list.map((r) => [
    r.scenario,
    String(r.produced),
    String(r.delivered),
    String(r.lost),
    `${r.duplicated} (${r.storedTwice} stored twice)`,
    String(r.deadLettered),
    r.recoveryMs === null ? '—' : `${(r.recoveryMs / 1000).toFixed(1)} s (${r.recoveredWhen})`,
    r.notes,
  ]);
  const lines = [header, header.map(() => '---'), ...body].map((cells) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`);
  return lines.join('\n');
}

export const mochaHooks = {
  afterAll(): void {
    if (rows.length === 0) return;
    rows.sort((a, b) => Number.parseInt(a.scenario, 10) - Number.parseInt(b.scenario, 10));
    const file = process.env.DAS_FAULTS_RESULTS ?? path.join(os.tmpdir(), `das-faults-results-${Date.now()}.json`);
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`;
    writeFileSync(file, JSON.stringify({ at: new Date().toISOString(), seed: FAULT_SEED, machine, rows }, null, 2) + '\n');
    process.stdout.write(`\nFault scenarios (seed ${FAULT_SEED}; ${machine}):\n\n${formatTable(rows)}\n\nResults written to ${file}\n`);
  },
};
