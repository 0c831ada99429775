/**
 * The embedded checkpoint store: one JSON file per stream in a state
 * directory (default ./.das-exporter), for a single process that owns whole
 * streams. It implements LeaseCoordinator the simple way: every shard of an
 * owned stream is this process's lease, and "lease lost" only happens after
 * shutdown.
 *
 * A checkpoint is durable when `checkpoint()` resolves: the file is written
 * to a temporary name, fsynced, renamed over the old one and the directory
 * fsynced, so a crash at any point leaves either the old or the new file,
 * never a torn one. Checkpoints arriving while a write is under way are
 * folded into the next write (group commit), so many shards cost one fsync.
 *
 * Ownership is a lock file beside the checkpoints holding the owner's pid and
 * host. A lock whose process is dead on this host is stale and taken over; a
 * live owner, or any owner on another host (its pid cannot be checked from
 * here), is refused with an error naming the file.
 */
import { randomUUID } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  LeaseLostError,
  SHARD_END,
  StreamOwnedError,
  type LeaseCoordinator,
  type ShardEnd,
  type ShardInfo,
  type ShardLease,
} from './store.ts';

export const DEFAULT_STATE_DIR = './.das-exporter';

/** File operations the store needs; tests replace one to simulate a crash mid-write. */
export interface StoreFs {
  rename(from: string, to: string): Promise<void>;
}

export interface FileCheckpointStoreOptions {
  /** Directory for checkpoint and lock files (default ./.das-exporter); created if missing. */
  dir?: string;
  fs?: Partial<StoreFs>;
  /** Whether a process with this pid exists on this host (default: `process.kill(pid, 0)`). */
  isAlive?: (pid: number) => boolean;
}

interface ShardState {
  checkpoint: string | null;
  parentShardIds: string[];
}

interface CheckpointFile {
  version: 1;
  stream: string;
  updatedAt: string;
  shards: Record<string, ShardState>;
}

interface LockFile {
  pid: number;
  hostname: string;
  token: string;
  startedAt: string;
}

interface StreamState {
  stream: string;
  file: string;
  lockFile: string;
  shards: Map<string, ShardState>;
  /** Bumped by every change; `written` is the generation last made durable. */
  generation: number;
  written: number;
  writing: Promise<void> | undefined;
}

export class FileCheckpointStore implements LeaseCoordinator {
  readonly dir: string;
  readonly #fs: StoreFs;
  readonly #isAlive: (pid: number) => boolean;
  readonly #token = randomUUID();
  readonly #streams = new Map<string, StreamState>();

  constructor(options: FileCheckpointStoreOptions = {}) {
    this.dir = options.dir ?? DEFAULT_STATE_DIR;
    this.#fs = { rename: fsp.rename, ...options.fs };
    this.#isAlive = options.isAlive ?? pidAlive;
  }

  /** Runs at start-up: locks each stream's state and loads its checkpoints. */
  async initialize(streams: readonly string[]): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    try {
      for (const stream of new Set(streams)) {
        if (this.#streams.has(stream)) continue;
        const base = path.join(this.dir, fileSafe(stream));
        const state: StreamState = {
          stream,
          file: `${base}.checkpoints.json`,
          lockFile: `${base}.lock`,
          shards: new Map(),
          generation: 0,
          written: 0,
          writing: undefined,
        };
        await this.#lock(state);
        this.#streams.set(stream, state);
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
    const state = this.#owned(stream);
    const listed = new Set(shards.map((s) => s.shardId));
    let changed = false;
    for (const shard of shards) {
      if (state.shards.has(shard.shardId)) continue;
      state.shards.set(shard.shardId, { checkpoint: null, parentShardIds: [...shard.parentShardIds] });
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
    const state = this.#owned(stream);
    const ready: ShardLease[] = [];
    for (const [shardId, s] of state.shards) {
      if (s.checkpoint === SHARD_END) continue;
      const parentsEnded = s.parentShardIds.every((p) => {
        const parent = state.shards.get(p);
        return parent === undefined || parent.checkpoint === SHARD_END;
      });
      if (parentsEnded) ready.push({ shardId, checkpoint: s.checkpoint });
    }
    return ready;
  }

  async checkpoint(stream: string, shardId: string, position: string | ShardEnd): Promise<void> {
    const state = this.#streams.get(stream);
    const shard = state?.shards.get(shardId);
    if (!state || !shard) throw new LeaseLostError(stream, shardId);
    // Already there and on disk. A write that failed left it in memory only: retrying must write it.
    if (shard.checkpoint === position && state.written >= state.generation) return;
    shard.checkpoint = position;
    await this.#persist(state);
  }

  /** Nothing to hand back: a single owner keeps every shard until shutdown. */
  async release(): Promise<void> {}

  /** Runs at shutdown: waits for pending writes, then removes the locks. */
  async shutdown(): Promise<void> {
    const states = [...this.#streams.values()];
    this.#streams.clear();
    for (const state of states) {
      try {
        await this.#persist(state);
      } finally {
        await this.#unlock(state);
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
    const content: CheckpointFile = {
      version: 1,
      stream: state.stream,
      updatedAt: new Date().toISOString(),
      shards: Object.fromEntries(state.shards),
    };
    await writeAtomically(state.file, JSON.stringify(content, null, 1) + '\n', this.#fs);
    state.written = Math.max(state.written, generation);
  }

  async #lock(state: StreamState): Promise<void> {
    const mine: LockFile = { pid: process.pid, hostname: os.hostname(), token: this.#token, startedAt: new Date().toISOString() };
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const handle = await fsp.open(state.lockFile, 'wx');
        try {
          await handle.writeFile(JSON.stringify(mine) + '\n');
          await handle.sync();
        } finally {
          await handle.close();
        }
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = await readLock(state.lockFile);
      if (holder && !this.#isStale(holder)) {
        throw new StreamOwnedError(
          state.stream,
          `stream ${state.stream} is already consumed by das-exporter pid ${holder.pid} on ${holder.hostname} ` +
            `(since ${holder.startedAt}); lock file ${path.resolve(state.lockFile)}. ` +
            `Stop that process, or delete the lock file if it is gone for good.`,
        );
      }
      await fsp.rm(state.lockFile, { force: true });
    }
    throw new StreamOwnedError(state.stream, `could not take the lock ${path.resolve(state.lockFile)}: another process keeps taking it`);
  }

  #isStale(holder: LockFile): boolean {
    if (holder.hostname !== os.hostname()) return false;
    if (holder.pid === 0) return Date.now() - Date.parse(holder.startedAt) > 5_000;
    if (holder.pid === process.pid) {
      // Same pid: this very process (refuse), or an earlier incarnation that had our pid, as PID 1 in a container does.
      const thisProcessStarted = Date.now() - process.uptime() * 1000;
      return Date.parse(holder.startedAt) < thisProcessStarted;
    }
    return !this.#isAlive(holder.pid);
  }

  async #unlock(state: StreamState): Promise<void> {
    const holder = await readLock(state.lockFile);
    if (holder?.token === this.#token) await fsp.rm(state.lockFile, { force: true });
  }
}

/** Write to a temporary file, fsync it, rename it over `file`, fsync the directory. */
export async function writeAtomically(file: string, content: string, fs: StoreFs = { rename: fsp.rename }): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fsp.open(temp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
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
  return new Map(
    Object.entries(parsed.shards).map(([id, s]) => [id, { checkpoint: s.checkpoint ?? null, parentShardIds: s.parentShardIds ?? [] }]),
  );
}

async function readLock(file: string): Promise<LockFile | undefined> {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8')) as LockFile;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // Unreadable: being created this instant (live), or cut short by a crash while it was (stale once old).
    const written = await fsp.stat(file).then((s) => s.mtimeMs, () => 0);
    return { pid: 0, hostname: os.hostname(), token: '', startedAt: new Date(written).toISOString() };
  }
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
