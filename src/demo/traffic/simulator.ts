/**
 * The demo's traffic: a seeded, deterministic stream of raw DAS events for a
 * few simulated databases, packed per instance into records as DAS would
 * write them to each database's Kinesis stream.
 *
 * Time is simulated. It starts at the injected clock's reading and moves only
 * when the caller asks for traffic: `tick(ms)` covers the next `ms` of
 * simulated time and holds exactly the events the rate owes for it (a
 * fraction is carried to the next tick), `next(n)` covers exactly `n` events
 * and the time they take at the rate. Heartbeats (one per instance every few
 * seconds) come on top of the rate. The same seed, clock reading, options
 * and call sequence give the same events, byte for byte.
 *
 * The mix: application reads and writes (some apps append sqlcommenter
 * comments with W3C traceparents), reports, stored routines, connection
 * churn, statement errors, DDL, grants and password changes, occasional
 * failed logins and an unexpected user, and every so often a
 * password-spraying episode: a burst of failed logins against one user of one
 * database from one outside address.
 */
import { DEMO_CLUSTERS } from './clusters.ts';
import type { SimulatedCluster, SimulatedEngine } from './clusters.ts';
import type { EngineProfile } from '../record-factory.ts';
import { ACTIVITY_WEIGHTS } from './model.ts';
import type { EngineSimulation, RawDasEvent } from './model.ts';
import { MysqlSimulation } from './mysql.ts';
import { PostgresSimulation } from './postgresql.ts';
import { Rng } from './rng.ts';
import { SqlServerSimulation } from './sqlserver.ts';

export interface TrafficSimulatorOptions {
  /** Seeds every random choice. */
  seed: number;
  /** Epoch milliseconds; read once, when the simulator is built: simulated time starts there. */
  clock: () => number;
  /** Default DEMO_CLUSTERS. */
  clusters?: readonly SimulatedCluster[];
  /** Activity events (heartbeats excluded) per simulated second (`--rate`). Default 50. */
  rate?: number;
  /** Simulated milliseconds between two heartbeats of one instance. Default 5,000. */
  heartbeatIntervalMs?: number;
  /** Most list entries in one record. Default 50. */
  maxEventsPerRecord?: number;
  /** Simulated milliseconds between password-spraying episodes (the first after at most 30 s); 0 for none. Default 180,000. */
  sprayEveryMs?: number;
}

/** One Kinesis record's worth of events: one instance, in the order DAS lists them. */
export interface TrafficBatch {
  /** The cluster's friendly name. */
  cluster: string;
  engine: SimulatedEngine;
  stream: string;
  /** Decides the KMS encryption context of the record. */
  resourceId: string;
  profile: EngineProfile;
  /** The inner record's `clusterId` ("" for an RDS instance). */
  clusterId: string;
  instanceId: string;
  /** Raw DAS events (`type` `record` or `heartbeat`), as in `databaseActivityEventList`. */
  events: RawDasEvent[];
}

export const DEFAULT_RATE = 50;

interface Pending {
  simulation: EngineSimulation;
  instanceId: string;
  /** Sort key in epoch microseconds: the activity's start, or the heartbeat's time. */
  at: number;
  event: RawDasEvent;
}

interface SprayEpisode {
  simulation: EngineSimulation;
  user: string;
  remoteHost: string;
  remaining: number;
}

export class TrafficSimulator {
  readonly rate: number;
  readonly clusters: readonly SimulatedCluster[];
  readonly #rng: Rng;
  readonly #simulations: EngineSimulation[];
  readonly #clusterWeights: Record<string, number>;
  readonly #heartbeatIntervalMicros: number;
  readonly #maxEventsPerRecord: number;
  readonly #sprayEveryMicros: number;
  readonly #nextHeartbeat = new Map<string, number>();
  #nowMicros: number;
  /** Events owed by the rate but not yet emitted, in event-milliseconds (rate × ms). */
  #owed = 0;
  #pending: Pending[] = [];
  #spray: SprayEpisode | undefined;
  #nextSprayAt: number;
  #episodes = 0;

  constructor(options: TrafficSimulatorOptions) {
    const problems: string[] = [];
    const rate = options.rate ?? DEFAULT_RATE;
    const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 5_000;
    const maxEventsPerRecord = options.maxEventsPerRecord ?? 50;
    const sprayEveryMs = options.sprayEveryMs ?? 180_000;
    const start = options.clock();
    if (!(Number.isFinite(rate) && rate > 0)) problems.push(`rate is invalid, expected a number greater than 0 (actual: ${rate})`);
    if (!(Number.isFinite(heartbeatIntervalMs) && heartbeatIntervalMs >= 1)) problems.push(`heartbeatIntervalMs is invalid, expected a number of at least 1 (actual: ${heartbeatIntervalMs})`);
    if (!(Number.isSafeInteger(maxEventsPerRecord) && maxEventsPerRecord >= 1)) problems.push(`maxEventsPerRecord is invalid, expected an integer of at least 1 (actual: ${maxEventsPerRecord})`);
    if (!(Number.isFinite(sprayEveryMs) && sprayEveryMs >= 0)) problems.push(`sprayEveryMs is invalid, expected a number of at least 0 (actual: ${sprayEveryMs})`);
    if (!(Number.isFinite(start) && start >= 0)) problems.push(`clock is invalid, expected epoch milliseconds (actual: ${start})`);
    const clusters = options.clusters ?? DEMO_CLUSTERS;
    if (clusters.length === 0) problems.push('clusters is invalid, expected at least one cluster');
    if (new Set(clusters.map((c) => c.name)).size !== clusters.length) problems.push('clusters is invalid, cluster names must be unique');
    if (problems.length > 0) throw new RangeError(problems.join('; '));

    this.rate = rate;
    this.clusters = clusters;
    this.#rng = new Rng(options.seed);
    this.#heartbeatIntervalMicros = Math.round(heartbeatIntervalMs * 1000);
    this.#maxEventsPerRecord = maxEventsPerRecord;
    this.#sprayEveryMicros = Math.round(sprayEveryMs * 1000);
    this.#nowMicros = Math.round(start * 1000);
    this.#nextSprayAt = this.#nowMicros + Math.min(30_000_000, this.#sprayEveryMicros);
    this.#simulations = clusters.map((cluster) => simulationFor(cluster, this.#rng));
    this.#clusterWeights = Object.fromEntries(clusters.map((c) => [c.name, c.weight]));
    for (const cluster of clusters) {
      for (const instance of cluster.instances) {
        // Instances beat out of phase with one another.
        this.#nextHeartbeat.set(instance.instanceId, this.#nowMicros + this.#rng.int(0, this.#heartbeatIntervalMicros - 1));
      }
    }
  }

  /** Simulated time now, in epoch milliseconds. */
  get now(): number {
    return this.#nowMicros / 1000;
  }

  /** The next `simulatedMs` of traffic: the events the rate owes for it, plus the heartbeats due. */
  tick(simulatedMs: number): TrafficBatch[] {
    if (!(Number.isFinite(simulatedMs) && simulatedMs >= 0)) {
      throw new RangeError(`simulatedMs is invalid, expected a number of at least 0 (actual: ${simulatedMs})`);
    }
    this.#owed += this.rate * simulatedMs;
    // The epsilon absorbs float error in rate × ms so whole seconds always come out exact.
    const count = Math.floor(this.#owed / 1000 + 1e-9);
    this.#owed = Math.max(0, this.#owed - count * 1000);
    return this.#advance(count, Math.round(simulatedMs * 1000));
  }

  /** Exactly `count` activity events, over the simulated time they take at the rate, plus the heartbeats due. */
  next(count: number): TrafficBatch[] {
    if (!(Number.isSafeInteger(count) && count >= 0)) throw new RangeError(`count is invalid, expected an integer of at least 0 (actual: ${count})`);
    return this.#advance(count, Math.round((count * 1_000_000) / this.rate));
  }

  #advance(count: number, spanMicros: number): TrafficBatch[] {
    const start = this.#nowMicros;
    const end = start + spanMicros;
    const emitted: Pending[] = [];
    for (let i = 0; i < count; i++) {
      if (this.#pending.length === 0) this.#generate(start + Math.floor(((i + this.#rng.next()) * spanMicros) / count));
      emitted.push(this.#pending.shift()!);
    }
    for (const simulation of this.#simulations) {
      for (const instance of simulation.cluster.instances) {
        let due = this.#nextHeartbeat.get(instance.instanceId)!;
        for (; due < end; due += this.#heartbeatIntervalMicros) {
          emitted.push({ simulation, instanceId: instance.instanceId, at: due, event: simulation.heartbeat(due) });
        }
        this.#nextHeartbeat.set(instance.instanceId, due);
      }
    }
    this.#nowMicros = end;
    return this.#pack(emitted);
  }

  /** Queues the events of one activity starting at `at`. */
  #generate(at: number): void {
    const rng = this.#rng;
    if (this.#spray === undefined && this.#sprayEveryMicros > 0 && at >= this.#nextSprayAt) this.#startSpray();
    const spray = this.#spray;
    let simulation: EngineSimulation;
    let produced: { instanceId: string; events: RawDasEvent[] };
    if (spray !== undefined && rng.chance(0.4)) {
      simulation = spray.simulation;
      produced = simulation.sprayAttempt(spray.user, spray.remoteHost, at);
      spray.remaining -= 1;
      if (spray.remaining === 0) {
        this.#spray = undefined;
        this.#nextSprayAt = at + Math.round(this.#sprayEveryMicros * (0.75 + rng.next() * 0.5));
      }
    } else {
      const name = rng.weighted(this.#clusterWeights);
      simulation = this.#simulations.find((s) => s.cluster.name === name)!;
      produced = simulation.activity(rng.weighted(ACTIVITY_WEIGHTS), at);
    }
    for (const event of produced.events) this.#pending.push({ simulation, instanceId: produced.instanceId, at, event });
  }

  #startSpray(): void {
    // Episodes take turns across the databases, so each engine gets one.
    const simulation = this.#simulations[this.#episodes % this.#simulations.length]!;
    this.#episodes += 1;
    this.#spray = {
      simulation,
      user: simulation.sprayTarget,
      remoteHost: `203.0.113.${this.#rng.int(2, 254)}`,
      remaining: this.#rng.int(15, 40),
    };
  }

  /** Groups entries per instance in time order and cuts them into records of 1 to maxEventsPerRecord entries. */
  #pack(entries: Pending[]): TrafficBatch[] {
    const batches: TrafficBatch[] = [];
    for (const simulation of this.#simulations) {
      const cluster = simulation.cluster;
      for (const instance of cluster.instances) {
        // Stable: the events of one activity keep the order their engine gave them.
        const mine = entries.filter((e) => e.instanceId === instance.instanceId && e.simulation === simulation).sort((a, b) => a.at - b.at);
        for (let i = 0; i < mine.length; ) {
          const size = this.#rng.int(1, this.#maxEventsPerRecord);
          batches.push({
            cluster: cluster.name,
            engine: cluster.engine,
            stream: cluster.stream,
            resourceId: cluster.resourceId,
            profile: cluster.profile,
            clusterId: cluster.clusterId,
            instanceId: instance.instanceId,
            events: mine.slice(i, i + size).map((e) => e.event),
          });
          i += size;
        }
      }
    }
    return batches;
  }
}

function simulationFor(cluster: SimulatedCluster, rng: Rng): EngineSimulation {
  switch (cluster.engine) {
    case 'aurora-postgresql':
      return new PostgresSimulation(cluster, rng);
    case 'aurora-mysql':
      return new MysqlSimulation(cluster, rng);
    case 'sqlserver':
      return new SqlServerSimulation(cluster, rng);
  }
}
