/**
 * The one typed configuration of das-exporter, validated once at start-up.
 *
 * Values come from command-line flags, then environment variables, then the
 * defaults documented beside each field (the README's configuration table
 * mirrors this file). Every bad value is reported at once, naming the flag or
 * variable, and the process refuses to start: a bad value never silently
 * falls back to a default.
 */
import { z } from 'zod';
import { REDACTION_MODES } from '../enrich/redaction-modes.ts';
import { OLD_EVENTS_MODES } from '../sinks/otlp/old-events.ts';
import { MIN_SERIES_EXPIRY_SECONDS } from '../telemetry/series-expiry.ts';
import { CONSUMER_MODES, CONSUMER_NAME } from '../source/kinesis/consumer-modes.ts';
import { ConfigError } from './errors.ts';
import { parsePairs, parseResourceIds } from './pairs.ts';

export { ConfigError } from './errors.ts';
export { parsePairs, parseResourceIds } from './pairs.ts';

const positiveInt = z.coerce.number().int().positive();

export const configSchema = z.object({
  /** `--stream` / `DAS_STREAMS`: DAS stream names or ARNs (`aws-rds-das-<resource id>`). */
  streams: z
    .array(
      z
        .string()
        .regex(
          /^([A-Za-z0-9_.-]{1,128}|arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/[A-Za-z0-9_.-]{1,128})$/,
          'expected a Kinesis stream name (aws-rds-das-<resource id>) or a stream ARN',
        ),
    )
    .default([]),
  /**
   * `--resource-id [stream=]id` / `DAS_RESOURCE_ID`: the DbClusterResourceId or DbiResourceId
   * whose encryption context opens a stream's data keys, when the stream name does not tell it.
   * Keyed by stream name; the key `*` applies to every stream.
   */
  resourceIds: z.record(z.string(), z.string().regex(/^(cluster|db)-[A-Za-z0-9_-]+$/, 'expected cluster-… or db-…')).default({}),
  /** `--redact` / `DAS_REDACT`: what to hide in SQL text and parameters (default passwords). */
  redact: z.enum(REDACTION_MODES).default('passwords'),
  /**
   * `--old-events` / `DAS_OLD_EVENTS`: which time an OTLP log record's Timestamp is: `event-time` (default, the
   * event's own) or `observed-time` (left unset, so Loki files the record at the time it was read, and
   * `aws.rds.das.event_time` keeps the event's): a replay or catch-up of events older than Loki's
   * `reject_old_samples_max_age` (168 h) is then accepted instead of dead-lettered.
   */
  oldEvents: z.enum(OLD_EVENTS_MODES).default('event-time'),
  /** `--heartbeats`: replay also writes heartbeat events (default off). */
  heartbeats: z.boolean().default(false),
  /** `--state-dir` / `DAS_STATE_DIR`: checkpoints and dead letters (default ./.das-exporter). */
  stateDir: z.string().min(1).default('./.das-exporter'),
  /** `--max-record-bytes` / `DAS_MAX_RECORD_BYTES`: cap on one record's decompressed size (default 64 MiB). */
  maxRecordBytes: positiveInt.default(64 * 1024 * 1024),
  /** `DAS_DATA_KEY_CACHE_SIZE`: data keys kept in memory (default 1000). */
  dataKeyCacheSize: positiveInt.default(1000),
  /** `DAS_DATA_KEY_TTL_SECONDS`: seconds a data key stays cached (default 600). */
  dataKeyTtlSeconds: positiveInt.default(600),
  /** `--concurrency` / `DAS_CONCURRENCY`: records opened at once per batch (default 4). */
  concurrency: positiveInt.default(4),
  /**
   * `--workers` / `DAS_WORKERS`: worker threads that decrypt, decode, enrich and encode
   * records (default 0: all on the main thread, crypto and zlib on the thread pool).
   * Only with an OTLP/protobuf endpoint. One per core is faster (see the README benchmark) and costs about 75 MiB each.
   */
  workers: z.coerce.number().int().min(0).max(64).default(0),
  /**
   * `--start-position` / `DAS_START_POSITION`: where a shard without a checkpoint starts:
   * `trim_horizon` (default: an audit tool starts from the oldest record), `latest`, or `at_timestamp:<ISO time>`.
   */
  startPosition: z
    .string()
    .regex(/^(trim_horizon|latest|at_timestamp:.+)$/, 'expected trim_horizon, latest or at_timestamp:<ISO time>')
    .refine((v) => !v.startsWith('at_timestamp:') || !Number.isNaN(Date.parse(v.slice('at_timestamp:'.length))), 'the timestamp does not parse')
    .default('trim_horizon'),
  /**
   * `--get-records-limit` / `DAS_GET_RECORDS_LIMIT`: records per GetRecords call, 1–10000 (default 1000); with
   * `--consumer efo`, records of one subscription event delivered and checkpointed at once.
   */
  getRecordsLimit: positiveInt.max(10_000).default(1000),
  /**
   * `--consumer` / `DAS_CONSUMER`: how shards are read: `polling` (default, GetRecords, sharing each shard's
   * 2 MB/s and 5 reads a second with every other poller) or `efo` (enhanced fan-out: SubscribeToShard as a
   * registered consumer with its own 2 MB/s per shard, pushed over HTTP/2; needs --consumer-name).
   */
  consumer: z.enum(CONSUMER_MODES).default('polling'),
  /**
   * `--consumer-name` / `DAS_CONSUMER_NAME`: with `--consumer efo`, the registered stream consumer to read as:
   * registered if missing, reused if present, shared by every replica of one deployment.
   */
  consumerName: z.string().regex(CONSUMER_NAME, 'expected 1-128 letters, digits, _ . or -').optional(),
  /** `--deregister-on-stop` / `DAS_DEREGISTER_ON_STOP`: with `--consumer efo`, deregister the consumer on stop (default false: kept for the next start). */
  deregisterOnStop: z.boolean().default(false),
  /** `--discovery-interval` / `DAS_DISCOVERY_INTERVAL_SECONDS`: seconds between shard discoveries (default 10). */
  discoveryIntervalSeconds: positiveInt.default(10),
  /** `--leases` / `DAS_LEASES`: `file` (default: checkpoints in --state-dir, one process per stream) or `dynamodb:<table>`. */
  leases: z.string().regex(/^(file|dynamodb:[A-Za-z0-9_.-]{3,255})$/, 'expected file or dynamodb:<table name>').default('file'),
  /**
   * `--lease-failover` / `DAS_LEASE_FAILOVER_SECONDS`: with `dynamodb:` leases, seconds a lease may go
   * unrenewed before another worker takes it (default 10, KCL's failoverTimeMillis); renewed every third of it.
   */
  leaseFailoverSeconds: positiveInt.default(10),
  /**
   * `--lock-timeout` / `DAS_LOCK_TIMEOUT_SECONDS`: with `file` leases, seconds a stream's lock in --state-dir may
   * go without a heartbeat before a process on any host sharing the directory takes it over (default 30);
   * the holder rewrites it every third of that.
   */
  lockTimeoutSeconds: positiveInt.default(30),
  /** `--metrics-host` / `DAS_METRICS_HOST`: address the metrics and health server binds (default 0.0.0.0). */
  metricsHost: z.string().min(1).default('0.0.0.0'),
  /** `--metrics-port` / `DAS_METRICS_PORT`: its port (default 9464; 0 picks a free one). */
  metricsPort: z.coerce.number().int().min(0).max(65535).default(9464),
  /** `DAS_METRICS_TOKEN`: when set, every request to the server needs `Authorization: Bearer <token>`. */
  metricsToken: z.string().min(16, 'a bearer token shorter than 16 characters is too easy to guess').optional(),
  /** `--label-top-n` / `DAS_LABEL_TOP_N`: distinct user, database and error-code label values kept before folding into __other__ (default 50). */
  labelTopN: positiveInt.default(50),
  /**
   * `--series-expiry` / `DAS_SERIES_EXPIRY_SECONDS`: seconds an instance (or a cluster) may go unseen,
   * no event and no heartbeat, before its series are removed (default 86400, 24 h; at least 3600, so
   * DASAuditGap fires long before its heartbeat gauge goes).
   */
  seriesExpirySeconds: z.coerce
    .number()
    .int()
    .min(MIN_SERIES_EXPIRY_SECONDS, `expected at least ${MIN_SERIES_EXPIRY_SECONDS} seconds: DASAuditGap must fire before the heartbeat gauge is removed`)
    .default(86_400),
  /**
   * `--policy FILE` / `DAS_POLICY_FILE`: an audit policy (YAML, docs/policies.md) whose rules drop, tag and
   * alert on events; an invalid file refuses the start, SIGHUP reloads it (default none: every event is emitted).
   */
  policyFile: z.string().min(1).optional(),
  /** `--policy-watch` / `DAS_POLICY_WATCH`: also reload the policy when its file changes (default false: SIGHUP only). */
  policyWatch: z.boolean().default(false),
  /** `--service-name id=name` / `DAS_SERVICE_NAMES`: friendly `service.name` per resource id (default the id). */
  serviceNames: z
    .record(z.string(), z.string().min(1, 'expected <resource id>=<name>'))
    .superRefine((names, ctx) => {
      for (const id of Object.keys(names)) {
        if (!/^(cluster|db)-[A-Za-z0-9_-]+$/.test(id)) ctx.addIssue({ code: 'custom', message: `expected <resource id>=<name> with a cluster-… or db-… id (got "${id}")` });
      }
    })
    .default({}),
});

export type Config = z.infer<typeof configSchema>;

/** What one field alone cannot say: enhanced fan-out reads as a named consumer. */
function crossFieldProblems(config: Config): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  if (config.consumer === 'efo' && config.consumerName === undefined) {
    problems.push({ field: 'consumerName', message: '--consumer efo reads as a registered stream consumer: name it (the same name in every replica of one deployment)' });
  }
  if (config.policyWatch && config.policyFile === undefined) {
    problems.push({ field: 'policyWatch', message: 'there is no policy file to watch: give --policy FILE' });
  }
  if (config.deregisterOnStop && config.leases.startsWith('dynamodb:')) {
    problems.push({
      field: 'deregisterOnStop',
      message: 'not with --leases dynamodb:…: the replicas sharing the lease table read as one consumer, and the first to stop would deregister it under the others',
    });
  }
  return problems;
}
export type ConfigInput = z.input<typeof configSchema>;

/** Names a field as the user wrote it (flag and variable), for error messages. */
const FIELD_NAMES: Record<string, string> = {
  streams: '--stream / DAS_STREAMS',
  resourceIds: '--resource-id / DAS_RESOURCE_ID',
  redact: '--redact / DAS_REDACT',
  oldEvents: '--old-events / DAS_OLD_EVENTS',
  stateDir: '--state-dir / DAS_STATE_DIR',
  maxRecordBytes: '--max-record-bytes / DAS_MAX_RECORD_BYTES',
  dataKeyCacheSize: 'DAS_DATA_KEY_CACHE_SIZE',
  dataKeyTtlSeconds: 'DAS_DATA_KEY_TTL_SECONDS',
  concurrency: '--concurrency / DAS_CONCURRENCY',
  workers: '--workers / DAS_WORKERS',
  startPosition: '--start-position / DAS_START_POSITION',
  getRecordsLimit: '--get-records-limit / DAS_GET_RECORDS_LIMIT',
  consumer: '--consumer / DAS_CONSUMER',
  consumerName: '--consumer-name / DAS_CONSUMER_NAME',
  deregisterOnStop: '--deregister-on-stop / DAS_DEREGISTER_ON_STOP',
  discoveryIntervalSeconds: '--discovery-interval / DAS_DISCOVERY_INTERVAL_SECONDS',
  leases: '--leases / DAS_LEASES',
  leaseFailoverSeconds: '--lease-failover / DAS_LEASE_FAILOVER_SECONDS',
  lockTimeoutSeconds: '--lock-timeout / DAS_LOCK_TIMEOUT_SECONDS',
  metricsHost: '--metrics-host / DAS_METRICS_HOST',
  metricsPort: '--metrics-port / DAS_METRICS_PORT',
  metricsToken: 'DAS_METRICS_TOKEN',
  labelTopN: '--label-top-n / DAS_LABEL_TOP_N',
  seriesExpirySeconds: '--series-expiry / DAS_SERIES_EXPIRY_SECONDS',
  serviceNames: '--service-name / DAS_SERVICE_NAMES',
  policyFile: '--policy / DAS_POLICY_FILE',
  policyWatch: '--policy-watch / DAS_POLICY_WATCH',
};

/** Fields whose values never appear in an error message. */
const SECRET_FIELDS: ReadonlySet<string> = new Set(['metricsToken']);

/** Environment variables read, and the field each fills. Flags win over them. */
export function fromEnvironment(env: NodeJS.ProcessEnv): ConfigInput {
  const input: Record<string, unknown> = {};
  const set = (field: string, value: unknown) => {
    if (value !== undefined && value !== '') input[field] = value;
  };
  if (env.DAS_STREAMS) set('streams', env.DAS_STREAMS.split(',').map((s) => s.trim()).filter(Boolean));
  if (env.DAS_RESOURCE_ID) set('resourceIds', parseResourceIds(env.DAS_RESOURCE_ID.split(',')));
  set('redact', env.DAS_REDACT);
  set('oldEvents', env.DAS_OLD_EVENTS);
  set('stateDir', env.DAS_STATE_DIR);
  set('maxRecordBytes', env.DAS_MAX_RECORD_BYTES);
  set('dataKeyCacheSize', env.DAS_DATA_KEY_CACHE_SIZE);
  set('dataKeyTtlSeconds', env.DAS_DATA_KEY_TTL_SECONDS);
  set('concurrency', env.DAS_CONCURRENCY);
  set('workers', env.DAS_WORKERS);
  set('startPosition', env.DAS_START_POSITION);
  set('getRecordsLimit', env.DAS_GET_RECORDS_LIMIT);
  set('consumer', env.DAS_CONSUMER);
  set('consumerName', env.DAS_CONSUMER_NAME);
  set('deregisterOnStop', parseBoolean(env.DAS_DEREGISTER_ON_STOP));
  set('discoveryIntervalSeconds', env.DAS_DISCOVERY_INTERVAL_SECONDS);
  set('leases', env.DAS_LEASES);
  set('leaseFailoverSeconds', env.DAS_LEASE_FAILOVER_SECONDS);
  set('lockTimeoutSeconds', env.DAS_LOCK_TIMEOUT_SECONDS);
  set('metricsHost', env.DAS_METRICS_HOST);
  set('metricsPort', env.DAS_METRICS_PORT);
  // An empty token is refused rather than read as "no token": it was meant to protect something.
  if (env.DAS_METRICS_TOKEN !== undefined) input.metricsToken = env.DAS_METRICS_TOKEN;
  set('labelTopN', env.DAS_LABEL_TOP_N);
  set('seriesExpirySeconds', env.DAS_SERIES_EXPIRY_SECONDS);
  if (env.DAS_SERVICE_NAMES) set('serviceNames', parsePairs(env.DAS_SERVICE_NAMES.split(',')));
  set('policyFile', env.DAS_POLICY_FILE);
  set('policyWatch', parseBoolean(env.DAS_POLICY_WATCH));
  return input as ConfigInput;
}

/** `stream=id` pairs, or a bare id meaning every stream. */
/** Validates flags over environment over defaults; throws ConfigError listing every problem. */
export function loadConfig(flags: ConfigInput, env: NodeJS.ProcessEnv = process.env): Config {
  const merged = { ...fromEnvironment(env), ...stripUndefined(flags) };
  const parsed = configSchema.safeParse(merged);
  const issues = parsed.success
    ? crossFieldProblems(parsed.data)
    : parsed.error.issues.map((issue) => ({ field: String(issue.path[0] ?? ''), message: issue.message }));
  if (parsed.success && issues.length === 0) return parsed.data;
  const problems = issues.map(({ field, message }) => {
    const value = (merged as Record<string, unknown>)[field];
    const shown = !Object.hasOwn(merged, field) ? 'missing' : SECRET_FIELDS.has(field) ? `hidden, ${String(value).length} characters` : JSON.stringify(value);
    return `${FIELD_NAMES[field] ?? field}: ${message} (actual: ${shown})`;
  });
  throw new ConfigError(problems);
}

/** `true`/`1`/`yes` and `false`/`0`/`no`; anything else is passed on for the schema to refuse by name. */
function parseBoolean(value: string | undefined): boolean | string | undefined {
  if (value === undefined || value === '') return undefined;
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  return value;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
