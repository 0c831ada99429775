/**
 * What every engine's simulation shares: the kinds of activity the traffic
 * mix is made of, who issues them, and the sessions they run in. Each engine
 * module (postgresql.ts, mysql.ts, sqlserver.ts) turns an activity into raw
 * DAS events with that engine's field names, types and quirks.
 */
import type { Rng } from './rng.ts';
import type { SimulatedCluster, SimulatedInstance } from './clusters.ts';

/** A raw DAS event exactly as it appears in `databaseActivityEventList`. */
export type RawDasEvent = Record<string, unknown>;

export const ACTIVITY_KINDS = [
  'app_read',
  'app_write',
  'report',
  'routine',
  'session_churn',
  'statement_error',
  'failed_login',
  'ddl',
  'access_change',
  'unexpected_user',
] as const;
export type ActivityKind = (typeof ACTIVITY_KINDS)[number];

/** Relative frequency of each kind in the steady mix (spraying episodes come on top). */
export const ACTIVITY_WEIGHTS: Readonly<Record<ActivityKind, number>> = {
  app_read: 48,
  app_write: 24,
  report: 8,
  routine: 3,
  session_churn: 6,
  statement_error: 3,
  failed_login: 1,
  ddl: 0.6,
  access_change: 0.6,
  unexpected_user: 1,
};

export type ActorRole = 'app' | 'reporting' | 'dba' | 'unexpected';

export interface Actor {
  role: ActorRole;
  /** Application or person, for reading the demo's output. */
  label: string;
  user: string;
  database: string;
  /** What the client reports (PostgreSQL application_name, SQL Server program_name); MySQL always sends null. */
  clientApplication: string | null;
  /** Client addresses the actor connects from. */
  hosts: readonly string[];
  /** sqlcommenter tags the app's ORM appends (controller names); absent for apps without sqlcommenter. */
  controllers?: readonly string[];
  /** sqlcommenter `framework` tag. */
  framework?: string;
  /** Sessions kept open per instance (a connection pool). */
  poolSize: number;
}

/** One client connection. */
export interface Session {
  actor: Actor;
  instance: SimulatedInstance;
  /** PostgreSQL `5ce73c6f.7e64`, MySQL `725118`, SQL Server spid. */
  sessionId: string | number;
  pid: number;
  remoteHost: string;
  remotePort: number;
  /** Last PostgreSQL statementId used in this session. */
  statementSeq: number;
  /** SQL Server audit connection_id. */
  connectionId: string;
}

/** Raw events of one activity, all from one instance, in the order the engine lists them. */
export interface InstanceEvents {
  instanceId: string;
  events: RawDasEvent[];
}

/** How each engine renders activities. `at` is the activity's start in epoch microseconds. */
export interface EngineSimulation {
  readonly cluster: SimulatedCluster;
  activity(kind: ActivityKind, at: number): InstanceEvents;
  /** One attempt of a password-spraying episode against `user` from `remoteHost`. */
  sprayAttempt(user: string, remoteHost: string, at: number): InstanceEvents;
  /** The user a spraying episode against this database goes after. */
  readonly sprayTarget: string;
  heartbeat(at: number): RawDasEvent;
}

/**
 * Session pools per actor and instance. Opening a session is itself traffic
 * (a CONNECT event), so `session` returns the events it had to produce.
 */
export class SessionPools {
  readonly #pools = new Map<string, Session[]>();
  readonly #rng: Rng;
  readonly #open: (actor: Actor, instance: SimulatedInstance, at: number) => Session;

  constructor(rng: Rng, open: (actor: Actor, instance: SimulatedInstance, at: number) => Session) {
    this.#rng = rng;
    this.#open = open;
  }

  /** A session of `actor` on `instance`; `opened` is set when a new one had to be opened. */
  session(actor: Actor, instance: SimulatedInstance, at: number): { session: Session; opened: boolean } {
    const pool = this.#pool(actor, instance);
    if (pool.length < actor.poolSize) {
      const session = this.#open(actor, instance, at);
      pool.push(session);
      return { session, opened: true };
    }
    return { session: this.#rng.pick(pool), opened: false };
  }

  /** Removes and returns one open session of `actor` on `instance`, if any. */
  close(actor: Actor, instance: SimulatedInstance): Session | undefined {
    const pool = this.#pool(actor, instance);
    if (pool.length === 0) return undefined;
    return pool.splice(this.#rng.int(0, pool.length - 1), 1)[0];
  }

  #pool(actor: Actor, instance: SimulatedInstance): Session[] {
    const key = `${instance.instanceId}/${actor.user}`;
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = [];
      this.#pools.set(key, pool);
    }
    return pool;
  }
}

/**
 * A sqlcommenter comment as the sqlcommenter libraries append it: keys sorted,
 * values URL-encoded and single-quoted, with a W3C traceparent (version 00,
 * random non-zero ids, sampled most of the time).
 */
export function sqlcommenter(rng: Rng, actor: Actor, action: string): string {
  if (actor.controllers === undefined) return '';
  const tags: Record<string, string> = {
    action,
    controller: rng.pick(actor.controllers),
    traceparent: `00-${rng.nonZeroHex(32)}-${rng.nonZeroHex(16)}-${rng.chance(0.9) ? '01' : '00'}`,
  };
  if (actor.framework !== undefined) tags['framework'] = actor.framework;
  const body = Object.keys(tags)
    .sort()
    .map((key) => `${key}='${encodeURIComponent(tags[key]!)}'`)
    .join(',');
  return ` /*${body}*/`;
}

/** An ephemeral client port. */
export function ephemeralPort(rng: Rng): number {
  return rng.int(32768, 60999);
}

/** The instance an actor's statement goes to: writes to the writer, reads anywhere (reports prefer a reader). */
export function instanceFor(rng: Rng, cluster: SimulatedCluster, access: 'read' | 'write' | 'report'): SimulatedInstance {
  const writer = cluster.instances[0]!;
  const readers = cluster.instances.filter((i) => i.role === 'reader');
  if (access === 'write' || readers.length === 0) return writer;
  if (access === 'report') return rng.pick(readers);
  return rng.chance(0.5) ? writer : rng.pick(readers);
}

/**
 * The `n`th item of a list, round and round. Rare activities (DDL, grants)
 * walk their list in order rather than at random, so a short run shows every
 * one of them.
 */
export function cycle<T>(n: number, items: readonly T[]): T {
  if (items.length === 0) throw new RangeError('cannot cycle through an empty list');
  return items[n % items.length]!;
}
