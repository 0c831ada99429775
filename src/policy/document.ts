/**
 * The audit policy file: YAML a user writes, read into a typed document or
 * refused with every problem at once, each with its file, line and column.
 *
 * The core shape is fixed (`version: 1`, `mode`, `rules` of `name`, `match`,
 * `action`) so that policies people write keep working; it is extended, never
 * changed. Validation is the project's schema library (zod), the same that
 * checks the configuration; YAML positions come from the `yaml` parser's
 * node ranges.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { PolicyError } from './errors.ts';
import { parseRegex } from './patterns.ts';

export { PolicyError } from './errors.ts';

export const POLICY_MODES = ['first-match', 'all-match'] as const;
export const POLICY_ACTIONS = ['drop', 'tag', 'alert'] as const;
/** Ordered: a `tag` rule may raise an event's severity, never lower it. */
export const POLICY_SEVERITIES = ['info', 'warning', 'error', 'critical'] as const;
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
/** Rules in one file: each is a `rule` label value on /metrics, so they are bounded. */
export const MAX_RULES = 200;

export type PolicySeverity = (typeof POLICY_SEVERITIES)[number];
export type PolicyAction = (typeof POLICY_ACTIONS)[number];
export type Weekday = (typeof WEEKDAYS)[number];

/** An exact value, a glob (`*`, `?`) or a `/regex/flags`; a list means any of them. */
const pattern = z.union([z.string().min(1), z.number().transform(String)]).superRefine((value, ctx) => {
  try {
    parseRegex(value);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: `not a valid regex: ${(error as Error).message} (a value between slashes is a /regex/flags; write a path as a glob, e.g. "*/bin/psql")` });
  }
});
const patterns = z.union([pattern, z.array(pattern).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));

const HOURS = /^([01]\d|2[0-3]):[0-5]\d-(([01]\d|2[0-3]):[0-5]\d|24:00)$/;
const hourRange = z.string().refine((v) => HOURS.test(v) && v.slice(0, 5) !== v.slice(6), { message: 'expected a range "HH:MM-HH:MM" of some length, e.g. "08:00-18:00" (24:00 ends a day; "22:00-06:00" wraps midnight)' });
const DAY_NAMES = ['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'];
const weekday = z.string().transform((v, ctx) => {
  const day = v.trim().toLowerCase();
  const i = DAY_NAMES.findIndex((name) => name === day || name.slice(0, 3) === day);
  if (i >= 0) return WEEKDAYS[i]!;
  ctx.addIssue({ code: 'custom', message: `expected a weekday (${WEEKDAYS.join(', ')} or the full names) (actual: ${JSON.stringify(v)})` });
  return z.NEVER;
});

const timeZone = z.string().refine(isTimeZone, { message: 'expected an IANA time zone such as "UTC" or "Europe/Paris"' });

const timeWindow = z.strictObject({
  days: z.array(weekday).min(1).optional(),
  hours: z
    .union([hourRange, z.array(hourRange).min(1)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
  tz: timeZone.default('UTC'),
});

const match = z.strictObject({
  engine: patterns.optional(),
  cluster: patterns.optional(),
  instance: patterns.optional(),
  database: patterns.optional(),
  user: patterns.optional(),
  client_application: patterns.optional(),
  remote_host: patterns
    .superRefine((values, ctx) => {
      for (const value of values) {
        const cidr = /^([0-9a-fA-F:.]+)\/(\d+)$/.exec(value);
        if (!cidr) continue;
        const family = isIP(cidr[1]!);
        if (family === 0 || Number(cidr[2]) > (family === 4 ? 32 : 128)) ctx.addIssue({ code: 'custom', message: `not a CIDR: ${value} (an IPv4 address with /0 to /32, or an IPv6 one with /0 to /128)` });
      }
    })
    .optional(),
  class: patterns.optional(),
  command: patterns.optional(),
  objects: patterns.optional(),
  outcome: z
    .union([z.enum(['success', 'failure']), z.array(z.enum(['success', 'failure'])).min(1)])
    .transform((v) => (Array.isArray(v) ? v : [v]))
    .optional(),
  error_code: patterns.optional(),
  time: timeWindow.optional(),
  traced: z.boolean().optional(),
});

const ruleName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, { message: 'expected 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit' });
const labelName = z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, { message: 'expected a lower-case label name (a-z, 0-9, _)' });

const rule = z
  .strictObject({
    name: ruleName,
    description: z.string().optional(),
    match,
    /** Extends the core shape: the rule holds only when this does not. */
    unless: match.optional(),
    action: z.enum(POLICY_ACTIONS),
    severity: z.enum(POLICY_SEVERITIES).optional(),
    labels: z.record(labelName, z.string()).optional(),
    /** Lets a `drop` rule drop failed logins and privilege changes too. */
    force: z.boolean().optional(),
  })
  .superRefine((r, ctx) => {
    if (r.action === 'drop' && r.severity !== undefined) ctx.addIssue({ code: 'custom', path: ['severity'], message: 'a drop rule has no severity: its events are not emitted' });
    if (r.action === 'drop' && r.labels !== undefined) ctx.addIssue({ code: 'custom', path: ['labels'], message: 'a drop rule has no labels: its events are not emitted' });
    if (r.action !== 'drop' && r.force !== undefined) ctx.addIssue({ code: 'custom', path: ['force'], message: 'force only applies to drop rules' });
  });

const policy = z
  .strictObject({
    version: z.literal(1, { message: 'expected version: 1' }),
    mode: z.enum(POLICY_MODES),
    rules: z.array(rule).max(MAX_RULES),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name "${r.name}" is used twice` });
      seen.add(r.name);
    });
  });

export type PolicyDocument = z.output<typeof policy>;
export type PolicyRule = PolicyDocument['rules'][number];
export type PolicyMatch = PolicyRule['match'];
export type TimeWindow = NonNullable<PolicyMatch['time']>;

/** Reads and validates a policy file; throws PolicyError (or the read error: no such file) otherwise. */
export function readPolicyFile(file: string): PolicyDocument {
  return parsePolicy(readPolicyText(file), file);
}

/** The text of a policy file; a file that cannot be read is a PolicyError naming it and why. */
export function readPolicyText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new PolicyError(file, [`${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
  }
}

/** Validates policy YAML text; `file` names it in the problems. */
export function parsePolicy(text: string, file = '<policy>'): PolicyDocument {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  if (doc.errors.length > 0) throw new PolicyError(file, doc.errors.map((e) => `${at(e.pos[0])}: ${firstLine(e.message)}`));
  const parsed = policy.safeParse(doc.toJS());
  if (parsed.success) return parsed.data;
  throw new PolicyError(
    file,
    parsed.error.issues.map((issue) => {
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      const where = keys.length > 0 ? keyNode(doc, issue.path, keys[0]!) : valueNode(doc, issue.path);
      const path = issue.path.join('.');
      const message = issue.code === 'unrecognized_keys' ? `unknown key${keys.length > 1 ? 's' : ''} ${keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
      return `${at(where?.range?.[0] ?? 0)}: ${path === '' ? '' : `${path}: `}${message}`;
    }),
  );
}

/** The node at `path`, or its nearest ancestor that exists (a missing key points at the map that lacks it). */
function valueNode(doc: Document, path: readonly PropertyKey[]): YamlNode | undefined {
  for (let n = path.length; n >= 0; n--) {
    const node = doc.getIn(path.slice(0, n) as unknown[], true) as YamlNode | undefined;
    if (node !== undefined && node !== null && typeof node === 'object' && 'range' in node) return node;
  }
  return doc.contents ?? undefined;
}

/** The key node of `key` in the map at `path`: where an unknown key was written. */
function keyNode(doc: Document, path: readonly PropertyKey[], key: string): YamlNode | undefined {
  const map = valueNode(doc, path);
  if (isMap(map)) {
    for (const pair of map.items) if (isPair(pair) && isScalar(pair.key) && String(pair.key.value) === key) return pair.key;
  }
  return map;
}

function firstLine(message: string): string {
  return message.split('\n')[0]!;
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
