/**
 * The enrich stage: runs on every decoded event before any sink sees it.
 *
 * Trace context is read first, from the SQL as sent. Then `--redact` is
 * applied in place to `commandText`, `paramList` and the engine-native fields
 * that carry SQL, so no sink, log line or dead letter ever holds what the mode
 * hides. What redaction masked is then scrubbed from the fields that may echo
 * the statement (the error message, the other native fields, fields the model
 * does not know), and raw values kept under `extra` are redacted like the
 * fields they stand for. Last, the display text (MySQL's DAS escaping undone)
 * and the low-cardinality summary are attached as `enrichment`, with a mark
 * when redaction had to fail closed (counted by the metrics sink).
 */
import type { ActivityEvent, DecodedRecord } from '../events/model.ts';
import { unescapeDasMysqlText } from './mysql-text.ts';
import { redact, redactParams, scrubSecrets, type RedactionContext, type RedactionMode } from './redact.ts';
import { QuerySummaries } from './summary.ts';
import { extractTraceContext } from './trace-context.ts';

/** Engine-native audit columns that hold SQL text or bind values (SQL Server `statement`, Oracle `SQL_TEXT`/`SQL_BINDS`). */
const NATIVE_SQL_FIELDS = /^(statement|sql_text)$/i;
const NATIVE_BIND_FIELDS = /^sql_binds$/i;

/** Model fields whose raw value lands in `extra` when it is not of the expected type: they still hold SQL. */
const SQL_FIELDS_IN_EXTRA = new Set(['commandText', 'paramList']);

/**
 * The enrich stage with what it learns kept for the next event: recent
 * statement summaries and the kind of each engine-native field name. A
 * processor owns one (each thread has its own); nothing is kept by the module.
 */
export class Enricher {
  readonly mode: RedactionMode;
  readonly summaries = new QuerySummaries();
  /** What a native field holds, by name: SQL Server sends the same two dozen names on every event. */
  readonly #nativeKinds = new Map<string, 'sql' | 'binds' | 'other'>();

  constructor(mode: RedactionMode) {
    this.mode = mode;
  }

  record(record: DecodedRecord): DecodedRecord {
    for (const event of record.events) enrichWith(this, event);
    return record;
  }

  event(event: ActivityEvent): void {
    enrichWith(this, event);
  }

  nativeFieldKind(key: string): 'sql' | 'binds' | 'other' {
    let kind = this.#nativeKinds.get(key);
    if (kind === undefined) {
      kind = NATIVE_SQL_FIELDS.test(key) ? 'sql' : NATIVE_BIND_FIELDS.test(key) ? 'binds' : 'other';
      // Bounded: native field names are whatever the engine sends.
      if (this.#nativeKinds.size < 1024) this.#nativeKinds.set(key, kind);
    }
    return kind;
  }
}

/** One event enriched by an enricher of its own (nothing learned is kept): for callers outside the pipeline. */
export function enrichEvent(event: ActivityEvent, mode: RedactionMode): void {
  enrichWith(new Enricher(mode), event);
}

/** One record enriched by an enricher of its own: for callers outside the pipeline. */
export function enrichRecord(record: DecodedRecord, mode: RedactionMode): DecodedRecord {
  return new Enricher(mode).record(record);
}

function enrichWith(enricher: Enricher, event: ActivityEvent): void {
  const mode = enricher.mode;
  const original = event.commandText;
  const trace = extractTraceContext(original, event.clientApplication);
  const summary = enricher.summaries.summarize(original, event.engine);
  const context: RedactionContext = { database: event.databaseName };
  const echoes = new Echoes(event, mode, context);

  const params = event.paramList;
  if (params !== null) {
    // A null parameter stays null; the others are masked as the mode says.
    const masked = redactParams(params.map((p) => p ?? ''), original, event.engine, mode, context) ?? [];
    event.paramList = params.map((p, i) => (p === null ? null : (masked[i] ?? null)));
    // A masked bind value is a secret an error message may quote.
    params.forEach((p, i) => p !== null && p !== masked[i] && echoes.note(p));
  }
  event.commandText = echoes.sql(original);
  if (event.engineNativeAuditFields) redactNativeFields(event.engineNativeAuditFields, event, enricher, echoes);
  if (mode !== 'none') {
    redactExtra(event.extra, echoes);
    if (event.errorMessage !== null) event.errorMessage = echoes.scrub(event.errorMessage);
  }

  const display = event.commandText !== null && event.engine === 'mysql' ? unescapeDasMysqlText(event.commandText) : event.commandText;
  event.enrichment = {
    queryText: display,
    querySummary: summary.summary,
    operationName: summary.operation,
    collectionName: summary.collection,
    ...(summary.collections.length > 0 ? { objects: summary.collections } : {}),
    ...(summary.operations.length > 1 ? { operations: summary.operations } : {}),
    trace: trace ? { traceId: trace.traceId, spanId: trace.spanId, traceFlags: trace.traceFlags } : null,
    ...(echoes.failedClosed ? { redactionFailedClosed: true } : {}),
  };
}

/** What the redactions of one event masked, to scrub from the fields that may echo it, and whether any failed closed. */
class Echoes {
  readonly mode: RedactionMode;
  readonly #event: ActivityEvent;
  readonly #context: RedactionContext;
  readonly #secrets: string[] = [];
  failedClosed = false;

  constructor(event: ActivityEvent, mode: RedactionMode, context: RedactionContext) {
    this.#event = event;
    this.mode = mode;
    this.#context = context;
  }

  /** `text` redacted per `mode` (the event's by default), its secrets noted. */
  sql(text: string | null, mode: RedactionMode = this.mode): string | null {
    const result = redact(text, this.#event.engine, mode, this.#context);
    if (result.failClosed) this.failedClosed = true;
    for (const secret of result.secrets) this.#secrets.push(secret);
    return result.text;
  }

  note(secret: string): void {
    this.#secrets.push(secret);
  }

  /** `value` with every secret noted so far replaced by `***`. */
  scrub(value: string): string {
    return this.#secrets.length === 0 ? value : scrubSecrets(value, this.#secrets);
  }
}

function redactNativeFields(fields: Record<string, unknown>, event: ActivityEvent, enricher: Enricher, echoes: Echoes): void {
  const mode = enricher.mode;
  const others: string[] = [];
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (typeof value !== 'string') continue;
    const kind = enricher.nativeFieldKind(key);
    if (kind === 'sql') fields[key] = echoes.sql(value);
    else if (kind === 'binds' && mode !== 'none') fields[key] = redactParams([value], value, event.engine, mode === 'passwords' ? 'literals' : mode)?.[0] ?? null;
    else others.push(key);
  }
  // The SQL fields first: their secrets are what the others may echo.
  if (mode !== 'none') for (const key of others) fields[key] = echoes.scrub(fields[key] as string);
}

/**
 * Fields the model does not know, and raw values a known field could not
 * use, may hold SQL too: every string in them is redacted for passwords, the
 * raw `commandText`/`paramList` as the mode says (`all` drops them), and what
 * was masked elsewhere is scrubbed from them.
 */
function redactExtra(extra: Record<string, unknown>, echoes: Echoes): void {
  for (const key of Object.keys(extra)) {
    const sqlField = SQL_FIELDS_IN_EXTRA.has(key);
    extra[key] = redactValue(extra[key], echoes, sqlField ? undefined : 'passwords', 0);
  }
}

/** Every string inside `value` redacted (per `mode`, else the echoes' mode) and scrubbed; containers rebuilt, the rest kept. */
function redactValue(value: unknown, echoes: Echoes, mode: RedactionMode | undefined, depth: number): unknown {
  if (typeof value === 'string') {
    const redacted = echoes.sql(value, mode);
    return redacted === null ? null : echoes.scrub(redacted);
  }
  if (typeof value !== 'object' || value === null) return value;
  // decode.ts refuses values nested deeper than this; anything past it is not kept.
  if (depth > 64) return null;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, echoes, mode, depth + 1));
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    Object.defineProperty(out, key, { value: redactValue((value as Record<string, unknown>)[key], echoes, mode, depth + 1), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
