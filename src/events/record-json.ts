/**
 * A decompressed DAS record's JSON, parsed without making it one string.
 *
 * A record of a few hundred events is a few hundred kilobytes of JSON. As
 * one string it is too large for V8's young generation (objects above
 * 128 KiB go to a large-object space), and making it cost about a
 * millisecond for 230 KB against 8 µs for 56 KB: measured on this machine,
 * where `TextDecoder.decode` was 9.4 % of `das-exporter run`'s CPU while
 * draining a backlog (the string, not the UTF-8 validation: `isAscii` of
 * the same bytes takes 2 µs). So a large record's event list is cut into
 * its entries here, on the bytes, and each entry is decoded and parsed on
 * its own, as the small strings the young generation handles well.
 *
 * The result is what `JSON.parse` of the whole text gives, or the whole text
 * is parsed: the cut is used only when the record's object, with the list
 * emptied, and every entry parse on their own, the list's key appears once
 * at the top level (unescaped), no key of the record is written twice in
 * any spelling, and the list's brackets match. Anything else (invalid JSON,
 * an escaped list key, a duplicate key, a byte-order mark anywhere but at
 * the start) takes the whole-text path, which throws what it always threw.
 */

const utf8 = new TextDecoder('utf-8', { fatal: true });
/** For every piece but the first: a byte-order mark there is mid-text, which JSON.parse of the whole refuses (the default decoder would drop it). */
const utf8Inside = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Records up to this size are parsed whole: below V8's large-object threshold, one string is the cheaper way. */
export const SPLIT_ABOVE_BYTES = 64 * 1024;

const LIST_KEY = Buffer.from('"databaseActivityEventList"', 'latin1');

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** `JSON.parse` of the UTF-8 text `bytes`, throwing as it (or the fatal TextDecoder) would. */
export function parseRecordJson(bytes: Uint8Array): unknown {
  if (bytes.length > SPLIT_ABOVE_BYTES) {
    const cut = cutEventList(bytes);
    if (cut !== null) {
      const parsed = parseCut(bytes, cut);
      if (parsed !== undefined) return parsed;
    }
  }
  return JSON.parse(utf8.decode(bytes));
}

/** Where a record's event list lies in its bytes: `[open, close]` are its brackets, `ends` where each entry ends (at its comma or the close). */
export interface EventListCut {
  open: number;
  close: number;
  /** The record's own keys, however spelled (a key written with escapes is a duplicate the parse merges). */
  keys: number;
  /** Each entry spans from the byte after the previous end (or `open`) to its end. */
  ends: number[];
}

/**
 * Finds the top-level `"databaseActivityEventList": [ … ]` of a record and
 * the commas between its entries, tracking strings (and their escapes) and
 * nesting; null when the key is not there once, unescaped, with an array
 * value whose brackets match, or when the text is not one object.
 */
export function cutEventList(bytes: Uint8Array): EventListCut | null {
  const n = bytes.length;
  let depth = 0;
  let cut: EventListCut | null = null;
  let keys = 0;
  /** Inside the list: its depth (the list's own entries sit at listDepth + 1). */
  let listDepth = -1;
  for (let i = 0; i < n; i++) {
    const c = bytes[i]!;
    if (c === QUOTE) {
      const start = i;
      i = stringEnd(bytes, i);
      if (i < 0) return null;
      if (depth !== 1) continue;
      // A string of the record itself followed by a colon is one of its keys; the list's must come once.
      const colon = skipSpace(bytes, i + 1);
      if (colon < 0 || bytes[colon] !== COLON) continue;
      keys++;
      if (i - start + 1 !== LIST_KEY.length || !matches(bytes, start, LIST_KEY)) continue;
      if (cut !== null) return null;
      const open = skipSpace(bytes, colon + 1);
      if (open < 0 || bytes[open] !== OPEN_BRACKET) return null;
      cut = { open, close: -1, keys: 0, ends: [] };
      listDepth = 1;
      depth = 2;
      i = open;
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth < 0) return null;
      if (listDepth >= 0 && depth === listDepth) {
        if (c !== CLOSE_BRACKET) return null;
        cut!.close = i;
        // `[ ]` has no entry; anything else has one more than it has commas (an empty one fails to parse).
        if (cut!.ends.length > 0 || !isSpace(bytes, cut!.open + 1, i)) cut!.ends.push(i);
        listDepth = -1;
      }
    } else if (c === COMMA && listDepth >= 0 && depth === listDepth + 1) cut!.ends.push(i);
  }
  if (depth !== 0 || cut === null || cut.close < 0) return null;
  cut.keys = keys;
  return cut;
}

/** The record parsed from its cut, or undefined when a piece does not parse on its own (the whole text then decides). */
function parseCut(bytes: Uint8Array, cut: EventListCut): unknown {
  try {
    const head = utf8.decode(bytes.subarray(0, cut.open + 1)) + utf8Inside.decode(bytes.subarray(cut.close));
    const record: unknown = JSON.parse(head);
    if (typeof record !== 'object' || record === null || Array.isArray(record)) return undefined;
    // Fewer keys than written: a duplicate, maybe of the list's key spelled with escapes, which the whole text would resolve.
    if (Object.keys(record).length !== cut.keys) return undefined;
    const list = (record as Record<string, unknown>)['databaseActivityEventList'];
    if (!Array.isArray(list) || list.length !== 0) return undefined;
    let from = cut.open + 1;
    for (const end of cut.ends) {
      list.push(JSON.parse(utf8Inside.decode(bytes.subarray(from, end))));
      from = end + 1;
    }
    return record;
  } catch {
    return undefined;
  }
}

/** The index of the quote that closes the string opened at `open`, or -1 when it is not closed. */
function stringEnd(bytes: Uint8Array, open: number): number {
  let at = open;
  for (;;) {
    // Native search: most of a record's bytes are inside strings.
    at = bytes.indexOf(QUOTE, at + 1);
    if (at < 0) return -1;
    // Escaped when an odd number of backslashes comes before it.
    let slashes = 0;
    while (bytes[at - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return at;
  }
}

function matches(bytes: Uint8Array, at: number, literal: Uint8Array): boolean {
  for (let j = 0; j < literal.length; j++) if (bytes[at + j] !== literal[j]) return false;
  return true;
}

function isSpaceByte(c: number | undefined): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first index from `i` that is not JSON whitespace, or -1 past the end. */
function skipSpace(bytes: Uint8Array, i: number): number {
  if (i < 0) return -1;
  while (i < bytes.length && isSpaceByte(bytes[i])) i++;
  return i < bytes.length ? i : -1;
}

/** Whether bytes [from, to) are all JSON whitespace. */
function isSpace(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isSpaceByte(bytes[i])) return false;
  return true;
}
