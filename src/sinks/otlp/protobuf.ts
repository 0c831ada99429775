/**
 * OTLP ExportLogsServiceRequest protobuf encoding for das-exporter's log
 * records. It writes exactly what otlp-transformer's ProtobufLogsSerializer
 * writes (test/sinks/otlp-protobuf.test.ts compares the bytes), in one pass:
 * the library's two passes (size estimate, then write) over attribute
 * objects were the largest single cost of the export path in the benchmark.
 * Records come straight from events (`LogRecordMapper.encodeEach`, which
 * writes each record's attributes here as it ranks them, with no attribute
 * lists in between), or mapped (`encodeLogsRequest`, from LogRecordFields:
 * the reference). Either way they are encoded one by one
 * (`LogRecordEncoder`) and put into requests by `assembleLogsRequest`: one
 * path, whichever thread encodes.
 */
import type { AttributeValue, HrTime } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { LogRecordFields } from './mapping.ts';

/** How the encoder reads the items it is given: their resource, and how to write each as a LogRecord. */
export interface RecordWriter<T> {
  resourceOf(item: T): Resource;
  /** Writes `item` as a LogRecord message (its length prefix included), the field tag already written; `resource` is resourceOf(item). */
  write(w: ProtoWriter, item: T, resource: Resource): void;
}

const MAPPED: RecordWriter<LogRecordFields> = {
  resourceOf: (r) => r.resource,
  write: (w, r) => w.logRecord(r),
};

/**
 * An ExportLogsServiceRequest of mapped records (the reference the direct
 * encoder is held to: same bytes as otlp-transformer's serializer), through
 * the one path every request takes: records encoded one by one, then
 * assembled. Every record of das-exporter has the one scope, SCOPE.
 */
export function encodeLogsRequest(records: readonly LogRecordFields[]): Uint8Array {
  if (records.length === 0) return new Uint8Array(0);
  const set = new LogRecordEncoder().encodeEach(records, MAPPED, records[0]!.instrumentationScope);
  return assembleLogsRequest(refsOf(set));
}

/** Every record of a set, in order, as refs for `assembleLogsRequest`. */
export function refsOf(set: EncodedLogRecords): EncodedRef[] {
  return Array.from(set.ends, (_, index) => ({ set, index }));
}

/** Resources with the same attributes and schema are one resource in a request, whichever catalog (or thread) made them. */
export function resourceKey(resource: Resource): string {
  return JSON.stringify([resource.schemaUrl ?? '', Object.entries(resource.attributes)]);
}

/** The `resource` field (1) of a ResourceLogs. */
function writeResource(w: ProtoWriter, resource: Resource): void {
  w.tag(1, 2);
  const res = w.begin();
  w.attributes(1, Object.keys(resource.attributes), Object.values(resource.attributes) as AttributeValue[]);
  w.tag(2, 0);
  w.varint(0);
  w.end(res);
}

/** The `scope` field (1) of a ScopeLogs. */
function writeScope(w: ProtoWriter, scope: InstrumentationScope): void {
  w.tag(1, 2);
  const sc = w.begin();
  w.tag(1, 2);
  w.string(scope.name);
  if (scope.version) {
    w.tag(2, 2);
    w.string(scope.version);
  }
  w.end(sc);
}

/** The `schema_url` field (3) of a ResourceLogs or ScopeLogs, when there is one. */
function writeSchemaUrl(w: ProtoWriter, schemaUrl: string | undefined): void {
  if (!schemaUrl) return;
  w.tag(3, 2);
  w.string(schemaUrl);
}

/**
 * Log records encoded one by one, to be put into requests later, maybe in
 * another thread than the one that encoded them (all fields are
 * structured-cloneable). Each record's bytes are its `log_records` field of a
 * ScopeLogs, tag and length included; every record has the one scope of the
 * request it goes in.
 */
export interface EncodedLogRecords {
  /** The records' fields, one after another. */
  bytes: Uint8Array;
  /** Where each record's bytes end in `bytes` (it starts where the one before ends). */
  ends: Uint32Array;
  /** Per record, its resource: an index into `resources`. */
  resourceOf: Uint16Array;
  /** The distinct resources, each as `key` (equal keys: the same resource) and its encoded fields. */
  resources: EncodedResource[];
  /** The scope field of a ScopeLogs. */
  scope: Uint8Array;
}

export interface EncodedResource {
  key: string;
  /** The `resource` field of a ResourceLogs. */
  head: Uint8Array;
  /** Its `schema_url` field, or nothing. */
  tail: Uint8Array;
}

/**
 * Encodes items as LogRecords one by one, each with its resource (keyed by
 * `resourceKey`) and the one scope; `assembleLogsRequest` puts them together
 * into requests. One encoder is kept by its owner (a LogRecordMapper: one
 * per thread) from one call to the next, with what it learns: its buffer
 * (which grows to the largest set's size), the encoded key fields, and each
 * resource's and scope's encoded fields (every record of a cluster has the
 * same two, and encoding them per record cost three buffers and a JSON key
 * each time). The bytes returned are a copy of exactly their size, owning
 * their ArrayBuffer (ready to transfer).
 */
export class LogRecordEncoder {
  readonly #w = new ProtoWriter(1 << 16);
  readonly #resources = new WeakMap<Resource, EncodedResource>();
  readonly #scopes = new WeakMap<InstrumentationScope, Uint8Array>();

  encodeEach<T>(items: readonly T[], records: RecordWriter<T>, scope: InstrumentationScope): EncodedLogRecords {
    const w = this.#w;
    w.reset();
    const ends = new Uint32Array(items.length);
    const resourceOf = new Uint16Array(items.length);
    const indexOf = new Map<Resource, number>();
    const resources: EncodedResource[] = [];
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const resource = records.resourceOf(item);
      let index = indexOf.get(resource);
      if (index === undefined) {
        if (resources.length === 0xffff) throw new RangeError('more than 65,535 resources in one set of log records');
        index = resources.length;
        indexOf.set(resource, index);
        resources.push(this.#resource(resource));
      }
      resourceOf[i] = index;
      w.tag(2, 2);
      records.write(w, item, resource);
      ends[i] = w.position;
    }
    const bytes = Uint8Array.prototype.slice.call(w.finish()) as Uint8Array;
    return { bytes, ends, resourceOf, resources, scope: this.#scope(scope) };
  }

  #resource(resource: Resource): EncodedResource {
    let encoded = this.#resources.get(resource);
    if (encoded === undefined) {
      encoded = { key: resourceKey(resource), head: encodedWith((rw) => writeResource(rw, resource)), tail: encodedWith((rw) => writeSchemaUrl(rw, resource.schemaUrl)) };
      this.#resources.set(resource, encoded);
    }
    return encoded;
  }

  #scope(scope: InstrumentationScope): Uint8Array {
    let encoded = this.#scopes.get(scope);
    if (encoded === undefined) this.#scopes.set(scope, (encoded = encodedWith((sw) => writeScope(sw, scope))));
    return encoded;
  }
}

function encodedWith(write: (w: ProtoWriter) => void): Uint8Array {
  const w = new ProtoWriter(256);
  write(w);
  return Uint8Array.prototype.slice.call(w.finish());
}

/** One record of an EncodedLogRecords: `set`, and its index there. */
export interface EncodedRef {
  set: EncodedLogRecords;
  index: number;
}

/**
 * An ExportLogsServiceRequest of records encoded apart (`encodeEach`), in
 * the order given: grouped by resource key in the order keys first appear,
 * under the scope of the first record (one scope for all), as
 * otlp-transformer groups them.
 */
export function assembleLogsRequest(refs: readonly EncodedRef[]): Uint8Array {
  const byKey = new Map<string, { resource: EncodedResource; refs: EncodedRef[] }>();
  let size = 64;
  for (const ref of refs) {
    const resource = ref.set.resources[ref.set.resourceOf[ref.index]!]!;
    let group = byKey.get(resource.key);
    if (group === undefined) {
      byKey.set(resource.key, (group = { resource, refs: [] }));
      size += resource.head.length + resource.tail.length + ref.set.scope.length + 16;
    }
    group.refs.push(ref);
    size += recordEnd(ref) - recordStart(ref);
  }
  const w = new ProtoWriter(size);
  for (const { resource, refs: group } of byKey.values()) {
    w.tag(1, 2);
    const resourceLogs = w.begin();
    w.raw(resource.head);
    w.tag(2, 2);
    const scopeLogs = w.begin();
    w.raw(group[0]!.set.scope);
    for (const ref of group) w.raw(ref.set.bytes.subarray(recordStart(ref), recordEnd(ref)));
    w.end(scopeLogs);
    w.raw(resource.tail);
    w.end(resourceLogs);
  }
  return w.finish();
}

const recordStart = (ref: EncodedRef): number => (ref.index === 0 ? 0 : ref.set.ends[ref.index - 1]!);
const recordEnd = (ref: EncodedRef): number => ref.set.ends[ref.index]!;

const TWO_POW_32 = 0x1_0000_0000;

const MAX_KEY_FIELDS = 4096;

export class ProtoWriter {
  #buf: Buffer;
  #pos = 0;
  /** Encoded `key` fields of KeyValue messages (tag, length, UTF-8), per key: the same few dozen names are written on every record of a writer that is kept. */
  readonly #keys = new Map<string, Uint8Array>();

  constructor(capacity: number) {
    this.#buf = Buffer.allocUnsafe(capacity);
  }

  finish(): Uint8Array {
    return this.#buf.subarray(0, this.#pos);
  }

  /** Starts over in the same buffer (what `finish` returned before is overwritten). */
  reset(): void {
    this.#pos = 0;
  }

  #ensure(n: number): void {
    if (this.#pos + n <= this.#buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#pos + n));
    this.#buf.copy(next, 0, 0, this.#pos);
    this.#buf = next;
  }

  /** Field numbers here are all below 16: one byte. */
  tag(field: number, wire: number): void {
    this.#ensure(1);
    this.#buf[this.#pos++] = (field << 3) | wire;
  }

  varint(value: number): void {
    this.#ensure(10);
    if (value >= 0 && value < TWO_POW_32) {
      let v = value >>> 0;
      while (v > 0x7f) {
        this.#buf[this.#pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.#buf[this.#pos++] = v;
      return;
    }
    // Negative or beyond 32 bits: int64 two's complement, as protobuf writes it.
    let v = BigInt.asUintN(64, BigInt(value));
    while (v > 0x7fn) {
      this.#buf[this.#pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.#buf[this.#pos++] = Number(v);
  }

  /**
   * A length-delimited UTF-8 string. Short ASCII text (most attribute values)
   * is copied a character at a time: cheaper than a call into Buffer#write.
   */
  string(text: string): void {
    const length = text.length;
    if (length < 128) {
      this.#ensure(length * 3 + 1);
      const buf = this.#buf;
      let p = this.#pos + 1;
      for (let i = 0; i < length; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) {
          p = -1;
          break;
        }
        buf[p++] = c;
      }
      // Not ASCII: at most 3 bytes per UTF-16 unit, so below 128 bytes the length is one byte.
      const n = p >= 0 ? length : buf.write(text, this.#pos + 1, 'utf8');
      if (n < 128) {
        buf[this.#pos] = n;
        this.#pos += 1 + n;
        return;
      }
    }
    const n = Buffer.byteLength(text, 'utf8');
    this.varint(n);
    this.#ensure(n);
    this.#pos += this.#buf.write(text, this.#pos, 'utf8');
  }

  /** The `key` field (1) of a KeyValue, from the cache of encoded keys when it is there. */
  key(key: string): void {
    let field = this.#keys.get(key);
    if (field === undefined) {
      const start = this.#pos;
      this.tag(1, 2);
      this.string(key);
      if (this.#keys.size < MAX_KEY_FIELDS) this.#keys.set(key, Uint8Array.prototype.slice.call(this.#buf, start, this.#pos));
      return;
    }
    // One native copy: about a third of a byte-by-byte loop's time for these 10-40 bytes.
    this.#ensure(field.length);
    this.#buf.set(field, this.#pos);
    this.#pos += field.length;
  }

  /** Where the next byte goes. */
  get position(): number {
    return this.#pos;
  }

  /** Bytes already encoded, as they are. */
  raw(data: Uint8Array): void {
    this.#ensure(data.length);
    this.#buf.set(data, this.#pos);
    this.#pos += data.length;
  }

  bytes(data: Uint8Array): void {
    this.varint(data.length);
    this.#ensure(data.length);
    this.#buf.set(data, this.#pos);
    this.#pos += data.length;
  }

  fixed64(hrTime: HrTime): void {
    this.#ensure(8);
    // seconds × 1e9 + nanos exceeds 2^53: split the seconds so each product stays exact.
    const [seconds, nanos] = hrTime;
    const low16 = (seconds & 0xffff) * 1e9;
    const high = Math.floor(seconds / 0x10000) * 1e9;
    const lo = (low16 % TWO_POW_32) + (high % 0x10000) * 0x10000 + nanos;
    const hi = Math.floor(low16 / TWO_POW_32) + Math.floor(high / 0x10000) + Math.floor(lo / TWO_POW_32);
    this.#buf.writeUInt32LE(lo % TWO_POW_32, this.#pos);
    this.#buf.writeUInt32LE(hi % TWO_POW_32, this.#pos + 4);
    this.#pos += 8;
  }

  /** Reserves one byte for the length of the message that follows; `end` writes it. */
  begin(): number {
    this.#ensure(1);
    return this.#pos++;
  }

  end(at: number): void {
    const length = this.#pos - at - 1;
    if (length < 0x80) {
      this.#buf[at] = length;
      return;
    }
    let size = 1;
    for (let v = length; v > 0x7f; v >>>= 7) size++;
    this.#ensure(size - 1);
    this.#buf.copyWithin(at + size, at + 1, this.#pos);
    const end = this.#pos + size - 1;
    this.#pos = at;
    this.varint(length);
    this.#pos = end;
  }

  anyValue(value: unknown): void {
    switch (typeof value) {
      case 'string':
        this.tag(1, 2);
        this.string(value);
        return;
      case 'boolean':
        this.tag(2, 0);
        this.varint(value ? 1 : 0);
        return;
      case 'number':
        if (Number.isInteger(value) && value >= -(2 ** 63) && value < 2 ** 63) {
          this.tag(3, 0);
          this.varint(value);
        } else {
          this.tag(4, 1);
          this.#ensure(8);
          this.#buf.writeDoubleLE(value, this.#pos);
          this.#pos += 8;
        }
        return;
      case 'object':
        if (value === null) return;
        if (value instanceof Uint8Array) {
          this.tag(7, 2);
          this.bytes(value);
        } else if (Array.isArray(value)) {
          this.tag(5, 2);
          const array = this.begin();
          for (const item of value) {
            this.tag(1, 2);
            const at = this.begin();
            this.anyValue(item);
            this.end(at);
          }
          this.end(array);
        } else {
          this.tag(6, 2);
          const list = this.begin();
          const object = value as Record<string, unknown>;
          for (const key in object) {
            if (!Object.prototype.hasOwnProperty.call(object, key)) continue;
            this.tag(1, 2);
            this.keyValue(key, object[key]);
          }
          this.end(list);
        }
        return;
      default:
        // undefined and the rest: an empty AnyValue, as the library writes it.
        return;
    }
  }

  /**
   * `tag(field, 2)` then `keyValue(key, text)`, in one pass when the key is
   * one of the cached names and the text short ASCII (most attributes): the
   * three nested lengths are then single bytes known before the text is copied.
   */
  stringAttribute(field: number, key: string, text: string): void {
    const keyField = this.#keys.get(key);
    const n = text.length;
    if (keyField !== undefined && keyField.length + n < 120) {
      this.#ensure(6 + keyField.length + n);
      const buf = this.#buf;
      const start = this.#pos;
      buf[start] = (field << 3) | 2;
      buf.set(keyField, start + 2);
      let p = start + 2 + keyField.length;
      buf[p] = 0x12; // KeyValue.value (2), length-delimited
      buf[p + 1] = n + 2;
      buf[p + 2] = 0x0a; // AnyValue.string_value (1), length-delimited
      buf[p + 3] = n;
      p += 4;
      let ascii = true;
      for (let i = 0; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c > 0x7f) {
          ascii = false;
          break;
        }
        buf[p++] = c;
      }
      if (ascii) {
        buf[start + 1] = p - start - 2;
        this.#pos = p;
        return;
      }
    }
    this.tag(field, 2);
    this.keyValue(key, text);
  }

  keyValue(key: string, value: unknown): void {
    const kv = this.begin();
    this.key(key);
    this.tag(2, 2);
    const at = this.begin();
    this.anyValue(value);
    this.end(at);
    this.end(kv);
  }

  attributes(field: number, keys: readonly string[], values: readonly unknown[]): void {
    for (let i = 0; i < keys.length; i++) {
      this.tag(field, 2);
      this.keyValue(keys[i]!, values[i]);
    }
  }

  /** A mapped LogRecord, its length prefix included. */
  logRecord(r: LogRecordFields): void {
    const at = this.recordStart(r);
    this.attributes(6, r.attributeKeys, r.attributeValues);
    this.recordEnd(at, r, r.droppedAttributesCount);
  }

  /** A LogRecord up to its attributes (time, severity, body); returns the mark `recordEnd` closes. */
  recordStart(r: Pick<LogRecordFields, 'hrTime' | 'severityNumber' | 'severityText' | 'body'>): number {
    const at = this.begin();
    this.tag(1, 1);
    this.fixed64(r.hrTime);
    if (r.severityNumber !== undefined && r.severityNumber !== 0) {
      this.tag(2, 0);
      this.varint(r.severityNumber);
    }
    if (r.severityText) {
      this.tag(3, 2);
      this.string(r.severityText);
    }
    this.tag(5, 2);
    const body = this.begin();
    this.anyValue(r.body);
    this.end(body);
    return at;
  }

  /** The fields of a LogRecord after its attributes (`dropped`: how many a budget dropped); closes the record `recordStart` opened at `at`. */
  recordEnd(at: number, r: Pick<LogRecordFields, 'spanContext' | 'hrTimeObserved' | 'eventName'>, dropped: number): void {
    this.tag(7, 0);
    this.varint(dropped);
    const span = r.spanContext;
    if (span?.traceFlags) {
      this.tag(8, 5);
      this.#ensure(4);
      this.#buf.writeUInt32LE(span.traceFlags >>> 0, this.#pos);
      this.#pos += 4;
    }
    if (span?.traceId) {
      this.tag(9, 2);
      this.bytes(Buffer.from(span.traceId, 'hex'));
    }
    if (span?.spanId) {
      this.tag(10, 2);
      this.bytes(Buffer.from(span.spanId, 'hex'));
    }
    this.tag(11, 1);
    this.fixed64(r.hrTimeObserved);
    if (r.eventName) {
      this.tag(12, 2);
      this.string(r.eventName);
    }
    this.end(at);
  }
}
