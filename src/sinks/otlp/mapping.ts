/**
 * From an ActivityEvent to an OpenTelemetry log record (a `ReadableLogRecord`,
 * what the OTLP serializers take), following the database and general
 * semantic conventions, with everything else DAS said kept under
 * `aws.rds.das.*` so an auditor loses nothing.
 *
 * The body is the SQL after redaction; an event without any (a login, for
 * which Aurora MySQL sends '', or mode `all`) gets its command and outcome
 * instead (`fallbackBody`), so that no Loki line is blank and a line filter
 * such as `|= "CONNECT"` finds it.
 *
 * Loki is the main backend, so a record is shaped to pass its default limits
 * whatever the event holds (the budget itself, apart from the conventions,
 * is loki-budget.ts):
 * - the body becomes the log line, at most 256 KiB (`max_line_size`): longer
 *   SQL is cut at a character boundary, a marker appended, and the full
 *   length kept in `aws.rds.das.query_text_length`;
 * - every attribute, non-indexed resource attribute and OTLP field becomes one
 *   structured-metadata entry, at most 128 of them (`max_structured_metadata_
 *   entries_count`) and 64 KiB in all (`max_structured_metadata_size`): the
 *   attributes are ranked, single values are capped, and when over budget the
 *   least important go first (engine-native fields, then unknown extra fields,
 *   then the rest of `aws.rds.das.*`); the record's `droppedAttributesCount`
 *   and `aws.rds.das.dropped_attributes` say how many went.
 *
 * A record's Timestamp is when the event occurred (its `logTime`), made
 * unique within DAS's precision (distinctTimestamp); its ObservedTimestamp is
 * when the exporter read it. Loki refuses entries older than
 * `reject_old_samples_max_age` (168 h by default), so a replay or a catch-up
 * of week-old events would be dead-lettered; `--old-events observed-time`
 * (OLD_EVENTS_MODES) keeps the OpenTelemetry meaning of both fields and lets
 * them through: Timestamp is left unset (0; the log data model makes it
 * optional), which Loki and any receiver following the data model answer by
 * using the ObservedTimestamp instead; the ObservedTimestamp is the read
 * time, a nanosecond no other record of the process has (observed-times.ts)
 * and fixed the first time an event is mapped, so a retried batch lands on
 * its first copy; and the event's own time is kept in `aws.rds.das.event_time`
 * (RFC 3339 UTC, nine fraction digits), ranked second so no budget drops it.
 */
import type { Attributes, AttributeValue, HrTime } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { Resource } from '@opentelemetry/resources';
import type { ActivityEvent, Engine } from '../../events/model.ts';
import { OUTCOME_RULES } from '../../events/outcome.ts';
import { AttributeBudget, capValue, DEFAULT_LIMITS, DROPPED_ATTRIBUTES, LokiBudgets, truncateUtf8, type MappingLimits } from './loki-budget.ts';
import { assembleLogsRequest, LogRecordEncoder, refsOf, type EncodedLogRecords, type ProtoWriter, type RecordWriter } from './protobuf.ts';
import type { ResourceCatalog } from './resource.ts';
import { sameKeys } from '../../util/same-keys.ts';
import { VERSION } from '../../version.ts';
import { ObservedTimes } from './observed-times.ts';
import type { OldEventsMode } from './old-events.ts';

export const EVENT_NAME = 'aws.rds.database_activity';

export { OLD_EVENTS_MODES, type OldEventsMode } from './old-events.ts';
export { DEFAULT_LIMITS, LOKI_MAX_LINE_BYTES, LOKI_MAX_STRUCTURED_METADATA_BYTES, LOKI_MAX_STRUCTURED_METADATA_ENTRIES, truncateUtf8, type MappingLimits } from './loki-budget.ts';

/** With `--old-events observed-time`: when the event occurred, as RFC 3339 UTC with nine fraction digits (strings of it sort as times). */
export const EVENT_TIME_ATTRIBUTE = 'aws.rds.das.event_time';

/** The OTLP Timestamp of an event whose time is left unset: 0. */
const UNSET_TIME: HrTime = Object.freeze([0, 0]) as unknown as HrTime;
export const SCOPE = Object.freeze({ name: 'das-exporter', version: VERSION });

/** `db.system.name` per engine (semconv well-known values); the spans say the same. */
export const DB_SYSTEM: Readonly<Record<Engine, string>> = {
  postgresql: 'postgresql',
  mysql: 'mysql',
  sqlserver: 'microsoft.sql_server',
  oracle: 'oracle.db',
  unknown: 'other_sql',
};

export interface LogRecordMapperOptions {
  resources: ResourceCatalog;
  /** When the exporter read the event: the record's ObservedTimestamp. */
  clock?: () => Date;
  limits?: Partial<MappingLimits>;
  /** Which time a record's Timestamp is (default `event-time`). */
  oldEvents?: OldEventsMode;
  /** With `observed-time`: where the read times come from, shared by every mapper of the process (default its own). */
  observedTimes?: ObservedTimes;
}

export class LogRecordMapper {
  readonly #resources: ResourceCatalog;
  readonly #clock: () => Date;
  readonly #limits: MappingLimits;
  /** With `observed-time`, where read times come from; null with `event-time`. */
  readonly #times: ObservedTimes | null;
  /**
   * With `observed-time`: each event's read time, taken when it is first
   * mapped. A retried batch holds the same event objects, so its records
   * carry the same times and Loki drops the copies it already has; nothing is
   * kept once an event is gone.
   */
  readonly #readAt = new WeakMap<ActivityEvent, HrTime>();
  /** encodeEach's encoder, kept from one call to the next with its buffer and what it learns. */
  readonly #encoder = new LogRecordEncoder();
  readonly #memo: MappingMemo;

  constructor(options: LogRecordMapperOptions) {
    this.#resources = options.resources;
    this.#clock = options.clock ?? (() => new Date());
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#memo = new MappingMemo(this.#limits);
    this.#times = options.oldEvents === 'observed-time' ? (options.observedTimes ?? new ObservedTimes()) : null;
  }

  map(event: ActivityEvent): ReadableLogRecord {
    return toReadableLogRecord(this.mapFields(event));
  }

  /** The same record with its attributes as parallel lists, for the OTLP encoder (no attributes object to build). */
  mapFields(event: ActivityEvent): LogRecordFields {
    const now = this.#clock().getTime();
    const observed = this.#times === null ? hrTimeFromMs(now) : this.#readTimes([event], now)(event);
    return mapWithLimits(event, this.#resources.resourceFor(event), observed, this.#limits, this.#times !== null, this.#memo);
  }

  /**
   * With `observed-time`: the read time of each of `events`, those mapped
   * before keeping theirs, the others taking a run of new ones at `readMs`.
   */
  #readTimes(events: readonly ActivityEvent[], readMs: number): (event: ActivityEvent) => HrTime {
    const readAt = this.#readAt;
    let fresh = 0;
    for (const event of events) if (!readAt.has(event)) fresh++;
    if (fresh > 0) {
      let next = this.#times!.take(readMs, fresh);
      for (const event of events) {
        if (readAt.has(event)) continue;
        readAt.set(event, hrTimeFromNanos(next));
        next++;
      }
    }
    return (event) => readAt.get(event)!;
  }

  /**
   * The events as one OTLP ExportLogsServiceRequest in protobuf: the bytes
   * `encodeLogsRequest(events.map(mapFields))` gives, without building the
   * records first: each record's attributes are written as they are ranked,
   * each as the record's Loki budget admits it (the same budget `mapFields`
   * asks).
   */
  encode(events: readonly ActivityEvent[]): Uint8Array {
    if (events.length === 0) return new Uint8Array(0);
    return assembleLogsRequest(refsOf(this.encodeEach(events)));
  }

  /**
   * The events as log records encoded one by one, for `assembleLogsRequest`
   * to put into requests later (the worker threads encode here, the exporter
   * assembles). Same bytes per record as `encode`.
   */
  encodeEach(events: readonly ActivityEvent[], observedMs: number = this.#clock().getTime()): EncodedLogRecords {
    return this.#encoder.encodeEach(events, this.#writer(this.#observedOf(events, observedMs)), SCOPE);
  }

  /** Each event's ObservedTimestamp: the read time `readMs` with `event-time`, the event's own read time with `observed-time`. */
  #observedOf(events: readonly ActivityEvent[], readMs: number): (event: ActivityEvent) => HrTime {
    if (this.#times !== null) return this.#readTimes(events, readMs);
    const observed = hrTimeFromMs(readMs);
    return () => observed;
  }

  #writer(observedOf: (event: ActivityEvent) => HrTime): RecordWriter<ActivityEvent> {
    const limits = this.#limits;
    const resources = this.#resources;
    const observedTime = this.#times !== null;
    const memo = this.#memo;
    return {
      resourceOf: (event) => resources.resourceFor(event),
      write: (w, event, resource) => {
        const head = headOf(event, resource, observedOf(event), limits, observedTime, memo);
        // Done with before the next record asks: the one budget, restarted.
        const budget = memo.budgets.reusedFor(head.resource, head.spanContext ?? null);
        const at = w.recordStart(head);
        forEachRankedAttribute(event, new WrittenAttributes(w, budget), head.truncatedFrom, limits.maxValueBytes, head.eventTime, memo);
        const dropped = budget.dropped;
        if (dropped > 0) writeAttribute(w, DROPPED_ATTRIBUTES, dropped);
        w.recordEnd(at, head, dropped);
      },
    };
  }
}

/** A mapped log record whose attributes are two parallel lists, in rank order. */
export interface LogRecordFields extends Omit<ReadableLogRecord, 'attributes' | 'body'> {
  body: string;
  attributeKeys: string[];
  attributeValues: AttributeValue[];
}

function toReadableLogRecord(fields: LogRecordFields): ReadableLogRecord {
  const { attributeKeys, attributeValues, ...record } = fields;
  const attributes: Attributes = {};
  for (let i = 0; i < attributeKeys.length; i++) attributes[attributeKeys[i]!] = attributeValues[i]!;
  return { ...record, attributes };
}

export interface MapContext {
  resource: Resource;
  observed: Date;
  limits?: Partial<MappingLimits>;
  oldEvents?: OldEventsMode;
}

export function mapEvent(event: ActivityEvent, context: MapContext): ReadableLogRecord {
  const limits = { ...DEFAULT_LIMITS, ...context.limits };
  return toReadableLogRecord(mapWithLimits(event, context.resource, hrTimeFromMs(context.observed.getTime()), limits, context.oldEvents === 'observed-time', new MappingMemo(limits)));
}

/**
 * What a mapper learns as it goes and keeps for the next record: the
 * structured-metadata cost of each resource (in its Loki budgets), the attribute names of the
 * last shapes of unknown and native fields, and the seed hash of the last
 * Kinesis record. Owned by one mapper (each thread has its own), never by
 * the module.
 */
class MappingMemo {
  readonly extraNames = new AttributeNames('aws.rds.das.extra.');
  readonly nativeNames = new AttributeNames('aws.rds.das.native.');
  /** Loki's budget of each record (loki-budget.ts), with what each resource costs. */
  readonly budgets: LokiBudgets;
  /** The events of one Kinesis record share their seed: its hash is kept for the next event. */
  #lastSeed = { shardId: '', sequenceNumber: '', hash: 0 };

  constructor(limits: MappingLimits = DEFAULT_LIMITS) {
    this.budgets = new LokiBudgets(limits);
  }

  seedHash(position: ActivityEvent['position'], eventId: string): number {
    if (!position) return fnv1a(eventId);
    const last = this.#lastSeed;
    if (last.sequenceNumber === position.sequenceNumber && last.shardId === position.shardId && last.sequenceNumber !== '') return last.hash;
    const hash = fnv1a(`${position.shardId}/${position.sequenceNumber}`);
    this.#lastSeed = { shardId: position.shardId, sequenceNumber: position.sequenceNumber, hash };
    return hash;
  }
}

/** A record but its attributes. */
interface RecordHead extends Omit<LogRecordFields, 'attributeKeys' | 'attributeValues' | 'droppedAttributesCount'> {
  droppedAttributesCount: 0;
  /** Set when the body was cut: the SQL's full length in UTF-8 bytes. */
  truncatedFrom: number | null;
  /** With `observed-time`: the event's own time for EVENT_TIME_ATTRIBUTE; null otherwise or when the event has none. */
  eventTime: string | null;
}

function mapWithLimits(event: ActivityEvent, resource: Resource, observed: HrTime, limits: MappingLimits, observedTime: boolean, memo: MappingMemo): LogRecordFields {
  return withAttributes(headOf(event, resource, observed, limits, observedTime, memo), event, limits, memo);
}

/** The Loki budget of a record with this head (what its resource and trace context already cost). */
function budgetOf(head: RecordHead, memo: MappingMemo): AttributeBudget {
  return memo.budgets.budgetFor(head.resource, head.spanContext ?? null);
}

/** `observedTime`: `--old-events observed-time` (the module's opening says what it changes). */
function headOf(event: ActivityEvent, resource: Resource, observed: HrTime, limits: MappingLimits, observedTime: boolean, memo: MappingMemo): RecordHead {
  const failed = event.outcome === 'failure';
  const trace = event.enrichment?.trace ?? null;
  const body = bodyOf(event, limits.maxBodyBytes);

  const logTime = event.logTimeUnixNano ?? event.startTimeUnixNano;
  const severity = severityOf(failed, event.policy?.severity ?? null);
  // One object shape for every record (no spreads of optional parts): the encoder reads millions of them.
  return {
    hrTime: observedTime ? UNSET_TIME : logTime === null ? observed : hrTimeFromNanos(distinctTimestamp(event, logTime, memo)),
    hrTimeObserved: observed,
    eventTime: observedTime && logTime !== null ? rfc3339Nanos(logTime) : null,
    spanContext: trace ? { traceId: trace.traceId, spanId: trace.spanId, traceFlags: trace.traceFlags, isRemote: true } : undefined,
    severityNumber: severity.severityNumber,
    severityText: severity.severityText,
    body: body.text,
    eventName: EVENT_NAME,
    resource,
    instrumentationScope: SCOPE,
    droppedAttributesCount: 0,
    truncatedFrom: body.truncatedFrom,
  };
}

/** OTLP severities of a policy's `severity` (`critical` is FATAL: the highest the data model has). */
const POLICY_SEVERITY: Readonly<Record<string, { severityNumber: SeverityNumber; severityText: string }>> = {
  info: { severityNumber: SeverityNumber.INFO, severityText: 'INFO' },
  warning: { severityNumber: SeverityNumber.WARN, severityText: 'WARN' },
  error: { severityNumber: SeverityNumber.ERROR, severityText: 'ERROR' },
  critical: { severityNumber: SeverityNumber.FATAL, severityText: 'FATAL' },
};

/** WARN for a failure, else INFO, raised (never lowered) to what a policy `tag` or `alert` rule says. */
function severityOf(failed: boolean, policy: string | null): { severityNumber: SeverityNumber; severityText: string } {
  const own = failed ? POLICY_SEVERITY['warning']! : POLICY_SEVERITY['info']!;
  const raised = policy === null ? undefined : POLICY_SEVERITY[policy];
  return raised !== undefined && raised.severityNumber > own.severityNumber ? raised : own;
}

/** The whole record: its head and the attributes its budget keeps, drops counted. */
function withAttributes(head: RecordHead, event: ActivityEvent, limits: MappingLimits, memo: MappingMemo): LogRecordFields {
  const budget = budgetOf(head, memo);
  forEachRankedAttribute(event, budget, head.truncatedFrom, limits.maxValueBytes, head.eventTime, memo);
  const { keys, values, dropped } = budget;
  if (dropped > 0) {
    keys.push(DROPPED_ATTRIBUTES);
    values.push(dropped);
  }
  const { truncatedFrom: _t, eventTime: _v, ...record } = head;
  return { ...record, attributeKeys: keys, attributeValues: values, droppedAttributesCount: dropped };
}

function bodyOf(event: ActivityEvent, maxBytes: number): { text: string; truncatedFrom: number | null } {
  const query = event.enrichment?.queryText ?? null;
  // DAS sends '' for the text of a MySQL login: the SQL wins only when there is some.
  const text = query !== null && query.trim() !== '' ? query : fallbackBody(event);
  // A UTF-16 unit is at most 3 UTF-8 bytes: short text needs no counting.
  if (text.length * 3 <= maxBytes) return { text, truncatedFrom: null };
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= maxBytes) return { text, truncatedFrom: null };
  const marker = ` …[truncated: ${bytes} bytes in all]`;
  return { text: truncateUtf8(text, maxBytes - Buffer.byteLength(marker, 'utf8')) + marker, truncatedFrom: bytes };
}

/**
 * The line of an event without SQL text (a login, a disconnect, mode `all`),
 * never empty: its command, and for a failure how it failed, e.g. `CONNECT
 * failed: Access denied for user 'app'@'10.0.0.7' (using password: YES)` or
 * `LOGON failed (code 1017)`. A command that names the failure itself (`AUTH
 * FAILURE`, `LOGIN FAILED`) is not told twice.
 */
export function fallbackBody(event: ActivityEvent): string {
  const what = event.command?.trim() || event.class?.trim() || 'database activity';
  if (event.outcome !== 'failure') return what;
  const rules = OUTCOME_RULES[event.engine];
  const saysFailed = rules.failureCommands.includes(what.toUpperCase());
  const message = event.errorMessage?.trim();
  const code = event.exitCode !== null && rules.exitCodeFails(event.exitCode) ? ` (code ${event.exitCode})` : '';
  return `${what}${saysFailed ? '' : ' failed'}${message ? `: ${message}` : code}`;
}


const SELECT_FIRST = /^select\b/i;

/** Takes a record's attributes one by one, in rank order; skips null, undefined and "" itself. */
interface AttributeReceiver {
  add(key: string, value: AttributeValue | null | undefined): void;
}

/**
 * Offers the attributes in the order they are kept when a record is over
 * budget, most important first; `event_time` (with `observed-time`, where it
 * is the only record of when the event occurred) ranks second, then
 * `query_text_length` (when the body was cut). The one list of what a log
 * record says: the budgeted mapping and the direct protobuf writer both read it.
 */
function forEachRankedAttribute(
  event: ActivityEvent,
  receiver: AttributeReceiver,
  truncatedFrom: number | null,
  maxValueBytes: number,
  eventTime: string | null,
  memo: MappingMemo,
): void {
  // receiver.add, not a local arrow: under tsx (esbuild keepNames) every closure made costs a defineProperty.
  const r = receiver;
  const e = event.enrichment;
  const rules = OUTCOME_RULES[event.engine];
  const statusCode = event.exitCode !== null && rules.exitCodeFails(event.exitCode) ? String(event.exitCode) : null;
  const operation = e?.operationName ?? null;
  const isRead = SELECT_FIRST.test(operation ?? event.command ?? '');

  r.add('log.record.uid', event.eventId);
  if (eventTime !== null) r.add(EVENT_TIME_ATTRIBUTE, eventTime);
  const policy = event.policy;
  if (policy !== undefined) {
    // What the user's audit policy said ranks with the record's identity: no budget drops it.
    r.add('das.policy.rule', policy.matched.join(','));
    r.add('das.policy.severity', policy.severity);
    if (policy.labels) for (const name of Object.keys(policy.labels)) r.add(`das.policy.label.${name}`, policy.labels[name]);
  }
  if (truncatedFrom !== null) r.add('aws.rds.das.query_text_length', truncatedFrom);
  r.add('db.system.name', DB_SYSTEM[event.engine]);
  r.add('db.namespace', event.databaseName);
  r.add('db.operation.name', operation);
  r.add('db.collection.name', e?.collectionName);
  r.add('db.query.summary', e?.querySummary);
  r.add('db.query.text', e?.queryText);
  r.add('db.response.status_code', statusCode);
  if (event.outcome === 'failure') r.add('error.type', statusCode ?? '_OTHER');
  if (isRead) r.add('db.response.returned_rows', event.rowCount);
  r.add('user.name', event.dbUserName);
  r.add('session.id', event.sessionId);
  r.add('client.address', event.remoteHost);
  r.add('client.port', event.remotePort);
  r.add('server.address', event.serverHost);
  r.add('network.transport', event.netProtocol?.toLowerCase());

  r.add('aws.rds.das.class', event.class);
  r.add('aws.rds.das.command', event.command);
  r.add('aws.rds.das.outcome', event.outcome);
  if (event.isLogin) r.add('aws.rds.das.login', true);
  r.add('aws.rds.das.exit_code', event.exitCode);
  r.add('aws.rds.das.error_message', event.errorMessage);
  r.add('aws.rds.das.object_type', event.objectType);
  r.add('aws.rds.das.object_name', event.objectName);
  r.add('aws.rds.das.statement_id', event.statementId);
  r.add('aws.rds.das.substatement_id', event.substatementId);
  r.add('aws.rds.das.transaction_id', event.transactionId);
  r.add('aws.rds.das.statement_key', event.statementKey);
  r.add('aws.rds.das.client_application', event.clientApplication);
  if (!isRead) r.add('aws.rds.das.row_count', event.rowCount);
  if (event.paramList && event.paramList.length > 0) {
    r.add('aws.rds.das.params', event.paramList.map((p) => (p === null ? null : capValue(p, maxValueBytes))) as AttributeValue);
  }
  // The raw text differs from the display text when DAS escaped it (MySQL); same text twice is waste.
  if (event.commandText !== null && event.commandText !== (e?.queryText ?? null)) r.add('aws.rds.das.command_text', event.commandText);
  if (event.auxObjects && event.auxObjects.length > 0) r.add('aws.rds.das.aux_objects', JSON.stringify(event.auxObjects));
  r.add('aws.rds.das.log_time', event.logTimeRaw);
  r.add('aws.rds.das.start_time', event.startTimeRaw);
  r.add('aws.rds.das.end_time', event.endTimeRaw);
  r.add('aws.rds.das.pid', event.pid);
  r.add('aws.rds.das.server_type', event.serverType);
  r.add('aws.rds.das.server_version', event.serverVersion);
  r.add('aws.rds.das.service_name', event.serviceName);
  r.add('aws.rds.das.db_protocol', event.dbProtocol);
  r.add('aws.rds.das.net_protocol', event.netProtocol);
  // The record's stream and shard are its resource's (resource.ts); its Kinesis sequence number is in log.record.uid.
  // Extra (fields the model does not know, raw values it could not read) outrank native audit columns.
  const extra = memo.extraNames.of(event.extra);
  for (let i = 0; i < extra.length; i += 2) r.add(extra[i + 1]!, attributeValue(event.extra[extra[i]!]));
  const native = event.engineNativeAuditFields;
  if (native) {
    const names = memo.nativeNames.of(native);
    for (let i = 0; i < names.length; i += 2) r.add(names[i + 1]!, attributeValue(native[names[i]!]));
  }
}

/**
 * An object's keys in sorted order, each with its attribute name (`prefix` +
 * key), for objects that mostly come in one shape: every SQL Server event
 * carries the same two dozen native audit fields. The last shape's answer is
 * kept, and each name is built once, so a record's attributes cost neither a
 * sort nor a string concatenation (nor hashing a new string when its encoded
 * key is looked up) per event.
 */
class AttributeNames {
  readonly #prefix: string;
  readonly #names = new Map<string, string>();
  #keys: readonly string[] = [];
  /** key, name, key, name, … in key order. */
  #sorted: readonly string[] = [];

  constructor(prefix: string) {
    this.#prefix = prefix;
  }

  of(object: object): readonly string[] {
    const keys = Object.keys(object);
    if (!sameKeys(keys, this.#keys)) {
      const sorted: string[] = [];
      for (const key of [...keys].sort()) sorted.push(key, this.#name(key));
      this.#keys = keys;
      this.#sorted = sorted;
    }
    return this.#sorted;
  }

  #name(key: string): string {
    let name = this.#names.get(key);
    if (name === undefined) {
      name = this.#prefix + key;
      // Bounded: unknown field names are whatever a stream sends.
      if (this.#names.size >= 4096) this.#names.clear();
      this.#names.set(key, name);
    }
    return name;
  }
}


/** Writes each attribute the record's budget admits straight into the protobuf LogRecord being written: no lists in between. */
class WrittenAttributes implements AttributeReceiver {
  readonly #w: ProtoWriter;
  readonly #budget: AttributeBudget;

  constructor(w: ProtoWriter, budget: AttributeBudget) {
    this.#w = w;
    this.#budget = budget;
  }

  add(key: string, raw: AttributeValue | null | undefined): void {
    const value = this.#budget.admit(key, raw);
    if (value !== null) writeAttribute(this.#w, key, value);
  }
}

/** A LogRecord's `attributes` field (6): one KeyValue. */
function writeAttribute(w: ProtoWriter, key: string, value: AttributeValue): void {
  if (typeof value === 'string') w.stringAttribute(6, key, value);
  else {
    w.tag(6, 2);
    w.keyValue(key, value);
  }
}

function attributeValue(value: unknown): AttributeValue | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint') return value.toString();
  return JSON.stringify(value);
}

/**
 * Loki keeps one entry per (stream, timestamp, line), so two events with the
 * same SQL in the same microsecond would merge and an audit event would be
 * lost. DAS times stop at microseconds (SQL Server at 100 ns): the digits
 * below the source's precision are free, and carry an offset derived from the
 * event's position. It is deterministic, so a re-delivered event still lands
 * on its first copy and Loki deduplicates it. The exact time stays in
 * `aws.rds.das.log_time`.
 */
export function distinctTimestamp(event: Pick<ActivityEvent, 'logTimeRaw' | 'startTimeRaw' | 'logTimeUnixNano' | 'position' | 'eventId'>, nanos: bigint, memo: MappingMemo = new MappingMemo()): bigint {
  const raw = event.logTimeUnixNano !== null ? event.logTimeRaw : event.startTimeRaw;
  const digits = raw ? fractionDigits(raw) : 6;
  if (digits >= 9) return nanos;
  const free = FREE[digits]!;
  // Sub-precision digits must be zero in what DAS sent, or they are not free.
  if (nanos % BIG_FREE[digits]! !== 0n) return nanos;
  const position = event.position;
  const index = position?.index ?? 0;
  return nanos + BigInt((memo.seedHash(position, event.eventId) + index) % free);
}

/** Epoch nanoseconds as RFC 3339 UTC with nine fraction digits: `2026-04-20T09:15:02.123456000Z`. */
export function rfc3339Nanos(nanos: bigint): string {
  const fraction = ((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n;
  const seconds = (nanos - fraction) / 1_000_000_000n;
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction.toString().padStart(9, '0')}Z`;
}

/** 10^(9 - digits): the values the digits below a source precision of `digits` can take. */
const FREE = Array.from({ length: 9 }, (_, digits) => 10 ** (9 - digits));
const BIG_FREE = FREE.map(BigInt);

/** The number of digits after the first `.` or `,` of a timestamp (0 without one). */
function fractionDigits(raw: string): number {
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c !== 0x2e && c !== 0x2c) continue;
    let n = 0;
    while (i + 1 + n < raw.length && isDigit(raw.charCodeAt(i + 1 + n))) n++;
    // A separator without digits after it is not the fraction: look further, as the pattern /[.,](\d+)/ does.
    if (n > 0) return n;
  }
  return 0;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

export function hrTimeFromNanos(nanos: bigint): HrTime {
  return [Number(nanos / 1_000_000_000n), Number(nanos % 1_000_000_000n)];
}

function hrTimeFromMs(ms: number): HrTime {
  return [Math.floor(ms / 1000), (ms % 1000) * 1_000_000];
}
