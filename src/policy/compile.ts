/**
 * Turns a policy document into a function of an event, once: each rule
 * becomes a chain of small predicates (sets for exact values, one regular
 * expression per key for globs and regexes, a BlockList for CIDRs, a
 * time-zone table for time windows), so an event costs a few comparisons
 * per rule and nothing is parsed or looked up by name per event.
 *
 * What a key reads of the event (documented in docs/policies.md):
 * - `engine`, `class`, `command`, `outcome`, `error_code`: case-insensitive;
 *   `class` is the class DAS sent or the statement's class (READ, WRITE, DDL,
 *   ROLE, FUNCTION, MISC, LOGIN) read from its operation, and `command` the
 *   command DAS sent or the operation (`CREATE TABLE`);
 * - `cluster`, `instance`: the resource id or its friendly name;
 * - `database`, `user`, `client_application`, `remote_host`: as sent,
 *   case-sensitive (an exact value or glob; a `/regex/i` for case-insensitive);
 *   `remote_host` takes CIDRs too;
 * - `objects`: every table the statement touches (SQL lexer) and the object
 *   DAS names, case-insensitive, each also qualified with the database
 *   (`orders` in `shop` is `shop.orders` too);
 * - `time`: the event's logTime in the window's time zone;
 * - `traced`: whether the statement carried W3C trace context.
 * An event without the field a key reads does not match that key.
 */
import { BlockList, isIP } from 'node:net';
import type { ActivityEvent, PolicyMark } from '../events/model.ts';
import { errorCode } from '../sinks/metrics-tally.ts';
import { textMatcher } from './patterns.ts';
import { POLICY_SEVERITIES, WEEKDAYS, type PolicyAction, type PolicyDocument, type PolicyMatch, type PolicyRule, type PolicySeverity, type TimeWindow } from './document.ts';

type Test = (event: ActivityEvent) => boolean;

export interface CompileOptions {
  /** Friendly names per cluster or instance resource id (`--resource-names`), which `cluster`/`instance` match too. */
  names?: Readonly<Record<string, string>>;
}

export interface CompiledRule {
  name: string;
  action: PolicyAction;
  severity: PolicySeverity | null;
  labels: Record<string, string> | null;
  force: boolean;
  test: Test;
}

/** What the policy says about one event. */
export interface Verdict {
  /** The drop rule that drops it, when one does. */
  drop: string | null;
  /** Tag and alert rules that matched (also when the event is dropped: an alert still counts). */
  marks: CompiledRule[];
  /** Drop rules without `force` that matched a failed login or a privilege change, which is kept. */
  keptProtected: string[];
}

export class CompiledPolicy {
  readonly mode: PolicyDocument['mode'];
  readonly rules: readonly CompiledRule[];

  constructor(document: PolicyDocument, options: CompileOptions = {}) {
    this.mode = document.mode;
    const objects = new ObjectNames();
    this.rules = document.rules.map((rule) => compileRule(rule, { ...options, objects }));
  }

  /** The verdict on `event`, or null when no rule matched it. */
  evaluate(event: ActivityEvent): Verdict | null {
    let verdict: Verdict | null = null;
    const firstMatch = this.mode === 'first-match';
    for (const rule of this.rules) {
      if (!rule.test(event)) continue;
      verdict ??= { drop: null, marks: [], keptProtected: [] };
      if (rule.action === 'drop') {
        if (!rule.force && isProtected(event)) {
          // Never a silent audit gap: the rule does not apply, and says so on /metrics.
          verdict.keptProtected.push(rule.name);
          continue;
        }
        verdict.drop ??= rule.name;
      } else {
        verdict.marks.push(rule);
      }
      if (firstMatch) break;
    }
    return verdict;
  }
}

/** The mark an event carries for its tag and alert rules. */
export function markOf(marks: readonly CompiledRule[]): PolicyMark {
  let severity: PolicySeverity | null = null;
  let labels: Record<string, string> | undefined;
  for (const rule of marks) {
    if (rule.severity !== null && (severity === null || SEVERITY_RANK[rule.severity] > SEVERITY_RANK[severity])) severity = rule.severity;
    if (rule.labels !== null) labels = { ...labels, ...rule.labels };
  }
  return { matched: marks.map((r) => r.name), severity, ...(labels ? { labels } : {}) };
}

export const SEVERITY_RANK: Readonly<Record<PolicySeverity, number>> = Object.fromEntries(POLICY_SEVERITIES.map((s, i) => [s, i])) as Record<PolicySeverity, number>;

/** Failed logins and privilege changes: a drop rule leaves them alone unless it says `force: true`. */
export function isProtected(event: ActivityEvent): boolean {
  return (event.isLogin && event.outcome === 'failure') || isPrivilegeChange(event);
}

const PRIVILEGE_OPERATIONS = new Set([
  'GRANT', 'REVOKE', 'DENY',
  'CREATE USER', 'ALTER USER', 'DROP USER', 'RENAME USER',
  'CREATE ROLE', 'ALTER ROLE', 'DROP ROLE',
  'CREATE LOGIN', 'ALTER LOGIN', 'DROP LOGIN',
  'SET PASSWORD', 'ALTER DEFAULT PRIVILEGES', 'REASSIGN OWNED',
]);

export function isPrivilegeChange(event: ActivityEvent): boolean {
  if (event.class !== null && event.class.toUpperCase() === 'ROLE') return true;
  const operation = event.enrichment?.operationName;
  if (operation && PRIVILEGE_OPERATIONS.has(operation)) return true;
  const command = event.command?.toUpperCase();
  return command !== undefined && PRIVILEGE_OPERATIONS.has(command);
}

function compileRule(rule: PolicyRule, options: CompileOptions & { objects: ObjectNames }): CompiledRule {
  const holds = compileMatch(rule.match, options);
  const unless = rule.unless ? compileMatch(rule.unless, options) : null;
  return {
    name: rule.name,
    action: rule.action,
    severity: rule.severity ?? (rule.action === 'alert' ? 'warning' : null),
    labels: rule.labels ?? null,
    force: rule.force ?? false,
    test: unless ? (e) => holds(e) && !unless(e) : holds,
  };
}

/** All keys of a match must hold; an empty match holds for every event. */
function compileMatch(match: PolicyMatch, options: CompileOptions & { objects: ObjectNames }): Test {
  const tests: Test[] = [];
  const names = options.names ?? {};
  const text = (values: readonly string[] | undefined, read: (e: ActivityEvent) => string | null, caseless = false) => {
    if (values === undefined) return;
    const matches = textMatcher(values, caseless);
    tests.push((e) => {
      const value = read(e);
      return value !== null && matches(value);
    });
  };
  // Cheapest and most selective first.
  if (match.engine) text(match.engine, (e) => e.engine, true);
  if (match.outcome) {
    const wanted = match.outcome;
    tests.push(wanted.length === 2 ? () => true : (e) => e.outcome === wanted[0]);
  }
  if (match.traced !== undefined) {
    const traced = match.traced;
    tests.push((e) => (e.enrichment?.trace != null) === traced);
  }
  text(match.user, (e) => e.dbUserName);
  text(match.database, (e) => e.databaseName);
  text(match.client_application, (e) => e.clientApplication);
  if (match.cluster) idMatch(tests, textMatcher(match.cluster, false), (e) => e.clusterId, names);
  if (match.instance) idMatch(tests, textMatcher(match.instance, false), (e) => e.instanceId, names);
  if (match.class) {
    const matches = textMatcher(match.class, true);
    tests.push((e) => (e.class !== null && matches(e.class)) || matches(statementClass(e)));
  }
  if (match.command) {
    const matches = textMatcher(match.command, true);
    tests.push((e) => (e.command !== null && matches(e.command)) || (e.enrichment?.operationName != null && matches(e.enrichment.operationName)));
  }
  if (match.error_code) {
    const matches = textMatcher(match.error_code, true);
    tests.push((e) => e.outcome === 'failure' && (matches(errorCode(e)) || (e.exitCode !== null && matches(String(e.exitCode)))));
  }
  if (match.remote_host) tests.push(hostMatcher(match.remote_host));
  if (match.objects) {
    const matches = textMatcher(match.objects, true);
    const objects = options.objects;
    tests.push((e) => objects.of(e).some(matches));
  }
  if (match.time) tests.push(timeMatcher(match.time));

  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (e) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(e)) return false;
    return true;
  };
}

function idMatch(tests: Test[], matches: (value: string) => boolean, read: (e: ActivityEvent) => string | null, names: Readonly<Record<string, string>>): void {
  tests.push((e) => {
    const id = read(e);
    if (id === null) return false;
    const name = names[id];
    return matches(id) || (name !== undefined && matches(name));
  });
}

/** CIDRs (IPv4 and IPv6) in a BlockList, the other values as text. */
function hostMatcher(values: readonly string[]): Test {
  const blocks = new BlockList();
  let anyCidr = false;
  const others: string[] = [];
  for (const value of values) {
    const cidr = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(value);
    const family = cidr ? isIP(cidr[1]!) : 0;
    if (cidr && family !== 0) {
      blocks.addSubnet(cidr[1]!, Number(cidr[2]), family === 6 ? 'ipv6' : 'ipv4');
      anyCidr = true;
    } else {
      others.push(value);
    }
  }
  const text = others.length > 0 ? textMatcher(others, false) : () => false;
  return (e) => {
    const host = e.remoteHost;
    if (host === null) return false;
    if (text(host)) return true;
    if (!anyCidr) return false;
    const family = isIP(host);
    return family !== 0 && blocks.check(host, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * The names an event's objects answer to: every table the statement touches
 * and the object DAS names, each with its shorter forms (`testDB.dbo.T` is
 * also `dbo.T` and `T`) and qualified with the event's database (`orders` in
 * `shop` is also `shop.orders`). Kept for the last event: the rules of one
 * policy ask for the same event's objects one after another.
 */
class ObjectNames {
  #event: ActivityEvent | undefined;
  #names: string[] = [];

  of(event: ActivityEvent): string[] {
    if (event === this.#event) return this.#names;
    const names: string[] = [];
    const database = event.databaseName;
    const push = (name: string) => {
      if (!names.includes(name)) names.push(name);
    };
    const add = (name: string | null | undefined) => {
      if (!name) return;
      const parts = name.split('.');
      for (let i = 0; i < parts.length; i++) push(parts.slice(i).join('.'));
      if (database && parts[0]!.toLowerCase() !== database.toLowerCase()) push(`${database}.${name}`);
    };
    for (const name of event.enrichment?.objects ?? []) add(name);
    add(event.objectName);
    for (const aux of event.auxObjects ?? []) add(aux.objectName);
    this.#event = event;
    this.#names = names;
    return names;
  }
}

const READ_OPERATIONS = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'READ', 'FETCH']);
const WRITE_OPERATIONS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT', 'COPY', 'TRUNCATE', 'LOAD', 'WRITE']);
const DDL_VERBS = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'COMMENT']);
const FUNCTION_OPERATIONS = new Set(['CALL', 'EXEC', 'EXECUTE', 'DO']);

/**
 * The statement's class whatever the engine calls it, from its operation
 * (db.operation.name) or, for MySQL's AUX events and logins, its command.
 */
export function statementClass(event: ActivityEvent): string {
  if (event.isLogin) return 'LOGIN';
  if (isPrivilegeChange(event)) return 'ROLE';
  const operation = (event.enrichment?.operationName ?? event.command ?? '').toUpperCase().replace(/^BATCH /, '');
  const verb = operation.split(' ', 1)[0]!;
  if (READ_OPERATIONS.has(verb)) return 'READ';
  if (WRITE_OPERATIONS.has(verb)) return 'WRITE';
  if (DDL_VERBS.has(verb)) return 'DDL';
  if (FUNCTION_OPERATIONS.has(verb)) return 'FUNCTION';
  return 'MISC';
}

/**
 * A time window: weekdays and minute ranges of the day in a time zone. Every
 * zone's offset is a multiple of 15 minutes, so the local weekday and minute
 * of a quarter hour is computed once (Intl) and cached; an event costs a
 * division and a map lookup.
 */
function timeMatcher(window: TimeWindow): Test {
  const days = window.days ? new Set(window.days.map((d) => WEEKDAYS.indexOf(d))) : null;
  const ranges = (window.hours ?? []).map((range) => {
    const [from, to] = range.split('-').map((hm) => Number(hm.slice(0, 2)) * 60 + Number(hm.slice(3, 5))) as [number, number];
    return { from, to };
  });
  const local = localClock(window.tz);
  return (e) => {
    if (e.logTimeUnixNano === null) return false;
    const ms = Number(e.logTimeUnixNano / 1_000_000n);
    const { weekday, minute } = local(ms);
    if (days !== null && !days.has(weekday)) return false;
    if (ranges.length === 0) return true;
    for (const { from, to } of ranges) {
      // 22:00-06:00 wraps past midnight.
      if (from <= to ? minute >= from && minute < to : minute >= from || minute < to) return true;
    }
    return false;
  };
}

const QUARTER_MS = 15 * 60_000;
const CLOCK_CACHE = 4096;

function localClock(tz: string): (ms: number) => { weekday: number; minute: number } {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: tz, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  const cache = new Map<number, { weekday: number; minute: number }>();
  return (ms) => {
    const quarter = Math.floor(ms / QUARTER_MS);
    let start = cache.get(quarter);
    if (start === undefined) {
      const parts = format.formatToParts(quarter * QUARTER_MS);
      const part = (type: string) => parts.find((p) => p.type === type)!.value;
      start = { weekday: WEEKDAYS.indexOf(part('weekday').toLowerCase().slice(0, 3) as (typeof WEEKDAYS)[number]), minute: Number(part('hour')) * 60 + Number(part('minute')) };
      if (cache.size >= CLOCK_CACHE) cache.delete(cache.keys().next().value!);
      cache.set(quarter, start);
    }
    const minute = start.minute + Math.floor((ms - quarter * QUARTER_MS) / 60_000);
    return { weekday: start.weekday, minute };
  };
}
