/**
 * Paths to the shared, read-only DAS fixtures that sit beside the checkout
 * (`../shared/fixtures`), as CI has them. A missing directory is a failure
 * with a clear message, never a skipped test.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_FIXTURES = path.resolve(repoRoot, '..', 'shared', 'fixtures');

function requireDir(dir: string): string {
  if (!existsSync(dir)) {
    throw new Error(`shared fixtures not found at ${dir}: tests expect ../shared/fixtures beside the checkout`);
  }
  return dir;
}

export const REAL_RECORDS = path.join(SHARED_FIXTURES, 'real-records');
export const DECRYPTED_EXAMPLES = path.join(SHARED_FIXTURES, 'decrypted-examples');

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
