/**
 * deploy/prometheus: the rules are valid and tested with promtool, every
 * alert documents itself and has a runbook section, the Prometheus and
 * Alertmanager configurations pass their tools' checks.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPORTED_METRICS, SCRAPE_METRICS, loadRules, metricNames, recordingRuleNames, rulePromql } from './promql.ts';
import { REPO, mustPass, readYaml } from './tools.ts';
import { MIN_SERIES_EXPIRY_SECONDS } from '../../src/telemetry/series-expiry.ts';

const PROMETHEUS_DIR = join(REPO, 'deploy/prometheus');

/** Seconds of a Prometheus duration such as `1m`, `90s` or `1h30m`. */
function durationSeconds(text: string): number {
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  assert.equal(parts.map((p) => p[0]).join(''), text, `not a duration: ${text}`);
  return parts.reduce((total, [, n, unit]) => total + Number(n) * units[unit!]!, 0);
}

/** The alerts the project promises (docs/runbook.md has a section for each). */
const ALERTS = [
  'DASFailedLoginBurst', 'DASPrivilegeChange', 'DASUnexpectedDDL', 'DASStatementErrorRate', 'DASUnexpectedUser',
  'DASAuditGap', 'DASConsumerLagHigh', 'DASDeadLetters', 'DASExportUnauthorized', 'DASExporterDown', 'DASKmsErrors', 'DASStreamDown',
  'DASPolicyCritical', 'DASPolicyError', 'DASPolicyWarning', 'DASPolicyInfo', 'DASPolicyReloadFailed',
];

const rules = loadRules();
const alertRules = rules.groups.flatMap((group) => group.rules.filter((rule) => rule.alert !== undefined));

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  return new Set(
    [...markdown.matchAll(/^#{1,6}\s+(.+)$/gm)].map((match) =>
      (match[1] ?? '').trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-'),
    ),
  );
}

describe('Prometheus rules', () => {
  it('promtool check rules passes on rules.yaml', () => {
    mustPass('promtool', ['check', 'rules', 'rules.yaml'], PROMETHEUS_DIR);
  });

  it('promtool test rules passes on rules.test.yaml', () => {
    mustPass('promtool', ['test', 'rules', 'rules.test.yaml'], PROMETHEUS_DIR);
  });

  it('defines every promised alert, and nothing else', () => {
    assert.deepEqual([...new Set(alertRules.map((rule) => rule.alert))].sort(), [...ALERTS].sort());
  });

  for (const rule of alertRules) {
    it(`${rule.alert} (${rule.labels?.severity}) has severity, summary, description and a runbook section`, () => {
      assert.ok(['critical', 'warning', 'info'].includes(rule.labels?.severity ?? ''), 'severity label');
      for (const key of ['summary', 'description', 'runbook_url']) assert.ok(rule.annotations?.[key], `${key} annotation`);
      const url = rule.annotations?.runbook_url ?? '';
      const anchor = /\/docs\/runbook\.md#([\w-]+)$/.exec(url)?.[1];
      assert.ok(anchor, `runbook_url ${url} does not point into docs/runbook.md`);
      assert.ok(anchors(readFileSync(join(REPO, 'docs/runbook.md'), 'utf8')).has(anchor), `docs/runbook.md has no section #${anchor}`);
    });
  }

  it('rules.test.yaml has a firing case and a not-firing case for every alert', () => {
    const tests = (readYaml(join(PROMETHEUS_DIR, 'rules.test.yaml')) as { tests: { name?: string; alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }).tests;
    for (const alert of ALERTS) {
      const cases = tests.flatMap((test) => (test.alert_rule_test ?? []).filter((c) => c.alertname === alert).map((c) => ({ name: test.name ?? '', fires: c.exp_alerts.length > 0 })));
      assert.ok(cases.some((c) => c.fires), `no test where ${alert} fires`);
      assert.ok(cases.some((c) => !c.fires), `no test where ${alert} must not fire`);
      for (const c of cases) assert.ok(c.name.startsWith(`${alert} `), `test "${c.name}" checks ${alert} but is not named after it`);
    }
  });

  const allowed = new Set([...EXPORTED_METRICS, ...SCRAPE_METRICS, ...recordingRuleNames()]);
  for (const { source, expr } of rulePromql()) {
    it(`${source} reads only das-exporter metrics, up and recording rules`, () => {
      for (const name of metricNames(expr)) assert.ok(allowed.has(name), `${name} is not a das-exporter metric or a recording rule`);
    });
  }

  it('every recording rule is used by a dashboard or a rule', async () => {
    const { dashboardPromql } = await import('./promql.ts');
    const used = [...dashboardPromql(), ...rulePromql()].flatMap(({ expr }) => metricNames(expr));
    for (const name of new Set(recordingRuleNames())) {
      if (name === 'cluster_le:das_event_lag_seconds_bucket:rate5m') continue; // input of the quantile rules
      assert.ok(used.includes(name), `${name} is recorded but nothing reads it`);
    }
  });

  it('DASAuditGap fires within half the shortest --series-expiry the configuration accepts, so it fires before the gauge is removed', () => {
    const rule = alertRules.find((r) => r.alert === 'DASAuditGap')!;
    assert.match(rule.expr, /das_last_heartbeat_timestamp_seconds/);
    const threshold = Number(/>\s*(\d+)\s*$/.exec(rule.expr.trim())?.[1]);
    const forSeconds = durationSeconds(rule.for ?? '0s');
    assert.ok(Number.isFinite(threshold) && threshold > 0, `no heartbeat age threshold in ${rule.expr}`);
    const window = threshold + forSeconds;
    assert.ok(window <= MIN_SERIES_EXPIRY_SECONDS / 2, `DASAuditGap needs ${window} s to fire; --series-expiry may be as short as ${MIN_SERIES_EXPIRY_SECONDS} s`);
  });

  it('the metric list matches what src/telemetry/metrics.ts declares', () => {
    const source = readFileSync(join(REPO, 'src/telemetry/metrics.ts'), 'utf8');
    const declared = [...source.matchAll(/name: '(das_[a-z_]+)'/g)].map((match) => match[1]);
    const base = EXPORTED_METRICS.map((name) => name.replace(/_(bucket|sum|count)$/, '')).filter((name, i, all) => all.indexOf(name) === i);
    assert.deepEqual([...base].sort(), [...declared].sort());
  });
});

describe('Prometheus and Alertmanager configuration', () => {
  it('promtool check config passes on prometheus.yml (rules included)', () => {
    mustPass('promtool', ['check', 'config', 'prometheus.yml'], PROMETHEUS_DIR);
  });

  it('prometheus.yml scrapes das-exporter on 9464 as job das-exporter and sends alerts to Alertmanager', () => {
    const config = readYaml(join(PROMETHEUS_DIR, 'prometheus.yml')) as {
      scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
      alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] };
    };
    const job = config.scrape_configs.find((c) => c.job_name === 'das-exporter');
    assert.deepEqual(job?.static_configs[0]?.targets, ['das-exporter:9464']);
    assert.deepEqual(config.alerting.alertmanagers[0]?.static_configs[0]?.targets, ['alertmanager:9093']);
  });

  it('amtool check-config passes on alertmanager.yml', () => {
    mustPass('amtool', ['check-config', join(PROMETHEUS_DIR, 'alertmanager.yml')]);
  });

  it('the rules\' PromQL is valid when extracted on its own (promtool)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'das-rules-promql-'));
    const body = rulePromql().map(({ expr }, index) => `      - record: rule_check_${index}\n        expr: ${JSON.stringify(expr)}`);
    const file = join(dir, 'rule-exprs.yaml');
    writeFileSync(file, `groups:\n  - name: rule-expressions\n    rules:\n${body.join('\n')}\n`);
    mustPass('promtool', ['check', 'rules', file]);
  });
});
