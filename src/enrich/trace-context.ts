/**
 * W3C trace context carried by the SQL itself, so an audit event can be tied
 * to the application span that issued the statement.
 *
 * Two carriers:
 * - a sqlcommenter comment anywhere in the text (usually appended):
 *   `/*controller='index',traceparent='00-…-…-01',tracestate='congo%3Dt61rcWkgMzE'*\/`,
 *   keys and values URL-encoded, values single-quoted with `'` escaped as
 *   `\'`; Aurora MySQL's DAS escaping (`traceparent=\'00-…\'`) is undone first;
 * - a bare traceparent as the client application name (PostgreSQL
 *   `application_name`), used when the text has none.
 * traceparent is checked by the W3C rules: lower-case hex, version `ff`
 * invalid, all-zero ids invalid, version 00 exactly 55 characters, a later
 * version parsed by the 00 layout when what follows is `-`-separated. An
 * invalid tracestate is dropped (the W3C rule) and the traceparent kept.
 */
import { unescapeDasMysqlText } from './mysql-text.ts';
import { tokenize } from './sql-lexer.ts';

export interface TraceContext {
  /** 32 lower-case hex characters, not all zero. */
  traceId: string;
  /** The parent span id: 16 lower-case hex characters, not all zero. */
  spanId: string;
  /** The trace-flags byte (bit 0: sampled). */
  traceFlags: number;
  /** The W3C tracestate header, when present and valid. */
  traceState?: string;
}

/** Trace context from a sqlcommenter comment in `commandText`, else from `clientApplication`; null when absent or invalid. Total: no throw. */
export function extractTraceContext(commandText: string | null | undefined, clientApplication: string | null | undefined): TraceContext | null {
  if (typeof commandText === 'string' && commandText.includes('traceparent')) {
    const fromComment = fromSqlComments(commandText);
    if (fromComment !== null) return fromComment;
  }
  if (typeof clientApplication === 'string') {
    const parsed = parseTraceparent(clientApplication.trim());
    if (parsed !== null) return parsed;
  }
  return null;
}

/** The last block comment with a valid traceparent wins: sqlcommenter appends its comment. */
function fromSqlComments(text: string): TraceContext | null {
  let found: TraceContext | null = null;
  for (const token of tokenize(text, 'generic')) {
    if (token.kind !== 'comment' || !text.startsWith('/*', token.start)) continue;
    const end = token.end - token.start >= 4 && text.startsWith('*/', token.end - 2) ? token.end - 2 : token.end;
    const body = text.slice(token.start + 2, end);
    if (!body.includes('traceparent')) continue;
    let pairs = parseSqlCommenter(body);
    if (!pairs.has('traceparent') && body.includes("\\'")) pairs = parseSqlCommenter(unescapeDasMysqlText(body));
    const traceparent = pairs.get('traceparent');
    if (traceparent === undefined) continue;
    const parsed = parseTraceparent(traceparent);
    if (parsed === null) continue;
    const traceState = pairs.get('tracestate');
    found = traceState !== undefined && isValidTracestate(traceState) ? { ...parsed, traceState: traceState.trim() } : parsed;
  }
  return found;
}

/**
 * The key/value pairs of a sqlcommenter comment body (without `/*` and `*\/`):
 * `key='value'` separated by commas, keys and values URL-decoded, `\'` in a
 * value unescaped. Malformed pairs are skipped; never throws.
 */
export function parseSqlCommenter(body: string): Map<string, string> {
  const pairs = new Map<string, string>();
  const n = body.length;
  let i = 0;
  while (i < n) {
    while (i < n && (body[i] === ',' || body[i] === ' ' || body[i] === '\t' || body[i] === '\n' || body[i] === '\r')) i++;
    const eq = body.indexOf('=', i);
    if (eq === -1) break;
    const key = body.slice(i, eq).trim();
    i = eq + 1;
    while (i < n && (body[i] === ' ' || body[i] === '\t')) i++;
    if (body[i] !== "'") {
      // Not a quoted value: skip to the next pair.
      const comma = body.indexOf(',', i);
      if (comma === -1) break;
      i = comma + 1;
      continue;
    }
    i++;
    let value = '';
    let closed = false;
    while (i < n) {
      const c = body[i]!;
      if (c === '\\' && i + 1 < n) {
        value += body[i + 1];
        i += 2;
        continue;
      }
      i++;
      if (c === "'") {
        closed = true;
        break;
      }
      value += c;
    }
    if (!closed) break;
    const decodedKey = urlDecode(key);
    const decodedValue = urlDecode(value);
    if (decodedKey !== null && decodedValue !== null && decodedKey !== '' && !pairs.has(decodedKey)) pairs.set(decodedKey, decodedValue);
  }
  return pairs;
}

function urlDecode(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    return null;
  }
}

const LOWER_HEX = /^[0-9a-f]+$/;

/** A W3C traceparent header value, or null when it breaks the rules. */
export function parseTraceparent(value: string): Omit<TraceContext, 'traceState'> | null {
  if (value.length < 55) return null;
  const version = value.slice(0, 2);
  if (!LOWER_HEX.test(version) || version === 'ff') return null;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-') return null;
  if (value[2] !== '-' || value[35] !== '-' || value[52] !== '-') return null;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (!LOWER_HEX.test(traceId) || !LOWER_HEX.test(spanId) || !LOWER_HEX.test(flags)) return null;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return null;
  return { traceId, spanId, traceFlags: Number.parseInt(flags, 16) };
}

const TRACESTATE_KEY = /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;

/** W3C tracestate: at most 32 `key=value` members, keys unique; empty members allowed. */
export function isValidTracestate(value: string): boolean {
  if (value.length > 8192) return false;
  const seen = new Set<string>();
  for (const raw of value.split(',')) {
    const member = trimSpacesAndTabs(raw);
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq === -1) return false;
    const key = member.slice(0, eq);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(member.slice(eq + 1)) || seen.has(key)) return false;
    seen.add(key);
    if (seen.size > 32) return false;
  }
  return true;
}

/** The W3C OWS trim (space and tab only), without a regular expression. */
function trimSpacesAndTabs(value: string): string {
  let start = 0;
  let end = value.length;
  while (start < end && (value[start] === ' ' || value[start] === '\t')) start++;
  while (end > start && (value[end - 1] === ' ' || value[end - 1] === '\t')) end--;
  return value.slice(start, end);
}
