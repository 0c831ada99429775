/**
 * A stand-in for Loki 3's native OTLP endpoint, `POST /otlp/v1/logs`, for
 * tests that must see what Loki would store and refuse.
 *
 * Implemented the way Loki does it (pkg/loghttp/push/otlp.go, otlp_config.go,
 * pkg/distributor, pkg/validation, chunkenc):
 * - bodies in protobuf (`application/x-protobuf`) or OTLP/JSON
 *   (`application/json`), optionally `Content-Encoding: gzip`; any other
 *   content type is a 400. Protobuf is decoded by a small reader written
 *   here: @opentelemetry/otlp-transformer ships no generated root (its
 *   writer is hand-written) and protobufjs is not installed.
 * - resource attributes in Loki's default list
 *   (`default_resource_attributes_as_index_labels`) become stream labels,
 *   names normalised like Prometheus labels (dots → underscores); a resource
 *   without `service.name` gets `service_name="unknown_service"`.
 *   Everything else is structured metadata with normalised names: other
 *   resource attributes, scope attributes and `scope_name`/`scope_version`,
 *   log attributes (maps flattened with `_`, arrays as JSON), and
 *   `observed_timestamp`, `severity_number`, `severity_text`,
 *   `dropped_attributes_count`, `flags`, `trace_id`, `span_id` (hex), plus
 *   `detected_level` from the severity (discover_log_levels). The line is the
 *   body as a string (maps and arrays as JSON); the timestamp is the
 *   record's, else its observed time.
 * - the default limits, per entry, as the distributor checks them: at most 15
 *   label names (`max_label_names_per_series`, the whole stream is refused),
 *   line ≤ 256 KiB (`max_line_size`; `max_line_size_truncate` is off, so a
 *   longer line is refused, not cut), ≤ 128 structured-metadata entries and
 *   ≤ 64 KiB of them, and no more than 10 minutes ahead
 *   (`creation_grace_period`). Like Loki, the valid entries of a push are
 *   stored even when others are refused, and the push answers 400 with every
 *   reason grouped as util.GroupedErrors does (`<n> errors like: <reason>`,
 *   joined by `; `); exact repeats (same stream, timestamp and line) are
 *   dropped, as the ingester's head block does.
 * - `reject_old_samples` (on) and `reject_old_samples_max_age` (168 h), as
 *   the distributor's validator checks them: an entry whose timestamp (the
 *   record's Timestamp, or its ObservedTimestamp when Timestamp is 0) is
 *   before now − max age, now read from the injected clock, is refused with
 *   400 and `entry for stream '<labels>' has timestamp too old: <time>,
 *   oldest acceptable timestamp is: <now − max age>`, both times as Go's
 *   RFC 3339 in whole seconds on a host in UTC (pkg/validation/validate.go
 *   GreaterThanMaxSampleAgeErrorMsg, pkg/distributor/validator.go).
 *   `rejectOldSamplesMaxAgeMs: null` turns it off.
 * - answers: 204 on success, else the status with a protobuf google.rpc.Status
 *   whose message is the reason (Loki's OTLPError, which also turns 500 into 503).
 *
 * Tests script failures: a queue of answers for the next requests (429 with
 * Retry-After, 503, 400, hang), a standing answer until cleared, and a
 * predicate that refuses chosen records with 400 the way a limit would.
 * Every accepted entry lands in `ledger`, with its `log_record_uid` as eventId.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { readAnyValue, readKeyValue, Reader, type AnyValue, type KeyValue } from './otlp-proto-reader.ts';

export type { AnyValue, KeyValue } from './otlp-proto-reader.ts';

export const LOKI_DEFAULT_INDEX_LABELS: readonly string[] = [
  'service.name', 'service.namespace', 'service.instance.id', 'deployment.environment', 'deployment.environment.name',
  'cloud.region', 'cloud.availability_zone', 'k8s.cluster.name', 'k8s.namespace.name', 'k8s.pod.name',
  'k8s.container.name', 'container.name', 'k8s.replicaset.name', 'k8s.deployment.name', 'k8s.statefulset.name',
  'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name',
];

export interface LokiLimits {
  maxLineSize: number;
  maxLabelNamesPerSeries: number;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
  maxStructuredMetadataEntries: number;
  maxStructuredMetadataSize: number;
  rejectOldSamplesMaxAgeMs: number | null;
  creationGracePeriodMs: number;
}

export const LOKI_DEFAULT_LIMITS: LokiLimits = Object.freeze({
  maxLineSize: 256 * 1024,
  maxLabelNamesPerSeries: 15,
  maxLabelNameLength: 1024,
  maxLabelValueLength: 2048,
  maxStructuredMetadataEntries: 128,
  maxStructuredMetadataSize: 64 * 1024,
  rejectOldSamplesMaxAgeMs: 7 * 24 * 3600 * 1000,
  creationGracePeriodMs: 10 * 60 * 1000,
});

/** One stored log line, as Loki would hold it. */
export interface LedgerEntry {
  labels: Record<string, string>;
  /** The stream selector, labels sorted: `{cloud_region="…", service_name="…"}`. */
  stream: string;
  timestampNs: bigint;
  line: string;
  metadata: Record<string, string>;
  /** `log_record_uid` structured metadata, when present. */
  eventId: string | null;
}

export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage['headers'];
  contentType: string | undefined;
  contentEncoding: string | undefined;
  bodyBytes: number;
  records: number;
  status: number | 'hung';
}

/** What to answer one request with, instead of processing it. */
export type ScriptedAnswer =
  | { status: number; message?: string; retryAfter?: string }
  | { hang: true };

export interface LokiReceiverOptions {
  limits?: Partial<LokiLimits>;
  clock?: () => Date;
}

/** Decoded OTLP, close to the proto. */
export interface OtlpLogRecord {
  timeUnixNano: bigint;
  observedTimeUnixNano: bigint;
  severityNumber: number;
  severityText: string;
  body: AnyValue;
  attributes: KeyValue[];
  droppedAttributesCount: number;
  flags: number;
  traceId: string;
  spanId: string;
  eventName: string;
}
export interface OtlpScopeLogs { scope: { name: string; version: string; attributes: KeyValue[]; droppedAttributesCount: number }; logRecords: OtlpLogRecord[] }
export interface OtlpResourceLogs { resource: { attributes: KeyValue[] }; scopeLogs: OtlpScopeLogs[] }

export class LokiReceiver {
  readonly ledger: LedgerEntry[] = [];
  readonly requests: ReceivedRequest[] = [];
  /** Exact repeats the head block dropped. */
  duplicates = 0;
  readonly #limits: LokiLimits;
  readonly #clock: () => Date;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #queue: ScriptedAnswer[] = [];
  #standing: ScriptedAnswer | null = null;
  #refuse: { predicate: (entry: LedgerEntry) => boolean; reason: string } | null = null;
  readonly #seen = new Set<string>();
  #url = '';

  constructor(options: LokiReceiverOptions = {}) {
    this.#limits = { ...LOKI_DEFAULT_LIMITS, ...options.limits };
    this.#clock = options.clock ?? (() => new Date());
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  /** Listens on 127.0.0.1, an ephemeral port. */
  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    const { port } = this.#server.address() as AddressInfo;
    this.#url = `http://127.0.0.1:${port}`;
    return this;
  }

  /** Base URL; OTEL_EXPORTER_OTLP_ENDPOINT is `${url}/otlp`. */
  get url(): string {
    return this.#url;
  }

  get logsEndpoint(): string {
    return `${this.#url}/otlp/v1/logs`;
  }

  /** The next requests get these answers, in order, then normal processing resumes. */
  answerNext(...answers: ScriptedAnswer[]): void {
    this.#queue.push(...answers);
  }

  /** Every request gets this answer until `answerAlways(null)`. */
  answerAlways(answer: ScriptedAnswer | null): void {
    this.#standing = answer;
  }

  /** Refuse entries matching the predicate with a 400 and this reason, as a limit would; null stops refusing. */
  refuseWhere(predicate: ((entry: LedgerEntry) => boolean) | null, reason = 'entry refused by test predicate'): void {
    this.#refuse = predicate ? { predicate, reason } : null;
  }

  eventIds(): string[] {
    return this.ledger.map((e) => e.eventId ?? '');
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const record: ReceivedRequest = {
      path: req.url ?? '',
      headers: req.headers,
      contentType: req.headers['content-type'],
      contentEncoding: req.headers['content-encoding'],
      bodyBytes: raw.length,
      records: 0,
      status: 0,
    };
    this.requests.push(record);

    if (req.method !== 'POST' || req.url?.split('?')[0] !== '/otlp/v1/logs') {
      record.status = 404;
      return this.#fail(res, 404, '404 page not found');
    }
    const scripted = this.#queue.shift() ?? this.#standing;
    if (scripted) {
      if ('hang' in scripted) {
        record.status = 'hung';
        return; // the socket stays open until the client gives up or close()
      }
      record.status = scripted.status;
      if (scripted.retryAfter !== undefined) res.setHeader('Retry-After', scripted.retryAfter);
      return this.#fail(res, scripted.status, scripted.message ?? `scripted ${scripted.status}`);
    }

    let request: OtlpResourceLogs[];
    try {
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim();
      if (type === 'application/x-protobuf') request = decodeProtobufRequest(body);
      else if (type === 'application/json') request = decodeJsonRequest(body.toString('utf8'));
      else throw new Error(`content type: ${req.headers['content-type'] ?? ''} is not supported`);
    } catch (error) {
      record.status = 400;
      return this.#fail(res, 400, (error as Error).message);
    }
    record.records = request.reduce((n, r) => n + r.scopeLogs.reduce((m, s) => m + s.logRecords.length, 0), 0);

    const errors = this.#ingest(request);
    if (errors.length > 0) {
      record.status = 400;
      return this.#fail(res, 400, groupedErrors(errors));
    }
    record.status = 204;
    res.writeHead(204).end();
  }

  /** Stores what passes validation; returns the reasons for what does not. */
  #ingest(request: OtlpResourceLogs[]): string[] {
    const errors: string[] = [];
    const limits = this.#limits;
    const now = BigInt(this.#clock().getTime()) * 1_000_000n;
    for (const resourceLogs of request) {
      const labels: Record<string, string> = {};
      const resourceMetadata: [string, string][] = [];
      for (const { key, value } of resourceLogs.resource.attributes) {
        const flat = flatten(key, value);
        if (LOKI_DEFAULT_INDEX_LABELS.includes(key)) for (const [k, v] of flat) labels[k] = v;
        else resourceMetadata.push(...flat);
      }
      if (!labels.service_name) labels.service_name = 'unknown_service';
      const stream = streamSelector(labels);

      const labelError = validateLabels(labels, stream, limits);
      if (labelError) {
        errors.push(labelError);
        continue;
      }
      for (const scopeLogs of resourceLogs.scopeLogs) {
        const scopeMetadata: [string, string][] = [];
        for (const { key, value } of scopeLogs.scope.attributes) scopeMetadata.push(...flatten(key, value));
        if (scopeLogs.scope.name) scopeMetadata.push(['scope_name', scopeLogs.scope.name]);
        if (scopeLogs.scope.version) scopeMetadata.push(['scope_version', scopeLogs.scope.version]);
        if (scopeLogs.scope.droppedAttributesCount) scopeMetadata.push(['scope_dropped_attributes_count', String(scopeLogs.scope.droppedAttributesCount)]);

        for (const log of scopeLogs.logRecords) {
          const metadata: [string, string][] = [];
          for (const { key, value } of log.attributes) metadata.push(...flatten(key, value));
          if (log.timeUnixNano !== 0n && log.observedTimeUnixNano !== 0n) metadata.push(['observed_timestamp', log.observedTimeUnixNano.toString()]);
          if (log.severityNumber !== 0) metadata.push(['severity_number', String(log.severityNumber)]);
          if (log.severityText) metadata.push(['severity_text', log.severityText]);
          if (log.droppedAttributesCount) metadata.push(['dropped_attributes_count', String(log.droppedAttributesCount)]);
          if (log.flags) metadata.push(['flags', String(log.flags)]);
          if (log.traceId && !/^0+$/.test(log.traceId)) metadata.push(['trace_id', log.traceId]);
          if (log.spanId && !/^0+$/.test(log.spanId)) metadata.push(['span_id', log.spanId]);
          metadata.push(...resourceMetadata, ...scopeMetadata);
          const level = detectedLevel(log.severityNumber);
          if (level && !metadata.some(([k]) => k === 'detected_level' || k === 'level')) metadata.push(['detected_level', level]);

          const entry: LedgerEntry = {
            labels: { ...labels },
            stream,
            timestampNs: log.timeUnixNano !== 0n ? log.timeUnixNano : log.observedTimeUnixNano !== 0n ? log.observedTimeUnixNano : now,
            line: asString(log.body),
            metadata: Object.fromEntries(metadata),
            eventId: null,
          };
          entry.eventId = entry.metadata.log_record_uid ?? null;

          const entryError = validateEntry(entry, metadata, now, limits) ?? this.#refused(entry);
          if (entryError) {
            errors.push(entryError);
            continue;
          }
          const key = `${stream}\u0000${entry.timestampNs}\u0000${entry.line}`;
          if (this.#seen.has(key)) {
            this.duplicates++;
            continue;
          }
          this.#seen.add(key);
          this.ledger.push(entry);
        }
      }
    }
    return errors;
  }

  #refused(entry: LedgerEntry): string | null {
    return this.#refuse && this.#refuse.predicate(entry) ? this.#refuse.reason : null;
  }

  #fail(res: ServerResponse, status: number, message: string): void {
    const code = status === 500 ? 503 : status;
    res.writeHead(code, { 'content-type': 'application/octet-stream' });
    res.end(encodeStatus(message));
  }
}

function validateLabels(labels: Record<string, string>, stream: string, limits: LokiLimits): string | null {
  const names = Object.keys(labels);
  if (names.length > limits.maxLabelNamesPerSeries) {
    return `entry for stream '${stream}' has ${names.length} label names; limit ${limits.maxLabelNamesPerSeries}`;
  }
  for (const name of names) {
    if (name.length > limits.maxLabelNameLength) return `label name too long: '${name}' metric '${stream}'`;
    if (labels[name]!.length > limits.maxLabelValueLength) return `label value too long: '${labels[name]}' for label '${name}' metric '${stream}'`;
  }
  return null;
}

function validateEntry(entry: LedgerEntry, metadata: [string, string][], now: bigint, limits: LokiLimits): string | null {
  if (limits.rejectOldSamplesMaxAgeMs !== null) {
    const oldest = now - BigInt(limits.rejectOldSamplesMaxAgeMs) * 1_000_000n;
    if (entry.timestampNs < oldest) {
      return `entry for stream '${entry.stream}' has timestamp too old: ${rfc3339(entry.timestampNs)}, oldest acceptable timestamp is: ${rfc3339(oldest)}`;
    }
  }
  if (entry.timestampNs > now + BigInt(limits.creationGracePeriodMs) * 1_000_000n) {
    return `entry for stream '${entry.stream}' has timestamp too new: ${rfc3339(entry.timestampNs)}`;
  }
  const lineBytes = Buffer.byteLength(entry.line, 'utf8');
  if (lineBytes > limits.maxLineSize) {
    return `max entry size '${limits.maxLineSize}' bytes exceeded for stream '${entry.stream}' while adding an entry with length '${lineBytes}' bytes`;
  }
  if (metadata.length > limits.maxStructuredMetadataEntries) {
    return `stream '${entry.stream}' has too many structured metadata labels: '${metadata.length}', limit: '${limits.maxStructuredMetadataEntries}'. Please see \`limits_config.max_structured_metadata_entries_count\` or contact your Loki administrator to increase it.`;
  }
  const size = metadata.reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
  if (size > limits.maxStructuredMetadataSize) {
    return `stream '${entry.stream}' has structured metadata too large: '${size}' bytes, limit: '${limits.maxStructuredMetadataSize}' bytes. Please see \`limits_config.max_structured_metadata_size\` or contact your Loki administrator to increase it.`;
  }
  return null;
}

/** Go's `time.Unix(0, ns).Format(time.RFC3339)` on a host in UTC, as Loki's validator formats times: whole seconds, `Z`. */
export function rfc3339(ns: bigint): string {
  const seconds = ns >= 0n ? ns / 1_000_000_000n : (ns - 999_999_999n) / 1_000_000_000n;
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The body of a push some of whose entries were refused: util.GroupedErrors,
 * each distinct message once, prefixed `<n> errors like: ` unless it is the
 * only error, joined by `; ` (Loki's order is a Go map's, so any order is
 * faithful; this one is first-seen).
 */
export function groupedErrors(errors: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const error of errors) counts.set(error, (counts.get(error) ?? 0) + 1);
  return [...counts].map(([error, n]) => (counts.size > 1 || n > 1 ? `${n} errors like: ${error}` : error)).join('; ');
}

function streamSelector(labels: Record<string, string>): string {
  return `{${Object.keys(labels).sort().map((k) => `${k}=${JSON.stringify(labels[k])}`).join(', ')}}`;
}

function detectedLevel(severityNumber: number): string | null {
  if (severityNumber <= 0) return null;
  return ['trace', 'debug', 'info', 'warn', 'error', 'critical'][Math.min(5, Math.floor((severityNumber - 1) / 4))]!;
}

/** Prometheus-style label name (otlptranslator.NormalizeLabel): invalid characters → `_`, no leading digit. */
export function normalizeLabel(name: string): string {
  let out = name.replace(/[^a-zA-Z0-9_]/g, '_');
  if (/^[0-9]/.test(out)) out = `key_${out}`;
  else if (out.startsWith('_') && !out.startsWith('__')) out = `key${out}`;
  return out;
}

function flatten(key: string, value: AnyValue, prefix = ''): [string, string][] {
  const name = normalizeLabel(prefix ? `${prefix}_${key}` : key);
  if ('kvlist' in value) return value.kvlist.flatMap((kv) => flatten(kv.key, kv.value, name));
  return [[name, asString(value)]];
}

/** pdata Value.AsString: maps and arrays as JSON, bytes as base64. */
export function asString(value: AnyValue): string {
  if ('string' in value) return value.string;
  if ('bool' in value) return String(value.bool);
  if ('int' in value) return value.int.toString();
  if ('double' in value) return String(value.double);
  if ('bytes' in value) return Buffer.from(value.bytes).toString('base64');
  if ('empty' in value) return '';
  return JSON.stringify(raw(value));
}

function raw(value: AnyValue): unknown {
  if ('string' in value) return value.string;
  if ('bool' in value) return value.bool;
  if ('int' in value) return Number(value.int);
  if ('double' in value) return value.double;
  if ('bytes' in value) return Buffer.from(value.bytes).toString('base64');
  if ('array' in value) return value.array.map(raw);
  if ('kvlist' in value) {
    const sorted = [...value.kvlist].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return Object.fromEntries(sorted.map((kv) => [kv.key, raw(kv.value)]));
  }
  return null;
}

// ---- protobuf (opentelemetry/proto/collector/logs/v1/logs_service.proto) ----

export function decodeProtobufRequest(buf: Uint8Array): OtlpResourceLogs[] {
  const out: OtlpResourceLogs[] = [];
  new Reader(buf).each((field, wire, r) => {
    if (field !== 1 || wire !== 2) return false;
    out.push(readResourceLogs(r.sub()));
    return true;
  });
  return out;
}

function readResourceLogs(r: Reader): OtlpResourceLogs {
  const out: OtlpResourceLogs = { resource: { attributes: [] }, scopeLogs: [] };
  r.each((field, wire, r) => {
    if (wire !== 2) return false;
    if (field === 1) {
      r.sub().each((f, w, rr) => {
        if (f === 1 && w === 2) {
          out.resource.attributes.push(readKeyValue(rr.sub()));
          return true;
        }
        return false;
      });
      return true;
    }
    if (field === 2) {
      out.scopeLogs.push(readScopeLogs(r.sub()));
      return true;
    }
    return false;
  });
  return out;
}

function readScopeLogs(r: Reader): OtlpScopeLogs {
  const out: OtlpScopeLogs = { scope: { name: '', version: '', attributes: [], droppedAttributesCount: 0 }, logRecords: [] };
  r.each((field, wire, r) => {
    if (field === 1 && wire === 2) {
      r.sub().each((f, w, rr) => {
        if (f === 1 && w === 2) out.scope.name = rr.string();
        else if (f === 2 && w === 2) out.scope.version = rr.string();
        else if (f === 3 && w === 2) out.scope.attributes.push(readKeyValue(rr.sub()));
        else if (f === 4 && w === 0) out.scope.droppedAttributesCount = Number(rr.varint());
        else return false;
        return true;
      });
      return true;
    }
    if (field === 2 && wire === 2) {
      out.logRecords.push(readLogRecord(r.sub()));
      return true;
    }
    return false;
  });
  return out;
}

function readLogRecord(r: Reader): OtlpLogRecord {
  const out: OtlpLogRecord = {
    timeUnixNano: 0n,
    observedTimeUnixNano: 0n,
    severityNumber: 0,
    severityText: '',
    body: { empty: true },
    attributes: [],
    droppedAttributesCount: 0,
    flags: 0,
    traceId: '',
    spanId: '',
    eventName: '',
  };
  r.each((field, wire, r) => {
    if (field === 1 && wire === 1) out.timeUnixNano = r.fixed64();
    else if (field === 11 && wire === 1) out.observedTimeUnixNano = r.fixed64();
    else if (field === 2 && wire === 0) out.severityNumber = Number(r.varint());
    else if (field === 3 && wire === 2) out.severityText = r.string();
    else if (field === 5 && wire === 2) out.body = readAnyValue(r.sub());
    else if (field === 6 && wire === 2) out.attributes.push(readKeyValue(r.sub()));
    else if (field === 7 && wire === 0) out.droppedAttributesCount = Number(r.varint());
    else if (field === 8 && wire === 5) out.flags = r.fixed32();
    else if (field === 9 && wire === 2) out.traceId = Buffer.from(r.bytes()).toString('hex');
    else if (field === 10 && wire === 2) out.spanId = Buffer.from(r.bytes()).toString('hex');
    else if (field === 12 && wire === 2) out.eventName = r.string();
    else return false;
    return true;
  });
  return out;
}

/** google.rpc.Status with only `message` (field 2), as Loki sends it (code 0). */
export function encodeStatus(message: string): Buffer {
  const text = Buffer.from(message, 'utf8');
  const length: number[] = [];
  let n = text.length;
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  return Buffer.concat([Buffer.from([0x12, ...length]), text]);
}

// ---- OTLP/JSON (protojson: lowerCamelCase, hex ids, 64-bit integers as strings or numbers) ----

type Json = Record<string, unknown>;

export function decodeJsonRequest(text: string): OtlpResourceLogs[] {
  const root = JSON.parse(text) as Json;
  return list(root.resourceLogs ?? root.resource_logs).map((rl) => ({
    resource: { attributes: keyValues((rl.resource as Json | undefined)?.attributes) },
    scopeLogs: list(rl.scopeLogs ?? rl.scope_logs).map((sl) => {
      const scope = (sl.scope ?? {}) as Json;
      return {
        scope: {
          name: String(scope.name ?? ''),
          version: String(scope.version ?? ''),
          attributes: keyValues(scope.attributes),
          droppedAttributesCount: Number(scope.droppedAttributesCount ?? 0),
        },
        logRecords: list(sl.logRecords ?? sl.log_records).map((lr) => ({
          timeUnixNano: BigInt(String(lr.timeUnixNano ?? lr.time_unix_nano ?? 0)),
          observedTimeUnixNano: BigInt(String(lr.observedTimeUnixNano ?? lr.observed_time_unix_nano ?? 0)),
          severityNumber: Number(lr.severityNumber ?? lr.severity_number ?? 0),
          severityText: String(lr.severityText ?? lr.severity_text ?? ''),
          body: lr.body === undefined ? { empty: true } : anyValue(lr.body as Json),
          attributes: keyValues(lr.attributes),
          droppedAttributesCount: Number(lr.droppedAttributesCount ?? lr.dropped_attributes_count ?? 0),
          flags: Number(lr.flags ?? 0),
          traceId: String(lr.traceId ?? lr.trace_id ?? '').toLowerCase(),
          spanId: String(lr.spanId ?? lr.span_id ?? '').toLowerCase(),
          eventName: String(lr.eventName ?? lr.event_name ?? ''),
        })),
      };
    }),
  }));
}

function list(value: unknown): Json[] {
  return Array.isArray(value) ? (value as Json[]) : [];
}

function keyValues(value: unknown): KeyValue[] {
  return list(value).map((kv) => ({ key: String(kv.key), value: kv.value === undefined ? { empty: true } : anyValue(kv.value as Json) }));
}

function anyValue(v: Json): AnyValue {
  if ('stringValue' in v) return { string: String(v.stringValue) };
  if ('boolValue' in v) return { bool: Boolean(v.boolValue) };
  if ('intValue' in v) return { int: BigInt(String(v.intValue)) };
  if ('doubleValue' in v) return { double: Number(v.doubleValue) };
  if ('bytesValue' in v) return { bytes: Buffer.from(String(v.bytesValue), 'base64') };
  if ('arrayValue' in v) return { array: list((v.arrayValue as Json).values).map(anyValue) };
  if ('kvlistValue' in v) return { kvlist: keyValues((v.kvlistValue as Json).values) };
  return { empty: true };
}
