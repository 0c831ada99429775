/**
 * Opens records for the pipeline with the per-record work prepared (see
 * prepare.ts): the envelope and the data key here, on the main thread, where
 * the KMS client and its cache live; the rest in the prepare pool, or here
 * when there is no pool or its worker was lost (the record is then prepared
 * on this thread: same result, nothing lost, nothing dead-lettered for it).
 *
 * The opened record carries its prepared form for the sinks; its `events`
 * are decoded again from the kept JSON only if something reads them.
 *
 * On this thread, gunzip and the signature check of a signed record go to
 * the libuv thread pool only while other records are being opened too: a
 * round trip there is worth it when this thread has another record to decode
 * meanwhile, and is idle time (and, for the signature, about a tenth more
 * CPU) when it has not (one record at a time: a quiet stream, or
 * `--concurrency 1`).
 */
import { unlock, type OpenerOptions } from '../decrypt/opener.ts';
import type { DecodedRecord } from '../events/model.ts';
import type { OpenedRecord, RecordOpener } from '../pipeline.ts';
import type { SourceRecord } from '../source/record.ts';
import { WorkerLostError, type PreparePool } from './pool.ts';
import { ALONE, ALONGSIDE_OTHERS, RecordPreparer, type PolicyVersion, type PrepareJob, type PrepareSetup, type PreparedRecord } from './prepare.ts';

export interface PreparingOpenerOptions extends Pick<OpenerOptions, 'dataKeys' | 'contextFor'> {
  setup: PrepareSetup;
  /** Where records are prepared; without one, on this thread. */
  pool?: PreparePool;
  /** Wall clock in epoch milliseconds: the log records' ObservedTimestamp. */
  clock?: () => number;
  /** Runs on every record prepared on this thread because a worker was lost. */
  onLocalFallback?: (reason: string) => void;
}

export class PreparingOpener implements RecordOpener {
  readonly #opts: PreparingOpenerOptions;
  readonly #local: RecordPreparer;
  readonly #clock: () => number;
  /** Records this opener is opening right now (waiting for a data key or being prepared). */
  #opening = 0;
  /** The audit policy version records are prepared with (PolicyVersion.generation), when there is a policy. */
  #policy: number | undefined;

  constructor(options: PreparingOpenerOptions) {
    this.#opts = options;
    this.#local = new RecordPreparer(options.setup);
    this.#clock = options.clock ?? Date.now;
    this.#policy = options.setup.policy?.generation;
  }

  /** Records opened from now on are prepared with `policy` (a reload); those already opening keep theirs. */
  setPolicy(policy: PolicyVersion): void {
    this.#local.addPolicy(policy);
    this.#opts.pool?.setPolicy(policy);
    this.#policy = policy.generation;
  }

  async open(record: SourceRecord): Promise<OpenedRecord> {
    this.#opening++;
    let prepared: PreparedRecord;
    let job: PrepareJob;
    try {
      const unlocked = await unlock(record, this.#opts);
      job = { ...unlocked, observedMs: this.#clock(), ...(this.#policy !== undefined ? { policy: this.#policy } : {}) };
      prepared = await this.#prepare(job);
    } finally {
      this.#opening--;
    }
    const local = this.#local;
    let events: DecodedRecord['events'] | undefined;
    return {
      version: prepared.version,
      clusterId: prepared.clusterId,
      instanceId: prepared.instanceId,
      heartbeats: prepared.heartbeats,
      prepared,
      get events() {
        return (events ??= local.decode(prepared.json, job.decode, prepared.policy).events);
      },
    };
  }

  async #prepare(job: PrepareJob): Promise<PreparedRecord> {
    const pool = this.#opts.pool;
    if (pool === undefined) return this.#prepareHere(job);
    try {
      return await pool.run(job);
    } catch (error) {
      if (!(error instanceof WorkerLostError)) throw error;
      this.#opts.onLocalFallback?.(error.message);
      return this.#prepareHere(job);
    }
  }

  #prepareHere(job: PrepareJob): Promise<PreparedRecord> {
    return this.#local.prepare(job, this.#opening > 1 ? ALONGSIDE_OTHERS : ALONE);
  }
}
