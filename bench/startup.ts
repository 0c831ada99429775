/**
 * `npm run bench:startup` (and part of `npm run bench`): how long the
 * installed command takes to answer `--help` and `--version`, against a
 * bare `node -e 0` on the same machine, runs interleaved so both see the
 * same load. Wall time of whole processes, median of N runs each; the
 * ratio is what counts (target ≤ 3×), absolute times move with the machine.
 * Runs the compiled build (dist/), as a user's command does.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'das-exporter.js');

export interface StartupResult {
  runs: number;
  /** Median and range of each command, in milliseconds. */
  nodeMs: { median: number; min: number; max: number };
  helpMs: { median: number; min: number; max: number };
  versionMs: { median: number; min: number; max: number };
  helpVsNode: number;
  versionVsNode: number;
}

function time(args: string[]): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env['PATH'] ?? '' } });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`node ${args.join(' ')} exited ${result.status}: ${result.stderr}`);
  return ms;
}

function summary(values: number[]): { median: number; min: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted.at(-1)! };
}

export function measureStartup(runs = 21): StartupResult {
  if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const node: number[] = [];
  const help: number[] = [];
  const version: number[] = [];
  // Warm the file cache once, then interleave.
  time(['-e', '0']);
  time([BIN, '--help']);
  for (let i = 0; i < runs; i++) {
    node.push(time(['-e', '0']));
    help.push(time([BIN, '--help']));
    version.push(time([BIN, '--version']));
  }
  const n = summary(node);
  const h = summary(help);
  const v = summary(version);
  return { runs, nodeMs: n, helpMs: h, versionMs: v, helpVsNode: h.median / n.median, versionVsNode: v.median / n.median };
}

export function startupLine(r: StartupResult): string {
  const f = (x: { median: number; min: number; max: number }) => `${x.median.toFixed(0)} ms (${x.min.toFixed(0)}–${x.max.toFixed(0)})`;
  return `startup, median of ${r.runs} interleaved runs: node -e 0 ${f(r.nodeMs)}; das-exporter --help ${f(r.helpMs)} = ${r.helpVsNode.toFixed(2)}× node; --version ${f(r.versionMs)} = ${r.versionVsNode.toFixed(2)}×`;
}

if (process.argv[1] === import.meta.filename) console.log(startupLine(measureStartup()));
