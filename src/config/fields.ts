/**
 * Every configuration field, once: its schema, its flag (and which commands
 * take it), its environment variable, its help, and its row of the README's
 * configuration table. The schema (config.ts), the environment parsing, the
 * command-line options (cli/main.ts), the names in error messages and the
 * README table (readme-table.ts, checked by a test) all come from here, so a
 * new setting is one entry.
 *
 * Schemas are functions of zod rather than zod values: `--help` and
 * `--version` read the flags from this table and must not load zod
 * (test/cli/startup.test.ts); config.ts builds the schema when a command
 * runs. The entries are in the README table's order.
 */
import type { z as Zod, ZodType } from 'zod';
import { REDACTION_MODES } from '../enrich/redaction-modes.ts';
import { OLD_EVENTS_MODES } from '../sinks/otlp/old-events.ts';
import { CONSUMER_MODES, CONSUMER_NAME } from '../source/kinesis/consumer-modes.ts';
import { MIN_SERIES_EXPIRY_SECONDS } from '../telemetry/series-expiry.ts';
import { parsePairs, parseResourceIds } from './pairs.ts';

export type CommandName = 'run' | 'demo' | 'replay';

export interface FlagSpec {
  /** As commander reads it: `--stream <name|arn>`. */
  spec: string;
  help: string;
  /** A command's own help, where the flag means something more there. */
  helpFor?: Partial<Record<CommandName, string>>;
  commands: readonly CommandName[];
  /** May be given more than once; the field gets the list (or what `input` makes of it). */
  repeatable?: boolean;
  choices?: readonly string[];
  /** Turns what commander parsed into the field's input; default as is. */
  input?: (value: any) => unknown;
  /** The value as the README shows it (`FILE`), when it differs from none. */
  docValue?: string;
}

export interface EnvSpec {
  name: string;
  /** Turns the variable's text into the field's input; default as is. */
  input?: (raw: string) => unknown;
  /** Set even when empty (an empty secret is a mistake to refuse, not "unset"). */
  keepEmpty?: boolean;
  /** How the README qualifies the variable: `comma separated`. */
  note?: string;
}

export interface FieldSpec<S extends ZodType = ZodType> {
  schema: (z: typeof Zod) => S;
  flag?: FlagSpec;
  env?: EnvSpec;
  /** The README's default column. */
  default: string;
  /** The README's meaning column (Markdown). */
  meaning: string;
  /** Its value never appears in an error message. */
  secret?: boolean;
}

const RUN: readonly CommandName[] = ['run'];
const PIPELINE: readonly CommandName[] = ['run', 'demo'];
const ALL: readonly CommandName[] = ['run', 'demo', 'replay'];

const positiveInt = (z: typeof Zod) => z.coerce.number().int().positive();

/** `true`/`1`/`yes` and `false`/`0`/`no`; anything else is passed on for the schema to refuse by name. */
export function parseBoolean(value: string): boolean | string {
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  return value;
}

const commaList = (raw: string) => raw.split(',').map((s) => s.trim()).filter(Boolean);
const BOOLEAN_ENV = { input: parseBoolean, note: '`true`/`false`' };

function field<S extends ZodType>(spec: FieldSpec<S>): FieldSpec<S> {
  return spec;
}

export const FIELDS = {
  streams: field({
    schema: (z) =>
      z
        .array(
          z
            .string()
            .regex(
              /^([A-Za-z0-9_.-]{1,128}|arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/[A-Za-z0-9_.-]{1,128})$/,
              'expected a Kinesis stream name (aws-rds-das-<resource id>) or a stream ARN',
            ),
        )
        .default([]),
    flag: { spec: '--stream <name|arn>', help: 'DAS stream name or ARN (repeatable; env DAS_STREAMS, comma separated)', commands: RUN, repeatable: true },
    env: { name: 'DAS_STREAMS', input: commaList, note: 'comma separated' },
    default: '—',
    meaning: 'DAS stream names or ARNs',
  }),
  resourceIds: field({
    // Keyed by stream name; the key `*` applies to every stream.
    schema: (z) => z.record(z.string(), z.string().regex(/^(cluster|db)-[A-Za-z0-9_-]+$/, 'expected cluster-… or db-…')).default({}),
    flag: {
      spec: '--resource-id <[stream=]id>',
      help: 'resource id whose KMS encryption context opens a stream (repeatable)',
      helpFor: { replay: 'resource id whose KMS encryption context opens the records (repeatable)' },
      commands: ALL,
      repeatable: true,
      input: parseResourceIds,
      docValue: '[stream=]id',
    },
    env: { name: 'DAS_RESOURCE_ID', input: (raw) => parseResourceIds(raw.split(',')) },
    default: 'from the stream name',
    meaning: 'DbClusterResourceId / DbiResourceId whose KMS encryption context opens the stream',
  }),
  startPosition: field({
    schema: (z) =>
      z
        .string()
        .regex(/^(trim_horizon|latest|at_timestamp:.+)$/, 'expected trim_horizon, latest or at_timestamp:<ISO time>')
        .refine((v) => !v.startsWith('at_timestamp:') || !Number.isNaN(Date.parse(v.slice('at_timestamp:'.length))), 'the timestamp does not parse')
        .default('trim_horizon'),
    flag: { spec: '--start-position <pos>', help: 'where a shard without checkpoint starts: trim_horizon, latest, at_timestamp:<ISO>', commands: RUN },
    env: { name: 'DAS_START_POSITION' },
    default: '`trim_horizon`',
    meaning:
      'where a shard without checkpoint starts: `trim_horizon`, `latest`, `at_timestamp:<ISO>`. It applies to every shard the stream has when its checkpoints are first written, children of a reshard made earlier included; a shard born of a reshard while the stream is read starts at its beginning, so nothing written to it is skipped',
  }),
  stateDir: field({
    schema: (z) => z.string().min(1).default('./.das-exporter'),
    flag: { spec: '--state-dir <dir>', help: 'checkpoints and dead letters', commands: RUN },
    env: { name: 'DAS_STATE_DIR' },
    default: '`./.das-exporter`',
    meaning: 'checkpoints (atomic files, one owner per stream, held by a lock file with a heartbeat) and dead letters',
  }),
  leases: field({
    schema: (z) => z.string().regex(/^(file|dynamodb:[A-Za-z0-9_.-]{3,255})$/, 'expected file or dynamodb:<table name>').default('file'),
    flag: { spec: '--leases <kind>', help: 'file (checkpoints in --state-dir) or dynamodb:<table>', commands: RUN },
    env: { name: 'DAS_LEASES' },
    default: '`file`',
    meaning: '`file`, or `dynamodb:<table>` for several processes (KCL-compatible lease table)',
  }),
  leaseFailoverSeconds: field({
    // Renewed every third of it.
    schema: (z) => positiveInt(z).default(10),
    flag: { spec: '--lease-failover <seconds>', help: 'with dynamodb leases: seconds without renewal before another worker takes a lease', commands: RUN },
    env: { name: 'DAS_LEASE_FAILOVER_SECONDS' },
    default: '10',
    meaning: 'with `dynamodb:` leases, seconds without renewal before another worker takes a lease',
  }),
  lockTimeoutSeconds: field({
    schema: (z) => positiveInt(z).default(30),
    flag: { spec: '--lock-timeout <seconds>', help: "with file leases: seconds without a heartbeat before another process takes a stream's lock (default 30)", commands: RUN },
    env: { name: 'DAS_LOCK_TIMEOUT_SECONDS' },
    default: '30',
    meaning:
      "with `file` leases, seconds a stream's lock may go without a heartbeat before a process on any host sharing `--state-dir` takes it over (the holder rewrites it every third of that)",
  }),
  consumer: field({
    schema: (z) => z.enum(CONSUMER_MODES).default('polling'),
    flag: { spec: '--consumer <mode>', help: 'how shards are read: polling (default, GetRecords) or efo (enhanced fan-out, SubscribeToShard)', commands: RUN, choices: CONSUMER_MODES },
    env: { name: 'DAS_CONSUMER' },
    default: '`polling`',
    meaning: 'how shards are read: `polling` (GetRecords) or `efo` (enhanced fan-out, SubscribeToShard; see Choosing a consumer mode)',
  }),
  consumerName: field({
    schema: (z) => z.string().regex(CONSUMER_NAME, 'expected 1-128 letters, digits, _ . or -').optional(),
    flag: { spec: '--consumer-name <name>', help: 'with --consumer efo: the registered stream consumer to read as (registered if missing)', commands: RUN },
    env: { name: 'DAS_CONSUMER_NAME' },
    default: '—',
    meaning:
      'with `--consumer efo` (required there): the registered stream consumer to read as, registered if missing and reused if present; the same name in every replica of one deployment, a different one per deployment',
  }),
  deregisterOnStop: field({
    schema: (z) => z.boolean().default(false),
    flag: { spec: '--deregister-on-stop', help: 'with --consumer efo: deregister the consumer on stop (for ephemeral runs)', commands: RUN },
    env: { name: 'DAS_DEREGISTER_ON_STOP', ...BOOLEAN_ENV },
    default: 'off',
    meaning:
      'with `--consumer efo`: deregister the consumer when the process stops (ephemeral runs; refused with `--leases dynamodb:…`, whose replicas share the consumer); by default it is kept for the next start',
  }),
  getRecordsLimit: field({
    schema: (z) => positiveInt(z).max(10_000).default(1000),
    flag: { spec: '--get-records-limit <n>', help: 'records per GetRecords call (with --consumer efo: per batch of a subscription event)', commands: RUN },
    env: { name: 'DAS_GET_RECORDS_LIMIT' },
    default: '1000',
    meaning:
      'records per GetRecords call; with `--consumer efo`, records of one subscription event (up to 10,000) delivered and checkpointed at once, so a crash repeats no more than one such batch per shard',
  }),
  discoveryIntervalSeconds: field({
    schema: (z) => positiveInt(z).default(10),
    flag: { spec: '--discovery-interval <seconds>', help: 'seconds between shard discoveries', commands: RUN },
    env: { name: 'DAS_DISCOVERY_INTERVAL_SECONDS' },
    default: '10',
    meaning: 'seconds between shard discoveries (resharding)',
  }),
  redact: field({
    schema: (z) => z.enum(REDACTION_MODES).default('passwords'),
    flag: { spec: '--redact <mode>', help: 'what to hide in SQL text and parameters (default passwords)', commands: ALL, choices: REDACTION_MODES },
    env: { name: 'DAS_REDACT' },
    default: '`passwords`',
    meaning: '`none`, `passwords`, `literals` (every literal → `?`), `all` (no SQL text, summary only)',
  }),
  oldEvents: field({
    schema: (z) => z.enum(OLD_EVENTS_MODES).default('event-time'),
    flag: {
      spec: '--old-events <mode>',
      help: "a log record's timestamp: event-time (default) or observed-time (when it was read; for replays older than Loki's 168 h)",
      commands: PIPELINE,
      choices: OLD_EVENTS_MODES,
    },
    env: { name: 'DAS_OLD_EVENTS' },
    default: '`event-time`',
    meaning:
      "which time a log record is filed at: `event-time` (the event's own) or `observed-time` (when das-exporter read it, the event's time kept in `aws.rds.das.event_time`), for a replay or catch-up of events older than Loki's `reject_old_samples_max_age` (168 h), which Loki otherwise refuses (`rejected_too_old` dead letters); see Log records",
  }),
  metricsHost: field({
    schema: (z) => z.string().min(1).default('0.0.0.0'),
    flag: { spec: '--metrics-host <host>', help: 'address of the metrics and health server', commands: PIPELINE },
    env: { name: 'DAS_METRICS_HOST' },
    default: '`0.0.0.0`',
    meaning: 'address of the metrics and health server',
  }),
  metricsPort: field({
    // 0 picks a free port.
    schema: (z) => z.coerce.number().int().min(0).max(65535).default(9464),
    flag: { spec: '--metrics-port <port>', help: 'port of the metrics and health server (default 9464)', commands: PIPELINE },
    env: { name: 'DAS_METRICS_PORT' },
    default: '9464',
    meaning: 'its port (`/metrics`, `/healthz`, `/readyz`; a stream that is not ready says why, see `docs/runbook.md`, DASStreamDown)',
  }),
  metricsToken: field({
    schema: (z) => z.string().min(16, 'a bearer token shorter than 16 characters is too easy to guess').optional(),
    // An empty token is refused rather than read as "no token": it was meant to protect something.
    env: { name: 'DAS_METRICS_TOKEN', keepEmpty: true },
    secret: true,
    default: '—',
    meaning:
      'require `Authorization: Bearer <token>` (≥ 16 characters) on every path, `/healthz` and `/readyz` included (Kubernetes probes send it with `httpHeaders`)',
  }),
  labelTopN: field({
    schema: (z) => positiveInt(z).default(50),
    flag: { spec: '--label-top-n <n>', help: 'user/database/code label values kept before folding into __other__', commands: PIPELINE },
    env: { name: 'DAS_LABEL_TOP_N' },
    default: '50',
    meaning: 'distinct `user`/`database`/`code` label values before folding into `__other__`',
  }),
  seriesExpirySeconds: field({
    schema: (z) =>
      z.coerce
        .number()
        .int()
        .min(MIN_SERIES_EXPIRY_SECONDS, `expected at least ${MIN_SERIES_EXPIRY_SECONDS} seconds: DASAuditGap must fire before the heartbeat gauge is removed`)
        .default(86_400),
    flag: { spec: '--series-expiry <seconds>', help: 'seconds an instance may go unseen before its series are removed (default 86400)', commands: PIPELINE },
    env: { name: 'DAS_SERIES_EXPIRY_SECONDS' },
    default: '86400',
    meaning:
      'seconds an instance may go unseen (no event, no heartbeat) before its series are removed (see Metrics); at least 3600, so DASAuditGap fires long before its heartbeat gauge goes',
  }),
  serviceNames: field({
    schema: (z) =>
      z
        .record(z.string(), z.string().min(1, 'expected <resource id>=<name>'))
        .superRefine((names, ctx) => {
          for (const id of Object.keys(names)) {
            if (!/^(cluster|db)-[A-Za-z0-9_-]+$/.test(id)) ctx.addIssue({ code: 'custom', message: `expected <resource id>=<name> with a cluster-… or db-… id (got "${id}")` });
          }
        })
        .default({}),
    flag: { spec: '--service-name <id=name>', help: 'friendly service.name for a resource id (repeatable)', commands: PIPELINE, repeatable: true, input: parsePairs, docValue: 'id=name' },
    env: { name: 'DAS_SERVICE_NAMES', input: (raw) => parsePairs(raw.split(',')) },
    default: 'the resource id',
    meaning: 'friendly `service.name` per resource id',
  }),
  policyFile: field({
    schema: (z) => z.string().min(1).optional(),
    flag: {
      spec: '--policy <file>',
      help: 'audit policy (YAML) whose rules drop, tag and alert on events; SIGHUP reloads it',
      helpFor: { replay: 'apply this audit policy: dropped events are not written, matched ones carry "policy"; a count per rule ends stderr' },
      commands: ALL,
      docValue: 'FILE',
    },
    env: { name: 'DAS_POLICY_FILE' },
    default: '—',
    meaning:
      'audit policy (YAML): rules that drop, tag and alert on events (see Audit policies, `docs/policies.md`); an invalid file refuses the start with its line and column; SIGHUP reloads it, keeping the running policy when the new file is invalid; `replay --policy` does not write dropped events, marks matched ones and ends stderr with a count per rule',
  }),
  policyWatch: field({
    schema: (z) => z.boolean().default(false),
    flag: { spec: '--policy-watch', help: 'also reload the policy when its file changes', commands: PIPELINE },
    env: { name: 'DAS_POLICY_WATCH', ...BOOLEAN_ENV },
    default: 'false',
    meaning: 'also reload the policy when its file changes (a Kubernetes ConfigMap update included)',
  }),
  tracesSampleUntraced: field({
    schema: (z) => z.coerce.number().min(0, 'expected a ratio from 0 to 1').max(1, 'expected a ratio from 0 to 1').default(0),
    flag: { spec: '--traces-sample-untraced <ratio>', help: 'with OTEL_TRACES_EXPORTER=otlp: share of untraced statements also sent as spans of their own (default 0)', commands: PIPELINE },
    env: { name: 'DAS_TRACES_SAMPLE_UNTRACED' },
    default: '0',
    meaning:
      'with `OTEL_TRACES_EXPORTER=otlp`: the share (0 to 1) of statements *without* trace context also sent as spans, each the root of a trace of its own (`das.span.sampled`), chosen by a hash of the event so a re-sent event makes the same choice (see Traces); refused at start when spans are off',
  }),
  maxRecordBytes: field({
    schema: (z) => positiveInt(z).default(64 * 1024 * 1024),
    flag: { spec: '--max-record-bytes <n>', help: "cap on one record's decompressed size", commands: ALL },
    env: { name: 'DAS_MAX_RECORD_BYTES' },
    default: '64 MiB',
    meaning: "cap on one record's decompressed size (a gzip bomb is `too_large`)",
  }),
  concurrency: field({
    schema: (z) => positiveInt(z).default(4),
    flag: { spec: '--concurrency <n>', help: 'records opened at once per batch', commands: PIPELINE },
    env: { name: 'DAS_CONCURRENCY' },
    default: '4',
    meaning: 'records opened at once per batch',
  }),
  workers: field({
    schema: (z) => z.coerce.number().int().min(0).max(64).default(0),
    flag: { spec: '--workers <n>', help: 'worker threads that decrypt, decode and encode records (default 0; one per core is fastest)', commands: PIPELINE },
    env: { name: 'DAS_WORKERS' },
    default: '0',
    meaning:
      "worker threads that decrypt, decode, enrich, encode and count records when logs go to an OTLP/protobuf endpoint (ignored, with a warning, otherwise); one per core is the fastest setting (see Performance) and adds about 80 MiB of RSS per worker. With 0, all of it runs on the main thread, with signature checks on libuv's thread pool while other records are being opened (one record alone: on the main thread, where a hand-off would only wait)",
  }),
  dataKeyCacheSize: field({
    schema: (z) => positiveInt(z).default(1000),
    env: { name: 'DAS_DATA_KEY_CACHE_SIZE' },
    default: '1000',
    meaning: 'data keys kept in memory',
  }),
  dataKeyTtlSeconds: field({
    schema: (z) => positiveInt(z).default(600),
    env: { name: 'DAS_DATA_KEY_TTL_SECONDS' },
    default: '600',
    meaning: 'how long a data key stays cached',
  }),
  heartbeats: field({
    schema: (z) => z.boolean().default(false),
    flag: { spec: '--heartbeats', help: 'also write heartbeat events', commands: ['replay'] },
    default: 'off',
    meaning: '`replay` only: also write heartbeat events (they feed metrics, not logs, in `run`)',
  }),
};

export type FieldName = keyof typeof FIELDS;

/** How an error message names a field: its flag and its variable, as the user may have written either. */
export function fieldName(name: string): string {
  const spec = (FIELDS as Record<string, FieldSpec>)[name];
  if (!spec) return name;
  const flag = spec.flag?.spec.split(' ')[0];
  return [flag, spec.env?.name].filter(Boolean).join(' / ');
}
