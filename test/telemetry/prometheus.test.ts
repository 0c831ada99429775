/**
 * das-exporter scraped by a real Prometheus: the exposition must parse, the
 * series must hold the values the sink counted, and exemplars must arrive.
 * Prometheus is a Debian binary (/usr/bin/prometheus; CI installs it); set
 * PROMETHEUS_BIN / PROMTOOL_BIN to use others. A missing binary fails this suite.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { MetricsSink, metricsPipelineObserver } from '../../src/sinks/metrics-sink.ts';
import { createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';
import { startMetricsServer, type MetricsServer } from '../../src/telemetry/server.ts';
import { prometheusBinary, startPrometheus, stopPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { MYSQL_CLUSTER, MYSQL_INSTANCE, PG_CLUSTER, PG_INSTANCE, heartbeat, mysqlFailedConnect, postgresSelect, withTrace } from '../support/events.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const TOKEN = 'scrape-token-0123456789';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
async function eventually<T>(what: string, check: () => Promise<T | undefined>, running: RunningPrometheus): Promise<T> {
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
  let prometheus: RunningPrometheus | undefined;

  before(async () => {
    // Process metrics on, as `run` has them: Prometheus must parse the whole exposition.
    const metrics = createMetrics(createMetricsRegistry(), { processMetrics: true });
    const sink = new MetricsSink(metrics);
    const selects = [withTrace(postgresSelect(), TRACE_ID), postgresSelect(), postgresSelect()];
    const failedConnects = [mysqlFailedConnect(), mysqlFailedConnect()];
    await sink.write({ events: [...selects, ...failedConnects], heartbeats: [] });
    metricsPipelineObserver(metrics).deadLettered?.('auth_tag_mismatch');

    server = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0, bearerToken: TOKEN });
    prometheus = await startPrometheus({ target: new URL(server.url).host, token: TOKEN, exemplars: true });
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
    assert.equal(result[0]!.metric.db_instance, PG_INSTANCE);
    // Scraped without honor_labels: the target keeps its own instance label.
    assert.match(result[0]!.metric.instance ?? '', /^127\.0\.0\.1:\d+$/);
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

describe('a forgotten instance, scraped by a real Prometheus', function () {
  this.timeout(90_000);
  const HOUR = 3600_000;

  it('loses its heartbeat gauge at the next scrape after the series expiry (stale, not a frozen value), while a seen one stays', async () => {
    const clock = { now: Date.parse('2024-03-01T10:00:00Z') };
    const metrics = createMetrics(createMetricsRegistry());
    const sink = new MetricsSink(metrics, { clock: () => clock.now, seriesExpiryMs: HOUR });
    const logTime = BigInt(clock.now) * 1_000_000n;
    await sink.write({ events: [], heartbeats: [heartbeat({ logTimeUnixNano: logTime }), heartbeat({ clusterId: MYSQL_CLUSTER, instanceId: MYSQL_INSTANCE, logTimeUnixNano: logTime })] });
    const server = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0 });
    const prometheus = await startPrometheus({ target: new URL(server.url).host });
    const instances = async () =>
      (await query(prometheus.api, 'das_last_heartbeat_timestamp_seconds')).map((s) => s.metric.db_instance).sort();
    try {
      await eventually('both heartbeat gauges', async () => ((await instances()).length === 2 ? true : undefined), prometheus);

      clock.now += HOUR - 1;
      await sink.write({ events: [], heartbeats: [heartbeat({ clusterId: MYSQL_CLUSTER, instanceId: MYSQL_INSTANCE, logTimeUnixNano: BigInt(clock.now) * 1_000_000n })] });
      clock.now += 1;
      assert.deepEqual(sink.forgetUnseen().instances, [{ cluster: PG_CLUSTER, instance: PG_INSTANCE }]);

      // Prometheus would keep answering with the last sample for 5 minutes if the series merely stopped; removed from
      // the exposition, the next scrape marks it stale and it is gone at once.
      const left = await eventually('the forgotten gauge to go', async () => {
        const now = await instances();
        return now.length === 1 ? now : undefined;
      }, prometheus);
      assert.deepEqual(left, [MYSQL_INSTANCE]);
    } finally {
      await stopPrometheus(prometheus);
      await server.close();
    }
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
        const child = execFile(prometheusBinary('promtool'), ['check', 'metrics'], (error, stdout, stderr) =>
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
