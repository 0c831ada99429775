/**
 * A stand-in for Tempo's configuration loading, for the version the compose
 * stack runs (grafana/tempo 2.7.2): there is no Tempo binary on this machine.
 *
 * Tempo reads its file with `yaml.UnmarshalStrict` (cmd/tempo/main.go), so a
 * key it does not know stops it at start. This checker does the same for the
 * sections das-exporter's config uses, with the keys read from the yaml tags
 * of these v2.7.2 files:
 * - top level: cmd/tempo/app/config.go
 * - distributor: modules/distributor/config.go (receivers is handed to the
 *   OpenTelemetry Collector's receiver factories: not checked here)
 * - ingester: modules/ingester/config.go; compactor: modules/compactor/config.go
 *   and tempodb/compaction config (`compaction`)
 * - storage.trace: tempodb/config.go, tempodb/backend/local, tempodb/wal
 * - metrics_generator: modules/generator/config.go, .../registry/config.go,
 *   .../storage/config.go (remote_write entries are Prometheus'
 *   RemoteWriteConfig), .../processor/servicegraphs/config.go,
 *   .../processor/spanmetrics/config.go
 * - overrides: modules/overrides/config.go (the `defaults` form)
 * A section this checker has no keys for is refused too, so it never passes
 * something it did not look at. It also checks the value types Tempo would
 * refuse to unmarshal for the keys it reads (a list where a list is due).
 *
 * Two checks are stricter than Tempo, on purpose, and say so in their
 * message: the legacy flat overrides (`overrides.metrics_generator_processors`,
 * modules/overrides/config_legacy.go), which Tempo 2.7.2 still reads but
 * which mixes two forms in one file; and an unknown processor name, which
 * Tempo does not refuse at start but only logs ("processor does not exist")
 * when a tenant's generator starts, generating nothing.
 */

/** A key Tempo reads: `true` for a value this checker does not look into, a nested schema, or `list` of a schema. */
type Schema = { [key: string]: true | Schema | { list: Schema } | { stringList: true } };

const REMOTE_WRITE: Schema = {
  url: true, name: true, remote_timeout: true, headers: true, send_exemplars: true, send_native_histograms: true,
  write_relabel_configs: true, queue_config: true, metadata_config: true, basic_auth: true, authorization: true,
  sigv4: true, oauth2: true, tls_config: true, proxy_url: true, follow_redirects: true, enable_http2: true,
};

const SERVICE_GRAPHS: Schema = {
  wait: true, max_items: true, workers: true, histogram_buckets: true, dimensions: { stringList: true },
  enable_client_server_prefix: true, enable_messaging_system_latency_histogram: true, peer_attributes: { stringList: true },
  span_multiplier_key: true, enable_virtual_node_label: true,
};

const SPAN_METRICS: Schema = {
  histogram_buckets: true, intrinsic_dimensions: true, dimensions: { stringList: true }, dimension_mappings: true,
  enable_target_info: true, span_multiplier_key: true, filter_policies: true, target_info_excluded_dimensions: true,
};

const TEMPO_2_7: Schema = {
  target: true,
  auth_enabled: true,
  multitenancy_enabled: true,
  shutdown_delay: true,
  stream_over_http_enabled: true,
  http_api_prefix: true,
  enable_go_runtime_metrics: true,
  server: { http_listen_port: true, http_listen_address: true, grpc_listen_port: true, grpc_listen_address: true, log_level: true, log_format: true },
  distributor: { receivers: true, log_received_spans: true, log_discarded_spans: true, metric_received_spans: true, forwarders: true, usage: true, extend_writes: true, retry_after_on_resource_exhausted: true, ring: true },
  ingester: { lifecycler: true, concurrent_flushes: true, flush_check_period: true, flush_op_timeout: true, trace_idle_period: true, max_block_duration: true, max_block_bytes: true, complete_block_timeout: true, override_ring_key: true, flush_all_on_shutdown: true },
  compactor: {
    disabled: true, ring: true, override_ring_key: true,
    compaction: { block_retention: true, compacted_block_retention: true, compaction_window: true, max_compaction_objects: true, max_block_bytes: true, retention_concurrency: true, max_time_per_tenant: true, compaction_cycle: true, v2_in_buffer_bytes: true, v2_out_buffer_bytes: true, v2_prefetch_traces_count: true },
  },
  storage: {
    trace: { backend: true, local: { path: true }, wal: { path: true, v2_encoding: true, search_encoding: true, ingestion_time_range_slack: true, version: true }, block: true, search: true, pool: true, blocklist_poll: true, cache: true, background_cache: true, memcached: true, redis: true, s3: true, gcs: true, azure: true },
  },
  metrics_generator: {
    ring: true,
    processor: { service_graphs: SERVICE_GRAPHS, span_metrics: SPAN_METRICS, local_blocks: true },
    registry: { collection_interval: true, stale_duration: true, external_labels: true, inject_tenant_id_as: true, max_label_name_length: true, max_label_value_length: true },
    storage: { path: true, wal: true, remote_write_flush_deadline: true, remote_write_add_org_id_header: true, remote_write: { list: REMOTE_WRITE } },
    traces_storage: { path: true },
    metrics_ingestion_time_range_slack: true,
    query_timeout: true,
    override_ring_key: true,
  },
  overrides: {
    defaults: {
      ingestion: true, read: true, compaction: true, global: true, storage: true, cost_attribution: true, forwarders: true,
      metrics_generator: { ring_size: true, processors: { stringList: true }, max_active_series: true, collection_interval: true, disable_collection: true, generate_native_histograms: true, trace_id_label_name: true, remote_write_headers: true, forwarder: true, processor: true, ingestion_time_range_slack: true },
    },
    per_tenant_override_config: true,
    per_tenant_override_period: true,
    user_configurable_overrides: true,
  },
  usage_report: { reporting_enabled: true, backoff: true },
  memberlist: true,
  querier: true,
  query_frontend: true,
  cache: true,
};

/** The processors `overrides.defaults.metrics_generator.processors` may name (modules/generator/processor/*: Name). */
export const TEMPO_PROCESSORS: readonly string[] = ['service-graphs', 'span-metrics', 'local-blocks'];

/** The problems Tempo 2.7.2 would stop on (and the two stricter checks above), as `path: message`; empty when it would start and generate. */
export function checkTempoConfig(config: unknown): string[] {
  const problems: string[] = [];
  walk(config, TEMPO_2_7, '', problems);
  const processors = (config as { overrides?: { defaults?: { metrics_generator?: { processors?: unknown } } } })?.overrides?.defaults?.metrics_generator?.processors;
  if (Array.isArray(processors)) {
    for (const p of processors) {
      if (!TEMPO_PROCESSORS.includes(String(p))) problems.push(`overrides.defaults.metrics_generator.processors: unknown processor ${p} (Tempo would start, log "processor does not exist" and generate nothing)`);
    }
  }
  return problems;
}

function walk(value: unknown, schema: Schema, at: string, problems: string[]): void {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    problems.push(`${at || '(top)'}: a mapping is due`);
    return;
  }
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const path = at ? `${at}.${key}` : key;
    const rule = schema[key];
    if (rule === undefined && path === 'overrides.metrics_generator_processors') {
      problems.push(`${path}: the legacy overrides form, refused here on purpose (Tempo 2.7.2 still reads it): use overrides.defaults.metrics_generator.processors`);
    } else if (rule === undefined) {
      problems.push(`${path}: field ${key} not found in type (unknown to Tempo 2.7.2)`);
    } else if (rule === true) {
      continue;
    } else if ('list' in rule) {
      if (!Array.isArray(child)) problems.push(`${path}: a list is due`);
      else child.forEach((item, i) => walk(item, rule.list as Schema, `${path}[${i}]`, problems));
    } else if ('stringList' in rule) {
      if (!Array.isArray(child) || child.some((item) => typeof item !== 'string')) problems.push(`${path}: a list of strings is due`);
    } else {
      walk(child, rule as Schema, path, problems);
    }
  }
}
