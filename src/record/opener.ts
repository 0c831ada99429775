/**
 * The one record opener: envelope → encryption context → data key (KMS,
 * cached) here, on the main thread, where the KMS client and its cache live;
 * the rest (processor.ts: decrypt → gunzip → decode → enrich → policy, and
 * the sinks' prepare steps) in the prepare pool, or here when there is no
 * pool or its worker was lost (the record is then prepared on this thread:
 * same result, nothing lost, nothing dead-lettered for it). Each step throws
 * a DasError with its own reason; the pipeline decides what a failure means
 * for the batch.
 *
 * With prepare steps, the opened record carries its prepared form for the
 * sinks, and its `events` are decoded again from the kept record only if
 * something reads them. Without (a stdout, JSON-lines or the demo's log
 * sink), the record is opened for its events on this thread.
 *
 * On this thread, the signature check of a signed record goes to the libuv
 * thread pool only while other records are being opened too: a round trip
 * there is worth it when this thread has another record to decode meanwhile,
 * and is idle time (and about a tenth more CPU) when it has not (one record at
 * a time: a quiet stream, or `--concurrency 1`). Gunzip runs here either way
 * (decrypt/gunzip.ts says why).
 */
import type { DecodedRecord } from '../events/model.ts';
import type { PayloadDecryptor } from '../decrypt/payload.ts';
import type { DecodeOptions } from '../events/decode.ts';
import type { OpenedRecord, RecordOpener } from '../pipeline.ts';
import { parseEnvelope } from '../source/envelope.ts';
import type { EncryptionContext, SourceRecord } from '../source/record.ts';
import { WorkerLostError, type PreparePool } from '../workers/pool.ts';
import { ALONE, ALONGSIDE_OTHERS, RecordProcessor, type PolicyVersion, type PrepareJob, type PreparedRecord, type PrepareSetup } from './processor.ts';

export interface DataKeySource {
  get(ciphertext: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

export interface OpenerOptions {
  dataKeys: DataKeySource;
  /** The KMS encryption context for a record's stream (see source/resource.ts). */
  contextFor: (record: SourceRecord) => EncryptionContext;
  /** How records are processed (redaction, size cap, policy, the sinks' prepare steps). */
  setup: PrepareSetup;
  /** Where records are prepared (only with prepare steps); without one, on this thread. */
  pool?: PreparePool;
  /** The payload decryptor on this thread (default: node:crypto for DAS suites, the Encryption SDK otherwise). */
  decryptor?: PayloadDecryptor;
  /** Wall clock in epoch milliseconds: the log records' ObservedTimestamp. */
  clock?: () => number;
  /** Runs on every record prepared on this thread because a worker was lost. */
  onLocalFallback?: (reason: string) => void;
}

export class DasRecordOpener implements RecordOpener {
  readonly #opts: OpenerOptions;
  readonly #local: RecordProcessor;
  readonly #clock: () => number;
  /** Records this opener is opening right now (waiting for a data key or being prepared). */
  #opening = 0;
  /** The audit policy version records are opened with (PolicyVersion.generation), when there is a policy. */
  #policy: number | undefined;

  constructor(options: OpenerOptions) {
    if (options.pool && options.setup.steps.length === 0) throw new Error('DasRecordOpener: a prepare pool needs prepare steps (records opened for their events are opened on this thread)');
    this.#opts = options;
    this.#local = new RecordProcessor(options.setup, ...(options.decryptor ? [options.decryptor] : []));
    this.#clock = options.clock ?? Date.now;
    this.#policy = options.setup.policy?.generation;
  }

  /** Records opened from now on get `policy` (a reload); those already opening keep theirs. */
  setPolicy(policy: PolicyVersion): void {
    this.#local.addPolicy(policy);
    this.#opts.pool?.setPolicy(policy);
    this.#policy = policy.generation;
  }

  async open(record: SourceRecord): Promise<OpenedRecord> {
    this.#opening++;
    try {
      const unlocked = await unlock(record, this.#opts);
      const job: PrepareJob = { ...unlocked, observedMs: this.#clock(), ...(this.#policy !== undefined ? { policy: this.#policy } : {}) };
      if (!this.#local.prepares) return (await this.#local.open(job, this.#where())).decoded;
      return this.#withEvents(await this.#prepare(job), job);
    } finally {
      this.#opening--;
    }
  }

  #withEvents(prepared: PreparedRecord, job: PrepareJob): OpenedRecord {
    const local = this.#local;
    let events: DecodedRecord['events'] | undefined;
    return {
      version: prepared.version,
      clusterId: prepared.clusterId,
      instanceId: prepared.instanceId,
      heartbeats: prepared.heartbeats,
      prepared,
      get events() {
        return (events ??= local.decodeDecrypted(prepared.compressed, job.decode, prepared.policy).events);
      },
    };
  }

  async #prepare(job: PrepareJob): Promise<PreparedRecord> {
    const pool = this.#opts.pool;
    if (pool === undefined) return this.#local.prepare(job, this.#where());
    try {
      return await pool.run(job);
    } catch (error) {
      if (!(error instanceof WorkerLostError)) throw error;
      this.#opts.onLocalFallback?.(error.message);
      return this.#local.prepare(job, this.#where());
    }
  }

  #where() {
    return this.#opening > 1 ? ALONGSIDE_OTHERS : ALONE;
  }
}

/** A record's Encryption SDK message with its data key (from KMS or the cache), and how to decode what it holds. */
export interface UnlockedRecord {
  payload: Uint8Array;
  dataKey: Uint8Array;
  decode: Required<DecodeOptions>;
}

/** The steps before decryption: envelope, encryption context, data key. */
export async function unlock(record: SourceRecord, keys: Pick<OpenerOptions, 'dataKeys' | 'contextFor'>): Promise<UnlockedRecord> {
  const envelope = parseEnvelope(record.data);
  const dataKey = await keys.dataKeys.get(envelope.key, keys.contextFor(record));
  return {
    payload: envelope.payload,
    dataKey,
    decode: { version: envelope.version, position: { stream: record.stream, shardId: record.shardId, sequenceNumber: record.sequenceNumber } },
  };
}
