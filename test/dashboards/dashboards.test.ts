/**
 * The dashboards are code: the committed JSON is the generator's output, and
 * every query in them reads only what das-exporter produces.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SyntaxNode } from '@lezer/common';
import { parser } from '@grafana/lezer-logql';
import { parser as traceqlParser } from '@grafana/lezer-traceql';
import { DASHBOARDS_DIR, buildDashboards, fileNameOf, render } from '../../dashboards/build.ts';
import { LOKI_INDEX_LABELS } from '../../dashboards/common.ts';
import { EXPORTED_METRICS, dashboardPromql, interpolate, metricNames, panelTargets, recordingRuleNames } from '../deploy/promql.ts';
import { mustPass } from '../deploy/tools.ts';

/** Structured metadata das-exporter's log records carry in Loki (OTLP attributes, dots as underscores). */
const LOKI_STRUCTURED_METADATA = [
  'user_name', 'db_namespace', 'db_operation_name', 'db_collection_name', 'db_query_summary', 'db_system_name',
  'client_address', 'session_id', 'log_record_uid', 'trace_id', 'span_id', 'severity_text', 'aws_rds_das_class',
  'aws_rds_das_command', 'error_type', 'db_response_status_code', 'event_name',
];

/** Variables each dashboard must offer (the exporter-health dashboard has no use for a user filter, but keeps it for links). */
const REQUIRED_VARIABLES = ['datasource', 'loki_datasource', 'cluster', 'user'];

const EXPECTED_UIDS = ['das-activity', 'das-audit-log', 'das-exporter-health'];

const built = buildDashboards();

describe('dashboards', () => {
  for (const dashboard of built) {
    it(`${dashboard.uid}.json is what dashboards/build.ts generates (run \`npx tsx dashboards/build.ts\`)`, () => {
      const committed = readFileSync(join(DASHBOARDS_DIR, fileNameOf(dashboard)), 'utf8');
      assert.equal(committed, render(dashboard));
    });
  }

  it('dashboards/ holds exactly the generated JSON files, with the fixed uids', () => {
    const files = readdirSync(DASHBOARDS_DIR).filter((name) => name.endsWith('.json')).sort();
    assert.deepEqual(files, built.map(fileNameOf).sort());
    assert.deepEqual(built.map((dashboard) => dashboard.uid), EXPECTED_UIDS);
  });

  for (const dashboard of built) {
    it(`${dashboard.uid} has the datasource, cluster and user variables`, () => {
      const variables = new Map((dashboard.templating?.list ?? []).map((variable) => [variable.name, variable]));
      for (const name of REQUIRED_VARIABLES) assert.ok(variables.has(name), `variable ${name} is missing`);
      assert.equal(variables.get('datasource')?.query, 'prometheus');
      assert.equal(variables.get('loki_datasource')?.query, 'loki');
    });

    it(`${dashboard.uid} gives every panel a unique id and every query a datasource variable`, () => {
      const ids: number[] = [];
      const visit = (panels: { id?: number; panels?: unknown[] }[]) => {
        for (const panel of panels) {
          assert.equal(typeof panel.id, 'number');
          ids.push(panel.id as number);
          visit((panel.panels ?? []) as { id?: number }[]);
        }
      };
      visit((dashboard.panels ?? []) as { id?: number }[]);
      assert.equal(new Set(ids).size, ids.length, 'panel ids repeat');
      for (const target of panelTargets(dashboard)) {
        assert.ok(['prometheus', 'loki', 'tempo'].includes(target.type), `panel "${target.panel}" queries ${target.type}`);
      }
      const json = JSON.stringify(dashboard);
      for (const match of json.matchAll(/"datasource":\{"type":"(\w+)","uid":"([^"]*)"\}/g)) {
        assert.ok(['${datasource}', '${loki_datasource}', '${tempo_datasource}'].includes(match[2]!), `hard-coded datasource uid ${match[2]}`);
      }
    });
  }
});

describe('dashboard LogQL', () => {
  const logql = built.flatMap((dashboard) =>
    panelTargets(dashboard)
      .filter((target) => target.type === 'loki')
      .map((target) => ({ where: `${dashboard.uid} / "${target.panel}"`, expr: target.expr })),
  );

  it('the audit log explorer has LogQL queries', () => {
    assert.ok(logql.length >= 5, `only ${logql.length} LogQL queries`);
  });

  for (const { where, expr } of logql) {
    it(`${where} parses and selects streams by index labels only`, () => {
      const text = interpolate(expr);
      const tree = parser.parse(text);
      const errors: string[] = [];
      const selectorLabels: string[] = [];
      const pipelineLabels: string[] = [];
      tree.iterate({
        enter(node) {
          if (node.type.isError) errors.push(`at ${node.from}: "${text.slice(node.from, node.to + 10)}"`);
          if (node.name === 'Identifier' && node.node.parent?.name === 'Matcher') {
            const inSelector = ancestor(node.node, 'Selector') !== null;
            (inSelector ? selectorLabels : pipelineLabels).push(text.slice(node.from, node.to));
          }
          if (node.name === 'Identifier' && ancestor(node.node, 'Grouping') !== null) pipelineLabels.push(text.slice(node.from, node.to));
        },
      });
      assert.deepEqual(errors, [], `LogQL does not parse: ${text}`);
      assert.ok(selectorLabels.length > 0, 'no stream selector');
      for (const label of selectorLabels) {
        assert.ok((LOKI_INDEX_LABELS as readonly string[]).includes(label), `stream selector uses ${label}, which Loki does not index (filter it after a pipe)`);
      }
      for (const label of pipelineLabels) {
        assert.ok(
          (LOKI_INDEX_LABELS as readonly string[]).includes(label) || LOKI_STRUCTURED_METADATA.includes(label),
          `${label} is neither a stream label nor structured metadata das-exporter sends`,
        );
      }
    });
  }
});

describe('dashboard PromQL', () => {
  const expressions = dashboardPromql(built);
  const allowed = new Set([...EXPORTED_METRICS, ...recordingRuleNames()]);

  for (const { source, expr } of expressions) {
    it(`${source} reads only das-exporter metrics and recording rules`, () => {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `no metric found in ${expr}`);
      for (const name of names) assert.ok(allowed.has(name), `${name} is not a das-exporter metric or a recording rule of rules.yaml`);
    });
  }

  it('every dashboard PromQL expression is valid (promtool check rules)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'das-dashboards-promql-'));
    const rules = expressions.map(({ expr }, index) => `      - record: dashboard_check_${index}\n        expr: ${JSON.stringify(interpolate(expr))}`);
    const file = join(dir, 'dashboard-exprs.yaml');
    writeFileSync(file, `groups:\n  - name: dashboard-expressions\n    rules:\n${rules.join('\n')}\n`);
    mustPass('promtool', ['check', 'rules', file]);
  });
});

function ancestor(node: SyntaxNode, name: string): SyntaxNode | null {
  for (let current = node.parent; current; current = current.parent) if (current.name === name) return current;
  return null;
}

describe('dashboard TraceQL', () => {
  const traceql = built.flatMap((dashboard) =>
    panelTargets(dashboard)
      .filter((target) => target.type === 'tempo')
      .map((target) => ({ where: `${dashboard.uid} / "${target.panel}"`, expr: target.expr })),
  );

  it('the activity dashboard lists slow traced statements from Tempo', () => {
    assert.ok(traceql.some((q) => q.where.startsWith('das-activity /')), 'no Tempo query');
  });

  for (const { where, expr } of traceql) {
    it(`${where} parses with Tempo's TraceQL grammar and selects das-exporter's database spans`, () => {
      const errors: string[] = [];
      traceqlParser.parse(expr).iterate({ enter: (node) => void (node.type.isError && errors.push(`at ${node.from}`)) });
      assert.deepEqual(errors, [], expr);
      // das.span.timing is an attribute only das-exporter's database spans have (src/sinks/otlp/spans.ts).
      assert.match(expr, /kind = server/);
      assert.match(expr, /span\.das\.span\.timing/);
    });
  }
});
