/**
 * What the metrics sink needs from a record's events, counted where the
 * events are: one group per distinct set of raw label values, with the
 * number of events, rows and the last trace id, and each event's log time
 * for lag. A tally holds plain data (structured-cloneable), so a worker
 * thread can count the records it opens and the main thread only applies the
 * groups (metrics-sink.ts), folding open values into bounded labels there,
 * where the first-seen state of the process lives.
 */
import type { ActivityEvent, Engine, PolicyOutcome } from '../events/model.ts';
import { OUTCOME_RULES } from '../events/outcome.ts';
import { classLabel, commandLabel } from '../telemetry/cardinality.ts';

/** Events that share every label value. Open values (`database`, `user`, `code`) are raw: the sink bounds them. */
export interface StatementGroup {
  /** The cluster id, else the instance id, else "". */
  cluster: string;
  instance: string;
  engine: Engine;
  database: string | null;
  user: string | null;
  /** False for a failed login: its user and database may read a kept value but never claim a slot. */
  admit: boolean;
  /** Closed-set labels, already bounded. */
  eventClass: string;
  command: string;
  outcome: ActivityEvent['outcome'];
  isLogin: boolean;
  /** For failures: why (errorCode); else null. */
  code: string | null;
  count: number;
  rows: number;
  /** The trace id of the last event in the group that carried trace context: the exemplar. */
  traceId: string | null;
}

/** Log times, in epoch seconds, of the events of one cluster and instance. */
export interface LogTimes {
  cluster: string;
  instance: string;
  seconds: number[];
}

export interface EventTally {
  statements: StatementGroup[];
  logTimes: LogTimes[];
  /** Events whose redaction failed closed (enrich/redact.ts), per engine; only engines with some. */
  redactionsFailedClosed: { engine: Engine; count: number }[];
  /** What the audit policy dropped and matched, when one ran (counted where it ran). */
  policy?: PolicyOutcome;
}

export function tallyEvents(events: readonly ActivityEvent[], policy?: PolicyOutcome): EventTally {
  const groups = new Map<string, StatementGroup>();
  const times = new Map<string, LogTimes>();
  /** The groups used last, newest first: most events fall in one of them, found without building their key. */
  const recent: StatementGroup[] = [];
  let lastTimes: LogTimes | undefined;
  const failedClosed: { engine: Engine; count: number }[] = [];
  for (const event of events) {
    if (event.enrichment?.redactionFailedClosed) {
      const entry = failedClosed.find((f) => f.engine === event.engine);
      if (entry === undefined) failedClosed.push({ engine: event.engine, count: 1 });
      else entry.count++;
    }
    const cluster = event.clusterId ?? event.instanceId ?? '';
    const instance = event.instanceId ?? '';
    const admit = !(event.isLogin && event.outcome === 'failure');
    const eventClass = classLabel(event.class);
    const command = commandLabel(event.command);
    const code = event.outcome === 'failure' ? errorCode(event) : null;
    let group: StatementGroup | undefined;
    for (let i = 0; i < recent.length; i++) {
      const g = recent[i]!;
      if (
        g.command === command && g.eventClass === eventClass && g.outcome === event.outcome && g.admit === admit && g.isLogin === event.isLogin &&
        g.engine === event.engine && g.cluster === cluster && g.instance === instance && (g.code ?? '') === (code ?? '') &&
        (g.database ?? '') === (event.databaseName ?? '') && (g.user ?? '') === (event.dbUserName ?? '')
      ) {
        group = g;
        if (i > 0) {
          recent.splice(i, 1);
          recent.unshift(g);
        }
        break;
      }
    }
    if (group === undefined) {
      // null and "" share a key: both read as the empty label value.
      const key = `${cluster}\u0000${instance}\u0000${event.engine}\u0000${event.databaseName ?? ''}\u0000${event.dbUserName ?? ''}\u0000${admit}\u0000${eventClass}\u0000${command}\u0000${event.outcome}\u0000${event.isLogin}\u0000${code ?? ''}`;
      group = groups.get(key);
      if (group === undefined) {
        group = {
          cluster,
          instance,
          engine: event.engine,
          database: event.databaseName,
          user: event.dbUserName,
          admit,
          eventClass,
          command,
          outcome: event.outcome,
          isLogin: event.isLogin,
          code,
          count: 0,
          rows: 0,
          traceId: null,
        };
        groups.set(key, group);
      }
      recent.unshift(group);
      if (recent.length > RECENT_GROUPS) recent.pop();
    }
    group.count++;
    if (event.rowCount !== null && Number.isFinite(event.rowCount) && event.rowCount > 0) group.rows += event.rowCount;
    const trace = event.enrichment?.trace;
    if (trace) group.traceId = trace.traceId;

    const seconds = epochSeconds(event.logTimeUnixNano);
    if (seconds === null) continue;
    let list = lastTimes !== undefined && lastTimes.cluster === cluster && lastTimes.instance === instance ? lastTimes : undefined;
    if (list === undefined) {
      const where = `${cluster}\u0000${instance}`;
      list = times.get(where);
      if (list === undefined) times.set(where, (list = { cluster, instance, seconds: [] }));
      lastTimes = list;
    }
    list.seconds.push(seconds);
  }
  const tally: EventTally = { statements: [...groups.values()], logTimes: [...times.values()], redactionsFailedClosed: failedClosed };
  if (policy !== undefined) tally.policy = policy;
  return tally;
}

/** How many of the last groups an event is compared with before its key is built. */
const RECENT_GROUPS = 6;

/**
 * The `code` of a failed event: the exit code when it is what failed (MySQL
 * 1045, Oracle 1017; SQL Server 0, a failed permission check), else why the
 * engine's rules call it a failure.
 */
export function errorCode(event: ActivityEvent): string {
  const rules = OUTCOME_RULES[event.engine];
  if (event.exitCode !== null && rules.exitCodeFails(event.exitCode)) return String(event.exitCode);
  const command = event.command?.trim().toUpperCase() ?? '';
  if (rules.failureCommands.includes(command)) return event.isLogin ? 'failed_login' : 'failure_command';
  if (event.errorMessage !== null) return 'error_message';
  return 'unknown';
}

export function epochSeconds(unixNano: bigint | null): number | null {
  return unixNano === null ? null : Number(unixNano / 1000n) / 1e6;
}
