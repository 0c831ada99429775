/**
 * The one record processor: the per-record work after the data key, decrypt
 * → gunzip → decode → enrich → audit policy, then the sinks' prepare steps on
 * the events (steps.ts: OTLP/protobuf log records, metric tallies, spans).
 * It needs nothing from the process but its setup, so it runs in a worker
 * thread (workers/open-worker.ts) as it runs on the main thread, with the
 * same result: where it runs is the opener's choice (opener.ts), not a
 * second implementation.
 *
 * `open` returns the events (for sinks without a prepare step: stdout, JSON
 * lines, the demo's lines). `prepare` returns the steps' results and no
 * event objects: a worker sending 200 events through structured clone would
 * cost the main thread about what decoding them did. It keeps the
 * decrypted, still compressed record instead, so that the rare reader who
 * needs the events themselves (a backend rejecting one) gets them by
 * decompressing and decoding again (`decodeDecrypted`): the same decode,
 * enrichment and policy, the same events. Not the decompressed JSON: about
 * ten times the bytes, held by every record in flight until its part is
 * delivered (and sent from a worker). The rare reader pays a second gunzip.
 */
import { NativePayloadDecryptor } from '../decrypt/fast/native-payload.ts';
import { gunzipCappedSync } from '../decrypt/gunzip.ts';
import { EsdkPayloadDecryptor, type DecryptOptions, type PayloadDecryptor } from '../decrypt/payload.ts';
import { Enricher } from '../enrich/stage.ts';
import { applyPolicy } from '../policy/apply.ts';
import { CompiledPolicy } from '../policy/compile.ts';
import type { PolicyDocument } from '../policy/document.ts';
import type { RedactionMode } from '../enrich/redact.ts';
import { RecordDecoder, type DecodeOptions } from '../events/decode.ts';
import type { DecodedRecord, Heartbeat } from '../events/model.ts';
import { LogRecordMapper, type MappingLimits, type OldEventsMode } from '../sinks/otlp/mapping.ts';
import { ObservedTimes } from '../sinks/otlp/observed-times.ts';
import { ResourceCatalog, type ResourceFacts } from '../sinks/otlp/resource.ts';
import type { PrepareStepName, PreparedResults } from '../sinks/prepared.ts';
import { runSteps } from '../workers/steps.ts';

/** How every record is prepared: plain data, sent once to each worker. */
export interface PrepareSetup {
  redact: RedactionMode;
  /** Cap on a record's decompressed size. */
  maxRecordBytes: number;
  /** What names the log records' and spans' resources (steps only). */
  resources?: ResourceFacts;
  limits?: Partial<MappingLimits>;
  /** `--old-events`: which time a log record's Timestamp is (default `event-time`). */
  oldEvents?: OldEventsMode;
  /**
   * With `observed-time`: the process's read-time counter (ObservedTimes.shared), so that a
   * worker's records never share a time with another thread's. Shared, not copied, with each worker.
   */
  observedTimes?: SharedArrayBuffer;
  /** The audit policy (`--policy`), when there is one: the latest version, which a worker started later begins with. */
  policy?: PolicyVersion;
  /** The prepare steps of the configured sinks (sinks/prepared.ts), run on every record; none: records are opened for their events. */
  steps: readonly PrepareStepName[];
  /** With the spans step: the share of untraced statements sampled into spans (`--traces-sample-untraced`), and whether spans are encoded here (the traces sink sends protobuf). */
  spans?: { untracedRatio: number; encode: boolean };
}

/** One version of the audit policy: plain data, compiled where records are prepared. Reloads number them. */
export interface PolicyVersion {
  generation: number;
  document: PolicyDocument;
}

/** One record to prepare: its Encryption SDK message and the plaintext data key (KMS already answered). */
export interface PrepareJob {
  payload: Uint8Array;
  dataKey: Uint8Array;
  decode: Required<DecodeOptions>;
  /** The log records' ObservedTimestamp, in epoch milliseconds: when the record was read. */
  observedMs: number;
  /** The policy version to apply (PolicyVersion.generation); none without --policy. */
  policy?: number;
}

/** A record prepared for the sinks (structured-cloneable). */
export interface PreparedRecord {
  version: string;
  clusterId: string | null;
  instanceId: string | null;
  heartbeats: Heartbeat[];
  eventIds: string[];
  /** What each of the setup's steps made of the events, by step name. */
  results: PreparedResults;
  /** The decrypted record, still gzip: to decode the events again (`decodeDecrypted`). */
  compressed: Uint8Array;
  /** The policy version that was applied, to apply it again when the events are decoded again. */
  policy?: number;
}

/**
 * Where a record's costly blocking step runs, the ECDSA verification of a
 * signed message: on the calling thread (`sync`) or on libuv's thread pool,
 * where it overlaps the caller's other work. Gunzip always runs on the
 * calling thread (gunzip.ts says why).
 */
export type BlockingWork = Required<DecryptOptions>;

/** A worker thread: the signature meanwhile, while the worker takes up its next record (today what ALONGSIDE_OTHERS is; named apart, as the two callers are). */
export const IN_WORKER: BlockingWork = { verify: 'threadpool' };
/** The main thread with other records opening: the signature on the thread pool. */
export const ALONGSIDE_OTHERS: BlockingWork = { verify: 'threadpool' };
/** One record at a time: a hand-off to the thread pool would only be idle time. */
export const ALONE: BlockingWork = { verify: 'sync' };

const KEPT_POLICY_VERSIONS = 16;

/** A record opened for its events: the decoded record (enriched, the policy applied), and the policy version applied. */
export interface OpenedEvents {
  decoded: DecodedRecord;
  /** The decrypted record, still gzip. */
  compressed: Uint8Array;
  policy?: number;
}

export class RecordProcessor {
  readonly #setup: PrepareSetup;
  readonly #decryptor: PayloadDecryptor;
  readonly #mapper: LogRecordMapper;
  readonly #resources: ResourceCatalog;
  /** What decoding and enrichment learn (engines of hints, shapes, statement summaries), kept by this processor alone. */
  readonly #decoder = new RecordDecoder();
  readonly #enricher: Enricher;
  /** Compiled policy versions, the newest last: a record being prepared keeps the version it started with. */
  readonly #policies = new Map<number, CompiledPolicy>();

  constructor(setup: PrepareSetup, decryptor: PayloadDecryptor = new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() })) {
    this.#setup = setup;
    this.#decryptor = decryptor;
    this.#enricher = new Enricher(setup.redact);
    if (setup.policy) this.addPolicy(setup.policy);
    this.#resources = new ResourceCatalog(setup.resources);
    this.#mapper = new LogRecordMapper({
      resources: this.#resources,
      ...(setup.limits ? { limits: setup.limits } : {}),
      ...(setup.oldEvents ? { oldEvents: setup.oldEvents } : {}),
      ...(setup.observedTimes ? { observedTimes: new ObservedTimes({ shared: setup.observedTimes }) } : {}),
    });
  }

  /** Whether records are prepared for the sinks' steps (`prepare`) or opened for their events (`open`). */
  get prepares(): boolean {
    return this.#setup.steps.length > 0;
  }

  /** Decrypts, gunzips, decodes, enriches and applies the policy version the job names. Throws a DasError when the record cannot be opened. */
  async open(job: PrepareJob, where: BlockingWork): Promise<OpenedEvents> {
    const compressed = await this.#decryptor.decrypt(job.payload, job.dataKey, where);
    const policy = this.#policy(job.policy);
    return { decoded: this.decodeDecrypted(compressed, job.decode, policy?.generation), compressed, ...(policy ? { policy: policy.generation } : {}) };
  }

  /** `open`, then the sinks' prepare steps on the events. */
  async prepare(job: PrepareJob, where: BlockingWork): Promise<PreparedRecord> {
    const { decoded, compressed, policy } = await this.open(job, where);
    return {
      version: decoded.version,
      clusterId: decoded.clusterId,
      instanceId: decoded.instanceId,
      heartbeats: decoded.heartbeats,
      eventIds: decoded.events.map((event) => event.eventId),
      results: runSteps(this.#setup.steps, decoded.events, {
        mapper: this.#mapper,
        resources: this.#resources,
        spans: this.#setup.spans,
        observedMs: job.observedMs,
        policy: decoded.policy,
      }),
      compressed,
      ...(policy !== undefined ? { policy } : {}),
    };
  }

  /** Decompresses, decodes, enriches and applies the policy version `policy` to a decrypted record: what `open` does, and what a prepared record's reader does again. */
  decodeDecrypted(compressed: Uint8Array, options: Required<DecodeOptions>, policy?: number): DecodedRecord {
    const json = gunzipCappedSync(compressed, this.#setup.maxRecordBytes);
    return applyPolicy(this.#enricher.record(this.#decoder.decode(json, options)), this.#policy(policy)?.compiled);
  }

  /** Compiles a policy version and keeps it, with the 15 before it (a record in flight across more reloads gets the newest). */
  addPolicy(version: PolicyVersion): void {
    const names = this.#setup.resources?.serviceNames;
    this.#policies.set(version.generation, new CompiledPolicy(version.document, names ? { names } : {}));
    if (this.#policies.size > KEPT_POLICY_VERSIONS) this.#policies.delete(this.#policies.keys().next().value!);
  }

  #policy(generation: number | undefined): { generation: number; compiled: CompiledPolicy } | undefined {
    if (generation === undefined) return undefined;
    const compiled = this.#policies.get(generation);
    if (compiled !== undefined) return { generation, compiled };
    const newest = [...this.#policies].at(-1);
    return newest ? { generation: newest[0], compiled: newest[1] } : undefined;
  }
}
