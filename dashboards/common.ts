/**
 * What the three das-exporter dashboards share: datasource and template
 * variables, the query builders bound to them, and the last step that gives
 * every panel a stable id.
 *
 * Datasources are chosen by variables (`datasource` for Prometheus,
 * `loki_datasource` for Loki) so the dashboards work in any Grafana; the
 * provisioned datasources in deploy/grafana have fixed uids (`prometheus`,
 * `loki`, `tempo`) and the variables default to them.
 *
 * `cluster` is the Prometheus `cluster` label: the Aurora DbClusterResourceId,
 * or the DbiResourceId for RDS instances (SQL Server, Oracle). In Loki the same
 * id is the `aws_rds_cluster_resource_id` stream label, or
 * `aws_rds_instance_resource_id` for RDS instances, so log queries match it
 * against both (`clusterLogFilter`).
 */
import type * as cog from '@grafana/grafana-foundation-sdk/cog';
import { StackingConfigBuilder, VizLegendOptionsBuilder, VizTooltipOptionsBuilder } from '@grafana/grafana-foundation-sdk/common';
import type * as common from '@grafana/grafana-foundation-sdk/common';
import {
  CustomVariableBuilder,
  DashboardLinkBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  TextBoxVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder as LokiQuery } from '@grafana/grafana-foundation-sdk/loki';
import { DataqueryBuilder as PromQuery } from '@grafana/grafana-foundation-sdk/prometheus';

/** Fixed uids of the datasources deploy/grafana/provisioning creates. */
export const DATASOURCE_UIDS = { prometheus: 'prometheus', loki: 'loki', tempo: 'tempo' } as const;

export const PROMETHEUS = { type: 'prometheus', uid: '${datasource}' } as const;
export const LOKI = { type: 'loki', uid: '${loki_datasource}' } as const;
export const TEMPO = { type: 'tempo', uid: '${tempo_datasource}' } as const;

export const DASHBOARD_TAGS = ['das-exporter', 'database-activity-streams'];

/** The stream labels Loki indexes for das-exporter's log records (promoted OTLP resource attributes). */
export const LOKI_INDEX_LABELS = ['service_name', 'cloud_region', 'aws_rds_cluster_resource_id', 'aws_rds_instance_resource_id'] as const;

/** Prometheus datasource picker, defaulting to the provisioned one. */
export function prometheusDatasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('datasource')
    .label('Prometheus')
    .type('prometheus')
    .current({ selected: true, text: 'Prometheus', value: DATASOURCE_UIDS.prometheus });
}

/** Loki datasource picker, defaulting to the provisioned one. */
export function lokiDatasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('loki_datasource')
    .label('Loki')
    .type('loki')
    .current({ selected: true, text: 'Loki', value: DATASOURCE_UIDS.loki });
}

/** Tempo datasource picker, defaulting to the provisioned one (database spans, README: Traces). */
export function tempoDatasourceVariable(): DatasourceVariableBuilder {
  return new DatasourceVariableBuilder('tempo_datasource')
    .label('Tempo')
    .type('tempo')
    .current({ selected: true, text: 'Tempo', value: DATASOURCE_UIDS.tempo });
}

const ALL = { selected: true, text: ['All'], value: ['$__all'] };

/** Aurora cluster / RDS instance resource ids, from the cheapest series that has them all. */
export function clusterVariable(): QueryVariableBuilder {
  const query = 'label_values(das_last_heartbeat_timestamp_seconds, cluster)';
  return new QueryVariableBuilder('cluster')
    .label('Cluster')
    .description('Aurora DbClusterResourceId, or DbiResourceId for RDS instances')
    .datasource(PROMETHEUS)
    .query({ query, refId: 'cluster', qryType: 1 })
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current(ALL);
}

/** Database users seen on the selected clusters (top-N per exporter; the rest are `__other__`). */
export function userVariable(): QueryVariableBuilder {
  const query = 'label_values(das_user_statements_total{cluster=~"$cluster"}, user)';
  return new QueryVariableBuilder('user')
    .label('User')
    .description('Database user; users beyond the exporter\'s top-N read __other__ in metrics (logs keep every name)')
    .datasource(PROMETHEUS)
    .query({ query, refId: 'user', qryType: 1 })
    .definition(query)
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .allowCustomValue(true)
    .current(ALL);
}

/** Friendly cluster names (Loki `service_name`), to narrow the log stream selector. */
export function serviceVariable(): QueryVariableBuilder {
  return new QueryVariableBuilder('service')
    .label('Service name')
    .description('Friendly cluster name (OTLP service.name); narrows which log streams are read')
    .datasource(LOKI)
    .query({ type: 1, label: 'service_name', refId: 'service', stream: '' })
    .definition('service_name')
    .refresh(VariableRefresh.OnTimeRangeChanged)
    .sort(VariableSort.AlphabeticalAsc)
    .multi(true)
    .includeAll(true)
    .allValue('.+')
    .current(ALL);
}

/** Event classes across engines (PostgreSQL, MySQL, and the common SQL Server / Oracle ones). */
export const CLASS_VALUES = ['READ', 'WRITE', 'FUNCTION', 'ROLE', 'DDL', 'MISC', 'MAIN', 'AUX', 'LOGIN', 'TABLE', 'SCHEMA', 'DATABASE', 'Standard'];

export function classVariable(): CustomVariableBuilder {
  return new CustomVariableBuilder('class')
    .label('Class')
    .values(CLASS_VALUES.join(','))
    .multi(true)
    .includeAll(true)
    .allValue('.*')
    .current(ALL);
}

export function searchVariable(): TextBoxVariableBuilder {
  return new TextBoxVariableBuilder('search')
    .label('Search SQL')
    .description('Case-insensitive regular expression matched against the statement text')
    .defaultValue('')
    .current({ selected: false, text: '', value: '' });
}

export function prometheusQuery(expr: string, legend: string, refId = 'A'): PromQuery {
  return new PromQuery().datasource(PROMETHEUS).expr(expr).legendFormat(legend).range().refId(refId);
}

export function lokiQuery(expr: string, refId = 'A'): LokiQuery {
  return new LokiQuery().datasource(LOKI).expr(expr).refId(refId);
}

/** The log streams of the selected clusters: `service` narrows the selector, `cluster` matches either resource id. */
export const SELECTED_STREAMS = '{service_name=~"$service"} | aws_rds_cluster_resource_id=~"$cluster" or aws_rds_instance_resource_id=~"$cluster"';

/** A link to another das-exporter dashboard that carries the time range and variables along. */
export function dashboardLinks(): DashboardLinkBuilder[] {
  return [
    new DashboardLinkBuilder('das-exporter')
      .type('dashboards' as dashboard.DashboardLinkType)
      .tags(['das-exporter'])
      .asDropdown(true)
      .includeVars(true)
      .keepTime(true)
      .icon('external link')
      .tooltip('')
      .targetBlank(false),
  ];
}

/** A field override that links each trace id to its trace in Tempo (Explore, internal link). */
export function traceLinkOverride(): dashboard.DynamicConfigValue[] {
  return [
    {
      id: 'links',
      value: [
        {
          title: 'View trace in Tempo',
          url: '',
          internal: {
            datasourceUid: DATASOURCE_UIDS.tempo,
            datasourceName: 'Tempo',
            query: { queryType: 'traceql', query: '${__value.raw}' },
          },
        },
      ],
    },
  ];
}

/**
 * Gives every panel (rows included) an id, in layout order: the SDK leaves ids
 * unset, and Grafana needs them unique and stable for links to a panel.
 */
export function numberPanels(built: dashboard.Dashboard): dashboard.Dashboard {
  let next = 1;
  for (const panel of built.panels ?? []) {
    (panel as { id?: number }).id = next++;
    for (const inner of (panel as { panels?: { id?: number }[] }).panels ?? []) inner.id = next++;
  }
  return built;
}

export type DashboardBuilderLike = cog.Builder<dashboard.Dashboard>;

/** Legend options (the SDK takes builders, not plain objects). */
export function legend(displayMode: common.LegendDisplayMode, placement: common.LegendPlacement, calcs: string[] = []): VizLegendOptionsBuilder {
  return new VizLegendOptionsBuilder().displayMode(displayMode).placement(placement).showLegend(true).calcs(calcs);
}

export function tooltip(mode: common.TooltipDisplayMode, sort: common.SortOrder): VizTooltipOptionsBuilder {
  return new VizTooltipOptionsBuilder().mode(mode).sort(sort);
}

export function stacking(mode: common.StackingMode): StackingConfigBuilder {
  return new StackingConfigBuilder().mode(mode);
}
