/**
 * Worker threads that prepare records (prepare.ts), so that decrypting,
 * decoding and encoding use every core while the main thread reads shards,
 * talks to KMS and delivers. Each job goes to the worker with the fewest in
 * flight; results come back in whatever order, and the pipeline puts them
 * back in shard order.
 *
 * A worker that dies (a bug, out of memory) fails its jobs with
 * WorkerLostError, which the opener answers by preparing those records on
 * the main thread, and a fresh worker takes its place. After three deaths in
 * a row with no job done in between the pool gives up on threads: every job
 * fails fast with WorkerLostError, and the process keeps working, on one
 * core.
 */
import { Worker } from 'node:worker_threads';
import { DasError } from '../errors.ts';
import { ownJob, type JobMessage, type PolicyMessage, type ResultMessage } from './messages.ts';
import type { PolicyVersion, PrepareJob, PrepareSetup, PreparedRecord } from '../record/processor.ts';

/**
 * The compiled worker (dist/workers/open-worker.js) runs as it is; run from
 * the TypeScript sources (tests, benches), a thread needs tsx registered
 * first, which boot.mjs does.
 */
const WORKER_ENTRY = import.meta.url.endsWith('.ts') ? new URL('./boot.mjs', import.meta.url) : new URL('./open-worker.js', import.meta.url);

export class WorkerLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerLostError';
  }
}

export interface PreparePoolOptions {
  /** Worker threads (at least 1). */
  size: number;
  setup: PrepareSetup;
  /** Told when a worker dies, with why. */
  onWorkerLost?: (reason: string) => void;
  /** V8 heap cap per worker, in MiB (default 256). */
  maxHeapMiB?: number;
}

interface Pending {
  resolve(prepared: PreparedRecord): void;
  reject(error: Error): void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

const GIVE_UP_AFTER = 3;

export class PreparePool {
  readonly #options: PreparePoolOptions;
  /** The setup a worker starts with: the options' own, with the latest policy version. */
  #setup: PrepareSetup;
  readonly #slots: (Slot | undefined)[];
  #nextId = 0;
  #deathsInARow = 0;
  #closed = false;

  constructor(options: PreparePoolOptions) {
    if (!Number.isInteger(options.size) || options.size < 1) throw new RangeError(`a prepare pool needs at least one worker (actual: ${options.size})`);
    this.#options = options;
    this.#setup = options.setup;
    this.#slots = new Array(options.size).fill(undefined);
  }

  get size(): number {
    return this.#slots.length;
  }

  /** Prepares one record in a worker; rejects with the record's DasError, or WorkerLostError when no worker could. */
  run(job: PrepareJob): Promise<PreparedRecord> {
    if (this.#closed) return Promise.reject(new WorkerLostError('the prepare pool is closed'));
    if (this.#deathsInARow >= GIVE_UP_AFTER) return Promise.reject(new WorkerLostError(`${GIVE_UP_AFTER} prepare workers died in a row: not starting more`));
    const index = this.#leastBusy();
    const slot = (this.#slots[index] ??= this.#start(index));
    const id = this.#nextId++;
    const { job: own, transfer } = ownJob(job);
    return new Promise<PreparedRecord>((resolve, reject) => {
      slot.pending.set(id, { resolve, reject });
      if (slot.pending.size === 1) slot.worker.ref();
      slot.worker.postMessage({ id, job: own } satisfies JobMessage, transfer);
    });
  }

  /**
   * A new audit policy version for every worker, ahead of the jobs that name
   * it (a worker reads its messages in order); a worker started later begins
   * with it.
   */
  setPolicy(policy: PolicyVersion): void {
    this.#setup = { ...this.#setup, policy };
    for (const slot of this.#slots) slot?.worker.postMessage({ policy } satisfies PolicyMessage);
  }

  /** Ends every worker; jobs still in flight fail with WorkerLostError. */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((slot, index) => (slot ? this.#stop(index, slot) : undefined)));
  }

  #leastBusy(): number {
    let best = 0;
    let load = Infinity;
    for (let i = 0; i < this.#slots.length; i++) {
      const n = this.#slots[i]?.pending.size ?? 0;
      if (n < load) [best, load] = [i, n];
    }
    return best;
  }

  #start(index: number): Slot {
    const worker = new Worker(WORKER_ENTRY, {
      workerData: this.#setup,
      // The parent's flags (a loader, a profiler) are not for workers; from sources, boot.mjs registers tsx itself.
      execArgv: [],
      resourceLimits: { maxOldGenerationSizeMb: this.#options.maxHeapMiB ?? 256 },
    });
    const slot: Slot = { worker, pending: new Map() };
    worker.unref();
    worker.on('message', (message: ResultMessage) => this.#answer(slot, message));
    worker.on('error', (error) => this.#lost(index, slot, `worker error: ${error.message}`));
    worker.on('exit', (code) => this.#lost(index, slot, `worker exited with code ${code}`));
    return slot;
  }

  #answer(slot: Slot, message: ResultMessage): void {
    const pending = slot.pending.get(message.id);
    if (pending === undefined) return;
    slot.pending.delete(message.id);
    if (slot.pending.size === 0) slot.worker.unref();
    this.#deathsInARow = 0;
    if ('prepared' in message) pending.resolve(message.prepared);
    else if (message.failure.reason !== undefined) pending.reject(new DasError(message.failure.reason, message.failure.message));
    else pending.reject(new Error(message.failure.message));
  }

  #lost(index: number, slot: Slot, reason: string): void {
    if (this.#slots[index] !== slot) return;
    this.#slots[index] = undefined;
    if (!this.#closed) {
      this.#deathsInARow++;
      this.#options.onWorkerLost?.(reason);
    }
    for (const pending of slot.pending.values()) pending.reject(new WorkerLostError(reason));
    slot.pending.clear();
    void slot.worker.terminate();
  }

  async #stop(index: number, slot: Slot): Promise<void> {
    this.#lost(index, slot, 'the prepare pool closed');
    await slot.worker.terminate();
  }
}
