/**
 * A Sink that sends each batch's events as OTLP/HTTP log records and knows,
 * per event, what the backend did with it.
 *
 * The batch is encoded here (protobuf.ts, or otlp-transformer's JSON
 * serializer), or assembled from log records a worker already encoded
 * (`SinkBatch.prepared`, protobuf only), and POSTed here, so every answer is seen: nothing is buffered behind an SDK
 * processor that reports success on a failed export. The answer decides the
 * result, per the OTLP/HTTP spec:
 * - 2xx: delivered. A `partial_success` naming rejected records does not say
 *   which, so the batch is bisected (resent in halves) until each rejected
 *   record stands alone; a rejection that does not repeat counts as delivered.
 * - 429, 502, 503, 504, a network error or the timeout: retryable, with
 *   `retryAfterMs` from `Retry-After` (seconds or an HTTP date).
 * - 401, 403, 404, 405, 407: retryable too. These say the exporter is
 *   misconfigured (token, URL), not that the data is bad; dead-lettering every
 *   event for a wrong token would lose the stream. The pipeline waits and the
 *   retry counter climbs; a refused credential (401, 403, 407) twice in a row
 *   also makes the sink report `otlp_unauthorized` and log it once a minute
 *   (auth-failures.ts) until a request is accepted.
 * - any other 4xx/5xx: permanent. The batch is bisected to isolate the records
 *   the backend refuses; they come back as `rejected` with its reason (status
 *   and message excerpt) and the rest is delivered. A record Loki refuses as
 *   older than `reject_old_samples_max_age` (its whole message read, not the
 *   excerpt) is marked `rejected_too_old`: a replay or a catch-up, which
 *   `--old-events observed-time` lets through (mapping.ts).
 * A batch goes out as requests of at most `maxRecordsPerRequest` records and
 * `maxRequestBytes` bytes, one after another, so memory holds one request's
 * body at a time, not the whole batch's. The batch is
 * delivered when every request is; a retryable answer to any makes the whole
 * batch retryable, and requests not yet sent are not sent.
 * Delivery is at least once: bisecting and retries resend records the backend
 * may already hold (a retried batch resends the requests already accepted;
 * Loki drops exact repeats: same stream, timestamp and line);
 * `log.record.uid` identifies duplicates elsewhere. Header values never appear
 * in a reason: any text that came back holding one is masked. Every request
 * says `User-Agent: das-exporter/<version>` (the OTLP exporter spec's SHOULD)
 * unless OTEL_EXPORTER_OTLP_HEADERS sets one.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { JsonLogsSerializer, ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { describeError } from '../../errors.ts';
import type { ActivityEvent } from '../../events/model.ts';
import type { Rejection, Sink, SinkBatch, SinkResult } from '../sink.ts';
import { redactUrl, type OtlpExporterConfig } from './config.ts';
import { httpPost, type HttpPost } from './http-post.ts';
import type { LogRecordMapper } from './mapping.ts';
import { LOGS_STEP, preparedBy, type PrepareStepName } from '../prepared.ts';
import { assembleLogsRequest, type EncodedLogRecords, type EncodedRef } from './protobuf.ts';
import type { Logger } from '../../source/kinesis/observer.ts';
import { USER_AGENT } from '../../version.ts';
import { AUTH_FAILURE_STATUS, AuthFailureWatch, OTLP_UNAUTHORIZED } from './auth-failures.ts';

const gzip = promisify(gzipCallback);

export type ExportOutcome = 'delivered' | 'rejected' | 'retryable';

/** What an exporter reports; the metrics layer binds das_log_records_exported_total (das_spans_total for traces) and das_export_retries_total. */
export interface OtlpExportObserver {
  exported?(outcome: ExportOutcome, n: number): void;
  exportRetry?(): void;
  /** The endpoint answered 401, 403 or 407. */
  authFailure?(status: number): void;
}

export interface OtlpSinkOptions {
  config: OtlpExporterConfig;
  /** How requests are sent (default: node:http with keep-alive, http-post.ts). */
  fetch?: typeof globalThis.fetch;
  /** For `Retry-After` given as an HTTP date, and for spacing out the log lines of refused credentials. */
  clock?: () => Date;
  observer?: OtlpExportObserver;
  /** Where a refused credential is reported (auth-failures.ts); the message names the endpoint, never a header value. */
  log?: Logger;
  /** Characters of a backend's error message kept in a rejection reason (default 300). */
  reasonLength?: number;
  /** Most log records in one request (default 1,000). */
  maxRecordsPerRequest?: number;
  /** Most bytes in one request body before compression; a larger request of several records is split in two (default 4 MiB). */
  maxRequestBytes?: number;
}

export interface OtlpLogSinkOptions extends OtlpSinkOptions {
  /** Maps events for OTLP/JSON and encodes them for OTLP/protobuf (LogRecordMapper). */
  mapper: Pick<LogRecordMapper, 'map' | 'encode'>;
}

/** What one OTLP signal sends of a batch: its items as a slice, each standing for one event. */
export interface OtlpSignal {
  /** The sink's name: `otlp` (logs), `otlp-traces`. */
  readonly name: string;
  /** The prepare step whose results `sliceOf` reads (sinks/prepared.ts), when it can. */
  readonly prepareStep?: PrepareStepName;
  sliceOf(batch: SinkBatch): Slice;
}

export const DEFAULT_MAX_RECORDS_PER_REQUEST = 1_000;
export const DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024;

const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const MISCONFIGURED_STATUS = new Set([401, 403, 404, 405, 407]);

/**
 * Loki's refusal of an entry older than `reject_old_samples_max_age`
 * (pkg/validation/validate.go, GreaterThanMaxSampleAgeErrorMsg), alone or
 * grouped (`<n> errors like: …`).
 */
export const LOKI_TOO_OLD = /entry for stream '.*' has timestamp too old: .+, oldest acceptable timestamp is: /s;

/** One POST's answer, before the batch's fate is decided. */
type Answer =
  | { kind: 'accepted'; rejectedCount: number; message: string }
  | { kind: 'retryable'; reason: string; retryAfterMs?: number }
  | { kind: 'refused'; reason: string; tooOld: boolean };

/** Records to send, with their event ids: the whole batch, a request's worth, or a half when bisecting. */
export interface Slice {
  readonly eventIds: readonly string[];
  /** The request body; undefined when the serializer cannot encode these records. */
  encode(): Uint8Array | undefined;
  slice(from: number, to: number): Slice;
}

/** Records as events, encoded when sent. */
export class EventSlice implements Slice {
  constructor(
    readonly events: readonly ActivityEvent[],
    readonly eventIds: readonly string[],
    readonly serialize: (events: readonly ActivityEvent[]) => Uint8Array | undefined,
  ) {}

  encode(): Uint8Array | undefined {
    return this.serialize(this.events);
  }

  slice(from: number, to: number): Slice {
    return new EventSlice(this.events.slice(from, to), this.eventIds.slice(from, to), this.serialize);
  }
}

/** Records encoded already (by the prepare workers): a request is assembled from their bytes. */
class EncodedSlice implements Slice {
  constructor(
    readonly refs: readonly EncodedRef[],
    readonly eventIds: readonly string[],
  ) {}

  encode(): Uint8Array {
    return assembleLogsRequest(this.refs);
  }

  slice(from: number, to: number): Slice {
    return new EncodedSlice(this.refs.slice(from, to), this.eventIds.slice(from, to));
  }
}

/** An OTLP/HTTP exporter of one signal, as a Sink (logs: OtlpLogSink; traces: traces.ts). */
export class OtlpSink implements Sink {
  readonly name: string;
  readonly prepareStep?: PrepareStepName;
  readonly #config: OtlpExporterConfig;
  readonly #signal: OtlpSignal;
  readonly #fetch: typeof globalThis.fetch;
  /** The default transport, when no fetch was given: its connections close with the sink. */
  readonly #transport: HttpPost | undefined;
  readonly #clock: () => Date;
  readonly #observer: OtlpExportObserver | undefined;
  readonly #reasonLength: number;
  readonly #secrets: string[];
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #auth: AuthFailureWatch;
  /** `das-exporter/<version>`, unless the configured headers name their own User-Agent. */
  readonly #userAgent: Record<string, string>;
  #closed = false;

  constructor(options: OtlpSinkOptions & { signal: OtlpSignal }) {
    this.#config = options.config;
    this.#signal = options.signal;
    this.name = options.signal.name;
    if (options.signal.prepareStep !== undefined) this.prepareStep = options.signal.prepareStep;
    this.#transport = options.fetch ? undefined : httpPost();
    this.#fetch = options.fetch ?? this.#transport!.fetch;
    this.#clock = options.clock ?? (() => new Date());
    this.#observer = options.observer;
    this.#reasonLength = options.reasonLength ?? 300;
    this.#maxRecords = options.maxRecordsPerRequest ?? DEFAULT_MAX_RECORDS_PER_REQUEST;
    this.#maxBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
    this.#auth = new AuthFailureWatch({
      endpoint: options.config.endpoint,
      headerNames: Object.keys(options.config.headers),
      clock: this.#clock,
      ...(options.log ? { log: options.log } : {}),
    });
    this.#userAgent = Object.keys(options.config.headers).some((name) => name.toLowerCase() === 'user-agent') ? {} : { 'user-agent': USER_AGENT };
    // A backend may echo the credential without its scheme (`Bearer <token>` → `<token>`): mask both, longest first.
    this.#secrets = Object.values(options.config.headers)
      .flatMap((v) => [v, /^[A-Za-z][\w.+-]*\s+(\S.*)$/.exec(v)?.[1] ?? ''])
      .filter((v) => v.length >= 4)
      .sort((a, b) => b.length - a.length);
  }

  /** Runs per pipeline batch; heartbeats are liveness signals, not log records, and are not sent. */
  async write(batch: SinkBatch): Promise<SinkResult> {
    if (this.#closed) return { status: 'retryable', reason: `${this.name} sink is closed` };
    const all = this.#signal.sliceOf(batch);
    if (all.eventIds.length === 0) return { status: 'delivered', rejected: [] };
    const rejected: Rejection[] = [];
    for (let from = 0; from < all.eventIds.length; from += this.#maxRecords) {
      const slice = all.slice(from, from + this.#maxRecords);
      const result = await this.#deliver(slice);
      if (result.status === 'retryable') {
        this.#observer?.exportRetry?.();
        this.#observer?.exported?.('retryable', all.eventIds.length - from);
        return result;
      }
      const n = slice.eventIds.length;
      if (result.rejected.length > 0) this.#observer?.exported?.('rejected', result.rejected.length);
      if (n - result.rejected.length > 0) this.#observer?.exported?.('delivered', n - result.rejected.length);
      rejected.push(...result.rejected);
    }
    return { status: 'delivered', rejected };
  }

  /** `otlp_unauthorized` from the second refused credential in a row until a request is accepted, else null. */
  blockedReason(): string | null {
    return this.#auth.unauthorized ? OTLP_UNAUTHORIZED : null;
  }

  /** Runs on shutdown: nothing is buffered, so only later writes are refused. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#transport?.close();
  }

  async #deliver(slice: Slice): Promise<SinkResult> {
    const body = this.#encode(slice);
    const n = slice.eventIds.length;
    if (body instanceof Uint8Array && body.length > this.#maxBytes && n > 1) return this.#inHalves(slice);
    const answer = body instanceof Uint8Array ? await this.#post(body) : body;
    if (answer.kind === 'retryable') {
      return { status: 'retryable', reason: answer.reason, ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}) };
    }
    if (answer.kind === 'accepted' && answer.rejectedCount === 0) return { status: 'delivered', rejected: [] };

    const reason = answer.kind === 'refused' ? answer.reason : `partial success: ${answer.rejectedCount} rejected: ${answer.message}`;
    // All refused, or only one there: no need to bisect to know which.
    if (n === 1 || (answer.kind === 'accepted' && answer.rejectedCount >= n)) {
      const tooOld = answer.kind === 'refused' && answer.tooOld;
      return {
        status: 'delivered',
        rejected: slice.eventIds.map((eventId): Rejection => (tooOld ? { eventId, reason, deadLetterReason: 'rejected_too_old' } : { eventId, reason })),
      };
    }
    return this.#inHalves(slice);
  }

  /** Delivers each half of the slice on its own: to isolate rejected records, or to keep a request within maxRequestBytes. */
  async #inHalves(slice: Slice): Promise<SinkResult> {
    const mid = Math.ceil(slice.eventIds.length / 2);
    const rejected: Rejection[] = [];
    for (const half of [slice.slice(0, mid), slice.slice(mid, slice.eventIds.length)]) {
      const result = await this.#deliver(half);
      if (result.status === 'retryable') return result;
      rejected.push(...result.rejected);
    }
    return { status: 'delivered', rejected };
  }

  /** The request body before compression, or the refusal when these records cannot be encoded. */
  #encode(slice: Slice): Uint8Array | Answer {
    try {
      const encoded = slice.encode();
      return encoded ?? { kind: 'refused', reason: 'the OTLP serializer could not encode this record', tooOld: false };
    } catch (error) {
      return { kind: 'refused', reason: `the OTLP serializer could not encode this record: ${describeError(error)}`, tooOld: false };
    }
  }

  async #post(encoded: Uint8Array): Promise<Answer> {
    const json = this.#config.protocol === 'http/json';
    let body: Uint8Array;
    try {
      body = this.#config.compression === 'gzip' ? await gzip(encoded) : encoded;
    } catch (error) {
      return { kind: 'refused', reason: `the OTLP request could not be compressed: ${describeError(error)}`, tooOld: false };
    }
    const headers: Record<string, string> = {
      ...this.#userAgent,
      ...this.#config.headers,
      'content-type': json ? 'application/json' : 'application/x-protobuf',
    };
    if (this.#config.compression === 'gzip') headers['content-encoding'] = 'gzip';

    const signal = AbortSignal.timeout(this.#config.timeoutMs);
    let response: Response;
    let text: Uint8Array;
    try {
      response = await this.#fetch(this.#config.endpoint, { method: 'POST', headers, body, signal });
      text = new Uint8Array(await response.arrayBuffer());
    } catch (error) {
      if (signal.aborted) return { kind: 'retryable', reason: `no answer from the OTLP endpoint within ${this.#config.timeoutMs} ms` };
      return { kind: 'retryable', reason: this.#mask(`cannot reach the OTLP endpoint: ${networkCause(error)}`) };
    }

    const status = response.status;
    if (status >= 200 && status < 300) {
      this.#auth.accepted();
      const partial = readPartialSuccess(text, json);
      return { kind: 'accepted', rejectedCount: partial.rejected, message: this.#mask(excerpt(partial.message, this.#reasonLength)) };
    }
    const fullMessage = errorMessage(text, response.headers.get('content-type'));
    const message = this.#mask(excerpt(fullMessage, this.#reasonLength));
    const reason = message === '' ? `HTTP ${status}` : `HTTP ${status}: ${message}`;
    if (RETRYABLE_STATUS.has(status)) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.#clock());
      return { kind: 'retryable', reason, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    }
    if (AUTH_FAILURE_STATUS.has(status)) {
      this.#auth.refused(status);
      this.#observer?.authFailure?.(status);
    }
    if (MISCONFIGURED_STATUS.has(status)) return { kind: 'retryable', reason: `${reason} (check the endpoint and headers)` };
    return { kind: 'refused', reason, tooOld: LOKI_TOO_OLD.test(fullMessage) };
  }

  #mask(text: string): string {
    let out = redactUrl(text);
    for (const secret of this.#secrets) out = out.split(secret).join('***');
    return out;
  }
}

/** The log records of a batch: encoded already when a worker prepared them for protobuf, else from the events. */
export function logsSignal(config: OtlpExporterConfig, mapper: OtlpLogSinkOptions['mapper']): OtlpSignal {
  return {
    name: 'otlp',
    ...(config.protocol === 'http/json' ? {} : { prepareStep: LOGS_STEP }),
    sliceOf(batch: SinkBatch): Slice {
      const sets = config.protocol === 'http/json' ? undefined : preparedBy<EncodedLogRecords>(batch.prepared, LOGS_STEP);
      if (sets !== undefined) {
        const refs: EncodedRef[] = [];
        for (const set of sets) for (let index = 0; index < set.ends.length; index++) refs.push({ set, index });
        return new EncodedSlice(refs, batch.prepared!.eventIds);
      }
      const events = batch.events as ActivityEvent[];
      return new EventSlice(
        events,
        events.map((e) => e.eventId),
        (list) => (config.protocol === 'http/json' ? JsonLogsSerializer.serializeRequest(list.map((e) => mapper.map(e))) : mapper.encode(list)),
      );
    },
  };
}

/** Each batch's events as OTLP log records. */
export class OtlpLogSink extends OtlpSink {
  constructor(options: OtlpLogSinkOptions) {
    super({ ...options, signal: logsSignal(options.config, options.mapper) });
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: Date): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now.getTime());
}

function readPartialSuccess(body: Uint8Array, json: boolean): { rejected: number; message: string } {
  if (body.length === 0) return { rejected: 0, message: '' };
  try {
    const response = (json ? JsonLogsSerializer : ProtobufLogsSerializer).deserializeResponse(body);
    const partial = response.partialSuccess;
    return { rejected: Number(partial?.rejectedLogRecords ?? 0), message: partial?.errorMessage ?? '' };
  } catch {
    // A 2xx whose body is not an ExportLogsServiceResponse still accepted the data.
    return { rejected: 0, message: '' };
  }
}

/** The message of an OTLP error body: a google.rpc.Status in protobuf or JSON, else the text itself. */
export function errorMessage(body: Uint8Array, contentType: string | null): string {
  if (body.length === 0) return '';
  const text = Buffer.from(body).toString('utf8');
  if (contentType?.includes('json')) {
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON after all: fall through to the raw text
    }
    return text;
  }
  return statusMessage(body) ?? text;
}

/** Field 2 (message) of a protobuf google.rpc.Status, or null when the bytes are not one. */
function statusMessage(body: Uint8Array): string | null {
  let pos = 0;
  let message: string | null = null;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= body.length || shift > 35) throw new Error('bad varint');
      const byte = body[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
    }
  };
  try {
    while (pos < body.length) {
      const tag = varint();
      const field = Math.floor(tag / 8);
      const wire = tag & 7;
      if (wire === 0) varint();
      else if (wire === 2) {
        const length = varint();
        if (pos + length > body.length) return null;
        if (field === 2) message = new TextDecoder('utf-8', { fatal: true }).decode(body.subarray(pos, pos + length));
        pos += length;
      } else return null;
      if (field < 1 || field > 3) return null;
    }
  } catch {
    return null;
  }
  return message;
}

function excerpt(text: string, length: number): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > length ? `${line.slice(0, length)}…` : line;
}

function networkCause(error: unknown): string {
  const cause = (error as { cause?: unknown })?.cause;
  if (cause && typeof cause === 'object') {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') return `${code} (${describeError(cause)})`;
    return describeError(cause);
  }
  return describeError(error);
}
