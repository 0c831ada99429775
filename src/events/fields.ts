/**
 * Lenient readers for the fields of one raw DAS event.
 *
 * Engines disagree on types (`sessionId` a string or a number, `exitCode` a
 * string, a number or null, `remotePort` "49804"), so each reader accepts
 * every documented form and normalises it. A value no reader can make sense
 * of is never fatal and never lost: the field reads as null and the raw value
 * is kept under its own name in `extra`, next to the fields the model does not
 * know. An auditor can always see what the database said.
 */

import { sameKeys } from '../util/same-keys.ts';

export type RawObject = Record<string, unknown>;

export function isRawObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const INTEGER_TEXT = /^-?\d+$/;
const HEX_ID = /^0x[0-9a-f]+$/i;

export class FieldReader {
  readonly #raw: RawObject;
  /** Keys the caller reads, when it says so up front (one shared shape instead of a set per event); else recorded as read. */
  readonly #known: KnownShape | null;
  readonly #read: Set<string> | null;
  #unreadable: RawObject | null = null;

  /** `known`, when given, must list every key this reader will be asked for: `extra()` keeps all the others. */
  constructor(raw: RawObject, known?: KnownShape) {
    this.#raw = raw;
    this.#known = known ?? null;
    this.#read = known === undefined ? new Set<string>() : null;
  }

  // Each reader takes the field's value from the caller when it has it (`raw.logTime`, a
  // property load the engine caches per call site) and looks it up by name otherwise.

  /** A field whose value is fixed (`type`); any other value is kept in `extra`. */
  expect(key: string, expected: string, raw: unknown = this.#raw[key]): void {
    const v = this.#value(key, raw);
    if (v !== undefined && v !== expected) this.#keep(key, v);
  }

  /** A string kept exactly as sent ("" included). */
  text(key: string, raw: unknown = this.#raw[key]): string | null {
    const v = this.#value(key, raw);
    if (v === undefined) return null;
    if (typeof v === 'string') return v;
    return this.#keep(key, v);
  }

  /** A string where "" means absent (`errorMessage`, `clusterId`). */
  textOrNullWhenEmpty(key: string, raw: unknown = this.#raw[key]): string | null {
    const v = this.#value(key, raw);
    if (v === undefined) return null;
    if (typeof v === 'string') return v === '' ? null : v;
    return this.#keep(key, v);
  }

  /** An integer sent as a number or as decimal text; "" is absent (MySQL AUX `exitCode`). */
  integer(key: string, raw: unknown = this.#raw[key]): number | null {
    const v = this.#value(key, raw);
    if (v === undefined) return null;
    if (typeof v === 'number') return Number.isSafeInteger(v) ? v : this.#keep(key, v);
    if (typeof v !== 'string') return this.#keep(key, v);
    if (v === '') return null;
    if (!INTEGER_TEXT.test(v)) return this.#keep(key, v);
    const n = Number(v);
    return Number.isSafeInteger(n) ? n : this.#keep(key, v);
  }

  /** An identifier as a string: numbers in decimal, `0x…` hex in lower case, other text as sent; "" is absent. */
  identifier(key: string, raw: unknown = this.#raw[key]): string | null {
    const v = this.#value(key, raw);
    if (v === undefined) return null;
    if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : this.#keep(key, v);
    if (typeof v !== 'string') return this.#keep(key, v);
    if (v === '') return null;
    return v.charCodeAt(0) === 48 /* 0 */ && HEX_ID.test(v) ? v.toLowerCase() : v;
  }

  /** A list whose elements become strings; null elements stay null. */
  stringList(key: string, raw: unknown = this.#raw[key]): (string | null)[] | null {
    const v = this.#value(key, raw);
    if (v === undefined) return null;
    return Array.isArray(v) ? v.map(elementToString) : this.#keep(key, v);
  }

  /** A JSON object kept as sent (`engineNativeAuditFields`). */
  object(key: string, raw: unknown = this.#raw[key]): RawObject | null {
    const v = this.#value(key, raw);
    if (v === undefined) return null;
    return isRawObject(v) ? v : this.#keep(key, v);
  }

  /** Every field no reader took, plus the raw value of every field a reader could not use. */
  extra(): RawObject {
    const extra: RawObject = {};
    const names = this.#known === null ? unreadNames(Object.keys(this.#raw), this.#read!) : this.#known.unknownNames(Object.keys(this.#raw));
    for (const key of names) setOwn(extra, key, this.#raw[key]);
    if (this.#unreadable !== null) for (const key of Object.keys(this.#unreadable)) setOwn(extra, key, this.#unreadable[key]);
    return extra;
  }

  /** The value, or undefined when absent or null; marks the key as read. */
  #value(key: string, value: unknown): unknown {
    this.#read?.add(key);
    return value === null ? undefined : value;
  }

  /** A raw value no reader could use: kept for `extra`, read as null. */
  #keep(key: string, value: unknown): null {
    (this.#unreadable ??= {})[key] = value;
    return null;
  }
}

function unreadNames(keys: readonly string[], read: ReadonlySet<string>): string[] {
  return keys.filter((key) => !read.has(key));
}

/**
 * The names outside a known set among an object's keys, for objects that
 * mostly come in one shape (every event of an engine lists the same fields
 * in the same order): the answer for the last list of keys is kept, so an
 * event of that shape costs one comparison of names, not a set lookup each.
 * Owned by whoever decodes (a RecordDecoder), not by the module.
 */
export class KnownShape {
  readonly #known: ReadonlySet<string>;
  #keys: readonly string[] = [];
  #unknown: readonly string[] = [];

  constructor(known: ReadonlySet<string>) {
    this.#known = known;
  }

  unknownNames(keys: readonly string[]): readonly string[] {
    if (!sameKeys(keys, this.#keys)) {
      this.#keys = keys;
      this.#unknown = unreadNames(keys, this.#known);
    }
    return this.#unknown;
  }
}

/** Plain assignment would turn a `__proto__` key sent by the database into a prototype change. */
function setOwn(target: RawObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function elementToString(element: unknown): string | null {
  if (element === null || element === undefined) return null;
  if (typeof element === 'string') return element;
  if (typeof element === 'number' || typeof element === 'boolean' || typeof element === 'bigint') return String(element);
  return JSON.stringify(element);
}
