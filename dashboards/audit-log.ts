/**
 * "Audit log explorer": the activity events themselves, from Loki.
 *
 * Stream selectors use only Loki's index labels (service_name and the two
 * resource ids); everything else (user_name, aws_rds_das_class, trace_id…)
 * is structured metadata and is filtered after a pipe. Each line's trace_id
 * links to Tempo through the Loki datasource's derived field
 * (deploy/grafana/provisioning), and the table's trace_id column links
 * directly.
 */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { LogsDedupStrategy, LogsSortOrder, LegendDisplayMode, LegendPlacement, StackingMode, GraphDrawStyle } from '@grafana/grafana-foundation-sdk/common';
import { PanelBuilder as Logs } from '@grafana/grafana-foundation-sdk/logs';
import { PanelBuilder as Table } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import {
  DASHBOARD_TAGS,
  LOKI,
  SELECTED_STREAMS,
  classVariable,
  clusterVariable,
  dashboardLinks,
  lokiDatasourceVariable,
  lokiQuery,
  legend,
  numberPanels,
  prometheusDatasourceVariable,
  searchVariable,
  serviceVariable,
  stacking,
  traceLinkOverride,
  userVariable,
} from './common.ts';

/** The selected clusters' events, narrowed by user, class and the free-text search. */
const FILTERED = `${SELECTED_STREAMS} | user_name=~"$user" | aws_rds_das_class=~"$class" |~ "(?i)$search"`;

/** Login commands across engines (PostgreSQL CONNECT/AUTH FAILURE, MySQL CONNECT/FAILED_CONNECT, Oracle LOGON, SQL Server LOGIN …). */
const LOGIN_COMMANDS = '(?i)CONNECT|FAILED_CONNECT|AUTH FAILURE|CHANGEUSER|LOGON|LOGIN (SUCCEEDED|FAILED)|DATABASE AUTHENTICATION (SUCCEEDED|FAILED)';

/** DDL and privilege changes: PostgreSQL classes DDL/ROLE, and the commands other engines report. */
const DDL_OR_ROLE = 'aws_rds_das_class=~"DDL|ROLE" or aws_rds_das_command=~"(?i)(CREATE|ALTER|DROP|RENAME|TRUNCATE)( .+)?|GRANT.*|REVOKE.*"';

function logs(title: string, expr: string, description: string): Logs {
  return new Logs()
    .title(title)
    .description(description)
    .datasource(LOKI)
    .showTime(true)
    .wrapLogMessage(true)
    .enableLogDetails(true)
    .prettifyLogMessage(false)
    .sortOrder(LogsSortOrder.Descending)
    .dedupStrategy(LogsDedupStrategy.None)
    .withTarget(lokiQuery(expr).maxLines(1000));
}

export function auditLogDashboard(): dashboard.Dashboard {
  const builder = new DashboardBuilder('DAS / Audit log explorer')
    .uid('das-audit-log')
    .description('Database Activity Streams events in Loki: search statements by cluster, user, class and text; failed logins; DDL and role changes; jump to the application trace.')
    .tags(DASHBOARD_TAGS)
    .editable()
    .refresh('')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .links(dashboardLinks())
    .withVariable(prometheusDatasourceVariable())
    .withVariable(lokiDatasourceVariable())
    .withVariable(clusterVariable())
    .withVariable(serviceVariable())
    .withVariable(userVariable())
    .withVariable(classVariable())
    .withVariable(searchVariable())

    .withRow(new RowBuilder('Activity'))
    .withPanel(
      new TimeSeries()
        .title('Events by class')
        .description('Log records per interval by event class, for the current filters.')
        .datasource(LOKI)
        .drawStyle(GraphDrawStyle.Bars)
        .stacking(stacking(StackingMode.Normal))
        .legend(legend(LegendDisplayMode.List, LegendPlacement.Bottom, []))
        .height(6)
        .span(24)
        .withTarget(lokiQuery(`sum by (aws_rds_das_class) (count_over_time(${FILTERED} [$__auto]))`).legendFormat('{{aws_rds_das_class}}')),
    )
    .withPanel(
      logs('Activity stream', FILTERED, 'Every event for the filters above, newest first. Open a line for its fields; trace_id links to the trace in Tempo.')
        .height(14)
        .span(24),
    )
    .withPanel(
      new Table()
        .title('Statements with a trace')
        .description('Statements whose SQL carried trace context (sqlcommenter traceparent): click trace_id to open the application trace.')
        .datasource(LOKI)
        .height(10)
        .span(24)
        .withTarget(lokiQuery(`${FILTERED} | trace_id!=""`).maxLines(200))
        .withTransformation({ id: 'extractFields', options: { source: 'labels' } })
        .withTransformation({
          id: 'organize',
          options: {
            includeByName: { Time: true, Line: true, user_name: true, db_namespace: true, db_operation_name: true, service_name: true, trace_id: true },
            indexByName: { Time: 0, service_name: 1, user_name: 2, db_namespace: 3, db_operation_name: 4, Line: 5, trace_id: 6 },
            renameByName: { Line: 'Statement' },
          },
        })
        .overrideByName('trace_id', traceLinkOverride()),
    )

    .withRow(new RowBuilder('Security'))
    .withPanel(
      logs('Failed logins', `${SELECTED_STREAMS} | severity_text="WARN" | aws_rds_das_command=~"${LOGIN_COMMANDS}" | user_name=~"$user"`, 'Login attempts that failed (severity WARN on a login command), any user name, newest first.')
        .height(10)
        .span(12),
    )
    .withPanel(
      logs('DDL and role changes', `${SELECTED_STREAMS} | ${DDL_OR_ROLE} | user_name=~"$user"`, 'Schema changes and privilege changes (GRANT, REVOKE, roles, users), successful or not.')
        .height(10)
        .span(12),
    )
    .withPanel(
      new TimeSeries()
        .title('Failed logins by user')
        .description('Failed login attempts per interval by the user name the client gave (logs keep names the metrics fold into __other__).')
        .datasource(LOKI)
        .drawStyle(GraphDrawStyle.Bars)
        .legend(legend(LegendDisplayMode.Table, LegendPlacement.Right, ['sum']))
        .height(8)
        .span(24)
        .withTarget(
          lokiQuery(`topk(10, sum by (user_name) (count_over_time(${SELECTED_STREAMS} | severity_text="WARN" | aws_rds_das_command=~"${LOGIN_COMMANDS}" [$__auto])))`).legendFormat('{{user_name}}'),
        ),
    );
  return numberPanels(builder.build());
}
