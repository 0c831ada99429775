import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { PROCESS_METRICS_PREFIX, createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';

/** The metric set das-exporter promises (README, dashboards and alerts rely on it). */
const EXPECTED: [name: string, type: string, labels: string[]][] = [
  ['das_statements_total', 'counter', ['cluster', 'db_instance', 'engine', 'database', 'class', 'command', 'outcome']],
  ['das_statement_errors_total', 'counter', ['cluster', 'engine', 'command', 'code']],
  ['das_user_statements_total', 'counter', ['cluster', 'user', 'class']],
  ['das_login_attempts_total', 'counter', ['cluster', 'user', 'outcome']],
  ['das_statement_rows_total', 'counter', ['cluster', 'class']],
  ['das_event_lag_seconds', 'histogram', ['cluster']],
  ['das_stream_millis_behind_latest', 'gauge', ['stream', 'shard']],
  ['das_last_event_timestamp_seconds', 'gauge', ['cluster', 'db_instance']],
  ['das_last_heartbeat_timestamp_seconds', 'gauge', ['cluster', 'db_instance']],
  ['das_redaction_fail_closed_total', 'counter', ['engine']],
  ['das_records_total', 'counter', ['stream', 'outcome']],
  ['das_events_total', 'counter', ['stream', 'type']],
  ['das_kms_requests_total', 'counter', ['outcome']],
  ['das_data_key_cache_lookups_total', 'counter', ['result']],
  ['das_dead_letters_total', 'counter', ['reason']],
  ['das_log_records_exported_total', 'counter', ['outcome']],
  ['das_export_retries_total', 'counter', ['sink']],
  ['das_export_auth_failures_total', 'counter', ['sink', 'status']],
  ['das_workers_lost_total', 'counter', []],
  ['das_efo_subscriptions_total', 'counter', ['stream', 'shard']],
  ['das_efo_subscriptions_ended_total', 'counter', ['stream', 'shard', 'reason']],
  ['das_efo_received_records_total', 'counter', ['stream', 'shard']],
  ['das_efo_received_bytes_total', 'counter', ['stream', 'shard']],
  ['das_stream_up', 'gauge', ['stream']],
  ['das_leases_held', 'gauge', ['stream']],
  ['das_checkpoint_regressions_total', 'counter', ['stream']],
  ['das_spans_total', 'counter', ['outcome']],
  ['das_events_dropped_total', 'counter', ['rule']],
  ['das_policy_matches_total', 'counter', ['rule', 'action', 'severity']],
  ['das_policy_drops_refused_total', 'counter', ['rule']],
  ['das_policy_rule_last_match_timestamp_seconds', 'gauge', ['rule']],
  ['das_policy_rules', 'gauge', ['mode']],
  ['das_policy_loaded_timestamp_seconds', 'gauge', []],
  ['das_policy_reloads_total', 'counter', ['result']],
];

describe('metric declarations', () => {
  it('declares exactly the promised metrics, with their types and labels', () => {
    const registry = createMetricsRegistry();
    createMetrics(registry);
    const declared = registry.getMetricsAsArray().map((m) => {
      const metric = m as unknown as { name: string; type: string; labelNames: string[] };
      return [metric.name, metric.type, [...metric.labelNames]];
    });
    assert.deepEqual(
      declared.sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [...EXPECTED].sort((a, b) => a[0].localeCompare(b[0])),
    );
  });

  it('lets event lag reach a day, the stream retention', () => {
    const registry = createMetricsRegistry();
    const metrics = createMetrics(registry);
    const buckets = (metrics.eventLag as unknown as { upperBounds: number[] }).upperBounds;
    assert.ok(buckets.includes(86400), `buckets ${buckets.join(', ')}`);
    assert.ok(buckets.some((b) => b <= 1));
  });

  it('refuses a classic registry, where exemplars cannot exist', () => {
    assert.throws(() => createMetrics(new Registry()), /OpenMetrics registry/);
  });

  it('adds the process metrics under das_exporter_ only when asked', async () => {
    const plain = createMetricsRegistry();
    createMetrics(plain);
    assert.ok(!(await plain.metrics()).includes(PROCESS_METRICS_PREFIX));

    const withProcess = createMetricsRegistry();
    createMetrics(withProcess, { processMetrics: true });
    const text = await withProcess.metrics();
    assert.match(text, /^das_exporter_process_resident_memory_bytes \d+/m);
    assert.doesNotMatch(text, /^process_/m);
  });
});
