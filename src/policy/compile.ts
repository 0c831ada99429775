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
import { EventFacts, isPrivilegeChange, parseIPv4 } from './facts.ts';
import { textMatcher } from './patterns.ts';

export { isPrivilegeChange, statementClass } from './facts.ts';
import { POLICY_SEVERITIES, WEEKDAYS, type PolicyAction, type PolicyDocument, type PolicyMatch, type PolicyRule, type PolicySeverity, type TimeWindow } from './document.ts';

type Test = (facts: EventFacts) => boolean;

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
  /** What the rules read of the event being evaluated, derived once for all of them. */
  readonly #facts = new EventFacts();

  constructor(document: PolicyDocument, options: CompileOptions = {}) {
    this.mode = document.mode;
    this.rules = document.rules.map((rule) => compileRule(rule, options));
  }

  /** The verdict on `event`, or null when no rule matched it. */
  evaluate(event: ActivityEvent): Verdict | null {
    let verdict: Verdict | null = null;
    const firstMatch = this.mode === 'first-match';
    const facts = this.#facts.reset(event);
    for (const rule of this.rules) {
      if (!rule.test(facts)) continue;
      verdict ??= { drop: null, marks: [], keptProtected: [] };
      if (rule.action === 'drop') {
        if (!rule.force && isProtected(event, facts)) {
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
export function isProtected(event: ActivityEvent, facts?: EventFacts): boolean {
  if (event.isLogin && event.outcome === 'failure') return true;
  return facts ? facts.statementClass === 'ROLE' : isPrivilegeChange(event);
}

function compileRule(rule: PolicyRule, options: CompileOptions): CompiledRule {
  const holds = compileMatch(rule.match, options);
  const unless = rule.unless ? compileMatch(rule.unless, options) : null;
  return {
    name: rule.name,
    action: rule.action,
    severity: rule.severity ?? (rule.action === 'alert' ? 'warning' : null),
    labels: rule.labels ?? null,
    force: rule.force ?? false,
    test: unless ? (f) => holds(f) && !unless(f) : holds,
  };
}

/** All keys of a match must hold; an empty match holds for every event. */
function compileMatch(match: PolicyMatch, options: CompileOptions): Test {
  const tests: Test[] = [];
  const names = options.names ?? {};
  const text = (values: readonly string[] | undefined, read: (f: EventFacts) => string | null, caseless = false) => {
    if (values === undefined) return;
    const matches = textMatcher(values, caseless);
    tests.push((f) => {
      const value = read(f);
      return value !== null && matches(value);
    });
  };
  // Cheapest and most selective first.
  text(match.engine, (f) => f.engine, true);
  if (match.outcome) {
    const wanted = new Set(match.outcome);
    tests.push(wanted.size === 2 ? () => true : (f) => wanted.has(f.event.outcome));
  }
  if (match.traced !== undefined) {
    const traced = match.traced;
    tests.push((f) => (f.event.enrichment?.trace != null) === traced);
  }
  text(match.user, (f) => f.event.dbUserName);
  text(match.database, (f) => f.event.databaseName);
  text(match.client_application, (f) => f.event.clientApplication);
  if (match.cluster) idMatch(tests, textMatcher(match.cluster, false), (e) => e.clusterId, names);
  if (match.instance) idMatch(tests, textMatcher(match.instance, false), (e) => e.instanceId, names);
  if (match.class) {
    const matches = textMatcher(match.class, true);
    tests.push((f) => (f.class !== null && matches(f.class)) || matches(f.statementClass));
  }
  if (match.command) {
    const matches = textMatcher(match.command, true);
    tests.push((f) => (f.command !== null && matches(f.command)) || (f.operation !== null && matches(f.operation)));
  }
  if (match.error_code) {
    const matches = textMatcher(match.error_code, true);
    tests.push((f) => f.errorCode !== null && (matches(f.errorCode) || (f.event.exitCode !== null && matches(String(f.event.exitCode)))));
  }
  if (match.remote_host) tests.push(hostMatcher(match.remote_host));
  if (match.objects) {
    const matches = textMatcher(match.objects, true);
    tests.push((f) => f.objects.some(matches));
  }
  if (match.time) tests.push(timeMatcher(match.time));

  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0]!;
  return (f) => {
    for (let i = 0; i < tests.length; i++) if (!tests[i]!(f)) return false;
    return true;
  };
}

function idMatch(tests: Test[], matches: (value: string) => boolean, read: (e: ActivityEvent) => string | null, names: Readonly<Record<string, string>>): void {
  tests.push((f) => {
    const id = read(f.event);
    if (id === null) return false;
    const name = names[id];
    return matches(id) || (name !== undefined && matches(name));
  });
}

/** IPv4 CIDRs as number ranges, IPv6 ones in a BlockList, the other values as text. */
function hostMatcher(values: readonly string[]): Test {
  const v4: { from: number; to: number }[] = [];
  const v6 = new BlockList();
  let anyV6 = false;
  const others: string[] = [];
  for (const value of values) {
    const cidr = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(value);
    const family = cidr ? isIP(cidr[1]!) : 0;
    const bits = Number(cidr?.[2]);
    if (family === 4 && bits <= 32) {
      const size = 2 ** (32 - bits);
      const from = Math.floor(parseIPv4(cidr![1]!)! / size) * size;
      v4.push({ from, to: from + size - 1 });
    } else if (family === 6 && bits <= 128) {
      v6.addSubnet(cidr![1]!, bits, 'ipv6');
      anyV6 = true;
    } else {
      others.push(value);
    }
  }
  const text = others.length > 0 ? textMatcher(others, false) : () => false;
  return (f) => {
    const host = f.event.remoteHost;
    if (host === null) return false;
    if (text(host)) return true;
    if (v4.length > 0) {
      const address = f.ipv4;
      if (address !== null) {
        for (let i = 0; i < v4.length; i++) if (address >= v4[i]!.from && address <= v4[i]!.to) return true;
        return false;
      }
    }
    return anyV6 && f.isIPv6 && v6.check(host, 'ipv6');
  };
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
  return (f) => {
    const at = f.event.logTimeUnixNano;
    if (at === null) return false;
    const ms = Number(at / 1_000_000n);
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
