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

export type RawObject = Record<string, unknown>;

export function isRawObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const INTEGER_TEXT = /^-?\d+$/;
const HEX_ID = /^0x[0-9a-f]+$/i;

export class FieldReader {
  readonly #raw: RawObject;
  readonly #read = new Set<string>();
  readonly #unreadable: RawObject = {};

  constructor(raw: RawObject) {
    this.#raw = raw;
  }

  /** A field whose value is fixed (`type`); any other value is kept in `extra`. */
  expect(key: string, expected: string): void {
    this.#take(key, (v) => (v === expected ? v : undefined));
  }

  /** A string kept exactly as sent ("" included). */
  text(key: string): string | null {
    return this.#take(key, (v) => (typeof v === 'string' ? v : undefined));
  }

  /** A string where "" means absent (`errorMessage`, `clusterId`). */
  textOrNullWhenEmpty(key: string): string | null {
    return this.#take(key, (v) => (typeof v === 'string' ? (v === '' ? null : v) : undefined));
  }

  /** An integer sent as a number or as decimal text; "" is absent (MySQL AUX `exitCode`). */
  integer(key: string): number | null {
    return this.#take(key, (v) => {
      if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
      if (typeof v !== 'string') return undefined;
      if (v === '') return null;
      if (!INTEGER_TEXT.test(v)) return undefined;
      const n = Number(v);
      return Number.isSafeInteger(n) ? n : undefined;
    });
  }

  /** An identifier as a string: numbers in decimal, `0x…` hex in lower case, other text as sent; "" is absent. */
  identifier(key: string): string | null {
    return this.#take(key, (v) => {
      if (typeof v === 'number') return Number.isSafeInteger(v) ? String(v) : undefined;
      if (typeof v !== 'string') return undefined;
      if (v === '') return null;
      return HEX_ID.test(v) ? v.toLowerCase() : v;
    });
  }

  /** A list whose elements become strings; null elements stay null. */
  stringList(key: string): (string | null)[] | null {
    return this.#take(key, (v) => (Array.isArray(v) ? v.map(elementToString) : undefined));
  }

  /** A JSON object kept as sent (`engineNativeAuditFields`). */
  object(key: string): RawObject | null {
    return this.#take(key, (v) => (isRawObject(v) ? v : undefined));
  }

  /** Every field no reader took, plus the raw value of every field a reader could not use. */
  extra(): RawObject {
    const extra: RawObject = {};
    for (const [key, value] of Object.entries(this.#raw)) {
      if (!this.#read.has(key)) setOwn(extra, key, value);
    }
    for (const [key, value] of Object.entries(this.#unreadable)) setOwn(extra, key, value);
    return extra;
  }

  /** `parse` returns the normalised value, or undefined when the raw value is unusable. */
  #take<T>(key: string, parse: (value: unknown) => T | null | undefined): T | null {
    this.#read.add(key);
    const value = this.#raw[key];
    if (value === undefined || value === null) return null;
    const parsed = parse(value);
    if (parsed === undefined) {
      this.#unreadable[key] = value;
      return null;
    }
    return parsed;
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
