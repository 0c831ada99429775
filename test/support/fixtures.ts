/**
 * Paths to the real DAS fixtures in `test/fixtures/` (their sources are in
 * `test/fixtures/PROVENANCE.md`). A missing directory is a failure with a
 * clear message, never a skipped test.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const FIXTURES = path.resolve(repoRoot, 'test', 'fixtures');

function requireDir(dir: string): string {
  if (!existsSync(dir)) {
    throw new Error(`fixtures not found at ${dir}: the checkout is incomplete (test/fixtures is part of the repository)`);
  }
  return dir;
}

export const REAL_RECORDS = path.join(FIXTURES, 'real-records');
export const DECRYPTED_EXAMPLES = path.join(FIXTURES, 'decrypted-examples');

export function realRecordPath(name: string): string {
  return path.join(requireDir(REAL_RECORDS), name);
}

export function readJsonFixture(file: string): unknown {
  return JSON.parse(readFileSync(file, 'utf8'));
}

/** Every documented decrypted example, by file name (e.g. `aurora-mysql-select-main.json`). */
export function decryptedExamples(): { name: string; file: string }[] {
  return readdirSync(requireDir(DECRYPTED_EXAMPLES))
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => ({ name, file: path.join(DECRYPTED_EXAMPLES, name) }));
}

/**
 * The inner record of a documented example and its envelope version. The
 * PostgreSQL examples keep the docs' outer envelope with the record inline;
 * the others are the inner record (MySQL is version 1.2, SQL Server 1.4).
 */
export function loadExample(file: string): { record: Record<string, any>; version: string } {
  const json = readJsonFixture(path.join(requireDir(DECRYPTED_EXAMPLES), file)) as Record<string, any>;
  if (json.type === 'DatabaseActivityMonitoringRecords') return { record: json.databaseActivityEvents, version: json.version };
  return { record: json, version: file.startsWith('rds-sqlserver') ? '1.4' : '1.2' };
}
