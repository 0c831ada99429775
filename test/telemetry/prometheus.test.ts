/**
 * das-exporter scraped by a real Prometheus: the exposition must parse, the
 * series must hold the values the sink counted, and exemplars must arrive.
 * Prometheus is a Debian binary (/usr/bin/prometheus; CI installs it); set
 * PROMETHEUS_BIN / PROMTOOL_BIN to use others. A missing binary fails this suite.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { MetricsSink, metricsPipelineObserver } from '../../src/sinks/metrics-sink.ts';
import { createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';
import { startMetricsServer, type MetricsServer } from '../../src/telemetry/server.ts';
import { MYSQL_CLUSTER, PG_CLUSTER, PG_INSTANCE, mysqlFailedConnect, postgresSelect, withTrace } from '../support/events.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TOKEN = 'scrape-token-0123456789';

function binary(name: 'prometheus' | 'promtool'): string {
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

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Running {
  child: ChildProcess;
  api: string;
  dir: string;
  log: () => string;
}

async function startPrometheus(target: string): Promise<Running> {
  const dir = await mkdtemp(path.join(tmpdir(), 'das-prometheus-'));
  const port = await freePort();
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    '  - job_name: das-exporter',
    // The metrics' own `instance` label (the DB instance) must win over the target's.
    '    honor_labels: true',
    '    authorization:',
    `      credentials: ${TOKEN}`,
    '    static_configs:',
    `      - targets: ['${target}']`,
    '',
  ].join('\n');
  await writeFile(path.join(dir, 'prometheus.yml'), config);

  let output = '';
  const child = spawn(
    binary('prometheus'),
    [
      `--config.file=${path.join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--enable-feature=exemplar-storage',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  const running = { child, api: `http://127.0.0.1:${port}`, dir, log: () => output.slice(-4000) };

  for (let attempt = 0; attempt < 120; attempt++) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${running.log()}`);
    const ready = await fetch(`${running.api}/-/ready`).then((r) => r.ok, () => false);
    if (ready) return running;
    await sleep(250);
  }
  await stopPrometheus(running);
  throw new Error(`prometheus did not become ready:\n${output.slice(-4000)}`);
}

async function stopPrometheus(running: Running): Promise<void> {
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

interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(api: string, promql: string): Promise<VectorSample[]> {
  const res = await fetch(`${api}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: VectorSample[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${promql} failed: ${body.error}`);
  return body.data.result;
}

/** Polls until `check` returns a value, a bounded number of times (Prometheus scrapes every second). */
async function eventually<T>(what: string, check: () => Promise<T | undefined>, running: Running): Promise<T> {
  let last: unknown;
  for (let attempt = 0; attempt < 60; attempt++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await sleep(500);
  }
  throw new Error(`gave up waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}\nprometheus log:\n${running.log()}`);
}

describe('scraped by a real Prometheus', function () {
  this.timeout(90_000);

  let server: MetricsServer | undefined;
  let prometheus: Running | undefined;

  before(async () => {
    // Process metrics on, as `run` has them: Prometheus must parse the whole exposition.
    const metrics = createMetrics(createMetricsRegistry(), { processMetrics: true });
    const sink = new MetricsSink(metrics);
    const selects = [withTrace(postgresSelect(), TRACE_ID), postgresSelect(), postgresSelect()];
    const failedConnects = [mysqlFailedConnect(), mysqlFailedConnect()];
    await sink.write({ events: [...selects, ...failedConnects], heartbeats: [] });
    metricsPipelineObserver(metrics).deadLettered?.('auth_tag_mismatch');

    server = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0, bearerToken: TOKEN });
    prometheus = await startPrometheus(new URL(server.url).host);
  });

  after(async () => {
    if (prometheus) await stopPrometheus(prometheus);
    await server?.close();
  });

  it('scrapes the exporter successfully, with the bearer token', async () => {
    const up = await eventually('a successful scrape', async () => {
      const result = await query(prometheus!.api, 'up{job="das-exporter"}');
      return result[0]?.value[1] === '1' ? result : undefined;
    }, prometheus!);
    assert.equal(up.length, 1);
  });

  it('holds das_statements_total for the PostgreSQL SELECTs', async () => {
    const promql = `das_statements_total{engine="postgresql",class="READ",command="SELECT",outcome="success"}`;
    const result = await eventually(promql, async () => {
      const r = await query(prometheus!.api, promql);
      return r.length > 0 ? r : undefined;
    }, prometheus!);
    assert.equal(result.length, 1);
    assert.equal(result[0]!.value[1], '3');
    assert.equal(result[0]!.metric.cluster, PG_CLUSTER);
    assert.equal(result[0]!.metric.instance, PG_INSTANCE);
    assert.equal(result[0]!.metric.database, 'postgres');
  });

  it('holds the failed MySQL logins and their error code', async () => {
    const logins = await eventually('failed logins', async () => {
      const r = await query(prometheus!.api, 'das_login_attempts_total{outcome="failure"}');
      return r.length > 0 ? r : undefined;
    }, prometheus!);
    assert.deepEqual(logins.map((s) => [s.metric.cluster, s.value[1]]), [[MYSQL_CLUSTER, '2']]);

    const errors = await query(prometheus!.api, 'sum by (code) (das_statement_errors_total{engine="mysql"})');
    assert.deepEqual(errors.map((s) => [s.metric.code, s.value[1]]), [['1045', '2']]);
    const deadLetters = await query(prometheus!.api, 'das_dead_letters_total');
    assert.deepEqual(deadLetters.map((s) => [s.metric.reason, s.value[1]]), [['auth_tag_mismatch', '1']]);
  });

  it('ingests the trace id exemplar of das_statements_total', async () => {
    const now = Date.now() / 1000;
    const url = `${prometheus!.api}/api/v1/query_exemplars?query=${encodeURIComponent('das_statements_total')}&start=${now - 3600}&end=${now + 3600}`;
    type ExemplarSeries = { seriesLabels: Record<string, string>; exemplars: { labels: Record<string, string>; value: string }[] };
    const series = await eventually('an exemplar', async () => {
      const body = (await (await fetch(url)).json()) as { status: string; data: ExemplarSeries[] };
      return body.status === 'success' && body.data.length > 0 ? body.data : undefined;
    }, prometheus!);
    assert.equal(series.length, 1);
    assert.equal(series[0]!.seriesLabels.command, 'SELECT');
    assert.deepEqual(series[0]!.exemplars.map((e) => e.labels), [{ trace_id: TRACE_ID }]);
  });
});

describe('the classic text exposition', () => {
  it('passes promtool check metrics (parse and lint)', async () => {
    const metrics = createMetrics(createMetricsRegistry());
    await new MetricsSink(metrics).write({ events: [withTrace(postgresSelect(), TRACE_ID), mysqlFailedConnect()], heartbeats: [] });
    const server = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0 });
    try {
      const text = await (await fetch(`${server.url}/metrics`, { headers: { Accept: 'text/plain' } })).text();
      assert.match(text, /^das_statements_total\{/m);
      const result = await new Promise<{ code: number; output: string }>((resolve) => {
        const child = execFile(binary('promtool'), ['check', 'metrics'], (error, stdout, stderr) =>
          resolve({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr }),
        );
        child.stdin?.end(text);
      });
      assert.equal(result.code, 0, `promtool check metrics:\n${result.output}`);
    } finally {
      await server.close();
    }
  });
});
