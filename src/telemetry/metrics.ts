/**
 * Every Prometheus metric das-exporter exposes: name, help, type and labels,
 * declared here and nowhere else, on a registry the caller passes in.
 *
 * The registry must be an OpenMetrics one (`createMetricsRegistry()`):
 * prom-client keeps exemplars only on OpenMetrics registries, and
 * `das_statements_total` carries the trace id of the statement that last
 * incremented it. The HTTP server still answers classic Prometheus text to
 * scrapers that do not ask for OpenMetrics (see server.ts).
 *
 * Label values must already be bounded when they reach these metrics
 * (cardinality.ts): `cluster` is the clusterId, or the instanceId for RDS
 * instances; `user`, `database` and `code` are top-N; `command` and `class`
 * are closed sets.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { OpenMetricsContentType } from 'prom-client';

export type MetricsRegistry = Registry<OpenMetricsContentType>;

/** Event lag, now − logTime: sub-second when healthy, up to a day (DAS keeps 24 h) after an outage. */
export const EVENT_LAG_BUCKETS: readonly number[] = [
  0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400,
];

export const PROCESS_METRICS_PREFIX = 'das_exporter_';

/**
 * Typed handles on every metric. `statements` has exemplars enabled, so it
 * must be incremented with the object form, `inc({ labels, exemplarLabels })`;
 * the positional form `inc(labels)` would count the unlabelled series.
 */
export type StatementLabel = 'cluster' | 'db_instance' | 'engine' | 'database' | 'class' | 'command' | 'outcome';

export interface DasMetrics {
  readonly registry: MetricsRegistry;
  readonly statements: Counter<StatementLabel>;
  readonly statementErrors: Counter<'cluster' | 'engine' | 'command' | 'code'>;
  readonly userStatements: Counter<'cluster' | 'user' | 'class'>;
  readonly loginAttempts: Counter<'cluster' | 'user' | 'outcome'>;
  readonly statementRows: Counter<'cluster' | 'class'>;
  readonly eventLag: Histogram<'cluster'>;
  readonly lastEventTimestamp: Gauge<'cluster' | 'db_instance'>;
  readonly lastHeartbeatTimestamp: Gauge<'cluster' | 'db_instance'>;
  readonly redactionFailClosed: Counter<'engine'>;

  readonly millisBehindLatest: Gauge<'stream' | 'shard'>;
  readonly efoSubscriptions: Counter<'stream' | 'shard'>;
  readonly efoSubscriptionsEnded: Counter<'stream' | 'shard' | 'reason'>;
  readonly efoReceivedRecords: Counter<'stream' | 'shard'>;
  readonly efoReceivedBytes: Counter<'stream' | 'shard'>;
  readonly streamUp: Gauge<'stream'>;
  readonly leasesHeld: Gauge<'stream'>;
  readonly checkpointRegressions: Counter<'stream'>;
  readonly records: Counter<'stream' | 'outcome'>;
  readonly events: Counter<'stream' | 'type'>;
  readonly kmsRequests: Counter<'outcome'>;
  readonly dataKeyCacheLookups: Counter<'result'>;
  readonly deadLetters: Counter<'reason'>;
  readonly logRecordsExported: Counter<'outcome'>;
  readonly exportRetries: Counter<'sink'>;
  readonly exportAuthFailures: Counter<'sink' | 'status'>;
  readonly workersLost: Counter;
  readonly spans: Counter<'outcome'>;

  readonly policyEventsDropped: Counter<'rule'>;
  readonly policyMatches: Counter<'rule' | 'action' | 'severity'>;
  readonly policyDropsRefused: Counter<'rule'>;
  readonly policyRuleLastMatch: Gauge<'rule'>;
  readonly policyRules: Gauge<'mode'>;
  readonly policyLoadedTimestamp: Gauge;
  readonly policyReloads: Counter<'result'>;
}

export interface MetricsOptions {
  /**
   * Also expose prom-client's process metrics (CPU, memory, event loop lag,
   * GC) prefixed `das_exporter_`. Off by default: they install process-wide
   * observers, which a test creating many registries does not want; the
   * long-running `run` command should turn them on.
   */
  processMetrics?: boolean;
}

/** A registry of the right kind for `createMetrics`. */
export function createMetricsRegistry(): MetricsRegistry {
  // prom-client's typings omit the constructor's content-type argument; setContentType is the typed equivalent.
  const registry = new Registry<OpenMetricsContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  return registry;
}

export function createMetrics(registry: MetricsRegistry, options: MetricsOptions = {}): DasMetrics {
  if (registry.contentType !== Registry.OPENMETRICS_CONTENT_TYPE) {
    throw new TypeError('das-exporter metrics need an OpenMetrics registry (createMetricsRegistry()): exemplars exist only there');
  }
  const registers = [registry];
  if (options.processMetrics) collectDefaultMetrics({ register: registry, prefix: PROCESS_METRICS_PREFIX });

  return {
    registry,
    statements: new Counter({
      name: 'das_statements_total',
      help: 'Database activity events (statements, logins, …) by where they ran, their class and command, and whether they succeeded.',
      labelNames: ['cluster', 'db_instance', 'engine', 'database', 'class', 'command', 'outcome'] as const,
      enableExemplars: true,
      registers,
    }),
    statementErrors: new Counter({
      name: 'das_statement_errors_total',
      help: 'Failed database activity events by error code (the exit code, or auth_failure / error_message when the engine gave none).',
      labelNames: ['cluster', 'engine', 'command', 'code'] as const,
      registers,
    }),
    userStatements: new Counter({
      name: 'das_user_statements_total',
      help: 'Database activity events by database user (top-N users, the rest under __other__).',
      labelNames: ['cluster', 'user', 'class'] as const,
      registers,
    }),
    loginAttempts: new Counter({
      name: 'das_login_attempts_total',
      help: 'Login attempts by database user and outcome.',
      labelNames: ['cluster', 'user', 'outcome'] as const,
      registers,
    }),
    statementRows: new Counter({
      name: 'das_statement_rows_total',
      help: 'Rows the engine reported for activity events (rowCount).',
      labelNames: ['cluster', 'class'] as const,
      registers,
    }),
    eventLag: new Histogram({
      name: 'das_event_lag_seconds',
      help: 'Time from an event happening in the database (logTime) to its delivery to the sinks.',
      labelNames: ['cluster'] as const,
      buckets: [...EVENT_LAG_BUCKETS],
      registers,
    }),
    lastEventTimestamp: new Gauge({
      name: 'das_last_event_timestamp_seconds',
      help: 'logTime of the newest activity event delivered, as a Unix timestamp.',
      labelNames: ['cluster', 'db_instance'] as const,
      registers,
    }),
    lastHeartbeatTimestamp: new Gauge({
      name: 'das_last_heartbeat_timestamp_seconds',
      help: 'logTime of the newest heartbeat delivered, as a Unix timestamp; a gap means the stream or the database went quiet.',
      labelNames: ['cluster', 'db_instance'] as const,
      registers,
    }),
    redactionFailClosed: new Counter({
      name: 'das_redaction_fail_closed_total',
      help: 'Events whose SQL could not be read with confidence around a credential (an unterminated quote, nothing after IDENTIFIED BY, a positional row into an account table, …), so it was masked from the credential keyword to the end.',
      labelNames: ['engine'] as const,
      registers,
    }),
    millisBehindLatest: new Gauge({
      name: 'das_stream_millis_behind_latest',
      help: 'How far the consumer of a shard is behind the tip of the stream, as Kinesis reports it.',
      labelNames: ['stream', 'shard'] as const,
      registers,
    }),
    efoSubscriptions: new Counter({
      name: 'das_efo_subscriptions_total',
      help: 'Enhanced fan-out: SubscribeToShard calls answered with an event stream, per shard.',
      labelNames: ['stream', 'shard'] as const,
      registers,
    }),
    efoSubscriptionsEnded: new Counter({
      name: 'das_efo_subscriptions_ended_total',
      help: 'Enhanced fan-out: subscriptions (and refused SubscribeToShard calls) that ended, by reason: completed after 5 minutes, shard_end, ended_early, idle_timeout, resource_in_use, limit_exceeded, internal_failure, network, throttled, credentials, unexpected.',
      labelNames: ['stream', 'shard', 'reason'] as const,
      registers,
    }),
    efoReceivedRecords: new Counter({
      name: 'das_efo_received_records_total',
      help: 'Enhanced fan-out: Kinesis records pushed by subscriptions, per shard.',
      labelNames: ['stream', 'shard'] as const,
      registers,
    }),
    efoReceivedBytes: new Counter({
      name: 'das_efo_received_bytes_total',
      help: 'Enhanced fan-out: bytes of record data pushed by subscriptions, per shard.',
      labelNames: ['stream', 'shard'] as const,
      registers,
    }),
    streamUp: new Gauge({
      name: 'das_stream_up',
      help: '1 while a stream is being consumed, 0 when it stopped (for example KMS access denied).',
      labelNames: ['stream'] as const,
      registers,
    }),
    leasesHeld: new Gauge({
      name: 'das_leases_held',
      help: 'Shard leases this exporter holds on a stream.',
      labelNames: ['stream'] as const,
      registers,
    }),
    checkpointRegressions: new Counter({
      name: 'das_checkpoint_regressions_total',
      help: 'Checkpoints refused because they were behind the stored one (a stale writer); the stored checkpoint was kept.',
      labelNames: ['stream'] as const,
      registers,
    }),
    records: new Counter({
      name: 'das_records_total',
      help: 'Kinesis records processed, delivered or set aside as dead letters.',
      labelNames: ['stream', 'outcome'] as const,
      registers,
    }),
    events: new Counter({
      name: 'das_events_total',
      help: 'Entries of delivered records, activity records and heartbeats.',
      labelNames: ['stream', 'type'] as const,
      registers,
    }),
    kmsRequests: new Counter({
      name: 'das_kms_requests_total',
      help: 'KMS Decrypt requests for data keys, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    dataKeyCacheLookups: new Counter({
      name: 'das_data_key_cache_lookups_total',
      help: 'Data key cache lookups; a miss costs a KMS request.',
      labelNames: ['result'] as const,
      registers,
    }),
    deadLetters: new Counter({
      name: 'das_dead_letters_total',
      help: 'Records and events set aside as dead letters, by reason.',
      labelNames: ['reason'] as const,
      registers,
    }),
    logRecordsExported: new Counter({
      name: 'das_log_records_exported_total',
      help: 'OpenTelemetry log records the OTLP exporter sent, by outcome.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    exportRetries: new Counter({
      name: 'das_export_retries_total',
      help: 'Batches a sink asked to retry later.',
      labelNames: ['sink'] as const,
      registers,
    }),
    exportAuthFailures: new Counter({
      name: 'das_export_auth_failures_total',
      help: 'Export requests the backend refused for their credentials (HTTP 401, 403, 407); the events are kept and retried.',
      labelNames: ['sink', 'status'] as const,
      registers,
    }),
    workersLost: new Counter({
      name: 'das_workers_lost_total',
      help: 'Worker threads (--workers) that died; their records were prepared on the main thread.',
      registers,
    }),

    spans: new Counter({
      name: 'das_spans_total',
      help: 'Database spans of traced statements sent to the OTLP traces endpoint (OTEL_TRACES_EXPORTER=otlp), by outcome: delivered, rejected (dead-lettered with the event), retryable (sent again).',
      labelNames: ['outcome'] as const,
      registers,
    }),

    // The audit policy (--policy). `rule` is a rule name of the policy file: at most 200 of them.
    policyEventsDropped: new Counter({
      name: 'das_events_dropped_total',
      help: 'Activity events an audit policy drop rule kept from the logs, by rule: an audit gap that stays visible.',
      labelNames: ['rule'] as const,
      registers,
    }),
    policyMatches: new Counter({
      name: 'das_policy_matches_total',
      help: 'Activity events a tag or alert rule of the audit policy matched, by rule, action (tag, alert) and the rule\'s severity ("none" for a tag without one); the exemplar carries the trace id.',
      labelNames: ['rule', 'action', 'severity'] as const,
      enableExemplars: true,
      registers,
    }),
    policyDropsRefused: new Counter({
      name: 'das_policy_drops_refused_total',
      help: 'Failed logins and privilege changes a drop rule without force: true matched and kept.',
      labelNames: ['rule'] as const,
      registers,
    }),
    policyRuleLastMatch: new Gauge({
      name: 'das_policy_rule_last_match_timestamp_seconds',
      help: 'When a rule of the audit policy last matched an event (drop, tag or alert), Unix seconds; 0 until it has.',
      labelNames: ['rule'] as const,
      registers,
    }),
    policyRules: new Gauge({
      name: 'das_policy_rules',
      help: 'Rules of the audit policy running now, with its mode.',
      labelNames: ['mode'] as const,
      registers,
    }),
    policyLoadedTimestamp: new Gauge({
      name: 'das_policy_loaded_timestamp_seconds',
      help: 'When the audit policy running now was loaded, Unix seconds.',
      registers,
    }),
    policyReloads: new Counter({
      name: 'das_policy_reloads_total',
      help: 'Reloads of the audit policy (SIGHUP or file watch), by result; after a failure the previous policy keeps running.',
      labelNames: ['result'] as const,
      registers,
    }),
  };
}
