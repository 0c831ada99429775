/**
 * Per batch of Kinesis records: open (decrypt → gunzip → decode) → sinks → a
 * verdict the source acts on. This is the one place that decides a batch's
 * fate, so it is the one place that lets a checkpoint move:
 *
 * - `done`: every event was delivered to every sink, or set aside as a dead
 *   letter with its reason. The source may checkpoint the batch's last record.
 * - `fatal`: the stream cannot be read as configured (KMS access denied). The
 *   source stops that stream and must not checkpoint; nothing is dead-lettered.
 * - `aborted`: shutdown came while waiting out a retryable failure. Nothing of
 *   the batch may be checkpointed; it will be read again.
 *
 * A batch larger than `recordsPerPart` is delivered in parts, one after
 * another, while its records open through one window (`concurrency` at a
 * time, on the thread pool or in worker threads) that runs at most two parts
 * ahead: memory holds two parts' events, not the whole batch's. The
 * batch's outcome is still decided once, after its last part: a part already
 * delivered when a later one ends `fatal` or `aborted` is read and delivered
 * again (at least once, never lost).
 *
 * Retryable failures (KMS throttling, a backend outage) are waited out here,
 * with backoff, for as long as it takes: the source stops polling meanwhile,
 * which is the backpressure that keeps memory bounded.
 */
import { DasError, describeError, isDasError, type FailureReason } from './errors.ts';
import { mergeOutcomes } from './policy/apply.ts';
import type { DecodedRecord } from './events/model.ts';
import type { DeadLetterSink } from './sinks/dead-letter.ts';
import { eventCount, type PreparedBatch, type Rejection, type Sink, type SinkBatch, type SinkResult } from './sinks/sink.ts';
import type { SourceRecord } from './source/record.ts';
import { sleep as defaultSleep } from './util/backoff.ts';
import { retry, RetryAborted, type RetryOptions } from './util/retry.ts';
import type { PreparedRecord } from './record/processor.ts';

/** Opens one record; throws a DasError (or anything else, for a bug) when it cannot. */
export interface RecordOpener {
  open(record: SourceRecord): Promise<OpenedRecord>;
}

/** A decoded record, maybe with its per-event work already done for the sinks (record/opener.ts). */
export type OpenedRecord = DecodedRecord & { prepared?: PreparedRecord };

/** What the pipeline reports as it goes; the metrics layer implements it. */
export interface PipelineObserver {
  recordOpened?(record: SourceRecord, decoded: DecodedRecord): void;
  recordFailed?(record: SourceRecord, reason: FailureReason): void;
  deadLettered?(reason: string): void;
  retrying?(stage: string, reason: string): void;
  batchDelivered?(records: readonly SourceRecord[], batch: SinkBatch): void;
}

export type BatchOutcome =
  | { status: 'done'; records: number; events: number; deadLettered: number }
  | { status: 'fatal'; reason: FailureReason; message: string }
  | { status: 'aborted' };

export interface PipelineOptions {
  opener: RecordOpener;
  sinks: readonly Sink[];
  deadLetters: DeadLetterSink;
  observer?: PipelineObserver;
  /** Records opened at once (decryption and gunzip run on the thread pool). */
  concurrency?: number;
  /** Records opened and delivered together; a larger batch goes in parts of this size (default 12). */
  recordsPerPart?: number;
  retry?: { baseDelayMs?: number; maxDelayMs?: number };
  /**
   * Attempts at opening a record that keeps failing in a retryable way before
   * it is set aside with that reason (default: no limit, the right choice for
   * a stream, where waiting loses nothing). One-shot commands such as replay
   * set a limit so an unreachable KMS ends with a report instead of a hang.
   */
  maxOpenAttempts?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  clock?: () => Date;
}

export const DEFAULT_RECORDS_PER_PART = 12;

type Opened = { ok: true; record: SourceRecord; decoded: OpenedRecord } | { ok: false; record: SourceRecord; error: DasError };

export class Pipeline {
  readonly #opts: Required<Pick<PipelineOptions, 'concurrency' | 'recordsPerPart'>> & PipelineOptions;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: PipelineOptions) {
    this.#opts = { concurrency: 4, recordsPerPart: DEFAULT_RECORDS_PER_PART, ...options };
    this.#sleep = options.sleep ?? defaultSleep;
  }

  /** Runs for each batch read from a shard, in shard order. */
  async process(records: readonly SourceRecord[], signal?: AbortSignal): Promise<BatchOutcome> {
    const size = this.#opts.recordsPerPart;
    const done = { status: 'done' as const, records: records.length, events: 0, deadLettered: 0 };
    const opening = new OpeningWindow(records, this.#opts.concurrency, (record) => this.#openOne(record, signal));
    for (let from = 0; from < records.length; from += size) {
      // Opened or opening: this part and the next, so memory holds two parts' events, not the batch's.
      opening.allowUpTo(from + 2 * size);
      const opened = await opening.part(from, from + size);
      const outcome = await this.#processPart(records.slice(from, from + size), opened, signal);
      if (outcome.status !== 'done') {
        // Whatever the next part's opening finds is read again with the batch: let it end first.
        await opening.halt();
        return outcome;
      }
      done.events += outcome.events;
      done.deadLettered += outcome.deadLettered;
    }
    return done;
  }

  /** Delivers one opened part of a batch to every sink and dead-letters what cannot be delivered. */
  async #processPart(records: readonly SourceRecord[], opened: readonly Opened[] | 'aborted', signal?: AbortSignal): Promise<BatchOutcome> {
    if (opened === 'aborted') return { status: 'aborted' };

    const fatal = opened.find((o) => !o.ok && o.error.disposition === 'fatal');
    if (fatal && !fatal.ok) return { status: 'fatal', reason: fatal.error.reason, message: fatal.error.message };

    let deadLettered = 0;
    const decoded: OpenedRecord[] = [];
    for (const o of opened) {
      if (o.ok) decoded.push(o.decoded);
      else {
        await this.#deadLetterRecord(o.record, o.error);
        deadLettered++;
      }
    }
    const batch = batchOf(decoded);

    const results = await Promise.all(this.#opts.sinks.map((sink) => this.#deliver(sink, batch, signal)));
    if (results.some((r) => r === 'aborted')) return { status: 'aborted' };

    // An event refused by several sinks is one dead letter, not several.
    const rejected = new Map<string, Rejection>();
    for (const r of results) if (r !== 'aborted') for (const rej of r) if (!rejected.has(rej.eventId)) rejected.set(rej.eventId, rej);
    if (rejected.size > 0) {
      for (const event of batch.events) {
        const rejection = rejected.get(event.eventId);
        if (rejection === undefined) continue;
        await this.#deadLetterEvent(event, rejection);
        deadLettered++;
      }
    }

    this.#opts.observer?.batchDelivered?.(records, batch);
    return { status: 'done', records: records.length, events: eventCount(batch), deadLettered };
  }

  async #openOne(record: SourceRecord, signal?: AbortSignal): Promise<Opened | 'aborted'> {
    try {
      const decoded = await retry(
        () => this.#opts.opener.open(record),
        (thrown) => {
          const error = openFailure(thrown);
          this.#opts.observer?.recordFailed?.(record, error.reason);
          return error.disposition === 'retryable' ? { retry: true, reason: error.reason, ...(error.retryAfterMs !== undefined ? { delayMs: error.retryAfterMs } : {}) } : { retry: false, error };
        },
        {
          ...this.#retryOptions(signal),
          // The data-key cache keeps its own credentials budget; here every retryable failure counts against maxOpenAttempts.
          maxAttempts: this.#opts.maxOpenAttempts ?? Infinity,
          credentialAttempts: Infinity,
          exhausted: (_budget, _attempts, thrown) => openFailure(thrown),
          onRetry: (reason) => this.#opts.observer?.retrying?.('open', reason),
        },
      );
      this.#opts.observer?.recordOpened?.(record, decoded);
      return { ok: true, record, decoded };
    } catch (error) {
      if (error instanceof RetryAborted) return 'aborted';
      return { ok: false, record, error: error as DasError };
    }
  }

  async #deliver(sink: Sink, batch: SinkBatch, signal?: AbortSignal): Promise<readonly Rejection[] | 'aborted'> {
    try {
      return await retry(
        async () => {
          let result: SinkResult;
          try {
            result = await sink.write(batch);
          } catch (thrown) {
            // A sink that throws broke its contract; treat it as an outage, never as delivery.
            result = { status: 'retryable', reason: `sink ${sink.name} threw: ${describeError(thrown)}` };
          }
          if (result.status === 'delivered') return result.rejected;
          throw new NotDelivered(result);
        },
        // A sink never gives up on a batch: it rejects events (dead letters) or asks for a retry.
        (failure) => {
          const { reason, retryAfterMs } = (failure as NotDelivered).result;
          return { retry: true, reason, ...(retryAfterMs !== undefined ? { delayMs: retryAfterMs } : {}) };
        },
        { ...this.#retryOptions(signal), credentialAttempts: Infinity, onRetry: (reason) => this.#opts.observer?.retrying?.(sink.name, reason) },
      );
    } catch (error) {
      if (error instanceof RetryAborted) return 'aborted';
      throw error;
    }
  }

  #retryOptions(signal: AbortSignal | undefined): RetryOptions {
    return { sleep: this.#sleep, ...(signal ? { signal } : {}), ...(this.#opts.retry ? { backoff: this.#opts.retry } : {}) };
  }

  async #deadLetterRecord(record: SourceRecord, error: DasError): Promise<void> {
    await this.#opts.deadLetters.put({
      reason: error.reason,
      message: error.message,
      stream: record.stream,
      shardId: record.shardId,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      at: (this.#opts.clock?.() ?? new Date()).toISOString(),
    });
    this.#opts.observer?.deadLettered?.(error.reason);
  }

  async #deadLetterEvent(event: DecodedRecord['events'][number], rejection: Rejection): Promise<void> {
    const reason = rejection.deadLetterReason ?? 'rejected_by_backend';
    await this.#opts.deadLetters.put({
      reason,
      message: rejection.reason.split('\n')[0]!.slice(0, 500),
      stream: event.position?.stream ?? '',
      shardId: event.position?.shardId ?? '',
      sequenceNumber: event.position?.sequenceNumber ?? '',
      eventId: event.eventId,
      event: JSON.parse(JSON.stringify(event, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))),
      at: (this.#opts.clock?.() ?? new Date()).toISOString(),
    });
    this.#opts.observer?.deadLettered?.(reason);
  }
}

/** What a part's slots hold once the part was handed out: nothing to keep alive. */
const RELEASED: Promise<'aborted'> = Promise.resolve('aborted');
const SETTLED = (): void => {};

/**
 * Opens a batch's records, `concurrency` at a time, in order, as far as the
 * pipeline allows: one window over the whole batch rather than one part
 * after another, so the records of the next part start as soon as a lane is
 * free instead of after the slowest record of this one (a part of 12 records
 * of 1 to 200 events left worker threads idle about a third of the time).
 */
class OpeningWindow {
  readonly #records: readonly SourceRecord[];
  readonly #concurrency: number;
  readonly #open: (record: SourceRecord) => Promise<Opened | 'aborted'>;
  readonly #results: Promise<Opened | 'aborted'>[] = [];
  readonly #settle: ((result: Opened | 'aborted') => void)[] = [];
  readonly #fail: ((error: unknown) => void)[] = [];
  #next = 0;
  #limit = 0;
  #inFlight = 0;
  #halted = false;

  constructor(records: readonly SourceRecord[], concurrency: number, open: (record: SourceRecord) => Promise<Opened | 'aborted'>) {
    this.#records = records;
    this.#concurrency = Math.max(1, concurrency);
    this.#open = open;
    for (let i = 0; i < records.length; i++) {
      const result = new Promise<Opened | 'aborted'>((resolve, reject) => {
        this.#settle.push(resolve);
        this.#fail.push(reject);
      });
      // A failure surfaces where its part is awaited; one after an earlier part ended the batch is nobody's.
      result.catch(() => {});
      this.#results.push(result);
    }
  }

  /** Lets records before `end` start opening. */
  allowUpTo(end: number): void {
    this.#limit = Math.max(this.#limit, Math.min(end, this.#records.length));
    this.#pump();
  }

  /**
   * The records of [from, to), once all are opened; 'aborted' when shutdown
   * stopped any of them. Asked once per part: the window lets go of them, so
   * a delivered part's events are not held until the batch ends.
   */
  async part(from: number, to: number): Promise<readonly Opened[] | 'aborted'> {
    const opened = await Promise.all(this.#results.slice(from, to));
    for (let i = from; i < to && i < this.#results.length; i++) {
      this.#results[i] = RELEASED;
      // A settled promise's resolving functions still reach it, and it its record: let go of them too,
      // or every record of the batch (its JSON, its encoded log records) lives until the batch ends.
      this.#settle[i] = SETTLED;
      this.#fail[i] = SETTLED;
    }
    return opened.some((o) => o === 'aborted') ? 'aborted' : (opened as Opened[]);
  }

  /** Starts nothing more and waits for the records already opening. */
  async halt(): Promise<void> {
    this.#stopAt(this.#next);
    await Promise.allSettled(this.#results.slice(0, this.#next));
  }

  #pump(): void {
    while (!this.#halted && this.#inFlight < this.#concurrency && this.#next < this.#limit) {
      const i = this.#next++;
      this.#inFlight++;
      this.#open(this.#records[i]!).then(
        (result) => {
          // Shutdown: nothing after this record starts, and the parts waiting on it see 'aborted'.
          if (result === 'aborted') this.#stopAt(this.#next);
          this.#settle[i]!(result);
          this.#inFlight--;
          this.#pump();
        },
        (error: unknown) => {
          this.#fail[i]!(error);
          this.#inFlight--;
          this.#pump();
        },
      );
    }
  }

  /** Records from `index` on will never be opened: they settle as 'aborted'. */
  #stopAt(index: number): void {
    if (this.#halted) return;
    this.#halted = true;
    for (let i = index; i < this.#records.length; i++) this.#settle[i]!('aborted');
  }
}

/**
 * The sinks' view of a part's records. When every record was prepared, the
 * batch carries the prepared forms and decodes its events only if a sink (or
 * a rejection) reads them.
 */
function batchOf(records: readonly OpenedRecord[]): SinkBatch {
  const heartbeats = records.flatMap((r) => r.heartbeats);
  if (records.length === 0 || records.some((r) => r.prepared === undefined)) {
    const policy = mergeOutcomes(records.map((r) => r.policy));
    return { events: records.flatMap((r) => r.events), heartbeats, ...(policy ? { policy } : {}) };
  }
  const prepared: PreparedBatch = {
    eventIds: records.flatMap((r) => r.prepared!.eventIds),
    results: records.map((r) => r.prepared!.results),
  };
  let events: SinkBatch['events'] | undefined;
  return {
    heartbeats,
    prepared,
    get events() {
      return (events ??= records.flatMap((r) => r.events));
    },
  };
}

/** A record that could not be opened, as the DasError it is (an unexpected throw is an internal error). */
function openFailure(thrown: unknown): DasError {
  return isDasError(thrown) ? thrown : new DasError('internal_error', `unexpected failure opening the record: ${describeError(thrown)}`, { cause: thrown });
}

/** A sink's answer that is not delivery, thrown so the retry loop sees it. */
class NotDelivered extends Error {
  readonly result: Extract<SinkResult, { status: 'retryable' }>;

  constructor(result: Extract<SinkResult, { status: 'retryable' }>) {
    super(result.reason);
    this.result = result;
  }
}
