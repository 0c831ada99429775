/**
 * From the gunzipped inner JSON of one DAS record to typed events.
 *
 * The record is `{"type":"DatabaseActivityMonitoringRecord", clusterId,
 * instanceId, databaseActivityEventList: [...]}`. Only a record that cannot be
 * read at all is an error (a DasError, permanent): text that is not JSON, a
 * JSON value that is not such a record, or a list entry that is not an object.
 * Inside an event nothing is fatal: fields are read leniently (fields.ts), the
 * engine is recognised (engine.ts), success and login are judged once
 * (outcome.ts), and MySQL MAIN/AUX halves are linked (mysql-statements.ts).
 * Heartbeats are split off. Every entry keeps its list index in its id, so a
 * replay of the same Kinesis record yields the same event ids.
 */
import { DasError } from '../errors.ts';
import { engineFromFields, engineFromVersion } from './engine.ts';
import { FieldReader, isRawObject, KnownShape, type RawObject } from './fields.ts';
import type { ActivityEvent, DecodedRecord, Engine, EventPosition, Heartbeat } from './model.ts';
import { linkAuxEvents, mysqlStatementKey } from './mysql-statements.ts';
import { judgeOutcome } from './outcome.ts';
import { parseRecordJson } from './record-json.ts';
import { parseDasTimestamp, RecentSeconds } from './time.ts';

export interface RecordPosition {
  stream: string;
  shardId: string;
  sequenceNumber: string;
}

export interface DecodeOptions {
  /** Envelope version ("1.0" … "1.4"). */
  version: string;
  /** Where the Kinesis record sits; without it event ids are `local/<index>`. */
  position?: RecordPosition;
}

const RECORD_TYPE = 'DatabaseActivityMonitoringRecord';

/** Every key `decodeEvent` reads: one shared set, so a reader need not record them per event. */
const EVENT_FIELDS: ReadonlySet<string> = new Set([
  'type', 'logTime', 'startTime', 'endTime', 'sessionId', 'statementId', 'command', 'exitCode', 'errorMessage', 'class',
  'commandText', 'paramList', 'databaseName', 'dbUserName', 'objectType', 'objectName', 'remoteHost', 'remotePort',
  'serverHost', 'clientApplication', 'pid', 'substatementId', 'transactionId', 'rowCount', 'serverType', 'serverVersion',
  'serviceName', 'dbProtocol', 'netProtocol', 'engineNativeAuditFields',
]);
const HEARTBEAT_FIELDS: ReadonlySet<string> = new Set(['type', 'logTime']);

const MAX_ENGINE_HINTS = 256;

/**
 * Decodes records, keeping what it learns for the next one: the engine of
 * each triple of hints (they repeat on every event of an instance, so the
 * patterns run once per distinct triple) and the last shape of an event's
 * keys. A processor owns one (each thread has its own); nothing is kept by
 * the module.
 */
export class RecordDecoder {
  readonly #engineByHints = new Map<string, Engine>();
  readonly #eventShape = new KnownShape(EVENT_FIELDS);
  readonly #heartbeatShape = new KnownShape(HEARTBEAT_FIELDS);
  readonly recentSeconds = new RecentSeconds();

  decode(json: Uint8Array | string, opts: DecodeOptions): DecodedRecord {
    return decodeWith(this, json, opts);
  }

  engineOf(entry: RawObject): Engine {
    const { serverType, dbProtocol, serviceName } = entry;
    if (typeof serverType !== 'string' && typeof dbProtocol !== 'string' && typeof serviceName !== 'string') return 'unknown';
    const key = `${typeof serverType === 'string' ? serverType : ''}\u0000${typeof dbProtocol === 'string' ? dbProtocol : ''}\u0000${typeof serviceName === 'string' ? serviceName : ''}`;
    const hints = this.#engineByHints;
    let engine = hints.get(key);
    if (engine === undefined) {
      engine = engineFromFields(entry);
      if (hints.size >= MAX_ENGINE_HINTS) hints.clear();
      hints.set(key, engine);
    }
    return engine;
  }

  eventReader(raw: RawObject): FieldReader {
    return new FieldReader(raw, this.#eventShape);
  }

  heartbeatReader(raw: RawObject): FieldReader {
    return new FieldReader(raw, this.#heartbeatShape);
  }
}

/** One record decoded by a decoder of its own (nothing learned is kept): for callers outside the pipeline. */
export function decodeRecord(json: Uint8Array | string, opts: DecodeOptions): DecodedRecord {
  return decodeWith(new RecordDecoder(), json, opts);
}

function decodeWith(decoder: RecordDecoder, json: Uint8Array | string, opts: DecodeOptions): DecodedRecord {
  const record = parseRecord(json);
  const clusterId = typeof record.clusterId === 'string' && record.clusterId !== '' ? record.clusterId : null;
  const instanceId = typeof record.instanceId === 'string' && record.instanceId !== '' ? record.instanceId : null;
  const list = record.databaseActivityEventList as unknown[];

  const entries = list.map((entry, index) => {
    if (!isRawObject(entry)) {
      throw new DasError('invalid_event', `databaseActivityEventList[${index}] is ${describeJson(entry)}, not an object`);
    }
    if (nestsTooDeep(entry)) {
      throw new DasError('invalid_event', `databaseActivityEventList[${index}] nests values deeper than ${MAX_VALUE_DEPTH} levels`);
    }
    return { raw: entry, index, ownEngine: decoder.engineOf(entry) };
  });

  // Every entry of a record comes from one instance, so an entry that does not
  // name its engine (a heartbeat, a sparse event) takes the record's.
  const recordEngine =
    entries.find((e) => e.ownEngine !== 'unknown')?.ownEngine ?? engineFromVersion(opts.version);

  const context: EventContext = { clusterId, instanceId, position: opts.position ?? null, recent: decoder.recentSeconds };
  const events: ActivityEvent[] = [];
  const heartbeats: Heartbeat[] = [];
  for (const { raw, index, ownEngine } of entries) {
    const engine = ownEngine === 'unknown' ? recordEngine : ownEngine;
    if (raw.type === 'heartbeat') heartbeats.push(decodeHeartbeat(decoder.heartbeatReader(raw), engine, context));
    else events.push(decodeEvent(raw, decoder.eventReader(raw), index, engine, context));
  }
  linkAuxEvents(events);
  return { version: opts.version, clusterId, instanceId, events, heartbeats };
}

interface EventContext {
  recent: RecentSeconds;
  clusterId: string | null;
  instanceId: string | null;
  position: RecordPosition | null;
}

function parseRecord(json: Uint8Array | string): RawObject {
  let value: unknown;
  try {
    value = typeof json === 'string' ? JSON.parse(json) : parseRecordJson(json);
  } catch (cause) {
    throw new DasError('invalid_event_json', 'decrypted record is not UTF-8 JSON', { cause });
  }
  if (!isRawObject(value)) {
    throw new DasError('not_das_record', `decrypted record is ${describeJson(value)}, not a ${RECORD_TYPE} object`);
  }
  if (value.type !== RECORD_TYPE) {
    throw new DasError('not_das_record', `decrypted record has type ${JSON.stringify(value.type) ?? 'undefined'}, expected ${RECORD_TYPE}`);
  }
  if (!Array.isArray(value.databaseActivityEventList)) {
    throw new DasError('not_das_record', 'decrypted record has no databaseActivityEventList array');
  }
  return value;
}

function decodeEvent(raw: RawObject, f: FieldReader, index: number, engine: Engine, context: EventContext): ActivityEvent {
  // Oracle's documented events carry no `type`; any value but "heartbeat" is activity.
  f.expect('type', 'record', raw.type);

  // Each field read as `raw.<name>`: one cached property load per call site, not a lookup by name.
  const logTimeRaw = f.text('logTime', raw.logTime);
  const startTimeRaw = f.text('startTime', raw.startTime);
  const endTimeRaw = f.text('endTime', raw.endTime);
  const sessionId = f.identifier('sessionId', raw.sessionId);
  const statementId = f.identifier('statementId', raw.statementId);
  const command = f.text('command', raw.command);
  const exitCode = f.integer('exitCode', raw.exitCode);
  const errorMessage = f.textOrNullWhenEmpty('errorMessage', raw.errorMessage);
  const at = context.position;
  const position: EventPosition | null = at === null ? null : { stream: at.stream, shardId: at.shardId, sequenceNumber: at.sequenceNumber, index };

  const event: ActivityEvent = {
    type: 'record',
    engine,
    clusterId: context.clusterId,
    instanceId: context.instanceId,
    class: f.text('class', raw.class),
    command,
    commandText: f.text('commandText', raw.commandText),
    paramList: f.stringList('paramList', raw.paramList),
    databaseName: f.text('databaseName', raw.databaseName),
    dbUserName: f.text('dbUserName', raw.dbUserName),
    objectType: f.text('objectType', raw.objectType),
    objectName: f.text('objectName', raw.objectName),
    remoteHost: f.text('remoteHost', raw.remoteHost),
    remotePort: f.integer('remotePort', raw.remotePort),
    serverHost: f.text('serverHost', raw.serverHost),
    clientApplication: f.text('clientApplication', raw.clientApplication),
    pid: f.integer('pid', raw.pid),
    sessionId,
    statementId,
    substatementId: f.integer('substatementId', raw.substatementId),
    transactionId: f.identifier('transactionId', raw.transactionId),
    logTimeUnixNano: parseTime(logTimeRaw, context.recent),
    startTimeUnixNano: parseTime(startTimeRaw, context.recent),
    endTimeUnixNano: parseTime(endTimeRaw, context.recent),
    logTimeRaw,
    startTimeRaw,
    endTimeRaw,
    exitCode,
    errorMessage,
    rowCount: f.integer('rowCount', raw.rowCount),
    serverType: f.text('serverType', raw.serverType),
    serverVersion: f.text('serverVersion', raw.serverVersion),
    serviceName: f.text('serviceName', raw.serviceName),
    dbProtocol: f.text('dbProtocol', raw.dbProtocol),
    netProtocol: f.text('netProtocol', raw.netProtocol),
    engineNativeAuditFields: f.object('engineNativeAuditFields', raw.engineNativeAuditFields),
    extra: {},
    ...judgeOutcome({ engine, command, exitCode, errorMessage }),
    statementKey: engine === 'mysql' ? mysqlStatementKey(context.instanceId, sessionId, statementId) : null,
    auxObjects: null,
    position,
    eventId: at === null ? `local/${index}` : `${at.stream}/${at.shardId}/${at.sequenceNumber}/${index}`,
  };
  event.extra = f.extra();
  return event;
}

function decodeHeartbeat(f: FieldReader, engine: Engine, context: EventContext): Heartbeat {
  f.expect('type', 'heartbeat');
  const logTimeRaw = f.text('logTime');
  return {
    type: 'heartbeat',
    engine,
    clusterId: context.clusterId,
    instanceId: context.instanceId,
    logTimeUnixNano: parseTime(logTimeRaw, context.recent),
    logTimeRaw,
    extra: f.extra(),
  };
}

function parseTime(raw: string | null, recent: RecentSeconds): bigint | null {
  return raw === null ? null : parseDasTimestamp(raw, recent);
}

/**
 * How deep a value inside an event may nest. DAS values are at most two deep;
 * a much deeper one would make every sink's JSON.stringify (recursive) throw
 * a RangeError, which a sink reports as an outage: the shard would retry the
 * same batch forever. Such an entry makes the record a dead letter instead.
 */
export const MAX_VALUE_DEPTH = 64;

/** Walks only the containers an entry holds (a scalar field costs one typeof), without recursion. */
function nestsTooDeep(entry: RawObject): boolean {
  const stack: { value: object; depth: number }[] = [];
  pushContainers(stack, entry, 2);
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (depth > MAX_VALUE_DEPTH) return true;
    pushContainers(stack, value, depth + 1);
  }
  return false;
}

function pushContainers(stack: { value: object; depth: number }[], container: object, depth: number): void {
  for (const key in container) {
    const v = (container as Record<string, unknown>)[key];
    if (typeof v === 'object' && v !== null) stack.push({ value: v, depth });
  }
}

function describeJson(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return `a ${typeof value}`;
}
