/**
 * The embedded checkpoint store: one JSON file per stream in a state
 * directory (default ./.das-exporter), for a single process that owns whole
 * streams. It implements LeaseCoordinator the simple way: every shard of an
 * owned stream is this process's lease, and "lease lost" only happens after
 * shutdown or when another process took the stream's lock over.
 *
 * A checkpoint is durable when `checkpoint()` resolves: the file is written
 * to a temporary name, fsynced, renamed over the old one and the directory
 * fsynced, so a crash at any point leaves either the old or the new file,
 * never a torn one. Checkpoints arriving while a write is under way are
 * folded into the next write (group commit), so many shards cost one fsync.
 *
 * Checkpoints only move forward. A position behind the shard's checkpoint is
 * refused with CheckpointRegressionError (counted, never written), and every
 * write first reads the file on disk: a shard that is further there than in
 * this process (another writer moved it) keeps the file's checkpoint, and the
 * checkpoints waiting on that write are refused the same way. There are no
 * sub-sequence numbers: the consumer checkpoints whole Kinesis records.
 *
 * Ownership is a lock file beside the checkpoints (lock-file.ts) holding the
 * owner's pid, host, token and a heartbeat rewritten every third of
 * `lockTimeoutMs`. A lock whose process is dead on this host is taken over at
 * once; a live one on this host is refused; one from another host (a shared
 * volume) is refused once its heartbeat is seen to move, and taken over once
 * it has stood still for the timeout. Every write first checks that the lock
 * still carries this process's token: a process that was paused while
 * another took over writes nothing, answers LeaseLostError, and discovery
 * stops the stream as `checkpoint_lock_taken` until the lock is free again.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describeError } from '../../errors.ts';
import { sleep as defaultSleep } from '../../util/backoff.ts';
import { jsonLogger, type Logger } from '../kinesis/observer.ts';
import { StreamLock, type LockHolder } from './lock-file.ts';
import {
  bornWhileRead,
  CheckpointRegressionError,
  compareCheckpoints,
  isCheckpointPosition,
  LeaseLostError,
  SHARD_END,
  StreamOwnedError,
  type LeaseCoordinator,
  type ShardEnd,
  type ShardInfo,
  type ShardLease,
} from './store.ts';

export const DEFAULT_STATE_DIR = './.das-exporter';
export const DEFAULT_LOCK_TIMEOUT_MS = 30_000;

/** File operations the store needs; tests replace one to simulate a crash mid-write. */
export interface StoreFs {
  rename(from: string, to: string): Promise<void>;
}

export interface FileCheckpointObserver {
  /** A checkpoint behind the stored one was refused (das_checkpoint_regressions_total). */
  checkpointRegressed?(stream: string, shardId: string): void;
}

export interface FileCheckpointStoreOptions {
  /** Directory for checkpoint and lock files (default ./.das-exporter); created if missing. */
  dir?: string;
  fs?: Partial<StoreFs>;
  /** Whether a process with this pid exists on this host (default: `process.kill(pid, 0)`). */
  isAlive?: (pid: number) => boolean;
  /** This host's name in locks (default os.hostname()): a lock naming another host is judged by its heartbeat alone. */
  hostname?: string;
  /** A lock whose heartbeat stood still this long is taken over, from any host (default 30 s). */
  lockTimeoutMs?: number;
  /** Time between heartbeats (default a third of the lock timeout). */
  heartbeatIntervalMs?: number;
  observer?: FileCheckpointObserver;
  log?: Logger;
  /** A monotonic clock in ms (default performance.now). */
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

interface ShardState {
  checkpoint: string | null;
  parentShardIds: string[];
  /** Born of a reshard while the stream was read: without a checkpoint it starts at TRIM_HORIZON (ShardLease). */
  fromTrimHorizon: boolean;
}

interface CheckpointFile {
  version: 1;
  stream: string;
  updatedAt: string;
  /** `fromTrimHorizon` is missing in files written before it was recorded. */
  shards: Record<string, Omit<ShardState, 'fromTrimHorizon'> & { fromTrimHorizon?: boolean }>;
}

interface StreamState {
  stream: string;
  file: string;
  lock: StreamLock;
  shards: Map<string, ShardState>;
  /** Bumped by every change; `written` is the generation last made durable. */
  generation: number;
  written: number;
  writing: Promise<void> | undefined;
  /** Shards the file had further than this process, with the file's checkpoint: positions behind it are refused. */
  overtaken: Map<string, string>;
  /** Another process took the lock over: nothing is written or handed out until it is taken back. */
  lost: boolean;
}

export class FileCheckpointStore implements LeaseCoordinator {
  readonly dir: string;
  readonly lockTimeoutMs: number;
  readonly #fs: StoreFs;
  readonly #isAlive: (pid: number) => boolean;
  readonly #hostname: string;
  readonly #heartbeatIntervalMs: number;
  readonly #observer: FileCheckpointObserver;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly #token = randomUUID();
  readonly #streams = new Map<string, StreamState>();
  #stop = new AbortController();
  #heartbeats: Promise<void> | undefined;

  constructor(options: FileCheckpointStoreOptions = {}) {
    this.dir = options.dir ?? DEFAULT_STATE_DIR;
    this.lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
    this.#fs = { rename: fsp.rename, ...options.fs };
    this.#isAlive = options.isAlive ?? pidAlive;
    this.#hostname = options.hostname ?? os.hostname();
    this.#heartbeatIntervalMs = options.heartbeatIntervalMs ?? Math.max(1, Math.floor(this.lockTimeoutMs / 3));
    this.#observer = options.observer ?? {};
    this.#log = options.log ?? jsonLogger();
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? defaultSleep;
    if (!(this.lockTimeoutMs > 0)) throw new RangeError(`lockTimeoutMs must be greater than 0 (actual: ${this.lockTimeoutMs})`);
    if (!(this.#heartbeatIntervalMs > 0 && this.#heartbeatIntervalMs < this.lockTimeoutMs)) {
      throw new RangeError(`heartbeatIntervalMs must be greater than 0 and less than lockTimeoutMs ${this.lockTimeoutMs} (actual: ${this.#heartbeatIntervalMs})`);
    }
  }

  /** Runs at start-up: locks each stream's state (waiting out a lock from another host until it is seen live or stale) and loads its checkpoints. */
  async initialize(streams: readonly string[]): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    try {
      for (const stream of new Set(streams)) {
        if (this.#streams.has(stream)) continue;
        const base = path.join(this.dir, fileSafe(stream));
        const state: StreamState = {
          stream,
          file: `${base}.checkpoints.json`,
          lock: new StreamLock({
            file: `${base}.lock`,
            token: this.#token,
            hostname: this.#hostname,
            pid: process.pid,
            timeoutMs: this.lockTimeoutMs,
            now: this.#now,
            isAlive: this.#isAlive,
          }),
          shards: new Map(),
          generation: 0,
          written: 0,
          writing: undefined,
          overtaken: new Map(),
          lost: false,
        };
        await this.#lock(state);
        this.#streams.set(stream, state);
        this.#heartbeats ??= this.#heartbeatLoop(this.#stop.signal);
        await removeLeftovers(state.file);
        state.shards = await readCheckpoints(state.file, stream);
      }
    } catch (error) {
      await this.shutdown();
      throw error;
    }
  }

  /** Runs after each discovery: adds new shards; forgets ended shards the stream no longer lists. */
  async syncShards(stream: string, shards: readonly ShardInfo[]): Promise<void> {
    const state = await this.#held(stream);
    const listed = new Set(shards.map((s) => s.shardId));
    let changed = false;
    const born = bornWhileRead(shards, (shardId) => state.shards.has(shardId));
    for (const shard of shards) {
      if (state.shards.has(shard.shardId)) continue;
      state.shards.set(shard.shardId, { checkpoint: null, parentShardIds: [...shard.parentShardIds], fromTrimHorizon: born.has(shard.shardId) });
      changed = true;
    }
    // An ended shard past retention has nothing left to protect; its children treat an unknown parent as ended.
    for (const [shardId, s] of state.shards) {
      if (s.checkpoint === SHARD_END && !listed.has(shardId)) {
        state.shards.delete(shardId);
        changed = true;
      }
    }
    if (changed || state.written < state.generation) await this.#persist(state);
  }

  /** Every shard of the stream that is not ended and whose parents are. */
  async acquire(stream: string): Promise<readonly ShardLease[]> {
    const state = await this.#held(stream);
    const ready: ShardLease[] = [];
    for (const [shardId, s] of state.shards) {
      if (s.checkpoint === SHARD_END) continue;
      const parentsEnded = s.parentShardIds.every((p) => {
        const parent = state.shards.get(p);
        return parent === undefined || parent.checkpoint === SHARD_END;
      });
      if (parentsEnded) ready.push({ shardId, checkpoint: s.checkpoint, ...(s.fromTrimHorizon ? { fromTrimHorizon: true as const } : {}) });
    }
    return ready;
  }

  /** One owner holds every shard of a stream, until another process takes the stream's lock. */
  holds(stream: string, shardId: string): boolean {
    const state = this.#streams.get(stream);
    return state !== undefined && !state.lost && state.shards.has(shardId);
  }

  /** Records a delivered position; refuses one behind the stored checkpoint (CheckpointRegressionError) or after the lock was lost (LeaseLostError). */
  async checkpoint(stream: string, shardId: string, position: string | ShardEnd): Promise<void> {
    const state = this.#streams.get(stream);
    const shard = state?.shards.get(shardId);
    if (!state || !shard || state.lost) throw new LeaseLostError(stream, shardId);
    if (!isCheckpointPosition(position)) throw new RangeError(`checkpoint of ${stream}/${shardId}: expected a sequence number or ${SHARD_END} (actual: ${JSON.stringify(position)})`);
    if (compareCheckpoints(position, shard.checkpoint) < 0) throw this.#regressed(state, shardId, shard.checkpoint!, position);
    // Already there and on disk. A write that failed left it in memory only: retrying must write it.
    if (shard.checkpoint === position && state.written >= state.generation) return;
    shard.checkpoint = position;
    try {
      await this.#persist(state);
    } catch (error) {
      if (error instanceof StreamOwnedError) throw new LeaseLostError(stream, shardId, error.message);
      throw error;
    }
    const ahead = state.overtaken.get(shardId);
    if (ahead === undefined) return;
    if (compareCheckpoints(position, ahead) < 0) throw this.#regressed(state, shardId, ahead, position);
    state.overtaken.delete(shardId);
  }

  /** Nothing to hand back: a single owner keeps every shard until shutdown. */
  async release(): Promise<void> {}

  /** Runs at shutdown: stops the heartbeats, waits for pending writes, then removes the locks. */
  async shutdown(): Promise<void> {
    this.#stop.abort(new Error('shutdown requested'));
    await this.#heartbeats;
    this.#stop = new AbortController();
    this.#heartbeats = undefined;
    const states = [...this.#streams.values()];
    this.#streams.clear();
    for (const state of states) {
      // Its lock and its file are another process's now.
      if (state.lost) continue;
      try {
        await this.#persist(state);
      } finally {
        await state.lock.release();
      }
    }
  }

  /** The checkpoint file of a stream, for inspection. */
  fileFor(stream: string): string {
    return path.join(this.dir, `${fileSafe(stream)}.checkpoints.json`);
  }

  #owned(stream: string): StreamState {
    const state = this.#streams.get(stream);
    if (!state) throw new Error(`stream ${stream} was not initialized in the checkpoint store (or it was shut down)`);
    return state;
  }

  /** The stream's state, its lock taken back first if another process had taken it over and let it go stale or free. */
  async #held(stream: string): Promise<StreamState> {
    const state = this.#owned(stream);
    if (!state.lost) return state;
    await state.writing?.catch(() => {});
    const attempt = await state.lock.tryAcquire();
    if (attempt.status === 'held') throw new StreamOwnedError(stream, this.#ownedMessage(state, attempt.holder));
    // The other process moved the checkpoints on: start from the file.
    state.shards = await readCheckpoints(state.file, stream);
    state.written = state.generation;
    state.overtaken.clear();
    state.lost = false;
    this.#log.info('checkpoint lock taken back', { stream, lock: path.resolve(state.lock.file), from: holderFields(attempt.from) });
    return state;
  }

  async #persist(state: StreamState): Promise<void> {
    const wanted = ++state.generation;
    while (state.written < wanted) {
      state.writing ??= this.#write(state).finally(() => {
        state.writing = undefined;
      });
      await state.writing;
    }
  }

  async #write(state: StreamState): Promise<void> {
    const generation = state.generation;
    // Against the file, not this process's memory: a writer that lost the lock may have moved it since.
    for (const [shardId, stored] of await readCheckpoints(state.file, state.stream)) {
      const shard = state.shards.get(shardId);
      if (!shard || compareCheckpoints(stored.checkpoint, shard.checkpoint) <= 0) continue;
      this.#log.warn('the checkpoint file is further than this process for a shard; keeping the file\'s', {
        stream: state.stream,
        shardId,
        file: stored.checkpoint,
        memory: shard.checkpoint,
      });
      shard.checkpoint = stored.checkpoint;
      state.overtaken.set(shardId, stored.checkpoint!);
    }
    const content: CheckpointFile = {
      version: 1,
      stream: state.stream,
      updatedAt: new Date().toISOString(),
      shards: Object.fromEntries(state.shards),
    };
    const temp = `${state.file}.${process.pid}.${this.#token.slice(0, 8)}.tmp`;
    const refuseUnlessMine = async () => {
      const check = await state.lock.check();
      if (check.mine) return;
      this.#lose(state, check.holder);
      throw new StreamOwnedError(state.stream, this.#ownedMessage(state, check.holder));
    };
    try {
      await writeAtomically(state.file, JSON.stringify(content, null, 1) + '\n', this.#fs, {
        temp,
        // Last, right before the rename: a process that lost the lock must not replace the new owner's file.
        beforeRename: refuseUnlessMine,
      });
    } catch (error) {
      // Our temporary file gone at the rename: a new owner removed it as a leftover, so the check above read
      // the lock through a file opened before a pause of this process. That is the lock lost, not a disk error.
      const e = error as NodeJS.ErrnoException;
      if (e.code === 'ENOENT' && e.syscall === 'rename' && e.path === temp) await refuseUnlessMine();
      throw error;
    }
    state.written = Math.max(state.written, generation);
  }

  /** Takes the stream's lock, waiting while a lock from another host is neither seen live nor stale. */
  async #lock(state: StreamState): Promise<void> {
    let told = false;
    for (;;) {
      const attempt = await state.lock.tryAcquire();
      if (attempt.status === 'acquired') {
        if (attempt.from) this.#log.warn('took over a stale checkpoint lock', { stream: state.stream, lock: path.resolve(state.lock.file), from: holderFields(attempt.from) });
        return;
      }
      if (attempt.live) throw new StreamOwnedError(state.stream, this.#ownedMessage(state, attempt.holder));
      if (!told) {
        told = true;
        this.#log.info(`checkpoint lock held from another host; taking it over if its heartbeat stands still for ${this.lockTimeoutMs} ms`, {
          stream: state.stream,
          lock: path.resolve(state.lock.file),
          holder: holderFields(attempt.holder),
        });
      }
      await this.#sleep(Math.max(1, Math.floor(this.#heartbeatIntervalMs / 2)), this.#stop.signal);
    }
  }

  /** Runs every heartbeat interval while streams are held: rewrites each lock's heartbeat, or finds it taken over. */
  async #heartbeatLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#sleep(this.#heartbeatIntervalMs, signal).catch(() => {});
      if (signal.aborted) return;
      for (const state of this.#streams.values()) {
        if (state.lost) continue;
        try {
          const check = await state.lock.renew();
          if (!check.mine) this.#lose(state, check.holder);
        } catch (error) {
          this.#log.warn('checkpoint lock heartbeat failed; retrying', { stream: state.stream, lock: path.resolve(state.lock.file), error: describeError(error) });
        }
      }
    }
  }

  /** Runs when the lock no longer carries this process's token: stop writing and handing out the stream's shards. */
  #lose(state: StreamState, holder: LockHolder | undefined): void {
    if (state.lost) return;
    state.lost = true;
    this.#log.warn('checkpoint lock lost: another process took it over; this one stops reading the stream', {
      stream: state.stream,
      lock: path.resolve(state.lock.file),
      holder: holderFields(holder),
    });
  }

  #regressed(state: StreamState, shardId: string, stored: string, attempted: string): CheckpointRegressionError {
    this.#observer.checkpointRegressed?.(state.stream, shardId);
    this.#log.warn('checkpoint refused: behind the stored one', { stream: state.stream, shardId, stored, attempted });
    return new CheckpointRegressionError(state.stream, shardId, stored, attempted);
  }

  #ownedMessage(state: StreamState, holder: LockHolder | undefined): string {
    const lock = path.resolve(state.lock.file);
    if (!holder || holder.pid === 0) {
      return `stream ${state.stream}'s lock file ${lock} keeps changing hands or cannot be read; another process is taking it`;
    }
    const beat = holder.heartbeatAt ? `, last heartbeat ${holder.heartbeatAt}` : '';
    return (
      `stream ${state.stream} is already consumed by das-exporter pid ${holder.pid} on ${holder.hostname} ` +
      `(since ${holder.startedAt}${beat}); lock file ${lock}. ` +
      `Stop that process; one that died is taken over once its heartbeat stands still for ${this.lockTimeoutMs / 1000} s.`
    );
  }
}

function holderFields(holder: LockHolder | undefined): Record<string, unknown> | null {
  return holder ? { pid: holder.pid, hostname: holder.hostname, startedAt: holder.startedAt, heartbeatAt: holder.heartbeatAt ?? null } : null;
}

/**
 * Write to a temporary file, fsync it, rename it over `file`, fsync the
 * directory. `beforeRename` may still refuse (throw) once the content is durable.
 */
export async function writeAtomically(
  file: string,
  content: string,
  fs: StoreFs = { rename: fsp.rename },
  options: { temp?: string; beforeRename?: () => Promise<void> } = {},
): Promise<void> {
  const temp = options.temp ?? `${file}.${process.pid}.tmp`;
  const handle = await fsp.open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await options.beforeRename?.();
  } catch (error) {
    await fsp.rm(temp, { force: true });
    throw error;
  }
  await fs.rename(temp, file);
  const dir = await fsp.open(path.dirname(file), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Temporary files of writes a crash cut short: never renamed, so never part of the checkpoint. */
async function removeLeftovers(file: string): Promise<void> {
  const prefix = `${path.basename(file)}.`;
  for (const name of await fsp.readdir(path.dirname(file))) {
    if (name.startsWith(prefix) && name.endsWith('.tmp')) await fsp.rm(path.join(path.dirname(file), name), { force: true });
  }
}

async function readCheckpoints(file: string, stream: string): Promise<Map<string, ShardState>> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new Map();
    throw error;
  }
  // Renames are atomic, so a file that does not parse was damaged outside this program: refuse rather than start over.
  let parsed: CheckpointFile;
  try {
    parsed = JSON.parse(text) as CheckpointFile;
  } catch (error) {
    throw new Error(`checkpoint file ${path.resolve(file)} is not valid JSON; fix or remove it (removing re-reads the stream)`, { cause: error });
  }
  if (parsed.version !== 1 || parsed.stream !== stream || typeof parsed.shards !== 'object') {
    throw new Error(`checkpoint file ${path.resolve(file)} is not a version 1 checkpoint file of stream ${stream}`);
  }
  const shards = new Map<string, ShardState>();
  for (const [id, s] of Object.entries(parsed.shards)) {
    const checkpoint = s.checkpoint ?? null;
    if (checkpoint !== null && (typeof checkpoint !== 'string' || !isCheckpointPosition(checkpoint))) {
      throw new Error(`checkpoint file ${path.resolve(file)}: shard ${id} has checkpoint ${JSON.stringify(checkpoint)}, neither a sequence number nor ${SHARD_END}`);
    }
    shards.set(id, { checkpoint, parentShardIds: s.parentShardIds ?? [], fromTrimHorizon: s.fromTrimHorizon ?? false });
  }
  // A file written before fromTrimHorizon was recorded: a shard with a parent in it may have been born while the stream was read, and starting it at its beginning loses nothing.
  for (const [id, s] of Object.entries(parsed.shards)) {
    if (s.fromTrimHorizon === undefined && (s.parentShardIds ?? []).some((p) => shards.has(p))) shards.get(id)!.fromTrimHorizon = true;
  }
  return shards;
}

function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stream names are [a-zA-Z0-9_.-] already; anything else (an ARN) is made safe for a file name. */
function fileSafe(stream: string): string {
  return stream.replace(/[^A-Za-z0-9_.-]/g, '_');
}
