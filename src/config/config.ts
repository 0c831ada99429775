/**
 * The one typed configuration of das-exporter, validated once at start-up.
 *
 * Values come from command-line flags, then environment variables, then the
 * defaults. Each field is declared once, in fields.ts: its schema, flag,
 * variable and README row. Every bad value is reported at once, naming the flag or
 * variable, and the process refuses to start: a bad value never silently
 * falls back to a default.
 */
import { z } from 'zod';
import { ConfigError } from './errors.ts';
import { fieldName, FIELDS, type FieldName, type FieldSpec } from './fields.ts';

export { ConfigError } from './errors.ts';
export { parsePairs, parseResourceIds } from './pairs.ts';

type Shape = { [K in FieldName]: ReturnType<(typeof FIELDS)[K]['schema']> };
const SPECS = FIELDS as Record<string, FieldSpec>;

/** The schema of every field (fields.ts), built when a command runs. */
export const configSchema = z.object(Object.fromEntries(Object.entries(SPECS).map(([name, spec]) => [name, spec.schema(z)])) as Shape);

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

/** Environment variables read, and the field each fills (fields.ts). Flags win over them. */
export function fromEnvironment(env: NodeJS.ProcessEnv): ConfigInput {
  const input: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(SPECS)) {
    const raw = spec.env ? env[spec.env.name] : undefined;
    if (raw === undefined || (raw === '' && !spec.env!.keepEmpty)) continue;
    input[name] = spec.env!.input ? spec.env!.input(raw) : raw;
  }
  return input as ConfigInput;
}

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
    const shown = !Object.hasOwn(merged, field) ? 'missing' : SPECS[field]?.secret ? `hidden, ${String(value).length} characters` : JSON.stringify(value);
    return `${fieldName(field)}: ${message} (actual: ${shown})`;
  });
  throw new ConfigError(problems);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
