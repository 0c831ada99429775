/**
 * The one typed shape of a Database Activity Stream event, whatever the engine.
 *
 * Every field the AWS documentation lists is kept (an auditor must be able to
 * see what the database said); engine quirks are normalised here once so the
 * rest of the pipeline never asks "is sessionId a number on SQL Server?".
 * Fields the documentation does not list are kept too, under `extra`.
 * Heartbeats are a separate type: they are liveness signals, not activity.
 */

export type Engine = 'postgresql' | 'mysql' | 'sqlserver' | 'oracle' | 'unknown';

/** Where an event came from on the stream; `eventId` is stable across replays of the same record. */
export interface EventPosition {
  stream: string;
  shardId: string;
  sequenceNumber: string;
  /** Index of the event inside the decrypted record's `databaseActivityEventList`. */
  index: number;
}

export interface ActivityEvent {
  type: 'record';
  engine: Engine;
  /** Aurora DbClusterResourceId (`cluster-…`), null for RDS instances (DAS sends ""). */
  clusterId: string | null;
  /** DbiResourceId (`db-…`) of the instance that produced the event. */
  instanceId: string | null;

  /** Event class as DAS sends it (PostgreSQL READ/WRITE/…, MySQL MAIN/AUX, SQL Server/Oracle their own). */
  class: string | null;
  command: string | null;
  /** SQL text exactly as received (MySQL's backslash-escaped quotes included). */
  commandText: string | null;
  /** Bind values as strings; an element DAS sent as null stays null. */
  paramList: (string | null)[] | null;
  databaseName: string | null;
  dbUserName: string | null;
  objectType: string | null;
  objectName: string | null;

  remoteHost: string | null;
  remotePort: number | null;
  serverHost: string | null;
  clientApplication: string | null;
  pid: number | null;
  /** Always a string: PostgreSQL/MySQL send strings, SQL Server a number. */
  sessionId: string | null;
  /** Always a string: a decimal number (PostgreSQL, MySQL) or a lower-case hex id (SQL Server). */
  statementId: string | null;
  substatementId: number | null;
  transactionId: string | null;

  /** Times as epoch nanoseconds (UTC); `*Raw` keep the exact text DAS sent. */
  logTimeUnixNano: bigint | null;
  startTimeUnixNano: bigint | null;
  endTimeUnixNano: bigint | null;
  logTimeRaw: string | null;
  startTimeRaw: string | null;
  endTimeRaw: string | null;

  /** null when DAS sent null or "" (MySQL AUX events send ""). */
  exitCode: number | null;
  /** null when DAS sent null or "". */
  errorMessage: string | null;
  rowCount: number | null;

  serverType: string | null;
  serverVersion: string | null;
  serviceName: string | null;
  dbProtocol: string | null;
  netProtocol: string | null;

  /** Oracle (1.3) and SQL Server (1.4) native audit columns, as sent. */
  engineNativeAuditFields: Record<string, unknown> | null;
  /**
   * Any field this model does not know, kept verbatim, and the raw value of any
   * known field whose value could not be normalised (that field then reads null).
   */
  extra: Record<string, unknown>;

  /** Derived once, engine rules included (see events/outcome.ts). */
  outcome: 'success' | 'failure';
  /** A login attempt (CONNECT-type event), successful or not. */
  isLogin: boolean;
  /**
   * Aurora MySQL splits a statement into MAIN (the SQL) and AUX (the object
   * touched) events; both carry the same key (`instanceId/sessionId/statementId`).
   */
  statementKey: string | null;
  /** Set on a MAIN event when its AUX event(s) were in the same record. */
  auxObjects: { command: string | null; objectType: string | null; objectName: string | null }[] | null;

  /** Set by the source: where on the stream this event came from. */
  position: EventPosition | null;
  /** Stable id `stream/shard/sequence/index` (or a replay-local id), for deduplication downstream. */
  eventId: string;

  /**
   * Filled by the enrich stage (src/enrich/) before any sink sees the event.
   * That stage also redacts `commandText` and `paramList` in place, so no
   * sink, log or dead letter ever holds what `--redact` hides.
   */
  enrichment?: Enrichment;
  /** Set by the audit policy (src/policy/) when rules of action `tag` or `alert` matched the event. */
  policy?: PolicyMark;
}

/** What the audit policy's `tag` and `alert` rules said about one event. */
export interface PolicyMark {
  /** The rules that matched, in the policy's order. */
  matched: string[];
  /** The highest severity those rules give, null when none gives one. */
  severity: 'info' | 'warning' | 'error' | 'critical' | null;
  /** Labels the rules add (`das.policy.label.<name>` on the log record); a later rule's value wins. */
  labels?: Record<string, string>;
}

/**
 * What the audit policy did with one record's events, counted where it ran
 * (plain data, so a worker thread can send it): the metrics sink applies it.
 */
export interface PolicyOutcome {
  /** Events dropped, by the rule that dropped them. */
  dropped: { rule: string; count: number }[];
  /** Events a `tag` or `alert` rule matched, by rule, with the last matching trace id (the exemplar). */
  matched: { rule: string; action: 'tag' | 'alert'; severity: string; count: number; traceId: string | null }[];
  /** Failed logins and privilege changes a drop rule without `force` matched and kept. */
  keptProtected: { rule: string; count: number }[];
}

export interface Enrichment {
  /** SQL for display: MySQL's DAS escaping undone, redacted per --redact; null when there is none or the mode is `all`. */
  queryText: string | null;
  /** Low-cardinality `db.query.summary`, e.g. `SELECT orders`; never holds literals. */
  querySummary: string | null;
  /** `db.operation.name`, e.g. `SELECT`, `CREATE TABLE`. */
  operationName: string | null;
  /** `db.collection.name` when the statement touches exactly one table. */
  collectionName: string | null;
  /** Every table the statement touches, as written (`payments.cards`), when it touches any: what policies match `objects` on. */
  objects?: readonly string[];
  /** A batch's operations, each once, when it has more than one statement: what policies classify a batch by. */
  operations?: readonly string[];
  /** W3C trace context from a sqlcommenter comment or the client application, read before redaction. */
  trace: { traceId: string; spanId: string; traceFlags: number } | null;
  /**
   * Set when redaction could not read the text around a credential with
   * confidence and masked it from the credential keyword to the end (counted
   * in `das_redaction_fail_closed_total`).
   */
  redactionFailedClosed?: true;
}

export interface Heartbeat {
  type: 'heartbeat';
  engine: Engine;
  clusterId: string | null;
  instanceId: string | null;
  logTimeUnixNano: bigint | null;
  logTimeRaw: string | null;
  /** Any other field a heartbeat carried. */
  extra: Record<string, unknown>;
}

/** The decrypted, decoded contents of one Kinesis record. */
export interface DecodedRecord {
  /** Envelope version ("1.0" … "1.4"). */
  version: string;
  clusterId: string | null;
  instanceId: string | null;
  events: ActivityEvent[];
  heartbeats: Heartbeat[];
  /** Set when an audit policy ran on the events (dropped ones are no longer in `events`). */
  policy?: PolicyOutcome;
}
