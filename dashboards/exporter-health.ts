/**
 * "Exporter health": is das-exporter keeping up, decrypting, delivering?
 * Streams are named aws-rds-das-<resource id>, so the cluster variable
 * selects streams too.
 */
import { DashboardBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import type * as dashboard from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as Stat } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeSeries } from '@grafana/grafana-foundation-sdk/timeseries';
import { LegendDisplayMode, LegendPlacement, SortOrder, TooltipDisplayMode } from '@grafana/grafana-foundation-sdk/common';
import {
  DASHBOARD_TAGS,
  PROMETHEUS,
  clusterVariable,
  dashboardLinks,
  lokiDatasourceVariable,
  legend,
  numberPanels,
  prometheusDatasourceVariable,
  prometheusQuery,
  stacking,
  tooltip,
  userVariable,
} from './common.ts';

const S = 'stream=~"aws-rds-das-$cluster"';
const C = 'cluster=~"$cluster"';

function timeSeries(title: string, unit: string, description: string): TimeSeries {
  return new TimeSeries()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .min(0)
    .fillOpacity(10)
    .legend(legend(LegendDisplayMode.List, LegendPlacement.Bottom, []))
    .tooltip(tooltip(TooltipDisplayMode.Multi, SortOrder.Descending))
    .height(8)
    .span(12);
}

function stat(title: string, unit: string, expr: string, description: string, legend = ''): Stat {
  return new Stat()
    .title(title)
    .description(description)
    .datasource(PROMETHEUS)
    .unit(unit)
    .height(4)
    .span(6)
    .withTarget(prometheusQuery(expr, legend).instant());
}

export function exporterHealthDashboard(): dashboard.Dashboard {
  const builder = new DashboardBuilder('DAS / Exporter health')
    .uid('das-exporter-health')
    .description('das-exporter itself: stream consumption and lag, records, KMS and the data-key cache, dead letters, export retries, leases, heartbeats.')
    .tags(DASHBOARD_TAGS)
    .editable()
    .refresh('30s')
    .time({ from: 'now-3h', to: 'now' })
    .timezone('browser')
    .links(dashboardLinks())
    .withVariable(prometheusDatasourceVariable())
    .withVariable(lokiDatasourceVariable())
    .withVariable(clusterVariable())
    .withVariable(userVariable())

    .withRow(new RowBuilder('Status'))
    .withPanel(stat('Streams up', 'short', `sum(max by (stream) (das_stream_up{${S}}))`, 'Streams being consumed by at least one replica.'))
    .withPanel(stat('Streams down', 'short', `count(max by (stream) (das_stream_up{${S}}) == 0) or vector(0)`, 'Streams no replica consumes (see /readyz for the reason).'))
    .withPanel(stat('Max lag', 'ms', `max(das_stream_millis_behind_latest{${S}})`, 'Worst shard distance from the tip of its stream; DAS keeps 24 h.'))
    .withPanel(stat('Oldest heartbeat', 's', `max(time() - das_last_heartbeat_timestamp_seconds{${C}})`, 'Age of the stalest instance heartbeat; DASAuditGap fires above 120 s.'))

    .withRow(new RowBuilder('Consumption'))
    .withPanel(
      timeSeries('Lag per shard (millis behind latest)', 'ms', 'How far each shard\'s reader is behind the tip of the stream, as Kinesis reports it.')
        .withTarget(prometheusQuery(`max by (stream, shard) (das_stream_millis_behind_latest{${S}})`, '{{stream}} {{shard}}')),
    )
    .withPanel(
      timeSeries('Records/s', 'ops', 'Kinesis records processed, delivered or dead-lettered.')
        .withTarget(prometheusQuery(`sum by (stream, outcome) (rate(das_records_total{${S}}[$__rate_interval]))`, '{{stream}} {{outcome}}')),
    )
    .withPanel(
      timeSeries('Events/s', 'ops', 'Entries of delivered records: activity records and heartbeats.')
        .withTarget(prometheusQuery(`sum by (stream, type) (rate(das_events_total{${S}}[$__rate_interval]))`, '{{stream}} {{type}}')),
    )
    .withPanel(
      timeSeries('Heartbeat age', 's', 'Seconds since each instance\'s newest heartbeat; heartbeats arrive every few seconds, so growth means a gap in the audit trail.')
        .withTarget(prometheusQuery(`time() - max by (cluster, db_instance) (das_last_heartbeat_timestamp_seconds{${C}})`, '{{cluster}} {{db_instance}}')),
    )
    .withPanel(
      timeSeries('Stream up', 'short', '1 while a replica consumes the stream, 0 when it stopped.')
        .max(1)
        .withTarget(prometheusQuery(`max by (stream) (das_stream_up{${S}})`, '{{stream}}')),
    )
    .withPanel(
      timeSeries('Leases held', 'short', 'Shard leases per replica (the DynamoDB lease table shares shards between replicas).')
        .withTarget(prometheusQuery(`sum by (stream, instance) (das_leases_held{${S}})`, '{{stream}} {{instance}}')),
    )

    .withRow(new RowBuilder('Enhanced fan-out (--consumer efo)'))
    .withPanel(
      timeSeries('Subscriptions started/s', 'ops', 'SubscribeToShard calls answered with an event stream. Each lasts 5 minutes, so about one per shard per 5 minutes when healthy.')
        .withTarget(prometheusQuery(`sum by (stream) (rate(das_efo_subscriptions_total{${S}}[$__rate_interval]))`, '{{stream}}')),
    )
    .withPanel(
      timeSeries('Subscriptions ended by reason', 'short', 'completed (after 5 minutes) and shard_end are normal; resource_in_use, limit_exceeded, internal_failure, network, ended_early and idle_timeout are retried from the last event handled.')
        .withTarget(prometheusQuery(`sum by (reason) (increase(das_efo_subscriptions_ended_total{${S}}[$__rate_interval]))`, '{{reason}}')),
    )
    .withPanel(
      timeSeries('Received per shard', 'Bps', 'Record data pushed by subscriptions; each consumer has 2 MB/s per shard of its own.')
        .withTarget(prometheusQuery(`sum by (stream, shard) (rate(das_efo_received_bytes_total{${S}}[$__rate_interval]))`, '{{stream}} {{shard}}')),
    )
    .withPanel(
      timeSeries('Records received/s', 'ops', 'Kinesis records pushed by subscriptions.')
        .withTarget(prometheusQuery(`sum by (stream) (rate(das_efo_received_records_total{${S}}[$__rate_interval]))`, '{{stream}}')),
    )

    .withRow(new RowBuilder('Decryption'))
    .withPanel(
      timeSeries('KMS requests/s by outcome', 'ops', 'KMS Decrypt calls for data keys. throttled is retried; access_denied stops the stream.')
        .withTarget(prometheusQuery('sum by (outcome) (rate(das_kms_requests_total[$__rate_interval]))', '{{outcome}}')),
    )
    .withPanel(
      timeSeries('Data-key cache hit ratio', 'percentunit', 'Share of data-key lookups answered without calling KMS (DAS reuses a data key across consecutive records).')
        .max(1)
        .withTarget(
          prometheusQuery(
            'sum(rate(das_data_key_cache_lookups_total{result="hit"}[$__rate_interval])) / sum(rate(das_data_key_cache_lookups_total[$__rate_interval]))',
            'hit ratio',
          ),
        ),
    )

    .withRow(new RowBuilder('Delivery'))
    .withPanel(
      timeSeries('Dead letters by reason', 'short', 'Records and events set aside per interval; they are not in Loki or the metrics.')
        .withTarget(prometheusQuery('sum by (reason) (increase(das_dead_letters_total[$__rate_interval]))', '{{reason}}')),
    )
    .withPanel(
      timeSeries('Export retries/s by sink', 'ops', 'Batches retried by a sink (OTLP, …) after a retryable failure.')
        .withTarget(prometheusQuery('sum by (sink) (rate(das_export_retries_total[$__rate_interval]))', '{{sink}}')),
    )
    .withPanel(
      timeSeries('Log records exported/s by outcome', 'ops', 'OpenTelemetry log records the OTLP exporter sent.')
        .withTarget(prometheusQuery('sum by (outcome) (rate(das_log_records_exported_total[$__rate_interval]))', '{{outcome}}')),
    );
  return numberPanels(builder.build());
}
