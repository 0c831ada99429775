/**
 * Opens `databaseActivityEvents`: an AWS Encryption SDK message whose data
 * key is wrapped by a raw AES keyring (namespace `BC`, name `DataKey`) under
 * the plaintext of the record's KMS data key. The header is parsed first so
 * only the suites DAS writes reach the library, and every library failure
 * becomes a DasError with a precise reason. The output is still gzip.
 *
 * Library messages (@aws-crypto/client-node 5.0.2, found by flipping every
 * byte of generated 0x0178 and 0x0378 messages, truncating and re-keying
 * them) and the reason each becomes:
 *
 * | library message                                     | reason               | when                                                                  |
 * |-----------------------------------------------------|----------------------|-----------------------------------------------------------------------|
 * | Unsupported state or unable to authenticate data    | auth_tag_mismatch    | a body frame, frame IV/tag, message id, header IV or header tag altered |
 * | Invalid Signature                                   | signature_invalid    | 0x0378: signature, or body bytes it covers, altered; also a message cut inside its signature footer |
 * | Incomplete Header / Incomplete message              | truncated_message    | the bytes end before the header / final frame                         |
 * | unencryptedDataKey has not been set                 | wrong_data_key       | no EDK unwraps: another data key, a provider other than BC/DataKey, or an altered EDK or encryption context (both are bound into the key wrap) |
 * | Unsupported algorithm suite.                        | unsupported_suite    | not reached: the header check rejects the suite first                 |
 * | anything else (Malformed Header, Malformed encrypted data key, context parse error, Overflow, too much data., Encrypted body sequence out of order., Malformed sequenceNumber., Final frame length exceeds frame length., Context does not contain required public key., Compressed point length is not correct., maxEncryptedDataKeys exceeded., DataView RangeErrors) | unsupported_message | malformed structure |
 *
 * The library ignores bytes after the final frame of an unsigned message, so
 * such trailing bytes are not detected here.
 *
 * The library (about 70 packages, 13 MiB of memory once loaded) is loaded on
 * the first message that reaches it. The hand-written path
 * (`fast/native-payload.ts`) opens every message DAS writes and hands this
 * one only what it does not handle, so a process (or worker thread) that
 * never meets such a message never loads it.
 */
import type * as ClientNode from '@aws-crypto/client-node';
import { DasError } from '../errors.ts';
import { isDasSuite, parseMessageHeader, peekSuiteId } from './message-header.ts';

/** Turns an Encryption SDK message and its 32-byte data key into the (gzip) plaintext. */
export interface PayloadDecryptor {
  decrypt(message: Uint8Array, dataKey: Uint8Array, options?: DecryptOptions): Promise<Uint8Array>;
}

/** Where a blocking step runs: on the calling thread, or on libuv's thread pool. */
export type RunsOn = 'sync' | 'threadpool';

export interface DecryptOptions {
  /**
   * Where the ECDSA verification of a signed message runs: on libuv's thread
   * pool (the default), where it overlaps the caller's other work, or on the
   * calling thread, which costs less CPU and no hand-off when the caller has
   * nothing else to do meanwhile. A decryptor may ignore it.
   */
  verify?: RunsOn;
}

export interface EsdkPayloadDecryptorOptions {
  /** Most encrypted data keys a message may list; DAS writes exactly one. Default 1. */
  maxEncryptedDataKeys?: number;
}

export const DAS_KEY_NAMESPACE = 'BC';
export const DAS_KEY_NAME = 'DataKey';
export const DATA_KEY_LENGTH = 32;

type EsdkDecrypt = ReturnType<typeof ClientNode.buildClient>['decrypt'];

export class EsdkPayloadDecryptor implements PayloadDecryptor {
  readonly #maxEncryptedDataKeys: number;
  #library: Promise<{ esdk: typeof ClientNode; decrypt: EsdkDecrypt }> | undefined;

  constructor(options: EsdkPayloadDecryptorOptions = {}) {
    const maxEncryptedDataKeys = options.maxEncryptedDataKeys ?? 1;
    if (!Number.isSafeInteger(maxEncryptedDataKeys) || maxEncryptedDataKeys < 1) {
      throw new RangeError(`maxEncryptedDataKeys must be an integer of at least 1 (actual: ${maxEncryptedDataKeys})`);
    }
    this.#maxEncryptedDataKeys = maxEncryptedDataKeys;
    // Not resolved here: the Lambda bundle inlines the library, so there is no package on disk to find.
  }

  /** The library and its client, loaded by the first message that gets this far; a failed load is tried again by the next. */
  #load(): Promise<{ esdk: typeof ClientNode; decrypt: EsdkDecrypt }> {
    this.#library ??= import('@aws-crypto/client-node').then(
      (esdk) => ({
        esdk,
        // DAS messages use non-committing suites, which only an ALLOW_DECRYPT policy opens.
        decrypt: esdk.buildClient({ commitmentPolicy: esdk.CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT, maxEncryptedDataKeys: this.#maxEncryptedDataKeys }).decrypt,
      }),
      (error: unknown) => {
        this.#library = undefined;
        throw error;
      },
    );
    return this.#library;
  }

  async decrypt(message: Uint8Array, dataKey: Uint8Array): Promise<Uint8Array> {
    this.#checkHeader(message);
    if (dataKey.length !== DATA_KEY_LENGTH) {
      throw new DasError('wrong_data_key', `data key is ${dataKey.length} bytes, expected ${DATA_KEY_LENGTH}`);
    }
    const { esdk, decrypt } = await this.#load();
    const keyring = new esdk.RawAesKeyringNode({
      keyNamespace: DAS_KEY_NAMESPACE,
      keyName: DAS_KEY_NAME,
      // A fresh, isolated copy: the constructor rejects pooled buffers and zeroes what it is given.
      unencryptedMasterKey: new Uint8Array(dataKey),
      wrappingSuite: esdk.RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    try {
      const { plaintext } = await decrypt(keyring, message);
      return plaintext;
    } catch (error) {
      throw toDasError(error);
    }
  }

  #checkHeader(message: Uint8Array): void {
    // Peek first so committing (version 2) messages report their suite rather than their version.
    const peeked = peekSuiteId(message);
    if (peeked !== undefined && !isDasSuite(peeked)) throw unsupportedSuite(peeked);
    const header = parseMessageHeader(message);
    if (!isDasSuite(header.suiteId)) throw unsupportedSuite(header.suiteId);
    if (header.encryptedDataKeys.length > this.#maxEncryptedDataKeys) {
      throw new DasError(
        'unsupported_message',
        `message lists ${header.encryptedDataKeys.length} encrypted data keys, more than the limit of ${this.#maxEncryptedDataKeys}`,
      );
    }
  }
}

function unsupportedSuite(suiteId: number): DasError {
  const id = `0x${suiteId.toString(16).padStart(4, '0')}`;
  return new DasError('unsupported_suite', `algorithm suite ${id} is not one DAS writes (0x0078, 0x0178, 0x0378)`);
}

const REASON_BY_LIBRARY_MESSAGE: ReadonlyMap<string, [DasError['reason'], string]> = new Map([
  ['Unsupported state or unable to authenticate data', ['auth_tag_mismatch', 'auth tag mismatch: the message header or body was altered']],
  ['Invalid Signature', ['signature_invalid', 'ECDSA signature does not verify: the message was altered or cut']],
  ['Incomplete Header', ['truncated_message', 'message ends inside its header']],
  ['Incomplete message', ['truncated_message', 'message ends before its final frame']],
  [
    'unencryptedDataKey has not been set',
    ['wrong_data_key', `the data key does not unwrap the message's ${DAS_KEY_NAMESPACE}/${DAS_KEY_NAME} data key (another key, or an altered header)`],
  ],
  ['Unsupported algorithm suite.', ['unsupported_suite', 'algorithm suite is not supported']],
]);

function toDasError(error: unknown): DasError {
  const libraryMessage = error instanceof Error ? error.message : String(error);
  const known = REASON_BY_LIBRARY_MESSAGE.get(libraryMessage);
  if (known !== undefined) return new DasError(known[0], known[1], { cause: error });
  return new DasError('unsupported_message', `malformed Encryption SDK message: ${libraryMessage.slice(0, 200)}`, { cause: error });
}
