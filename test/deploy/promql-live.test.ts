/**
 * Every PromQL expression das-exporter ships (dashboard panels and variables,
 * recording and alerting rules) run against a real RunningPrometheus that scraped
 * das-exporter in demo mode and evaluated deploy/prometheus/rules.yaml: each
 * must be accepted, and each must return data, except the few listed in
 * EXPECTED_EMPTY with the reason a healthy short demo cannot make them true.
 * Those are checked to be empty: that is the demo being healthy.
 *
 * RunningPrometheus is a Debian binary (/usr/bin/prometheus; CI installs it); set
 * PROMETHEUS_BIN to use another. A missing binary fails this suite.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { demoConfig } from '../../src/cli/demo.ts';
import { startDemo, type RunningDemo } from '../../src/demo/demo.ts';
import { DEFAULT_RATE } from '../../src/demo/traffic.ts';
import { freePort, prometheusBinary, startPrometheus, stopPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { allPromql, interpolate, RULES_FILE, type PromqlExpression } from './promql.ts';

/**
 * Expressions that legitimately return nothing while a healthy demo runs for a
 * minute, by source (see promql.ts), with why.
 */
const EXPECTED_EMPTY: Readonly<Record<string, string>> = {
  'dashboard das-exporter-health / panel "Dead letters by reason"': 'das_dead_letters_total has no series until a record is dead-lettered; the demo writes only valid records',
  'dashboard das-exporter-health / panel "Export retries/s by sink"': 'das_export_retries_total has no series until a sink asks to retry; stdout never does',
  ...Object.fromEntries(
    ['Subscriptions started/s', 'Subscriptions ended by reason', 'Received per shard', 'Records received/s'].map((panel) => [
      `dashboard das-exporter-health / panel "${panel}"`,
      'das_efo_* exist only with --consumer efo; the demo polls its embedded kinesalite, which has no SubscribeToShard (test/cli/run-kinesis-local.test.ts reads them on kinesis-local)',
    ]),
  ),
  'alert DASAuditGap': 'heartbeats arrive every 5 s; a 2-minute gap must not happen',
  'alert DASConsumerLagHigh': 'both rules need hours of lag',
  'alert DASDeadLetters': 'no dead letters (see above)',
  'alert DASExporterDown': 'the exporter is up and scraped',
  'alert DASKmsErrors': 'the LocalKms answers every Decrypt',
  'alert DASExportUnauthorized': 'the demo writes to stdout, which asks for no credential',
  'alert DASStreamDown': 'every demo stream is being consumed',
  'alert DASPolicyReloadFailed': 'the demo policy is never reloaded with a bad file (test/policy/run-policy.test.ts refuses one)',
  'alert DASStatementErrorRate': 'whether over 5% of one cluster fails in a window depends on the random mix (spraying episodes); it is accepted, not required',
};
/** Empty is allowed, not required: the condition may or may not hold in one run. */
const MAY_HAVE_DATA = new Set(['alert DASStatementErrorRate']);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type QueryAnswer = { status: 'success'; series: number } | { status: 'error'; error: string };

async function instantQuery(api: string, promql: string): Promise<QueryAnswer> {
  const res = await fetch(`${api}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: promql }) });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success') return { status: 'error', error: `${body.error}` };
  const result = body.data?.result;
  // A scalar (e.g. time()) always has a value; vectors and matrices have a list of series.
  return { status: 'success', series: Array.isArray(result) ? result.length : 1 };
}

/** What RunningPrometheus is sent: dashboards with Grafana's variables filled in, rules as written. */
function queryOf(e: PromqlExpression): string {
  return e.kind === 'dashboard' || e.kind === 'variable' ? interpolate(e.expr) : e.expr;
}

describe('every shipped PromQL expression, live against RunningPrometheus scraping the demo', function () {
  this.timeout(240_000);

  const expressions = allPromql();
  let stateDir: string | undefined;
  let demo: RunningDemo | undefined;
  let prometheus: RunningPrometheus | undefined;
  let stderr = '';

  before(async () => {
    prometheusBinary('prometheus'); // fail first, with how to install it, before starting the demo
    stateDir = await mkdtemp(path.join(tmpdir(), 'das-promql-live-state-'));
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && !k.startsWith('DAS_')));
    const config = demoConfig({ metricsHost: '127.0.0.1', metricsPort: await freePort() }, env, stateDir);
    const discard = new Writable({ write: (_chunk, _encoding, done) => done() });
    const errors = new Writable({ write: (chunk, _encoding, done) => ((stderr += String(chunk)), done()) });
    // At the default rate: the simulator's first password-spraying episode starts within 30 s
    // (DASFailedLoginBurst), DDL, grants and unexpected users come within seconds.
    demo = await startDemo(config, { rate: DEFAULT_RATE, seed: 7 }, { env, stdout: discard, stderr: errors, statusOnTty: false });
    prometheus = await startPrometheus({ target: new URL(demo.app.metricsUrl).host, ruleFiles: [RULES_FILE] });
  });

  after(async () => {
    if (prometheus) await stopPrometheus(prometheus);
    await demo?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  });

  it('lists every allow-listed source among the shipped expressions', () => {
    const sources = new Set(expressions.map((e) => e.source));
    for (const source of Object.keys(EXPECTED_EMPTY)) assert.ok(sources.has(source), `allow-list entry "${source}" matches no expression`);
  });

  it('accepts every expression and gets data from each one outside the allow-list', async () => {
    const required = expressions.filter((e) => !(e.source in EXPECTED_EMPTY));
    // Bounded wait: scrapes every second, recording rules every 30 s (their group's interval),
    // the first failed-login burst within ~30 s of simulated traffic.
    const deadline = Date.now() + 150_000;
    let missing: PromqlExpression[] = required;
    for (;;) {
      const answers = await Promise.all(missing.map(async (e) => ({ e, answer: await instantQuery(prometheus!.api, queryOf(e)) })));
      const refused = answers.filter(({ answer }) => answer.status === 'error');
      assert.deepEqual(refused.map(({ e, answer }) => `${e.source}: ${answer.status === 'error' ? answer.error : ''}`), [], 'RunningPrometheus refused these');
      missing = answers.filter(({ answer }) => answer.status === 'success' && answer.series === 0).map(({ e }) => e);
      if (missing.length === 0 || Date.now() > deadline) break;
      await sleep(2_000);
    }
    assert.deepEqual(
      missing.map((e) => `${e.source}: ${queryOf(e).replace(/\s+/g, ' ')}`),
      [],
      `these returned no data; demo stderr:\n${stderr}\nprometheus log:\n${prometheus!.log()}`,
    );
  });

  it('accepts the allow-listed expressions, and the alerts a healthy demo must not raise return nothing', async () => {
    for (const e of expressions.filter((x) => x.source in EXPECTED_EMPTY)) {
      const answer = await instantQuery(prometheus!.api, queryOf(e));
      assert.equal(answer.status, 'success', `${e.source}: ${answer.status === 'error' ? answer.error : ''}`);
      if (answer.status === 'success' && !MAY_HAVE_DATA.has(e.source)) assert.equal(answer.series, 0, `${e.source} returned data: ${EXPECTED_EMPTY[e.source]}`);
    }
  });
});
