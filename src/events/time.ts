/**
 * DAS timestamps as exact epoch nanoseconds.
 *
 * Engines write times differently: PostgreSQL and MySQL
 * `2019-10-30 00:39:49.940668+00`, SQL Server seven fractional digits, Oracle
 * no zone at all (the column is `EVENT_TIMESTAMP_UTC`, so UTC). One parser
 * accepts all of them, plus ISO `T`, `Z`, `+0000` and `+00:00`, with 0–9
 * fractional digits. Arithmetic is done in integers: a float would round
 * SQL Server's 100 ns ticks. Anything else is null, never an exception; the
 * caller keeps the raw text.
 *
 * Every event carries two or three of these, and the events of a record fall
 * in the same few seconds: the form all engines write in UTC
 * (`YYYY-MM-DD HH:MM:SS[.fraction][+00]`) is read here by character, with
 * the whole seconds of the last such text remembered, and only other forms
 * go through the general pattern.
 */

const TIMESTAMP =
  /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

const SECONDS_PER_DAY = 86_400;
const NANOS_PER_SECOND = 1_000_000_000n;

/** Epoch nanoseconds (UTC) of a DAS timestamp, or null when the text is not one. */
export function parseDasTimestamp(text: string, recent: RecentSeconds = new RecentSeconds()): bigint | null {
  return parseUtcForm(text, recent) ?? parseAnyForm(text);
}

const RECENT_SECONDS = 4;

/**
 * The last few UTC texts' first 19 characters (date and time to the second)
 * and their epoch nanoseconds: an event's log, start and end times, and the
 * events of a record, mostly fall in a handful of seconds. Owned by a
 * decoder (each thread has its own), not by the module.
 */
export class RecentSeconds {
  readonly seconds: { text: string; nanos: bigint }[] = [];
  #next = 0;

  nanosOf(text: string): bigint | undefined {
    const seconds = this.seconds;
    for (let i = 0; i < seconds.length; i++) if (text.startsWith(seconds[i]!.text)) return seconds[i]!.nanos;
    return undefined;
  }

  keep(text: string, nanos: bigint): void {
    this.seconds[this.#next] = { text, nanos };
    this.#next = (this.#next + 1) % RECENT_SECONDS;
  }
}
const FRACTION_SCALE = [1e9, 1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 100, 10, 1];

/**
 * The common UTC form, or undefined for anything else (the general parser
 * then decides, null included): 19 characters of date and time, maybe a dot
 * and 1–9 digits, then `+00`, `Z` or nothing.
 */
function parseUtcForm(text: string, recent: RecentSeconds): bigint | undefined {
  const length = text.length;
  if (length < 19 || text.charCodeAt(10) !== 0x20) return undefined;
  let end = length;
  if (text.charCodeAt(length - 3) === 0x2b && text.charCodeAt(length - 2) === 0x30 && text.charCodeAt(length - 1) === 0x30) end -= 3;
  else if (text.charCodeAt(length - 1) === 0x5a) end -= 1;
  let fraction = 0;
  if (end !== 19) {
    const digits = end - 20;
    if (digits < 1 || digits > 9 || text.charCodeAt(19) !== 0x2e) return undefined;
    for (let i = 20; i < end; i++) {
      const d = text.charCodeAt(i) - 0x30;
      if (d < 0 || d > 9) return undefined;
      fraction = fraction * 10 + d;
    }
    fraction *= FRACTION_SCALE[digits]!;
  }
  const known = recent.nanosOf(text);
  if (known !== undefined) return known + BigInt(fraction);
  // A second not seen lately: the general parser checks the date and time fields.
  const head = text.slice(0, 19);
  const nanos = parseAnyForm(head);
  if (nanos === null) return undefined;
  recent.keep(head, nanos);
  return nanos + BigInt(fraction);
}

function parseAnyForm(text: string): bigint | null {
  const m = TIMESTAMP.exec(text);
  if (m === null) return null;
  const [, y, mo, d, h, mi, s, fraction = '', zone = ''] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return null;
  if (hour > 23 || minute > 59 || second > 59) return null;
  const offset = zoneOffsetSeconds(zone);
  if (offset === null) return null;

  const seconds = daysFromCivil(year, month, day) * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second - offset;
  return BigInt(seconds) * NANOS_PER_SECOND + BigInt(fraction.padEnd(9, '0'));
}

/** Seconds east of UTC; '' (Oracle) and Z are UTC. */
function zoneOffsetSeconds(zone: string): number | null {
  if (zone === '' || zone === 'Z' || zone === 'z') return 0;
  const sign = zone[0] === '-' ? -1 : 1;
  const digits = zone.slice(1).replace(':', '');
  const hours = Number(digits.slice(0, 2));
  const minutes = digits.length > 2 ? Number(digits.slice(2)) : 0;
  if (hours > 23 || minutes > 59) return null;
  return sign * (hours * 3600 + minutes * 60);
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return isLeapYear(year) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}
