/**
 * Reads the header of an AWS Encryption SDK message (format version 1), the
 * form `databaseActivityEvents` takes once base64-decoded. It decrypts
 * nothing: it tells the payload decryptor which algorithm suite and data
 * keys a record carries before any cryptography runs, and gives a later fast
 * decrypt path the offsets it needs. It reads untrusted bytes, so every read
 * is bounds-checked and every failure is a DasError:
 * `truncated_message` when the bytes end early, `unsupported_message` when
 * they are not a version 1 header.
 *
 * Layout (all integers big-endian), from the AWS Encryption SDK message format:
 *   version u8 (1) | type u8 (0x80) | suite id u16 | message id 16 bytes
 *   | AAD length u16 | [pair count u16 | (key len u16, key, value len u16, value)*]
 *   | EDK count u16 | (provider id, provider info, ciphertext each u16-prefixed)*
 *   | content type u8 (1 non-framed, 2 framed) | reserved u32 (0)
 *   | IV length u8 | frame length u32 | header IV | header auth tag (16 bytes)
 */
import { DasError } from '../errors.ts';
import type { PermanentReason } from '../errors.ts';

/** The algorithm suites Database Activity Streams writes (das-format.md, fact 4). */
export const DAS_SUITES = {
  /** AES-256-GCM, no key derivation, unsigned. */
  AES256_GCM_IV12_TAG16: 0x0078,
  /** AES-256-GCM, HKDF-SHA256, unsigned: seen on Aurora PostgreSQL, 4 KiB frames. */
  AES256_GCM_IV12_TAG16_HKDF_SHA256: 0x0178,
  /** AES-256-GCM, HKDF-SHA384, ECDSA P-384 signature: seen on Aurora MySQL, 256 KiB frames. */
  AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384: 0x0378,
} as const;

export type DasSuiteId = (typeof DAS_SUITES)[keyof typeof DAS_SUITES];

const DAS_SUITE_IDS: ReadonlySet<number> = new Set(Object.values(DAS_SUITES));

export function isDasSuite(suiteId: number): suiteId is DasSuiteId {
  return DAS_SUITE_IDS.has(suiteId);
}

export const MESSAGE_FORMAT_VERSION = 0x01;
export const MESSAGE_TYPE_CUSTOMER_AED = 0x80;
export const HEADER_AUTH_TAG_LENGTH = 16;

export const CONTENT_TYPE = { NON_FRAMED: 1, FRAMED: 2 } as const;
export type ContentType = (typeof CONTENT_TYPE)[keyof typeof CONTENT_TYPE];

export interface EncryptedDataKeyEntry {
  /** Key provider id; `BC` for DAS. */
  providerId: string;
  /** Provider info decoded as UTF-8 (lossy: a raw AES keyring appends binary tag/IV fields after the key name `DataKey`). */
  providerInfo: string;
  providerInfoBytes: Uint8Array;
  ciphertext: Uint8Array;
}

/** A parsed version 1 header. Byte fields are views into the parsed input, not copies. */
export interface MessageHeader {
  version: typeof MESSAGE_FORMAT_VERSION;
  type: typeof MESSAGE_TYPE_CUSTOMER_AED;
  suiteId: number;
  messageId: Uint8Array;
  encryptionContext: Record<string, string>;
  encryptedDataKeys: EncryptedDataKeyEntry[];
  contentType: ContentType;
  ivLength: number;
  frameLength: number;
  headerIv: Uint8Array;
  headerAuthTag: Uint8Array;
  /** Bytes covered by the header auth tag: everything before the header IV. */
  authenticatedLength: number;
  /** Bytes the whole header occupies, header IV and auth tag included; the body starts here. */
  headerLength: number;
}

/**
 * The algorithm suite id of a version 1 or 2 message, without parsing the rest,
 * or undefined when the bytes are too short or not an Encryption SDK message.
 * Version 2 (committing suites such as 0x0478/0x0578) keeps its suite id
 * right after the version byte.
 */
export function peekSuiteId(message: Uint8Array): number | undefined {
  if (message[0] === MESSAGE_FORMAT_VERSION && message[1] === MESSAGE_TYPE_CUSTOMER_AED && message.length >= 4) {
    return (message[2]! << 8) | message[3]!;
  }
  if (message[0] === 0x02 && message.length >= 3) return (message[1]! << 8) | message[2]!;
  return undefined;
}

export function parseMessageHeader(message: Uint8Array): MessageHeader {
  const reader = new Reader(message, 'truncated_message', 'message ends inside the header');

  const version = reader.u8('version');
  if (version !== MESSAGE_FORMAT_VERSION) {
    // "AY" is how a version 1 header starts once base64-encoded: a common mistake worth naming.
    const hint = version === 0x41 && message[1] === 0x59 ? ' (the bytes look base64-encoded)' : '';
    throw new DasError('unsupported_message', `message format version 0x${hex(version, 2)} is not 0x01${hint}`);
  }
  const type = reader.u8('type');
  if (type !== MESSAGE_TYPE_CUSTOMER_AED) {
    throw new DasError('unsupported_message', `message type 0x${hex(type, 2)} is not 0x80`);
  }
  const suiteId = reader.u16('suite id');
  const messageId = reader.bytes(16, 'message id');
  const aad = reader.bytes(reader.u16('AAD length'), 'encryption context');
  const encryptionContext = parseEncryptionContext(aad);

  const edkCount = reader.u16('encrypted data key count');
  if (edkCount === 0) throw new DasError('unsupported_message', 'header lists no encrypted data key');
  const encryptedDataKeys: EncryptedDataKeyEntry[] = [];
  for (let i = 0; i < edkCount; i++) {
    const providerId = utf8(reader.bytes(reader.u16('provider id length'), 'provider id'));
    const providerInfoBytes = reader.bytes(reader.u16('provider info length'), 'provider info');
    const ciphertext = reader.bytes(reader.u16('encrypted data key length'), 'encrypted data key');
    encryptedDataKeys.push({ providerId, providerInfo: utf8(providerInfoBytes), providerInfoBytes, ciphertext });
  }

  const contentType = reader.u8('content type');
  if (contentType !== CONTENT_TYPE.NON_FRAMED && contentType !== CONTENT_TYPE.FRAMED) {
    throw new DasError('unsupported_message', `content type ${contentType} is neither 1 (non-framed) nor 2 (framed)`);
  }
  const reserved = reader.u32('reserved field');
  if (reserved !== 0) throw new DasError('unsupported_message', 'reserved header field is not zero');
  const ivLength = reader.u8('IV length');
  const frameLength = reader.u32('frame length');
  const authenticatedLength = reader.position;
  const headerIv = reader.bytes(ivLength, 'header IV');
  const headerAuthTag = reader.bytes(HEADER_AUTH_TAG_LENGTH, 'header auth tag');

  return {
    version,
    type,
    suiteId,
    messageId,
    encryptionContext,
    encryptedDataKeys,
    contentType,
    ivLength,
    frameLength,
    headerIv,
    headerAuthTag,
    authenticatedLength,
    headerLength: reader.position,
  };
}

function parseEncryptionContext(aad: Uint8Array): Record<string, string> {
  if (aad.length === 0) return {};
  // The section declares its own length, so running out inside it is malformed, not truncated.
  const reader = new Reader(aad, 'unsupported_message', 'encryption context overruns its declared length');
  const count = reader.u16('pair count');
  const entries: [string, string][] = [];
  const seen = new Set<string>();
  for (let i = 0; i < count; i++) {
    const key = utf8(reader.bytes(reader.u16('key length'), 'key'));
    const value = utf8(reader.bytes(reader.u16('value length'), 'value'));
    if (seen.has(key)) throw new DasError('unsupported_message', 'encryption context repeats a key');
    seen.add(key);
    entries.push([key, value]);
  }
  if (reader.position !== aad.length) {
    throw new DasError('unsupported_message', 'encryption context is shorter than its declared length');
  }
  // fromEntries defines own properties, so a key named "__proto__" stays data.
  return Object.fromEntries(entries);
}

/** A cursor over bytes that never reads past the end: running out throws the reason it was built with. */
class Reader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  readonly #shortReason: PermanentReason;
  readonly #shortMessage: string;
  #position = 0;

  constructor(bytes: Uint8Array, shortReason: PermanentReason, shortMessage: string) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#shortReason = shortReason;
    this.#shortMessage = shortMessage;
  }

  get position(): number {
    return this.#position;
  }

  u8(field: string): number {
    return this.#view.getUint8(this.#advance(1, field));
  }

  u16(field: string): number {
    return this.#view.getUint16(this.#advance(2, field), false);
  }

  u32(field: string): number {
    return this.#view.getUint32(this.#advance(4, field), false);
  }

  bytes(length: number, field: string): Uint8Array {
    const start = this.#advance(length, field);
    return this.#bytes.subarray(start, start + length);
  }

  #advance(length: number, field: string): number {
    const start = this.#position;
    if (start + length > this.#bytes.length) {
      throw new DasError(this.#shortReason, `${this.#shortMessage}: ${field} needs ${length} bytes at offset ${start}, ${this.#bytes.length - start} left`);
    }
    this.#position = start + length;
    return start;
  }
}

const decoder = new TextDecoder('utf-8');

function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

function hex(value: number, digits: number): string {
  return value.toString(16).padStart(digits, '0');
}
