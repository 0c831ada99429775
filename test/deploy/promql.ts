/**
 * Every PromQL expression das-exporter ships, with where it comes from:
 * dashboard targets and template variables (dashboards/), and recording and
 * alerting rules (deploy/prometheus/rules.yaml).
 *
 * Used by the tests that check names and syntax, and meant for a later test
 * that runs each expression against a Prometheus scraping das-exporter in
 * demo mode and expects data: `interpolate()` turns a dashboard expression
 * into one Prometheus accepts as is.
 */
import { fileURLToPath } from 'node:url';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { buildDashboards } from '../../dashboards/build.ts';
import { readYaml } from './tools.ts';

export const RULES_FILE = fileURLToPath(new URL('../../deploy/prometheus/rules.yaml', import.meta.url));

export interface PromqlExpression {
  /** e.g. `dashboard das-activity / panel "Statements/s by class"` or `rule DASAuditGap`. */
  source: string;
  expr: string;
  kind: 'dashboard' | 'variable' | 'recording' | 'alert';
}

/** Metrics das-exporter exposes (src/telemetry/metrics.ts), with a histogram's series. */
export const EXPORTED_METRICS: readonly string[] = [
  'das_statements_total', 'das_statement_errors_total', 'das_user_statements_total', 'das_login_attempts_total',
  'das_statement_rows_total', 'das_event_lag_seconds_bucket', 'das_event_lag_seconds_sum', 'das_event_lag_seconds_count',
  'das_stream_millis_behind_latest', 'das_last_event_timestamp_seconds', 'das_last_heartbeat_timestamp_seconds',
  'das_records_total', 'das_events_total', 'das_kms_requests_total', 'das_data_key_cache_lookups_total',
  'das_dead_letters_total', 'das_log_records_exported_total', 'das_export_retries_total', 'das_stream_up', 'das_leases_held',
  'das_workers_lost_total', 'das_checkpoint_regressions_total', 'das_redaction_fail_closed_total',
  'das_export_auth_failures_total', 'das_efo_subscriptions_total', 'das_efo_subscriptions_ended_total',
  'das_efo_received_records_total', 'das_efo_received_bytes_total',
  'das_spans_total', 'das_events_dropped_total', 'das_policy_matches_total', 'das_policy_drops_refused_total', 'das_policy_rule_last_match_timestamp_seconds',
  'das_policy_rules', 'das_policy_loaded_timestamp_seconds', 'das_policy_reloads_total',
];

/** Series Prometheus itself produces for every target. */
export const SCRAPE_METRICS: readonly string[] = ['up'];

interface RuleFile {
  groups: { name: string; rules: { record?: string; alert?: string; expr: string; labels?: Record<string, string>; annotations?: Record<string, string>; for?: string }[] }[];
}

export function loadRules(path: string = RULES_FILE): RuleFile {
  return readYaml(path) as RuleFile;
}

export function recordingRuleNames(path: string = RULES_FILE): string[] {
  return loadRules(path).groups.flatMap((group) => group.rules.flatMap((rule) => (rule.record ? [rule.record] : [])));
}

export function rulePromql(path: string = RULES_FILE): PromqlExpression[] {
  return loadRules(path).groups.flatMap((group) =>
    group.rules.map((rule) => ({
      source: rule.record ? `recording rule ${rule.record}` : `alert ${rule.alert}`,
      expr: rule.expr.trim(),
      kind: rule.record ? ('recording' as const) : ('alert' as const),
    })),
  );
}

interface AnyPanel {
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: { expr?: string; query?: string; datasource?: { type?: string } }[];
  panels?: AnyPanel[];
}

/** Every target of every panel, rows included, with the datasource type it queries. */
export function panelTargets(built: dashboard.Dashboard): { panel: string; type: string; expr: string }[] {
  const out: { panel: string; type: string; expr: string }[] = [];
  const visit = (panel: AnyPanel) => {
    for (const target of panel.targets ?? []) {
      const type = target.datasource?.type ?? panel.datasource?.type ?? 'unknown';
      if (typeof target.expr === 'string') out.push({ panel: panel.title ?? '(untitled)', type, expr: target.expr });
      // Tempo's TraceQL is its `query`.
      else if (type === 'tempo' && typeof target.query === 'string') out.push({ panel: panel.title ?? '(untitled)', type, expr: target.query });
    }
    for (const inner of panel.panels ?? []) visit(inner);
  };
  for (const panel of (built.panels ?? []) as AnyPanel[]) visit(panel);
  return out;
}

export function dashboardPromql(dashboards: dashboard.Dashboard[] = buildDashboards()): PromqlExpression[] {
  return dashboards.flatMap((built) => {
    const fromPanels = panelTargets(built)
      .filter((target) => target.type === 'prometheus')
      .map((target) => ({ source: `dashboard ${built.uid} / panel "${target.panel}"`, expr: target.expr, kind: 'dashboard' as const }));
    const fromVariables = (built.templating?.list ?? []).flatMap((variable) => {
      const query = variable.query as { query?: unknown } | string | undefined;
      const text = typeof query === 'object' && typeof query?.query === 'string' ? query.query : undefined;
      const match = text === undefined || variable.datasource?.type !== 'prometheus' ? null : /^label_values\((.+),\s*\w+\)$/.exec(text);
      return match?.[1] ? [{ source: `dashboard ${built.uid} / variable ${variable.name}`, expr: match[1], kind: 'variable' as const }] : [];
    });
    return [...fromPanels, ...fromVariables];
  });
}

/** Everything: dashboards first, then rules. */
export function allPromql(): PromqlExpression[] {
  return [...dashboardPromql(), ...rulePromql()];
}

/**
 * A dashboard expression with Grafana's variables replaced by values
 * Prometheus accepts: intervals by durations, template variables by `.*`
 * (their "All" value).
 */
export function interpolate(expr: string): string {
  return expr
    .replace(/\$__rate_interval|\$__interval|\$__auto/g, '1m')
    .replace(/\$__range/g, '1h')
    .replace(/\$\{?(\w+)\}?/g, '.*');
}

/**
 * The metric names an expression reads: identifiers directly before `{`, `[`
 * or standing alone that are not functions, keywords or grouping labels.
 * String literals are removed first, so label values never count.
 */
export function metricNames(expr: string): string[] {
  const code = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const names = new Set<string>();
  const identifier = /[a-zA-Z_:][a-zA-Z0-9_:]*/g;
  for (const match of code.matchAll(identifier)) {
    const name = match[0];
    const after = code.slice((match.index ?? 0) + name.length).trimStart();
    const before = code.slice(0, match.index ?? 0);
    if (after.startsWith('(')) continue; // a function call
    if (PROMQL_WORDS.has(name)) continue;
    if (/[\d.]$/.test(before) || /\[[^\]]*$/.test(before)) continue; // part of a number or a duration
    if (/\{[^}]*$/.test(before)) continue; // a label name inside a selector
    names.add(name);
  }
  return [...names];
}

const PROMQL_WORDS = new Set(['and', 'or', 'unless', 'offset', 'bool', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan', 'Inf', 'NaN', 'm', 's', 'h', 'd', 'w', 'y', 'ms']);
