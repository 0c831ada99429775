/**
 * Shard leases in a DynamoDB table shared by any number of das-exporter
 * workers (`--leases dynamodb:<table>`), with KCL's semantics and KCL 2.x's
 * item form, so that an operator who knows KCL can read and repair the
 * table, and a KCL consumer's table keeps its positions (see lease-table.ts).
 *
 * At start the worker decides the key form from the streams it reads and
 * what the table holds: KCL's single-stream form for one stream, its
 * multi-stream form (keys carrying the stream's account and creation time)
 * when several share the table. Leases in das-exporter's previous form are
 * moved to it in place (key-migration.ts) before the stream is first read.
 *
 * A worker holds a lease by bumping its `leaseCounter` every failover/3
 * (renewal). Another worker sees a lease as expired when its counter did not
 * move for the failover time on that worker's own clock, as KCL does: no
 * clocks are compared across machines. Each discovery round takes expired or
 * unowned leases up to an even share, else steals one from the busiest worker
 * (lease-taker.ts). Every write is conditional on the counter last seen, so
 * of two workers racing for a lease exactly one wins, and a worker whose
 * lease was taken has its next renewal or checkpoint refused: the lease is
 * lost, the checkpoint throws LeaseLostError and the shard's reader stops
 * without moving the checkpoint. Whoever holds the lease now resumes from the
 * last checkpoint: records may be delivered twice, never skipped.
 *
 * A child shard is taken only once every parent's lease says SHARD_END (or
 * the parent's lease is gone: aged out of the stream and cleaned up).
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { describeError } from '../../errors.ts';
import { sleep as defaultSleep } from '../../util/backoff.ts';
import { USER_AGENT } from '../../version.ts';
import { KinesisCallError } from '../checkpoints/failures.ts';
import { bornWhileRead, LeaseLostError, SHARD_END, type LeaseCoordinator, type ShardEnd, type ShardInfo, type ShardLease } from '../checkpoints/store.ts';
import { jsonLogger, type Logger } from '../kinesis/observer.ts';
import { migratePreviousLeases } from './key-migration.ts';
import { chooseKeyForm, INITIAL_POSITIONS, LeaseTable, SINGLE_STREAM, type InitialPosition, type LeaseItem, type LeaseScope } from './lease-table.ts';
import { chooseLeasesToTake } from './lease-taker.ts';

export const DEFAULT_FAILOVER_MS = 10_000;

export interface LeaseObserver {
  /** The number of leases this worker holds on a stream changed (das_leases_held). */
  leasesHeld?(stream: string, count: number): void;
  leaseTaken?(stream: string, shardId: string, from: string | null): void;
  leaseLost?(stream: string, shardId: string): void;
}

export interface DynamoDbLeaseCoordinatorOptions {
  client: DynamoDBClient;
  table: string;
  /** Default `<hostname>:<pid>:<random>`. */
  workerId?: string;
  /** A lease whose counter did not move for this long is expired (default 10 s, KCL's failoverTimeMillis). */
  failoverTimeMs?: number;
  /** Time between renewals (default failover / 3). */
  renewIntervalMs?: number;
  /**
   * Written in `checkpoint` of the leases of the shards a stream has when the
   * table first sees it (default TRIM_HORIZON; the consumer's start position
   * in the app). Shards born of a reshard later get TRIM_HORIZON, as in KCL.
   * A lease at TRIM_HORIZON starts from the shard's beginning; one at LATEST
   * or AT_TIMESTAMP at the consumer's start position.
   */
  initialPosition?: InitialPosition;
  /**
   * KCL's stream identifier of a stream, `<account>:<stream>:<creation epoch>`
   * (streamIdentifierOf), for the multi-stream key form; needed only when
   * several streams share the table. Its failure is a Kinesis one.
   */
  streamIdentifier?: (stream: string) => Promise<string>;
  /** Create the table when it is missing (default true). */
  createTable?: boolean;
  /** Destroy `client` at shutdown, when nothing else uses it (default false). */
  destroyClient?: boolean;
  observer?: LeaseObserver;
  log?: Logger;
  /** A monotonic clock in ms (default performance.now). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  shuffle?: <T>(items: T[]) => T[];
}

/** A DynamoDB client of the standard chain (region, credentials, AWS_ENDPOINT_URL_DYNAMODB), `config` over it, that cannot hang a renewal; its User-Agent names das-exporter. */
export function createDynamoDbClient(config: DynamoDBClientConfig = {}): DynamoDBClient {
  return new DynamoDBClient({
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true }),
    customUserAgent: USER_AGENT,
    ...config,
  });
}

export function defaultWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

interface Held {
  item: LeaseItem;
  /** When the table last confirmed the lease ours. */
  confirmedAt: number;
  /** Renewals, checkpoints and releases of one lease run one at a time, so they never race each other's counter. */
  queue: Promise<unknown>;
}

interface Seen {
  item: LeaseItem;
  /** When this worker last saw the counter or owner change. */
  changedAt: number;
}

interface StreamLeases {
  /** How the stream's leases are keyed; decided (and the table migrated) when the stream is first synced. */
  scope: Promise<LeaseScope> | undefined;
  held: Map<string, Held>;
  seen: Map<string, Seen>;
  scanned: boolean;
}

export class DynamoDbLeaseCoordinator implements LeaseCoordinator {
  readonly workerId: string;
  readonly failoverTimeMs: number;
  readonly #table: LeaseTable;
  readonly #o: DynamoDbLeaseCoordinatorOptions;
  readonly #renewIntervalMs: number;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #streams = new Map<string, StreamLeases>();
  readonly #stop = new AbortController();
  /** The key form of every stream's leases, decided from the first look at the table. */
  #form: LeaseScope['form'] | undefined;
  #renewing: Promise<void> | undefined;

  constructor(options: DynamoDbLeaseCoordinatorOptions) {
    this.#o = options;
    this.#table = new LeaseTable(options.client, options.table);
    this.workerId = options.workerId ?? defaultWorkerId();
    this.failoverTimeMs = options.failoverTimeMs ?? DEFAULT_FAILOVER_MS;
    this.#renewIntervalMs = options.renewIntervalMs ?? Math.max(1, Math.floor(this.failoverTimeMs / 3));
    this.#log = options.log ?? jsonLogger();
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? defaultSleep;
    if (!(this.failoverTimeMs > 0)) throw new RangeError(`failoverTimeMs must be greater than 0 (actual: ${this.failoverTimeMs})`);
    if (options.initialPosition !== undefined && !INITIAL_POSITIONS.includes(options.initialPosition)) {
      throw new RangeError(`initialPosition must be one of ${INITIAL_POSITIONS.join(', ')} (actual: ${options.initialPosition})`);
    }
  }

  /** Runs once at start-up: makes sure the table exists and starts renewing. */
  async initialize(streams: readonly string[]): Promise<void> {
    if (this.#o.createTable ?? true) {
      const outcome = await this.#table.ensureExists();
      if (outcome === 'created') this.#log.info('lease table created', { table: this.#table.name });
    }
    for (const stream of streams) {
      if (!this.#streams.has(stream)) this.#streams.set(stream, { scope: undefined, held: new Map(), seen: new Map(), scanned: false });
    }
    this.#renewing ??= this.#renewLoop(this.#stop.signal);
  }

  /** Runs after each shard discovery: writes an unowned lease for every shard without one, and deletes ended leases the stream no longer lists. */
  async syncShards(stream: string, shards: readonly ShardInfo[]): Promise<void> {
    const state = this.#state(stream);
    const scope = await this.#scopeOf(stream, state);
    if (!state.scanned) await this.#scan(stream, state);
    const listed = new Set(shards.map((s) => s.shardId));
    // As KCL writes them: a shard born while the stream was read starts at TRIM_HORIZON, the others at the initial position.
    const born = bornWhileRead(shards, (shardId) => state.seen.has(shardId));
    let created = false;
    for (const shard of shards) {
      if (state.seen.has(shard.shardId)) continue;
      await this.#table.create(scope, shard, born.has(shard.shardId) ? 'TRIM_HORIZON' : (this.#o.initialPosition ?? 'TRIM_HORIZON'));
      created = true;
    }
    if (created) await this.#scan(stream, state);
    await this.#describeShards(state, shards);
    // An ended shard past retention has nothing left to protect; its children treat a missing parent as ended.
    for (const [shardId, { item }] of state.seen) {
      if (item.checkpoint === SHARD_END && !listed.has(shardId) && (await this.#table.deleteEnded(item))) state.seen.delete(shardId);
    }
  }

  /** Runs each discovery round: reads the table, notices leases lost, takes or steals toward an even share, and hands out what is held and ready. */
  async acquire(stream: string): Promise<readonly ShardLease[]> {
    const state = this.#state(stream);
    const items = await this.#scan(stream, state);
    for (const [shardId, held] of state.held) {
      const item = items.get(shardId);
      if (!item || item.leaseOwner !== this.workerId) this.#lost(stream, shardId, 'taken by another worker');
      else if (item.leaseCounter > held.item.leaseCounter) held.item = item;
    }

    const eligible = [...items.values()].filter((item) => item.checkpoint !== SHARD_END && parentsEnded(item, items));
    const decision = chooseLeasesToTake({
      workerId: this.workerId,
      eligible,
      held: new Set(state.held.keys()),
      isExpired: (item) => this.#isExpired(state, item),
      ...(this.#o.shuffle ? { shuffle: this.#o.shuffle } : {}),
    });
    for (const seen of decision.take) {
      const taken = await this.#table.take(seen, this.workerId);
      // Another worker's conditional write came first: it won this lease.
      if (!taken) continue;
      state.held.set(seen.shardId, { item: taken, confirmedAt: this.#now(), queue: Promise.resolve() });
      state.seen.set(seen.shardId, { item: taken, changedAt: this.#now() });
      this.#o.observer?.leaseTaken?.(stream, seen.shardId, seen.leaseOwner);
      this.#log.info(decision.stealFrom ? 'lease stolen to balance' : 'lease taken', {
        stream,
        shardId: seen.shardId,
        from: seen.leaseOwner,
        worker: this.workerId,
        target: decision.target,
      });
    }
    this.#o.observer?.leasesHeld?.(stream, state.held.size);

    const ready = new Set(eligible.map((item) => item.shardId));
    return [...state.held.values()]
      .filter((held) => ready.has(held.item.shardId) && held.item.checkpoint !== SHARD_END)
      .map((held) => leaseOf(held.item));
  }

  holds(stream: string, shardId: string): boolean {
    return this.#streams.get(stream)?.held.has(shardId) ?? false;
  }

  /** Records a delivered position, conditional on this worker still owning the lease at the counter it knows. */
  async checkpoint(stream: string, shardId: string, position: string | ShardEnd): Promise<void> {
    const held = this.#streams.get(stream)?.held.get(shardId);
    if (!held) throw new LeaseLostError(stream, shardId);
    const state = this.#streams.get(stream)!;
    const ok = await this.#serially(held, async () => {
      const written = await this.#write(stream, held, (item) => this.#table.checkpoint(item, this.workerId, position));
      // The table released an ended lease with its last checkpoint.
      if (written && position === SHARD_END && state.held.get(shardId) === held) state.held.delete(shardId);
      return written;
    });
    if (!ok) throw new LeaseLostError(stream, shardId);
    if (position === SHARD_END) this.#o.observer?.leasesHeld?.(stream, state.held.size);
  }

  /** Runs when this worker stops reading a shard (ended, shutdown): the lease is left unowned so any worker may take it at once. */
  async release(stream: string, shardId: string): Promise<void> {
    const state = this.#streams.get(stream);
    const held = state?.held.get(shardId);
    if (!state || !held) return;
    await this.#serially(held, async () => {
      if (state.held.get(shardId) !== held) return;
      await this.#write(stream, held, (item) => this.#table.evict(item, this.workerId));
      state.held.delete(shardId);
    });
    this.#o.observer?.leasesHeld?.(stream, state.held.size);
  }

  /** Runs last: stops renewing and releases every lease still held. */
  async shutdown(): Promise<void> {
    this.#stop.abort(new Error('shutdown requested'));
    await this.#renewing;
    const releases = [...this.#streams].flatMap(([stream, state]) => [...state.held.keys()].map((shardId) => ({ stream, shardId })));
    await Promise.all(
      releases.map(({ stream, shardId }) =>
        this.release(stream, shardId).catch((error) => {
          this.#log.warn('lease release failed; it expires after the failover time', { stream, shardId, error: describeError(error) });
        }),
      ),
    );
    if (this.#o.destroyClient) this.#o.client.destroy();
  }

  /** Shard ids this worker holds on a stream now. */
  heldShards(stream: string): string[] {
    return [...(this.#streams.get(stream)?.held.keys() ?? [])].sort();
  }

  /** The table's items for a stream, for inspection. */
  async leases(stream: string): Promise<LeaseItem[]> {
    return this.#table.list(await this.#scopeOf(stream, this.#state(stream)));
  }

  #state(stream: string): StreamLeases {
    const state = this.#streams.get(stream);
    if (!state) throw new Error(`stream ${stream} was not initialized in the lease coordinator (or it was shut down)`);
    return state;
  }

  /**
   * Runs before a stream's leases are first read (its first discovery, so a
   * failure is retried, or stops the stream, like any other): decides the
   * key form (a LeaseTableFormError when the table cannot hold these
   * streams), and moves the stream's leases in das-exporter's previous form
   * to that key.
   */
  #scopeOf(stream: string, state: StreamLeases): Promise<LeaseScope> {
    state.scope ??= this.#open(stream).catch((error: unknown) => {
      state.scope = undefined;
      throw error;
    });
    return state.scope;
  }

  async #open(stream: string): Promise<LeaseScope> {
    const stored = await this.#table.scan();
    this.#form ??= chooseKeyForm(this.#table.name, [...this.#streams.keys()], stored);
    let scope = SINGLE_STREAM;
    if (this.#form === 'multi') {
      if (!this.#o.streamIdentifier) throw new Error(`lease table ${this.#table.name} is shared by several streams: the coordinator needs streamIdentifier for KCL's multi-stream keys`);
      let streamIdentifier: string;
      try {
        streamIdentifier = await this.#o.streamIdentifier(stream);
      } catch (error) {
        throw new KinesisCallError(`the identity of stream ${stream} for its lease keys`, error);
      }
      scope = { form: 'multi', streamIdentifier };
    }
    const moved = await migratePreviousLeases(this.#table, stream, scope, stored, this.#log);
    if (moved > 0) this.#log.info("leases moved to KCL's key form", { table: this.#table.name, stream, leases: moved, form: scope.form });
    if (scope.form === 'multi') {
      const { streamIdentifier } = scope;
      const foreign = new Set(stored.flatMap((l) => (l.form === 'multi' && l.stream === stream && l.streamIdentifier !== streamIdentifier ? [l.streamIdentifier] : [])));
      // Another account, or the stream as it was before being deleted and created again, or a KCL application that chose another epoch.
      for (const other of foreign) this.#log.warn('the lease table holds leases of a stream of this name under another identifier; they are not read', { table: this.#table.name, stream, streamIdentifier, other });
    }
    return scope;
  }

  /** Adds to the leases what KCL records about their shards: hash key ranges, and on each parent its children. */
  async #describeShards(state: StreamLeases, shards: readonly ShardInfo[]): Promise<void> {
    const children = new Map<string, string[]>();
    for (const shard of shards) for (const parent of shard.parentShardIds) children.set(parent, [...(children.get(parent) ?? []), shard.shardId]);
    for (const shard of shards) {
      const item = state.seen.get(shard.shardId)?.item;
      if (!item) continue;
      const missingChildren = (children.get(shard.shardId) ?? []).filter((child) => !item.childShardIds.includes(child));
      const missingRange = item.hashKeyRange === null ? shard.hashKeyRange : undefined;
      if (missingChildren.length === 0 && !missingRange) continue;
      const described = await this.#table.describeShard(item, { hashKeyRange: missingRange, childShardIds: missingChildren });
      const seen = state.seen.get(shard.shardId);
      if (described && seen) seen.item = described;
    }
  }

  async #scan(stream: string, state: StreamLeases): Promise<Map<string, LeaseItem>> {
    const items = new Map((await this.#table.list(await this.#scopeOf(stream, state))).map((item) => [item.shardId, item]));
    const now = this.#now();
    for (const [shardId, item] of items) {
      const before = state.seen.get(shardId);
      const changed = !before || before.item.leaseCounter !== item.leaseCounter || before.item.leaseOwner !== item.leaseOwner;
      state.seen.set(shardId, { item, changedAt: changed ? now : before.changedAt });
    }
    for (const shardId of state.seen.keys()) if (!items.has(shardId)) state.seen.delete(shardId);
    state.scanned = true;
    return items;
  }

  #isExpired(state: StreamLeases, item: LeaseItem): boolean {
    if (item.leaseOwner === null) return true;
    const seen = state.seen.get(item.shardId);
    return seen !== undefined && this.#now() - seen.changedAt > this.failoverTimeMs;
  }

  /**
   * One conditional write on a held lease. A refused condition is checked
   * against the table: still ours means our own earlier write landed though
   * its answer was lost, so adopt its counter and try again; anyone else's
   * means the lease is lost.
   */
  async #write(stream: string, held: Held, write: (item: LeaseItem) => Promise<LeaseItem | undefined>): Promise<boolean> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const next = await write(held.item);
      if (next) {
        held.item = next;
        held.confirmedAt = this.#now();
        return true;
      }
      const current = await this.#table.get(held.item.leaseKey);
      if (!current || current.leaseOwner !== this.workerId) break;
      held.item = current;
    }
    this.#lost(stream, held.item.shardId, 'a conditional write was refused');
    return false;
  }

  #serially<T>(held: Held, task: () => Promise<T>): Promise<T> {
    const run = held.queue.then(task, task);
    held.queue = run.catch(() => {});
    return run;
  }

  #lost(stream: string, shardId: string, why: string): void {
    const state = this.#streams.get(stream);
    if (!state?.held.delete(shardId)) return;
    this.#log.warn(`shard lease lost: ${why}`, { stream, shardId, worker: this.workerId });
    this.#o.observer?.leaseLost?.(stream, shardId);
    this.#o.observer?.leasesHeld?.(stream, state.held.size);
  }

  async #renewLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#sleep(this.#renewIntervalMs, signal).catch(() => {});
      if (signal.aborted) return;
      await Promise.all([...this.#streams].flatMap(([stream, state]) => [...state.held.values()].map((held) => this.#renew(stream, state, held))));
    }
  }

  /** Runs every renewal interval for each held lease: bumps its counter, or finds it lost. */
  async #renew(stream: string, state: StreamLeases, held: Held): Promise<void> {
    try {
      await this.#serially(held, async () => {
        if (state.held.get(held.item.shardId) !== held) return;
        await this.#write(stream, held, (item) => this.#table.renew(item, this.workerId));
      });
    } catch (error) {
      // Unconfirmed for a whole failover time: another worker may rightly have taken it.
      if (this.#now() - held.confirmedAt > this.failoverTimeMs) this.#lost(stream, held.item.shardId, `renewal failing: ${describeError(error)}`);
      else this.#log.warn('lease renewal failed; retrying', { stream, shardId: held.item.shardId, error: describeError(error) });
    }
  }
}

function parentsEnded(item: LeaseItem, items: ReadonlyMap<string, LeaseItem>): boolean {
  return item.parentShardIds.every((parent) => {
    const lease = items.get(parent);
    return lease === undefined || lease.checkpoint === SHARD_END;
  });
}

/**
 * Where to resume: after the checkpoint's sequence number, or, for a lease
 * that never delivered anything, where its sentinel says: TRIM_HORIZON (a
 * shard born of a reshard, or a table started at the horizon) from the
 * beginning, LATEST or AT_TIMESTAMP at the consumer's start position.
 */
function leaseOf(item: LeaseItem): ShardLease {
  if (!INITIAL_POSITIONS.includes(item.checkpoint)) return { shardId: item.shardId, checkpoint: item.checkpoint };
  return { shardId: item.shardId, checkpoint: null, ...(item.checkpoint === 'TRIM_HORIZON' ? { fromTrimHorizon: true as const } : {}) };
}
