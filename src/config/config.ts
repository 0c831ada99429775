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

export const REDACT_MODES = ['none', 'passwords', 'literals', 'all'] as const;
export type RedactMode = (typeof REDACT_MODES)[number];

const positiveInt = z.coerce.number().int().positive();

export const configSchema = z.object({
  /** `--stream` / `DAS_STREAMS`: DAS stream names or ARNs (`aws-rds-das-<resource id>`). */
  streams: z.array(z.string().min(1)).default([]),
  /**
   * `--resource-id [stream=]id` / `DAS_RESOURCE_ID`: the DbClusterResourceId or DbiResourceId
   * whose encryption context opens a stream's data keys, when the stream name does not tell it.
   * Keyed by stream name; the key `*` applies to every stream.
   */
  resourceIds: z.record(z.string(), z.string().regex(/^(cluster|db)-[A-Za-z0-9_-]+$/, 'expected cluster-… or db-…')).default({}),
  /** `--redact` / `DAS_REDACT`: what to hide in SQL text and parameters (default passwords). */
  redact: z.enum(REDACT_MODES).default('passwords'),
  /** `--heartbeats`: replay also writes heartbeat events (default off). */
  heartbeats: z.boolean().default(false),
  /** `--state-dir` / `DAS_STATE_DIR`: checkpoints and dead letters (default ./.das-exporter). */
  stateDir: z.string().min(1).default('./.das-exporter'),
  /** `--max-record-bytes` / `DAS_MAX_RECORD_BYTES`: cap on one record's decompressed size (default 64 MiB). */
  maxRecordBytes: positiveInt.default(64 * 1024 * 1024),
  /** `--data-key-cache-size` / `DAS_DATA_KEY_CACHE_SIZE`: data keys kept in memory (default 1000). */
  dataKeyCacheSize: positiveInt.default(1000),
  /** `--data-key-ttl` / `DAS_DATA_KEY_TTL_SECONDS`: seconds a data key stays cached (default 600). */
  dataKeyTtlSeconds: positiveInt.default(600),
  /** `--concurrency` / `DAS_CONCURRENCY`: records opened at once per batch (default 4). */
  concurrency: positiveInt.default(4),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** Names a field as the user wrote it (flag and variable), for error messages. */
const FIELD_NAMES: Record<string, string> = {
  streams: '--stream / DAS_STREAMS',
  resourceIds: '--resource-id / DAS_RESOURCE_ID',
  redact: '--redact / DAS_REDACT',
  stateDir: '--state-dir / DAS_STATE_DIR',
  maxRecordBytes: '--max-record-bytes / DAS_MAX_RECORD_BYTES',
  dataKeyCacheSize: '--data-key-cache-size / DAS_DATA_KEY_CACHE_SIZE',
  dataKeyTtlSeconds: '--data-key-ttl / DAS_DATA_KEY_TTL_SECONDS',
  concurrency: '--concurrency / DAS_CONCURRENCY',
};

export class ConfigError extends Error {
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

/** Environment variables read, and the field each fills. Flags win over them. */
export function fromEnvironment(env: NodeJS.ProcessEnv): ConfigInput {
  const input: Record<string, unknown> = {};
  const set = (field: string, value: unknown) => {
    if (value !== undefined && value !== '') input[field] = value;
  };
  if (env.DAS_STREAMS) set('streams', env.DAS_STREAMS.split(',').map((s) => s.trim()).filter(Boolean));
  if (env.DAS_RESOURCE_ID) set('resourceIds', parseResourceIds(env.DAS_RESOURCE_ID.split(',')));
  set('redact', env.DAS_REDACT);
  set('stateDir', env.DAS_STATE_DIR);
  set('maxRecordBytes', env.DAS_MAX_RECORD_BYTES);
  set('dataKeyCacheSize', env.DAS_DATA_KEY_CACHE_SIZE);
  set('dataKeyTtlSeconds', env.DAS_DATA_KEY_TTL_SECONDS);
  set('concurrency', env.DAS_CONCURRENCY);
  return input as ConfigInput;
}

/** `stream=id` pairs, or a bare id meaning every stream. */
export function parseResourceIds(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.lastIndexOf('=');
    if (eq === -1) out['*'] = value.trim();
    else out[value.slice(0, eq).trim()] = value.slice(eq + 1).trim();
  }
  return out;
}

/** Validates flags over environment over defaults; throws ConfigError listing every problem. */
export function loadConfig(flags: ConfigInput, env: NodeJS.ProcessEnv = process.env): Config {
  const merged = { ...fromEnvironment(env), ...stripUndefined(flags) };
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    const shown = Object.hasOwn(merged, field) ? JSON.stringify((merged as Record<string, unknown>)[field]) : 'missing';
    return `${FIELD_NAMES[field] ?? field}: ${issue.message} (actual: ${shown})`;
  });
  throw new ConfigError(problems);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
