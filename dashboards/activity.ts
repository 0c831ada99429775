/**
 * "Database activity": what the databases did, from das-exporter's metrics.
 * Heavy queries read the recording rules of deploy/prometheus/rules.yaml
 * (5-minute rates), so the dashboard stays cheap over long ranges.
 */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as BarGauge } from '@grafana/grafana-foundation-sdk/bargauge';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { DataqueryBuilder as TempoQuery, SearchTableType } from '@grafana/grafana-foundation-sdk/tempo';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { GraphDrawStyle, LegendDisplayMode, LegendPlacement, SortOrder, StackingMode, TooltipDisplayMode } from '@grafana/grafana-foundation-sdk/common';
import {
  DASHBOARD_TAGS,
  PROMETHEUS,
  TEMPO,
  clusterVariable,
  dashboardLinks,
  lokiDatasourceVariable,
  tempoDatasourceVariable,
  legend,
  numberPanels,
  prometheusDatasourceVariable,
  prometheusQuery,
  stacking,
  tooltip,
  userVariable,
} from './common.ts';

const C = 'cluster=~"$cluster"';

/** Database spans (das-exporter's, README: Traces) the engine timed, slower than 10 ms. */
export const SLOW_STATEMENTS_TRACEQL = '{ kind = server && span.das.span.timing = "event_times" && duration > 10ms }';

function timeSeries(title: string, unit: string, description: string): TimeSeries {
  return new TimeSeries()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .min(0)
    .fillOpacity(10)
    .legend(legend(LegendDisplayMode.Table, LegendPlacement.Right, ['mean', 'max']))
    .tooltip(tooltip(TooltipDisplayMode.Multi, SortOrder.Descending))
    .height(8)
    .span(12);
}

function stat(title: string, unit: string, expr: string, description: string): Stat {
  return new Stat()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .height(4)
    .span(6)
    .withTarget(prometheusQuery(expr, '').instant());
}

export function activityDashboard(): dashboard.Dashboard {
  const builder = new DashboardBuilder('DAS / Database activity')
    .uid('das-activity')
    .description('Aurora/RDS Database Activity Streams: statements, errors, logins, users, DDL and privilege changes, event lag (das-exporter metrics).')
    .tags(DASHBOARD_TAGS)
    .editable()
    .refresh('1m')
    .time({ from: 'now-6h', to: 'now' })
    .timezone('browser')
    .links(dashboardLinks())
    .withVariable(prometheusDatasourceVariable())
    .withVariable(lokiDatasourceVariable())
    .withVariable(tempoDatasourceVariable())
    .withVariable(clusterVariable())
    .withVariable(userVariable())

    .withRow(new RowBuilder('Overview'))
    .withPanel(stat('Statements/s', 'ops', `sum(cluster_class_command_outcome:das_statements:rate5m{${C}})`, 'All activity events per second (5-minute rate).'))
    .withPanel(stat('Failed share', 'percentunit', `sum(cluster_class_command_outcome:das_statements:rate5m{${C}, outcome="failure"}) / sum(cluster_class_command_outcome:das_statements:rate5m{${C}})`, 'Share of activity events that failed.'))
    .withPanel(stat('Failed logins (range)', 'short', `sum(increase(das_login_attempts_total{${C}, user=~"$user", outcome="failure"}[$__range]))`, 'Failed logins over the dashboard time range.'))
    .withPanel(stat('Event lag p99', 's', `max(cluster_quantile:das_event_lag_seconds:histogram_quantile5m{${C}, quantile="0.99"})`, 'Worst p99 time from an event in the database to its delivery.'))

    .withRow(new RowBuilder('Statements'))
    .withPanel(
      timeSeries('Statements/s by class', 'ops', 'Activity events per second by engine class (READ, WRITE, DDL…; MySQL MAIN/AUX).')
        .stacking(stacking(StackingMode.Normal))
        .withTarget(prometheusQuery(`sum by (cluster, class) (cluster_class_command_outcome:das_statements:rate5m{${C}})`, '{{cluster}} {{class}}').exemplar(true)),
    )
    .withPanel(
      timeSeries('Statements/s by command (top 10)', 'ops', 'The ten busiest commands.')
        .withTarget(prometheusQuery(`topk(10, sum by (command) (cluster_class_command_outcome:das_statements:rate5m{${C}}))`, '{{command}}')),
    )
    .withPanel(
      timeSeries('Statements/s with exemplars', 'ops', 'Raw counter rate with trace-id exemplars: click a diamond to open the trace in Tempo.')
        .withTarget(prometheusQuery(`sum by (cluster) (rate(das_statements_total{${C}}[$__rate_interval]))`, '{{cluster}}').exemplar(true)),
    )
    .withPanel(
      timeSeries('Rows/s by class', 'short', 'Rows the engine reported (rowCount) per second.')
        .withTarget(prometheusQuery(`sum by (cluster, class) (cluster_class:das_statement_rows:rate5m{${C}})`, '{{cluster}} {{class}}')),
    )

    .withRow(new RowBuilder('Errors and logins'))
    .withPanel(
      timeSeries('Errors/s by command and code', 'ops', 'Failed activity events by command and error code (exit code, or failed_login / failure_command / error_message).')
        .withTarget(prometheusQuery(`topk(10, sum by (cluster, command, code) (cluster_engine_command_code:das_statement_errors:rate5m{${C}}))`, '{{cluster}} {{command}} {{code}}')),
    )
    .withPanel(
      timeSeries('Failed logins/s by user', 'ops', 'Failed login attempts per user; __other__ holds names the exporter does not track (not top-N, or only ever seen failing).')
        .withTarget(prometheusQuery(`sum by (cluster, user) (cluster_user_outcome:das_login_attempts:rate5m{${C}, user=~"$user", outcome="failure"})`, '{{cluster}} {{user}}')),
    )
    .withPanel(
      timeSeries('Logins/s by outcome', 'ops', 'Login attempts per second.')
        .withTarget(prometheusQuery(`sum by (outcome) (cluster_user_outcome:das_login_attempts:rate5m{${C}, user=~"$user"})`, '{{outcome}}')),
    )

    .withRow(new RowBuilder('Users'))
    .withPanel(
      new BarGauge()
        .title('Top users by statements/s')
        .description('The ten busiest database users (5-minute rate).')
        .datasource(PROMETHEUS)
        .unit('ops')
        .height(8)
        .span(12)
        .withTarget(prometheusQuery(`topk(10, sum by (user) (cluster_user_class:das_user_statements:rate5m{${C}, user=~"$user"}))`, '{{user}}').instant()),
    )
    .withPanel(
      timeSeries('Statements/s by user and class', 'ops', 'Activity per selected user and class.')
        .withTarget(prometheusQuery(`sum by (user, class) (cluster_user_class:das_user_statements:rate5m{${C}, user=~"$user"})`, '{{user}} {{class}}')),
    )

    .withRow(new RowBuilder('DDL and privilege changes'))
    .withPanel(
      timeSeries('DDL statements', 'short', 'CREATE/ALTER/DROP/RENAME/TRUNCATE statements per interval, by command.')
        .drawStyle(GraphDrawStyle.Bars)
        .withTarget(prometheusQuery(`sum by (cluster, command) (increase(das_statements_total{${C}, command=~"(CREATE|ALTER|DROP|RENAME|TRUNCATE)( .+)?", command!~"(CREATE|ALTER|DROP|RENAME) (ROLE|USER|GROUP|LOGIN)"}[$__rate_interval]))`, '{{cluster}} {{command}}')),
    )
    .withPanel(
      timeSeries('Privilege changes', 'short', 'GRANT/REVOKE and role/user/login changes per interval, by command and outcome.')
        .drawStyle(GraphDrawStyle.Bars)
        .withTarget(prometheusQuery(`sum by (cluster, command, outcome) (increase(das_statements_total{${C}, command=~"GRANT|REVOKE|GRANT ROLE|REVOKE ROLE|(CREATE|ALTER|DROP|RENAME) (ROLE|USER|GROUP|LOGIN)|ALTER DEFAULT PRIVILEGES"}[$__rate_interval]))`, '{{cluster}} {{command}} {{outcome}}')),
    )

    .withRow(new RowBuilder('Traced statements'))
    .withPanel(
      new Table()
        .title('Slow traced statements')
        .description('Database spans das-exporter sent to Tempo (OTEL_TRACES_EXPORTER=otlp) for statements that carried trace context and took over 10 ms by the engine\'s own timing; a trace id opens the application\'s trace with the statement under its database call.')
        .datasource(TEMPO)
        .withTarget(new TempoQuery().datasource(TEMPO).queryType('traceql').query(SLOW_STATEMENTS_TRACEQL).tableType(SearchTableType.Spans).limit(20).refId('A'))
        .height(8)
        .span(24),
    )

    .withRow(new RowBuilder('Audit policy'))
    .withPanel(
      timeSeries('Policy matches', 'short', 'Events the tag and alert rules of the audit policy (--policy) matched per interval, by rule and severity; exemplars carry the trace id.')
        .drawStyle(GraphDrawStyle.Bars)
        .withTarget(prometheusQuery('sum by (rule, severity) (increase(das_policy_matches_total[$__rate_interval]))', '{{rule}} ({{severity}})').exemplar(true)),
    )
    .withPanel(
      timeSeries('Events dropped by policy', 'short', 'Events drop rules kept from the logs per interval, by rule: the audit gap the policy makes, on purpose and visible.')
        .drawStyle(GraphDrawStyle.Bars)
        .withTarget(prometheusQuery('sum by (rule) (increase(das_events_dropped_total[$__rate_interval]))', '{{rule}}')),
    )

    .withRow(new RowBuilder('Event lag'))
    .withPanel(
      timeSeries('Event lag quantiles', 's', 'Time from an event happening in the database (logTime) to its delivery (histogram quantiles, 5-minute window).')
        .withTarget(prometheusQuery(`cluster_quantile:das_event_lag_seconds:histogram_quantile5m{${C}}`, '{{cluster}} p{{quantile}}')),
    )
    .withPanel(
      timeSeries('Newest event age', 's', 'Seconds since the newest activity event (logTime) per instance; quiet databases grow here, heartbeats tell liveness.')
        .withTarget(prometheusQuery(`time() - max by (cluster, db_instance) (das_last_event_timestamp_seconds{${C}})`, '{{cluster}} {{db_instance}}')),
    );
  return numberPanels(builder.build());
}
