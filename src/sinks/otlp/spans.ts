/**
 * The database's own record of a traced statement, as a span of the
 * application's trace: for every event that carries W3C trace context (a
 * sqlcommenter `traceparent`, or PostgreSQL's `application_name`, as the log
 * record reads it), a SERVER span (the database serving the application's
 * CLIENT span) with the same trace id, the traceparent's span as parent, and
 * the attributes of the database semantic conventions the log record has.
 *
 * - Name: `db.query.summary`, else `{db.operation.name} {db.collection.name}`,
 *   else the operation, else the system name (semconv database spans).
 * - Times: the event's own start and end where the engine sends them
 *   (PostgreSQL `startTime` to `logTime`, Aurora MySQL `startTime` to
 *   `endTime`, SQL Server `logTime` and its native `duration_milliseconds`),
 *   `das.span.timing` = `event_times`; otherwise a zero-length span at
 *   `logTime`, `das.span.timing` = `log_time`.
 * - Status: ERROR with the engine's (redacted) error on a failed statement.
 * - `log.record.uid`: the audit log record's id, so the span and the record
 *   find each other; the span id is derived from it, so a re-sent event
 *   makes the same span (Tempo keeps one) and never a second one.
 * - `db.query.text` is the redacted text, as in the log record.
 * Aurora MySQL's MAIN and AUX events of one statement make one span: only
 * MAIN carries the SQL, and with it the trace context.
 *
 * Untraced statements make no span, unless a share of them is asked for
 * (`DAS_TRACES_SAMPLE_UNTRACED`, a ratio, default 0): each chosen one is the
 * root SERVER span of a trace of its own, `das.span.sampled` = true and
 * `das.span.sample_ratio` = the ratio, its trace id derived from the event id
 * and chosen in the manner of OpenTelemetry's TraceIdRatioBased sampler (the
 * trace id's first 32 bits against the ratio), so a re-sent event makes the
 * same choice and the same span.
 */
import { createHash } from 'node:crypto';
import { SpanKind, SpanStatusCode, type Attributes, type SpanContext } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { ActivityEvent } from '../../events/model.ts';
import { OUTCOME_RULES } from '../../events/outcome.ts';
import { DB_SYSTEM, hrTimeFromNanos, SCOPE } from './mapping.ts';
import type { ResourceCatalog } from './resource.ts';

export const SPAN_TIMING_ATTRIBUTE = 'das.span.timing';
/** On the root span of an untraced statement chosen by `--traces-sample-untraced`. */
export const SPAN_SAMPLED_ATTRIBUTE = 'das.span.sampled';
/** Beside it, the ratio it was chosen at: Tempo's span metrics and service graph count the span 1/ratio times (`span_multiplier_key`). */
export const SPAN_SAMPLE_RATIO_ATTRIBUTE = 'das.span.sample_ratio';

/** Where an event's span goes: its trace, and its parent span (null: the root of a trace of its own). */
export interface SpanTrace {
  traceId: string;
  traceFlags: number;
  parentSpanId: string | null;
}

/**
 * The trace an event's span belongs to: the statement's own context, else,
 * for an untraced statement (one with SQL text) chosen at `untracedRatio`, a
 * trace of its own with the span as root; else null.
 */
export function spanTraceOf(event: ActivityEvent, untracedRatio = 0): SpanTrace | null {
  const trace = event.enrichment?.trace;
  if (trace) return { traceId: trace.traceId, traceFlags: trace.traceFlags, parentSpanId: trace.spanId };
  if (untracedRatio <= 0 || !event.commandText) return null;
  const traceId = createHash('sha256').update(`untraced/${event.eventId}`).digest('hex').slice(0, 32);
  // TraceIdRatioBased-style: the trace id's randomness (its first 32 bits) against the ratio; 1 takes every one.
  if (untracedRatio < 1 && Number.parseInt(traceId.slice(0, 8), 16) >= Math.floor(untracedRatio * 0x1_0000_0000)) return null;
  return { traceId, traceFlags: 1, parentSpanId: null };
}

/** Whether `event` makes a span: it carries (or is sampled into) a trace and has a time to put the span at. */
export function hasSpan(event: ActivityEvent, untracedRatio = 0): boolean {
  return (event.logTimeUnixNano ?? event.startTimeUnixNano) !== null && spanTraceOf(event, untracedRatio) !== null;
}

/** The span of a traced (or sampled) event, or null when the event makes none. */
export function spanOf(event: ActivityEvent, resources: ResourceCatalog, untracedRatio = 0): ReadableSpan | null {
  const trace = spanTraceOf(event, untracedRatio);
  if (!trace) return null;
  const { start, end, timing } = timesOf(event);
  if (start === null) return null;
  const e = event.enrichment!;
  const rules = OUTCOME_RULES[event.engine];
  const failed = event.outcome === 'failure';
  const statusCode = event.exitCode !== null && rules.exitCodeFails(event.exitCode) ? String(event.exitCode) : null;

  const attributes: Attributes = {};
  const set = (key: string, value: string | number | boolean | null | undefined) => {
    if (value !== null && value !== undefined && value !== '') attributes[key] = value;
  };
  set('db.system.name', DB_SYSTEM[event.engine]);
  set('db.namespace', event.databaseName);
  set('db.operation.name', e.operationName);
  set('db.collection.name', e.collectionName);
  set('db.query.summary', e.querySummary);
  set('db.query.text', e.queryText);
  set('db.response.status_code', statusCode);
  if (failed) set('error.type', statusCode ?? '_OTHER');
  set('user.name', event.dbUserName);
  set('server.address', event.serverHost);
  set('client.address', event.remoteHost);
  set('client.port', event.remotePort);
  set('session.id', event.sessionId);
  set('log.record.uid', event.eventId);
  set(SPAN_TIMING_ATTRIBUTE, timing);
  if (trace.parentSpanId === null) {
    set(SPAN_SAMPLED_ATTRIBUTE, true);
    set(SPAN_SAMPLE_RATIO_ATTRIBUTE, untracedRatio);
  }
  set('aws.rds.das.class', event.class);
  set('aws.rds.das.command', event.command);

  const spanContext: SpanContext = { traceId: trace.traceId, spanId: spanIdOf(event.eventId), traceFlags: trace.traceFlags };
  const parent: SpanContext | undefined =
    trace.parentSpanId === null ? undefined : { traceId: trace.traceId, spanId: trace.parentSpanId, traceFlags: trace.traceFlags, isRemote: true };
  const startTime = hrTimeFromNanos(start);
  const endTime = hrTimeFromNanos(end);
  return {
    name: spanName(event),
    kind: SpanKind.SERVER,
    spanContext: () => spanContext,
    ...(parent ? { parentSpanContext: parent } : {}),
    startTime,
    endTime,
    duration: hrTimeFromNanos(end - start),
    status: failed ? { code: SpanStatusCode.ERROR, ...(event.errorMessage ? { message: event.errorMessage } : {}) } : { code: SpanStatusCode.UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    // The database's resource, not split by Kinesis shard as log records' are: a span belongs to the database's trace.
    resource: resources.resourceFor({ clusterId: event.clusterId, instanceId: event.instanceId }) as Resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

/** Semconv database span name: the summary, else operation and collection, else the system. */
export function spanName(event: ActivityEvent): string {
  const e = event.enrichment;
  if (e?.querySummary) return e.querySummary;
  if (e?.operationName) return e.collectionName ? `${e.operationName} ${e.collectionName}` : e.operationName;
  return DB_SYSTEM[event.engine];
}

/**
 * Start and end in epoch nanoseconds: the event's own when it has an end
 * after its start (`startTime`, else `logTime`, to `endTime`; `startTime` to
 * `logTime` where an engine sends a start and logs at the end), else zero
 * length at `logTime`.
 */
export function timesOf(event: ActivityEvent): { start: bigint | null; end: bigint; timing: 'event_times' | 'log_time' } {
  const log = event.logTimeUnixNano;
  // SQL Server audits the end of a statement (logTime) with its duration_milliseconds.
  const duration = event.engine === 'sqlserver' ? event.engineNativeAuditFields?.['duration_milliseconds'] : undefined;
  if (log !== null && typeof duration === 'number' && Number.isFinite(duration) && duration > 0) {
    return { start: log - BigInt(Math.round(duration * 1_000_000)), end: log, timing: 'event_times' };
  }
  const start = event.startTimeUnixNano ?? log;
  const end = event.endTimeUnixNano ?? (event.startTimeUnixNano !== null && log !== null ? log : null);
  if (start !== null && end !== null && end > start) return { start, end, timing: 'event_times' };
  const at = log ?? start;
  return { start: at, end: at ?? 0n, timing: 'log_time' };
}

/** 8 bytes of SHA-256 of the event id, as hex: the same event makes the same span; never all zeros (invalid). */
export function spanIdOf(eventId: string): string {
  const id = createHash('sha256').update(eventId).digest('hex').slice(0, 16);
  return id === '0000000000000000' ? '0000000000000001' : id;
}
