/**
 * The DAS envelope: the JSON each Kinesis record carries around the encrypted
 * activity events. Parsing it yields the Encryption SDK message and the
 * KMS-encrypted data key as bytes, or a DasError whose reason says which rule
 * the record broke (invalid_json, not_das_envelope, unsupported_version,
 * bad_base64). Messages name the field at fault and never echo the payload
 * or key (only a short `version` value is quoted).
 *
 * This runs once per record on the live path, so the base64 check leans on
 * Node's native decoder and only walks the string character by character to
 * explain a failure.
 */
import { DasError } from '../errors.ts';

export interface Envelope {
  /** `1.x` as the record says it (`1.1` Aurora PostgreSQL, `1.2` Aurora MySQL, …). */
  version: string;
  /** Decoded `databaseActivityEvents`: an AWS Encryption SDK message. */
  payload: Buffer;
  /** Decoded `key`: the KMS ciphertext blob of the data key. */
  key: Buffer;
}

export const ENVELOPE_TYPE = 'DatabaseActivityMonitoringRecords';

/**
 * Versions 1.0–1.4 are known. Each minor version so far only added fields, so
 * a later 1.x is accepted and its unknown fields are kept downstream; a new
 * major version may change the envelope and is refused.
 */
const SUPPORTED_VERSION = /^1\.\d{1,4}$/;

/** Accepts the Kinesis record data (UTF-8 JSON bytes), a JSON string, or an already-parsed envelope object. */
export function parseEnvelope(input: Uint8Array | string | object): Envelope {
  const value = input instanceof Uint8Array || typeof input === 'string' ? parseJson(input) : unwrapLambdaEntry(input);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new DasError('not_das_envelope', `envelope is ${describeKind(value)}, expected a JSON object`);
  }
  const fields = value as Record<string, unknown>;
  if (fields.type !== ENVELOPE_TYPE) {
    if (fields.type === 'DatabaseActivityMonitoringRecord') {
      throw new DasError('not_das_envelope', 'this is a decrypted DatabaseActivityMonitoringRecord, not the encrypted envelope around it');
    }
    throw new DasError('not_das_envelope', `envelope field "type" is ${describeKind(fields.type)}, expected "${ENVELOPE_TYPE}"`);
  }
  for (const name of ['databaseActivityEvents', 'key'] as const) {
    if (typeof fields[name] !== 'string') {
      throw new DasError('not_das_envelope', `envelope field "${name}" is ${describeKind(fields[name])}, expected a base64 string`);
    }
  }
  const version = fields.version;
  if (typeof version !== 'string' || !SUPPORTED_VERSION.test(version)) {
    const shown = typeof version === 'string' ? `"${version.slice(0, 16)}"` : describeKind(version);
    throw new DasError('unsupported_version', `envelope field "version" is ${shown}, expected "1.x"`);
  }
  return {
    version,
    payload: decodeBase64Strict(fields.databaseActivityEvents as string, 'databaseActivityEvents'),
    key: decodeBase64Strict(fields.key as string, 'key'),
  };
}

/** A Lambda Kinesis event entry (`{ kinesis: { data } }`) carries the record's data as base64: parse that. */
function unwrapLambdaEntry(input: object): unknown {
  if (input === null) return input;
  const kinesis = (input as { kinesis?: unknown }).kinesis;
  if (kinesis === null || typeof kinesis !== 'object') return input;
  const data = (kinesis as { data?: unknown }).data;
  if (typeof data !== 'string') throw new DasError('not_das_envelope', `Lambda entry field "kinesis.data" is ${describeKind(data)}, expected a base64 string`);
  return parseJson(decodeBase64Strict(data, 'kinesis.data'));
}

/**
 * Standard-alphabet, padded, canonical base64 (RFC 4648 §4) or a `bad_base64`
 * DasError naming `field`. Node's decoder skips characters it does not know
 * and accepts the URL-safe alphabet; both would silently corrupt a ciphertext.
 */
export function decodeBase64Strict(value: string, field: string): Buffer {
  const n = value.length;
  if (n === 0) throw new DasError('bad_base64', `${field} is empty`);
  if (n % 4 === 0 && value.indexOf('-') === -1 && value.indexOf('_') === -1) {
    const padding = value.charCodeAt(n - 1) === EQUALS ? (value.charCodeAt(n - 2) === EQUALS ? 2 : 1) : 0;
    const bytes = Buffer.from(value, 'base64');
    // The decoder drops every character it skips, so a stray one always shortens the output.
    if (bytes.length === (n / 4) * 3 - padding && paddingBitsAreZero(value, padding)) return bytes;
  }
  throw new DasError('bad_base64', `${field} is not valid base64: ${explainBase64(value)}`);
}

const EQUALS = 0x3d;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function paddingBitsAreZero(value: string, padding: number): boolean {
  if (padding === 0) return true;
  const last = ALPHABET.indexOf(value.charAt(value.length - padding - 1));
  return (last & (padding === 1 ? 0b11 : 0b1111)) === 0;
}

/** The first rule `value` breaks, by position only. Slow; called on failure. */
function explainBase64(value: string): string {
  const n = value.length;
  for (let i = 0; i < n; i++) {
    const c = value.charAt(i);
    if (c === '=' || ALPHABET.includes(c)) continue;
    if (c === '-' || c === '_') return `URL-safe alphabet ("${c}" at offset ${i}), expected standard base64`;
    if (/\s/.test(c)) return `whitespace at offset ${i}`;
    return `character outside the base64 alphabet at offset ${i}`;
  }
  const firstPad = value.indexOf('=');
  if (firstPad !== -1 && value.slice(firstPad).replaceAll('=', '') !== '') return `padding "=" before the end (offset ${firstPad})`;
  if (firstPad !== -1 && n - firstPad > 2) return `more than two padding characters (offset ${firstPad})`;
  if (n % 4 !== 0) return `length ${n} is not a multiple of 4 (missing or extra padding)`;
  return 'non-zero bits in the last character before the padding (not canonical)';
}

function parseJson(input: Uint8Array | string): unknown {
  const text = typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    // V8's message quotes the text around the fault, so only the position is passed on.
    const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
    const at = position === undefined ? '' : ` at position ${position}`;
    throw new DasError('invalid_json', `envelope is not valid JSON (syntax error${at} of ${text.length} characters)`);
  }
}

function describeKind(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'another string';
  return `a ${typeof value}`;
}
