/**
 * The package as users get it: `npm pack` of this checkout's build, once per
 * test process, into a temporary folder. `npm test` builds first; a missing
 * build is a failure that says so, never a silent pack of stale files.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const PACKAGE = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { name: string; version: string };

export interface Packed {
  tarball: string;
  /** Every path in the tarball, relative to its `package/` root. */
  files: string[];
}

let packed: Packed | undefined;

/** Runs a command to completion; throws with its output when it fails. */
export function mustRun(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd: options.cwd ?? REPO, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeoutMs ?? 300_000 });
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

export function packTarball(): Packed {
  if (packed) return packed;
  if (!existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) {
    throw new Error('dist/ is missing: `npm test` builds it first; alone, run `npm run build`');
  }
  const destination = mkdtempSync(path.join(tmpdir(), 'das-pack-'));
  // The build is already there (npm test made it); --ignore-scripts packs it instead of building again.
  const { stdout } = mustRun('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destination]);
  const [report] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!report) throw new Error(`npm pack printed no report: ${stdout}`);
  packed = { tarball: path.join(destination, report.filename), files: report.files.map((f) => f.path).sort() };
  return packed;
}
