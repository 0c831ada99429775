/**
 * Loki's budget for one log record, apart from what the record says
 * (mapping.ts, the semantic conventions): Loki 3's default limits, what of
 * them every record spends before its attributes, and the one decision of
 * which attributes a record keeps. The mapping offers its attributes most
 * important first; `AttributeBudget.admit` answers with the value to keep
 * (capped) or null, and counts what it drops. Whatever then holds the kept
 * attributes (the budget's own lists for OTLP/JSON and stdout, a protobuf
 * record being written for OTLP/protobuf) asks the same budget, so the two
 * outputs cannot disagree about what a record keeps.
 */
import type { AttributeValue } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';

/** Loki 3 defaults (limits_config). */
export const LOKI_MAX_LINE_BYTES = 256 * 1024;
export const LOKI_MAX_STRUCTURED_METADATA_ENTRIES = 128;
export const LOKI_MAX_STRUCTURED_METADATA_BYTES = 64 * 1024;

/** The attribute that says how many a budget dropped (in the one entry it holds back for it). */
export const DROPPED_ATTRIBUTES = 'aws.rds.das.dropped_attributes';

/**
 * Resource attributes Loki 3 makes index labels by default
 * (distributor.otlp.default_resource_attributes_as_index_labels); the others
 * cost a structured-metadata entry on every record.
 */
const LOKI_INDEXED_RESOURCE_ATTRIBUTES = new Set([
  'service.name', 'service.namespace', 'service.instance.id', 'deployment.environment', 'deployment.environment.name',
  'cloud.region', 'cloud.availability_zone', 'k8s.cluster.name', 'k8s.namespace.name', 'k8s.pod.name',
  'k8s.container.name', 'container.name', 'k8s.replicaset.name', 'k8s.deployment.name', 'k8s.statefulset.name',
  'k8s.daemonset.name', 'k8s.cronjob.name', 'k8s.job.name',
]);

export interface MappingLimits {
  /** Log line cap in UTF-8 bytes (default 256 KiB). */
  maxBodyBytes: number;
  /** Structured-metadata entries per record, Loki's extras included (default 128). */
  maxEntries: number;
  /** Structured-metadata bytes (names + values) per record (default 64 KiB minus a margin). */
  maxEntryBytes: number;
  /** Cap on one attribute's string value in UTF-8 bytes (default 4 KiB); the body holds the full SQL. */
  maxValueBytes: number;
}

export const DEFAULT_LIMITS: MappingLimits = Object.freeze({
  maxBodyBytes: LOKI_MAX_LINE_BYTES,
  maxEntries: LOKI_MAX_STRUCTURED_METADATA_ENTRIES,
  maxEntryBytes: LOKI_MAX_STRUCTURED_METADATA_BYTES - 1024,
  maxValueBytes: 4096,
});

/**
 * The budget of each record under `limits`, knowing what its resource costs
 * (computed once per resource and kept: one per mapper, so one per thread).
 */
export class LokiBudgets {
  readonly #limits: MappingLimits;
  readonly #resourceCosts = new WeakMap<Resource, { entries: number; bytes: number }>();
  /** The one budget `reusedFor` hands out, record after record. */
  #reused: AttributeBudget | undefined;

  constructor(limits: MappingLimits) {
    this.#limits = limits;
  }

  /** A fresh budget for a record of `resource`; `trace`: whether it carries trace context, and flags. */
  budgetFor(resource: Resource, trace: { traceFlags?: number } | null): AttributeBudget {
    return this.#fitted(new AttributeBudget(this.#limits.maxValueBytes), resource, trace);
  }

  /**
   * `budgetFor`, as the same object every time, started over: for a writer
   * that is done with a record's budget before it asks for the next one
   * (the protobuf writer). Its lists were a third of the allocations of
   * writing a log record.
   */
  reusedFor(resource: Resource, trace: { traceFlags?: number } | null): AttributeBudget {
    return this.#fitted((this.#reused ??= new AttributeBudget(this.#limits.maxValueBytes)), resource, trace);
  }

  /** `budget` started over with the entries and bytes a record of `resource` has left for its attributes. */
  #fitted(budget: AttributeBudget, resource: Resource, trace: { traceFlags?: number } | null): AttributeBudget {
    // Entries Loki adds to every record besides its attributes: non-indexed resource
    // attributes, scope_name/scope_version, severity_number/severity_text,
    // detected_level, observed_timestamp, trace_id/span_id/flags, dropped_attributes_count.
    const extras = this.#resourceCost(resource);
    const fixedEntries = extras.entries + 2 + 3 + 1 + 1 + (trace ? 2 + (trace.traceFlags ? 1 : 0) : 0);
    const fixedBytes = extras.bytes + 200;
    budget.restart(this.#limits.maxEntries - fixedEntries, this.#limits.maxEntryBytes - fixedBytes);
    return budget;
  }

  /** Structured-metadata entries and bytes a resource costs every record. */
  #resourceCost(resource: Resource): { entries: number; bytes: number } {
    let cost = this.#resourceCosts.get(resource);
    if (cost === undefined) {
      const extras = Object.entries(resource.attributes).filter(([k]) => !LOKI_INDEXED_RESOURCE_ATTRIBUTES.has(k));
      cost = { entries: extras.length, bytes: extras.reduce((n, [k, v]) => n + k.length + String(v).length, 0) };
      this.#resourceCosts.set(resource, cost);
    }
    return cost;
  }
}

/**
 * Keeps offered attributes in order while they fit; one slot is held back for
 * the dropped count. Byte sizes are counted exactly only once the record gets
 * near its budget: until then an upper bound (3 bytes per UTF-16 unit) proves
 * that everything fits, which is the same answer for less work.
 */
export class AttributeBudget {
  dropped = 0;
  /** The kept attributes, in the order offered: the first `#entries` of each list (a restarted budget writes over its lists). */
  readonly #keys: string[] = [];
  readonly #values: AttributeValue[] = [];
  readonly #maxValueBytes: number;
  #maxEntries = 0;
  #maxBytes = 0;
  #entries = 0;
  #bytes = 0;
  #exact = false;

  /** Empty and with no room until `restart` says how much (LokiBudgets does). */
  constructor(maxValueBytes: number) {
    this.#maxValueBytes = maxValueBytes;
  }

  /**
   * The kept attributes' names, in the order offered. A fresh budget's own
   * list (the caller may keep and extend it); a restarted one's is
   * overwritten by its next record, so only a fresh budget's lists are read.
   */
  get keys(): string[] {
    return this.#keys.length === this.#entries ? this.#keys : this.#keys.slice(0, this.#entries);
  }

  /** The kept attributes' values, in the order offered (as `keys`: a fresh budget's own list). */
  get values(): AttributeValue[] {
    return this.#values.length === this.#entries ? this.#values : this.#values.slice(0, this.#entries);
  }

  /** Empty, for a record with this room: a new budget's first, or a reused one's next (LokiBudgets). */
  restart(maxEntries: number, maxBytes: number): void {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
    this.#entries = 0;
    this.#bytes = 0;
    this.#exact = false;
    this.dropped = 0;
  }

  /** The value to keep for `key` (a long string capped), or null: empty, or over budget (counted as dropped). */
  admit(key: string, raw: AttributeValue | null | undefined): AttributeValue | null {
    if (raw === null || raw === undefined || raw === '') return null;
    const value = typeof raw === 'string' ? capValue(raw, this.#maxValueBytes) : raw;
    if (this.#entries + 1 + RESERVED_ENTRIES > this.#maxEntries) {
      this.dropped++;
      return null;
    }
    if (!this.#exact) {
      const upper = upperBytes(key, value);
      if (this.#bytes + upper <= this.#maxBytes) return this.#keep(key, value, upper);
      // Near the budget: from here on, exact sizes.
      this.#exact = true;
      this.#bytes = 0;
      for (let i = 0; i < this.#entries; i++) this.#bytes += Buffer.byteLength(this.#keys[i]!, 'utf8') + valueBytes(this.#values[i]!);
    }
    // Loki counts UTF-8 bytes; an unknown field's name (`aws.rds.das.extra.<key>`) can be any text.
    const size = Buffer.byteLength(key, 'utf8') + valueBytes(value);
    if (this.#bytes + size <= this.#maxBytes) return this.#keep(key, value, size);
    this.dropped++;
    return null;
  }

  /** `admit`, for a mapping that offers its attributes to the budget's own lists. */
  add(key: string, raw: AttributeValue | null | undefined): void {
    this.admit(key, raw);
  }

  #keep(key: string, value: AttributeValue, size: number): AttributeValue {
    const at = this.#entries++;
    if (at < this.#keys.length) {
      this.#keys[at] = key;
      this.#values[at] = value;
    } else {
      this.#keys.push(key);
      this.#values.push(value);
    }
    this.#bytes += size;
    return value;
  }
}

/** The slot AttributeBudget holds back for DROPPED_ATTRIBUTES. */
const RESERVED_ENTRIES = 1;

/** A string value within `maxBytes` UTF-8 bytes: cut at a character boundary, a marker appended. */
export function capValue(value: string, maxBytes: number): string {
  if (value.length * 3 <= maxBytes || Buffer.byteLength(value, 'utf8') <= maxBytes) return value;
  const marker = '…[truncated]';
  return truncateUtf8(value, maxBytes - Buffer.byteLength(marker, 'utf8')) + marker;
}

/** The longest prefix of `text` within `maxBytes` UTF-8 bytes, never splitting a character. */
export function truncateUtf8(text: string, maxBytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= maxBytes) return text;
  let end = Math.max(0, maxBytes);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** At least the UTF-8 size of an attribute, cheaply: 3 bytes per UTF-16 unit of text. */
function upperBytes(key: string, value: AttributeValue): number {
  return key.length * 3 + (typeof value === 'string' ? value.length * 3 : valueBytes(value));
}

function valueBytes(value: AttributeValue): number {
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (Array.isArray(value)) return Buffer.byteLength(JSON.stringify(value), 'utf8');
  return String(value).length;
}
