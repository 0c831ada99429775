/**
 * Test-only tools around the record factory (src/demo/record-factory.ts):
 * data keys without any KMS, and the mutations the decrypt tests apply to
 * records it made (a rewritten payload, a flipped byte). Not part of the
 * package: the demo never damages its own records.
 */
import { DasError } from '../../src/errors.ts';
import { randomBytes } from 'node:crypto';
import type { EncryptionContext } from '../../src/source/record.ts';
import { CONTENT_TYPE, parseMessageHeader } from '../../src/decrypt/message-header.ts';
import { formatEnvelope, type DataKeyGenerator, type GeneratedDataKey } from '../../src/demo/record-factory.ts';

/**
 * A DataKeyGenerator with no KMS at all: random 32-byte keys behind
 * random opaque "ciphertext blobs", and a way back from blob to key that,
 * like KMS Decrypt, insists on the same encryption context.
 */
export class InMemoryDataKeys implements DataKeyGenerator {
  readonly #issued = new Map<string, { plaintext: Uint8Array; context: string }>();

  async generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey> {
    const plaintext = new Uint8Array(randomBytes(32));
    const ciphertextBlob = new Uint8Array(randomBytes(48));
    this.#issued.set(Buffer.from(ciphertextBlob).toString('base64'), {
      plaintext: new Uint8Array(plaintext),
      context: canonicalContext(context),
    });
    return { plaintext, ciphertextBlob };
  }

  /** Number of data keys generated so far. */
  get generated(): number {
    return this.#issued.size;
  }

  /**
   * As a DataKeySource (`dataKeys` of an opener): the plaintext behind `ciphertext`, or KMS's answer to a
   * key it did not issue or a context that differs, a DasError kms_invalid_ciphertext.
   */
  readonly get = async (ciphertext: Uint8Array, context: EncryptionContext): Promise<Uint8Array> => {
    const key = this.plaintextOf(ciphertext, context);
    if (key === undefined) throw new DasError('kms_invalid_ciphertext', 'KMS could not decrypt the data key (in-memory stand-in)');
    return key;
  };

  /** The plaintext behind `ciphertextBlob` (a fresh copy), or undefined if unknown or the context differs. */
  plaintextOf(ciphertextBlob: Uint8Array, context: EncryptionContext): Uint8Array | undefined {
    const issued = this.#issued.get(Buffer.from(ciphertextBlob).toString('base64'));
    if (issued === undefined || issued.context !== canonicalContext(context)) return undefined;
    return new Uint8Array(issued.plaintext);
  }
}

function canonicalContext(context: EncryptionContext): string {
  return JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Re-issues a record made by this factory with its Encryption SDK message replaced by `rewrite(message)`. */
export function rewritePayload(data: Uint8Array, rewrite: (message: Uint8Array) => Uint8Array): Uint8Array {
  const envelope: unknown = JSON.parse(Buffer.from(data).toString('utf8'));
  if (!isEnvelope(envelope)) throw new TypeError('not a DAS envelope with version, databaseActivityEvents and key');
  return formatEnvelope({
    version: envelope.version,
    databaseActivityEvents: rewrite(Buffer.from(envelope.databaseActivityEvents, 'base64')),
    key: Buffer.from(envelope.key, 'base64'),
  });
}

/** A copy of `message` with the byte at `offset` inverted; a negative offset counts from the end. */
export function flipByte(message: Uint8Array, offset: number): Uint8Array {
  const index = offset < 0 ? message.length + offset : offset;
  if (index < 0 || index >= message.length) {
    throw new RangeError(`offset ${offset} is outside a ${message.length}-byte message`);
  }
  const copy = new Uint8Array(message);
  copy[index] = copy[index]! ^ 0xff;
  return copy;
}

/** A copy of `message` with the first byte of its first frame's encrypted content inverted. */
export function flipCiphertextByte(message: Uint8Array): Uint8Array {
  const { headerLength, ivLength, contentType } = parseMessageHeader(message);
  if (contentType !== CONTENT_TYPE.FRAMED) throw new RangeError('message is not framed');
  // A regular frame is sequence u32 | IV | content; a final frame adds a 0xFFFFFFFF marker before and a length u32 after.
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const isFinalFrame = view.getUint32(headerLength, false) === 0xffffffff;
  const contentOffset = headerLength + (isFinalFrame ? 4 + 4 + ivLength + 4 : 4 + ivLength);
  return flipByte(message, contentOffset);
}

function isEnvelope(value: unknown): value is { version: string; databaseActivityEvents: string; key: string } {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as Record<string, unknown>;
  return (
    typeof record['version'] === 'string' &&
    typeof record['databaseActivityEvents'] === 'string' &&
    typeof record['key'] === 'string'
  );
}
