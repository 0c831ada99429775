/**
 * The enrich stage: runs on every decoded event before any sink sees it.
 *
 * Trace context is read first, from the SQL as sent. Then `--redact` is
 * applied in place to `commandText`, `paramList` and the engine-native fields
 * that carry SQL, so no sink, log line or dead letter ever holds what the mode
 * hides. Last, the display text (MySQL's DAS escaping undone) and the
 * low-cardinality summary are attached as `enrichment`.
 */
import type { ActivityEvent, DecodedRecord } from '../events/model.ts';
import { unescapeDasMysqlText } from './mysql-text.ts';
import { redactParams, redactSql, type RedactionMode } from './redact.ts';
import { summarize } from './summary.ts';
import { extractTraceContext } from './trace-context.ts';

/** Engine-native audit columns that hold SQL text or bind values (SQL Server `statement`, Oracle `SQL_TEXT`/`SQL_BINDS`). */
const NATIVE_SQL_FIELDS = /^(statement|sql_text)$/i;
const NATIVE_BIND_FIELDS = /^sql_binds$/i;

export function enrichEvent(event: ActivityEvent, mode: RedactionMode): void {
  const original = event.commandText;
  const trace = extractTraceContext(original, event.clientApplication);
  const summary = summarize(original, event.engine);

  const params = event.paramList;
  if (params !== null) {
    // A null parameter stays null; the others are masked as the mode says.
    const masked = redactParams(params.map((p) => p ?? ''), original, event.engine, mode) ?? [];
    event.paramList = params.map((p, i) => (p === null ? null : (masked[i] ?? null)));
  }
  event.commandText = redactSql(original, event.engine, mode);
  if (event.engineNativeAuditFields) redactNativeFields(event.engineNativeAuditFields, event, mode);

  const display = event.commandText !== null && event.engine === 'mysql' ? unescapeDasMysqlText(event.commandText) : event.commandText;
  event.enrichment = {
    queryText: display,
    querySummary: summary.summary,
    operationName: summary.operation,
    collectionName: summary.collection,
    trace: trace ? { traceId: trace.traceId, spanId: trace.spanId, traceFlags: trace.traceFlags } : null,
  };
}

export function enrichRecord(record: DecodedRecord, mode: RedactionMode): DecodedRecord {
  for (const event of record.events) enrichEvent(event, mode);
  return record;
}

function redactNativeFields(fields: Record<string, unknown>, event: ActivityEvent, mode: RedactionMode): void {
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (typeof value !== 'string') continue;
    const kind = nativeFieldKind(key);
    if (kind === 'sql') fields[key] = redactSql(value, event.engine, mode);
    else if (kind === 'binds' && mode !== 'none') fields[key] = redactParams([value], value, event.engine, mode === 'passwords' ? 'literals' : mode)?.[0] ?? null;
  }
}

/** What a native field holds, by name: SQL Server sends the same two dozen names on every event. */
const nativeKinds = new Map<string, 'sql' | 'binds' | 'other'>();

function nativeFieldKind(key: string): 'sql' | 'binds' | 'other' {
  let kind = nativeKinds.get(key);
  if (kind === undefined) {
    kind = NATIVE_SQL_FIELDS.test(key) ? 'sql' : NATIVE_BIND_FIELDS.test(key) ? 'binds' : 'other';
    // Bounded: native field names are whatever the engine sends.
    if (nativeKinds.size < 1024) nativeKinds.set(key, kind);
  }
  return kind;
}
