/**
 * A real Prometheus for tests: the Debian binary (/usr/bin/prometheus, which
 * .ci/run installs; PROMETHEUS_BIN / PROMTOOL_BIN override), on 127.0.0.1, a
 * temporary TSDB, scraping one target every second. A missing binary fails
 * the test with how to install it, never skips it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const override = process.env[`${name.toUpperCase()}_BIN`];
  const candidates = override
    ? [override]
    : [`/usr/bin/${name}`, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean).map((dir) => path.join(dir, name))];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  throw new Error(`${name} binary not found (looked at ${candidates.join(', ')}): install the Debian package "prometheus" or set ${name.toUpperCase()}_BIN`);
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface RunningPrometheus {
  child: ChildProcess;
  api: string;
  dir: string;
  log: () => string;
}

export interface PrometheusOptions {
  /** `host:port` of the das-exporter metrics server; none: nothing is scraped. */
  target?: string;
  /** More command-line flags, e.g. a deployment's own. */
  flags?: readonly string[];
  /** Bearer token the scrape sends. */
  token?: string;
  /** Rule files to load, evaluated every second. */
  ruleFiles?: readonly string[];
  exemplars?: boolean;
}

export async function startPrometheus(options: PrometheusOptions): Promise<RunningPrometheus> {
  const binary = prometheusBinary('prometheus');
  const dir = await mkdtemp(path.join(tmpdir(), 'das-prometheus-'));
  const port = await freePort();
  const lines = ['global:', '  scrape_interval: 1s', '  scrape_timeout: 1s', '  evaluation_interval: 1s'];
  if (options.ruleFiles?.length) lines.push('rule_files:', ...options.ruleFiles.map((f) => `  - ${JSON.stringify(f)}`));
  if (options.target !== undefined) {
    lines.push(
      'scrape_configs:',
      '  - job_name: das-exporter',
      // As deploy/prometheus/prometheus.yml: no honor_labels, the target keeps its own `instance` (the DB instance is `db_instance`).
      ...(options.token ? ['    authorization:', `      credentials: ${options.token}`] : []),
      '    static_configs:',
      `      - targets: ['${options.target}']`,
    );
  }
  lines.push('');
  await writeFile(path.join(dir, 'prometheus.yml'), lines.join('\n'));

  let output = '';
  const child = spawn(
    binary,
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      ...(options.exemplars ? ['--enable-feature=exemplar-storage'] : []),
      ...(options.flags ?? []),
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const running = { child, api: `http://127.0.0.1:${port}`, dir, log: () => output.slice(-4000) };
  for (let attempt = 0; attempt < 120; attempt++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${running.log()}`);
    if (await fetch(`${running.api}/-/ready`).then((r) => r.ok, () => false)) return running;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await stopPrometheus(running);
  throw new Error(`prometheus did not become ready:\n${running.log()}`);
}

export async function stopPrometheus(running: RunningPrometheus): Promise<void> {
  const { child } = running;
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killTimer);
  }
  await rm(running.dir, { recursive: true, force: true });
}
