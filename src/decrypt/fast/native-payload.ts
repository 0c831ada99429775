/**
 * Opens the Encryption SDK messages Database Activity Streams writes directly
 * on node:crypto, without the library's streams: format version 1, suites
 * 0x0078, 0x0178 and 0x0378, framed or not, one raw AES data key `BC`/`DataKey`.
 * Anything else (another suite, several data keys, version 2, an encryption
 * context whose serialisation the library would order differently) goes to
 * the injected fallback, normally `EsdkPayloadDecryptor`, so every message
 * gets an answer and the same reasons.
 *
 * All or nothing: the plaintext is returned only once the data-key wrap, the
 * header tag, every frame tag, the signature (0x0378) and the absence of
 * trailing bytes have been checked. Frames are decrypted into a private
 * buffer that is zeroed when anything fails.
 *
 * Failures are checked in the order the library meets them, so both paths
 * give the same reason (see payload.ts for the table): header structure,
 * signer key, data-key unwrap (`wrong_data_key`), header tag, then frame by
 * frame (a frame's tag before the next frame's structure), then the
 * signature footer. One deliberate difference: the library ignores bytes
 * after the final frame of an unsigned message; here they are
 * `unsupported_message`.
 *
 * What is cached: nothing per message. Every DAS record carries its own
 * message id, its own encrypted data key (ESDK draws a fresh data key per
 * message even when the KMS `key` is reused) and, for 0x0378, its own signing
 * key, so neither the unwrapped key, the derived key nor the public key can
 * be reused by the next record. Only the KMS data key is reused, and
 * DataKeyCache already holds it.
 *
 * Both cores: AES-GCM runs synchronously on the calling thread (about 2 µs
 * per 4 KiB frame), while the ECDSA P-384 verification, the costly step of a
 * signed message, goes to the libuv thread pool via `crypto.verify` with a
 * callback and overlaps the frame decryption. A caller with nothing else to
 * do meanwhile asks for `verify: 'sync'`: the same check on its own thread,
 * after the frames, without the hand-off (about a tenth of a verification).
 */
import { createDecipheriv, hkdfSync, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { DasError, isDasError } from '../../errors.ts';
import { CONTENT_TYPE, DAS_SUITES, HEADER_AUTH_TAG_LENGTH, isDasSuite, parseMessageHeader, peekSuiteId } from '../message-header.ts';
import type { MessageHeader } from '../message-header.ts';
import { DAS_KEY_NAME, DAS_KEY_NAMESPACE, DATA_KEY_LENGTH } from '../payload.ts';
import type { DecryptOptions, PayloadDecryptor, RunsOn } from '../payload.ts';
import { checkCompressedPoint, ENCODED_SIGNER_KEY, p384PublicKey } from './p384-public-key.ts';

export interface NativePayloadDecryptorOptions {
  /** Opens what this path does not handle; normally `new EsdkPayloadDecryptor()`. */
  fallback: PayloadDecryptor;
  /** Told which path opened (or refused) each message, for a metric. */
  onPath?: (path: 'native' | 'fallback') => void;
}

const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const FINAL_FRAME_MARKER = 0xffffffff;
/** The library refuses non-framed content this long or longer (2^36 - 32, the AES-GCM limit for one IV). */
const MAX_NON_FRAMED_CONTENT = 2 ** 36 - 32;

const FRAME_STRING = Buffer.from('AWSKMSEncryptionClient Frame', 'utf8');
const FINAL_FRAME_STRING = Buffer.from('AWSKMSEncryptionClient Final Frame', 'utf8');
const SINGLE_BLOCK_STRING = Buffer.from('AWSKMSEncryptionClient Single Block', 'utf8');

const KEY_NAME_BYTES = Buffer.from(DAS_KEY_NAME, 'utf8');
/** Raw AES keyring provider info: key name | tag length in bits (u32) | IV length (u32) | IV. */
const PROVIDER_INFO_LENGTH = KEY_NAME_BYTES.length + 4 + 4 + IV_LENGTH;
const EDK_LENGTH = DATA_KEY_LENGTH + TAG_LENGTH;

interface Suite {
  hash: 'sha256' | 'sha384' | undefined;
  signed: boolean;
}

const SUITES: ReadonlyMap<number, Suite> = new Map([
  [DAS_SUITES.AES256_GCM_IV12_TAG16, { hash: undefined, signed: false }],
  [DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA256, { hash: 'sha256', signed: false }],
  [DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, { hash: 'sha384', signed: true }],
]);

/** One encrypted block of the body: where its parts are and what its AAD says. */
interface Block {
  aadString: Buffer;
  sequenceNumber: number;
  ivOffset: number;
  contentOffset: number;
  contentLength: number;
}

interface BodyLayout {
  blocks: Block[];
  /** Offset just past the final tag: where the signature footer starts. */
  end: number;
  /** A structural failure met after `blocks`; reported only if all of their tags verify. */
  pending: DasError | undefined;
}

export class NativePayloadDecryptor implements PayloadDecryptor {
  readonly #fallback: PayloadDecryptor;
  readonly #onPath: ((path: 'native' | 'fallback') => void) | undefined;

  constructor(options: NativePayloadDecryptorOptions) {
    this.#fallback = options.fallback;
    this.#onPath = options.onPath;
  }

  async decrypt(message: Uint8Array, dataKey: Uint8Array, options: DecryptOptions = {}): Promise<Uint8Array> {
    const header = this.#nativeHeader(message);
    if (header === undefined) {
      this.#onPath?.('fallback');
      return this.#fallback.decrypt(message, dataKey, options);
    }
    this.#onPath?.('native');
    return openMessage(asBuffer(message), header.header, header.keyringAad, dataKey, options.verify ?? 'threadpool');
  }

  /** The parsed header when this path can open the message exactly as the library would, else undefined. */
  #nativeHeader(message: Uint8Array): { header: MessageHeader; keyringAad: Buffer } | undefined {
    if (peekSuiteId(message) === undefined || message[0] !== 0x01) return undefined;
    let header: MessageHeader;
    try {
      header = parseMessageHeader(message);
    } catch (error) {
      // The fallback parses with the same reader and reports the same reason.
      if (isDasError(error)) return undefined;
      throw error;
    }
    if (!isDasSuite(header.suiteId) || header.encryptedDataKeys.length !== 1) return undefined;
    const keyringAad = keyringAadOf(header.encryptionContext);
    if (keyringAad === undefined) return undefined;
    return { header, keyringAad };
  }
}

async function openMessage(message: Buffer, header: MessageHeader, keyringAad: Buffer, dataKey: Uint8Array, verify: RunsOn): Promise<Uint8Array> {
  if (dataKey.length !== DATA_KEY_LENGTH) {
    throw new DasError('wrong_data_key', `data key is ${dataKey.length} bytes, expected ${DATA_KEY_LENGTH}`);
  }
  const suite = SUITES.get(header.suiteId)!;
  if (header.ivLength !== IV_LENGTH) throw malformed(`header IV length ${header.ivLength} is not ${IV_LENGTH}`);
  const signer = signerKey(header, suite);

  const messageKey = deriveKey(suite, header, unwrapDataKey(header, keyringAad, dataKey));
  // Only now: the library meets a key that is not on the curve when it verifies, after the unwrap and every frame.
  let verificationKey: KeyObject | DasError | undefined;
  try {
    verificationKey = signer === undefined ? undefined : p384PublicKey(signer);
  } catch (error) {
    if (!isDasError(error)) {
      messageKey.fill(0);
      throw error;
    }
    verificationKey = error;
  }
  try {
    if (!gcmOpens(messageKey, header.headerIv, message.subarray(0, header.authenticatedLength), header.headerAuthTag)) {
      throw new DasError('auth_tag_mismatch', 'auth tag mismatch: the message header was altered');
    }
    const body = layoutBody(message, header);

    // On the thread pool, the signature check starts first so it overlaps the frame decryption below.
    // A structural failure after the last frame (`pending`) is reported instead: no signature to check then.
    const verifyWith = body.pending === undefined ? verificationKey : undefined;
    const signature = verifyWith !== undefined && verify === 'threadpool' ? signatureVerifies(message, body.end, verifyWith, 'threadpool') : undefined;
    signature?.catch(() => {});

    const plaintext = decryptBlocks(message, header, body.blocks, messageKey);
    try {
      if (body.pending !== undefined) throw body.pending;
      if (verifyWith !== undefined) {
        if (!(await (signature ?? signatureVerifies(message, body.end, verifyWith, 'sync')))) throw new DasError('signature_invalid', 'ECDSA signature does not verify: the message was altered or cut');
      } else if (body.end !== message.length) {
        throw malformed(`${message.length - body.end} bytes follow the final frame of an unsigned message`);
      }
    } catch (error) {
      plaintext.fill(0);
      throw error;
    }
    return plaintext;
  } finally {
    messageKey.fill(0);
  }
}

/** AES-GCM over a whole message: each block's tag is checked before the next is opened. */
function decryptBlocks(message: Buffer, header: MessageHeader, blocks: readonly Block[], key: Buffer): Buffer {
  let total = 0;
  for (const block of blocks) total += block.contentLength;
  const plaintext = Buffer.alloc(total);
  const aad = Buffer.allocUnsafe(16 + Math.max(FINAL_FRAME_STRING.length, SINGLE_BLOCK_STRING.length) + 4 + 8);
  aad.set(header.messageId, 0);
  let written = 0;
  for (const block of blocks) {
    const stringEnd = 16 + block.aadString.copy(aad, 16);
    aad.writeUInt32BE(block.sequenceNumber, stringEnd);
    aad.writeUInt32BE(Math.floor(block.contentLength / 2 ** 32), stringEnd + 4);
    aad.writeUInt32BE(block.contentLength >>> 0, stringEnd + 8);
    const decipher = createDecipheriv('aes-256-gcm', key, message.subarray(block.ivOffset, block.ivOffset + IV_LENGTH));
    decipher.setAAD(aad.subarray(0, stringEnd + 12));
    const tagOffset = block.contentOffset + block.contentLength;
    decipher.setAuthTag(message.subarray(tagOffset, tagOffset + TAG_LENGTH));
    try {
      written += decipher.update(message.subarray(block.contentOffset, tagOffset)).copy(plaintext, written);
      decipher.final();
    } catch {
      plaintext.fill(0);
      throw new DasError('auth_tag_mismatch', 'auth tag mismatch: a body frame was altered');
    }
  }
  return plaintext;
}

/**
 * Where every block of the body is, read the way the library reads it: a
 * failure ends the walk and waits in `pending` until the blocks before it
 * have been authenticated.
 */
function layoutBody(message: Buffer, header: MessageHeader): BodyLayout {
  const blocks: Block[] = [];
  let at = header.headerLength;
  const left = () => message.length - at;
  const stop = (pending: DasError): BodyLayout => ({ blocks, end: at, pending });

  if (header.contentType === CONTENT_TYPE.NON_FRAMED) {
    if (left() < IV_LENGTH + 8) return stop(truncated());
    const high = message.readUInt32BE(at + IV_LENGTH);
    const length = high * 2 ** 32 + message.readUInt32BE(at + IV_LENGTH + 4);
    if (length >= MAX_NON_FRAMED_CONTENT) return stop(malformed('non-framed content length is out of bounds'));
    if (left() < IV_LENGTH + 8 + length + TAG_LENGTH) return stop(truncated());
    blocks.push({ aadString: SINGLE_BLOCK_STRING, sequenceNumber: 1, ivOffset: at, contentOffset: at + IV_LENGTH + 8, contentLength: length });
    return { blocks, end: at + IV_LENGTH + 8 + length + TAG_LENGTH, pending: undefined };
  }

  for (let expected = 1; ; expected++) {
    if (left() < 4 + IV_LENGTH) return stop(truncated());
    const marker = message.readUInt32BE(at);
    if (marker === 0) return stop(malformed('frame sequence number is 0'));
    if (marker !== FINAL_FRAME_MARKER) {
      if (marker !== expected) return stop(malformed(`frame ${marker} arrived where frame ${expected} belongs`));
      if (left() < 4 + IV_LENGTH + header.frameLength + TAG_LENGTH) return stop(truncated());
      blocks.push({ aadString: FRAME_STRING, sequenceNumber: marker, ivOffset: at + 4, contentOffset: at + 4 + IV_LENGTH, contentLength: header.frameLength });
      at += 4 + IV_LENGTH + header.frameLength + TAG_LENGTH;
      continue;
    }
    if (left() < 4 + 4 + IV_LENGTH + 4) return stop(truncated());
    const sequenceNumber = message.readUInt32BE(at + 4);
    if (sequenceNumber === 0) return stop(malformed('final frame sequence number is 0'));
    const length = message.readUInt32BE(at + 8 + IV_LENGTH);
    if (length > header.frameLength) return stop(malformed(`final frame holds ${length} bytes, more than the frame length ${header.frameLength}`));
    if (sequenceNumber !== expected) return stop(malformed(`final frame ${sequenceNumber} arrived where frame ${expected} belongs`));
    if (left() < 4 + 4 + IV_LENGTH + 4 + length + TAG_LENGTH) return stop(truncated());
    blocks.push({ aadString: FINAL_FRAME_STRING, sequenceNumber, ivOffset: at + 8, contentOffset: at + 8 + IV_LENGTH + 4, contentLength: length });
    return { blocks, end: at + 8 + IV_LENGTH + 4 + length + TAG_LENGTH, pending: undefined };
  }
}

/** The DER signature of the footer (u16 length | signature), or undefined when the footer is not exactly that. */
function signatureOf(message: Buffer, start: number): Buffer | undefined {
  const footer = message.subarray(start);
  if (footer.length <= 2) return undefined;
  const length = footer.readUInt16BE(0);
  if (length === 0 || footer.length !== length + 2) return undefined;
  return footer.subarray(2);
}

/**
 * Whether the signature footer after `end` verifies over the message up to
 * it; a missing footer does not. A signer key that could not be read is the
 * failure itself (thrown here, a rejection on the thread pool).
 */
function signatureVerifies(message: Buffer, end: number, key: KeyObject | DasError, on: 'sync'): boolean;
function signatureVerifies(message: Buffer, end: number, key: KeyObject | DasError, on: 'threadpool'): Promise<boolean>;
function signatureVerifies(message: Buffer, end: number, key: KeyObject | DasError, on: RunsOn): boolean | Promise<boolean> {
  if (key instanceof DasError) {
    if (on === 'sync') throw key;
    return Promise.reject(key);
  }
  const footer = signatureOf(message, end);
  if (footer === undefined) return on === 'sync' ? false : Promise.resolve(false);
  return on === 'sync' ? verifySync(message.subarray(0, end), key, footer) : verifyAsync(message.subarray(0, end), key, footer);
}

function verifySync(data: Buffer, key: KeyObject, signature: Buffer): boolean {
  try {
    return verifySignature('sha384', data, { key, dsaEncoding: 'der' }, signature);
  } catch {
    // As on the thread pool: a signature that is not DER is a bad signature.
    return false;
  }
}

function verifyAsync(data: Buffer, key: KeyObject, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    // With a callback, node:crypto hashes and verifies on the libuv thread pool. A DER error is a bad signature.
    verifySignature('sha384', data, { key, dsaEncoding: 'der' }, signature, (error, valid) => resolve(error === null && valid));
  });
}

/**
 * The context rules of the library's materials manager: a signed suite needs
 * the signer's key (a 49-byte compressed point), an unsigned one must not carry it.
 */
function signerKey(header: MessageHeader, suite: Suite): string | undefined {
  const encoded = Object.hasOwn(header.encryptionContext, ENCODED_SIGNER_KEY) ? header.encryptionContext[ENCODED_SIGNER_KEY] : undefined;
  if (!suite.signed) {
    if (encoded !== undefined) throw malformed('encryption context of an unsigned message carries a signer public key');
    return undefined;
  }
  if (!encoded) throw malformed('encryption context does not carry the signer public key');
  checkCompressedPoint(encoded);
  return encoded;
}

/** The message's data key, unwrapped by the raw AES keyring rules; any mismatch is `wrong_data_key`, as in the library. */
function unwrapDataKey(header: MessageHeader, keyringAad: Buffer, wrappingKey: Uint8Array): Buffer {
  const edk = header.encryptedDataKeys[0]!;
  const info = edk.providerInfoBytes;
  const infoView = new DataView(info.buffer, info.byteOffset, info.byteLength);
  const shaped =
    edk.providerId === DAS_KEY_NAMESPACE &&
    info.length === PROVIDER_INFO_LENGTH &&
    KEY_NAME_BYTES.equals(info.subarray(0, KEY_NAME_BYTES.length)) &&
    infoView.getUint32(KEY_NAME_BYTES.length, false) === TAG_LENGTH * 8 &&
    infoView.getUint32(KEY_NAME_BYTES.length + 4, false) === IV_LENGTH &&
    edk.ciphertext.length === EDK_LENGTH;
  if (shaped) {
    try {
      const decipher = createDecipheriv('aes-256-gcm', wrappingKey, info.subarray(PROVIDER_INFO_LENGTH - IV_LENGTH));
      decipher.setAAD(keyringAad);
      decipher.setAuthTag(edk.ciphertext.subarray(DATA_KEY_LENGTH));
      const key = decipher.update(edk.ciphertext.subarray(0, DATA_KEY_LENGTH));
      decipher.final();
      return key;
    } catch {
      // Falls through: an unwrap that does not authenticate is a wrong key, exactly as a misshapen EDK.
    }
  }
  throw new DasError(
    'wrong_data_key',
    `the data key does not unwrap the message's ${DAS_KEY_NAMESPACE}/${DAS_KEY_NAME} data key (another key, or an altered header)`,
  );
}

/** HKDF with no salt and info = suite id (2 bytes) | message id; suite 0x0078 uses the data key as is. */
function deriveKey(suite: Suite, header: MessageHeader, dataKey: Buffer): Buffer {
  if (suite.hash === undefined) return dataKey;
  const info = Buffer.allocUnsafe(2 + header.messageId.length);
  info.writeUInt16BE(header.suiteId, 0);
  info.set(header.messageId, 2);
  const derived = Buffer.from(hkdfSync(suite.hash, dataKey, Buffer.alloc(0), info, DATA_KEY_LENGTH));
  dataKey.fill(0);
  return derived;
}

function gcmOpens(key: Buffer, iv: Uint8Array, aad: Buffer, tag: Uint8Array): boolean {
  if (tag.length !== HEADER_AUTH_TAG_LENGTH) return false;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(tag);
    decipher.final();
    return true;
  } catch {
    return false;
  }
}

/**
 * The encryption context as the raw AES keyring binds it into the key wrap:
 * pair count u16 then (key, value) u16-prefixed, sorted by key; empty for an
 * empty context. The spec sorts by UTF-8 bytes, @aws-crypto/client-node by
 * `localeCompare`: when the two orders disagree, or a string did not decode
 * cleanly, the message goes to the library (undefined).
 */
function keyringAadOf(context: Record<string, string>): Buffer | undefined {
  const entries = Object.entries(context).map(([key, value]) => [Buffer.from(key, 'utf8'), Buffer.from(value, 'utf8'), key, value] as const);
  if (entries.length === 0) return Buffer.alloc(0);
  for (const [, , key, value] of entries) if (key.includes('\uFFFD') || value.includes('\uFFFD')) return undefined;
  const byBytes = [...entries].sort((a, b) => Buffer.compare(a[0], b[0]));
  const byLocale = [...entries].sort((a, b) => a[2].localeCompare(b[2]));
  if (byBytes.some((entry, i) => entry !== byLocale[i])) return undefined;
  const parts: Buffer[] = [u16(byBytes.length)];
  for (const [key, value] of byBytes) parts.push(u16(key.length), key, u16(value.length), value);
  return Buffer.concat(parts);
}

function u16(value: number): Buffer {
  const bytes = Buffer.allocUnsafe(2);
  bytes.writeUInt16BE(value, 0);
  return bytes;
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function truncated(): DasError {
  return new DasError('truncated_message', 'message ends before its final frame');
}

function malformed(detail: string): DasError {
  return new DasError('unsupported_message', `malformed Encryption SDK message: ${detail}`);
}
