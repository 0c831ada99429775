/**
 * Turns a record's KMS-encrypted `key` into its 32-byte plaintext data key,
 * calling KMS as rarely as correctness allows.
 *
 * DAS reuses one data key across many consecutive records, so answers are
 * cached (bounded LRU with a TTL) under the ciphertext bytes together with the
 * encryption context: a lookup with a different context never shares an
 * entry and must go to KMS, which rejects it. Concurrent misses for the same
 * entry share one KMS call; a failed call caches nothing.
 *
 * KMS failures become DasErrors once, here: throttling, KMS-side faults, 5xx
 * and network errors are retried with jittered exponential backoff and then
 * reported as retryable (`kms_throttled`, `kms_unavailable`), never as bad
 * data; a rejected ciphertext is permanent; denied access and unusable keys
 * are fatal. Credentials the SDK could not get, or that expired mid-refresh,
 * are retried the same way for CREDENTIALS_ATTEMPTS attempts in a row, then
 * fatal (`credentials_unavailable`). Plaintext keys never reach a message, a
 * log or an error.
 *
 * The client should not retry by itself (build it with `maxAttempts: 1`),
 * or each attempt here hides several requests and their delays.
 */
import { DecryptCommand } from '@aws-sdk/client-kms';
import type { DecryptCommandOutput } from '@aws-sdk/client-kms';
import { DasError, describeError } from '../errors.ts';
import type { FailureReason } from '../errors.ts';
import type { EncryptionContext } from '../source/record.ts';
import { sleep as abortableSleep } from '../util/backoff.ts';
import { retry } from '../util/retry.ts';
import { isCredentialsFailure, isMissingRegion } from '../util/aws-errors.ts';

export const DATA_KEY_BYTES = 32;

/** The one KMS call this module makes. `KMSClient` satisfies it. */
export interface KmsDecryptClient {
  send(command: DecryptCommand): Promise<DecryptCommandOutput>;
}

/** `credentials`: no request was sent, the SDK had no valid credentials for it (retried; not an alert by itself). */
export type KmsRequestOutcome = 'success' | 'throttled' | 'invalid_ciphertext' | 'access_denied' | 'credentials' | 'error';

/**
 * Counts for the metrics layer. A lookup that joins a KMS call already in
 * flight counts as a hit: it costs no call of its own.
 */
export interface DataKeyObserver {
  kmsRequest(outcome: KmsRequestOutcome): void;
  cacheLookup(result: 'hit' | 'miss'): void;
}

export interface DataKeyCacheOptions {
  kms: KmsDecryptClient;
  /** Most data keys held at once; the least recently used goes first. Default 1000. */
  maxEntries?: number;
  /** How long a data key is served from memory after KMS returned it. Default 10 minutes. */
  ttlMs?: number;
  /**
   * KMS requests per lookup, first try included. Default 6. Attempts the SDK
   * could not make for want of credentials are not counted here: they have
   * their own budget, CREDENTIALS_ATTEMPTS in a row.
   */
  maxAttempts?: number;
  /** Backoff before the first retry (then doubling, with jitter). Default 100 ms. */
  baseDelayMs?: number;
  /** Longest backoff between retries. Default 5 s. */
  maxDelayMs?: number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Source of jitter in [0, 1). */
  random?: () => number;
  observer?: DataKeyObserver;
}

export interface DataKeyCacheStats {
  kmsCalls: number;
  hits: number;
  misses: number;
}

interface Entry {
  key: Uint8Array;
  expiresAt: number;
}

interface Classified {
  outcome: KmsRequestOutcome;
  reason: FailureReason;
  transient: boolean;
}

const KEY_UNUSABLE = new Set(['DisabledException', 'KMSInvalidStateException', 'NotFoundException']);
const AUTH_REJECTED = new Set([
  'AccessDeniedException',
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'IncompleteSignatureException',
  'MissingAuthenticationTokenException',
]);
// AWS documents KeyUnavailableException (HTTP 500) as "you can retry the request".
const KMS_SIDE_FAULTS = new Set(['KMSInternalException', 'DependencyTimeoutException', 'KeyUnavailableException']);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EAI_AGAIN',
  'ENOTFOUND',
]);
const TIMEOUT_NAMES = new Set(['TimeoutError', 'RequestTimeout', 'RequestTimeoutException']);

export class DataKeyCache {
  readonly #kms: KmsDecryptClient;
  readonly #maxEntries: number;
  readonly #ttlMs: number;
  readonly #maxAttempts: number;
  readonly #backoff: { baseDelayMs: number; maxDelayMs: number; random: () => number };
  readonly #clock: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #observer: DataKeyObserver | undefined;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<Uint8Array>>();
  readonly #stats: DataKeyCacheStats = { kmsCalls: 0, hits: 0, misses: 0 };

  constructor(options: DataKeyCacheOptions) {
    this.#kms = options.kms;
    this.#maxEntries = positive('maxEntries', options.maxEntries ?? 1000, true);
    this.#ttlMs = positive('ttlMs', options.ttlMs ?? 10 * 60_000, false);
    this.#maxAttempts = positive('maxAttempts', options.maxAttempts ?? 6, true);
    this.#backoff = {
      baseDelayMs: positive('baseDelayMs', options.baseDelayMs ?? 100, false),
      maxDelayMs: positive('maxDelayMs', options.maxDelayMs ?? 5_000, false),
      random: options.random ?? Math.random,
    };
    this.#clock = options.clock ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => abortableSleep(ms));
    this.#observer = options.observer;
  }

  /** The plaintext data key, as a fresh copy the caller may zero. */
  async get(ciphertext: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    const id = cacheKey(ciphertext, context);
    const entry = this.#entries.get(id);
    if (entry && entry.expiresAt > this.#clock()) {
      this.#entries.delete(id);
      this.#entries.set(id, entry);
      this.#count('hit');
      return new Uint8Array(entry.key);
    }
    if (entry) this.#evict(id, entry);

    let flight = this.#inFlight.get(id);
    this.#count(flight ? 'hit' : 'miss');
    if (!flight) {
      flight = this.#decrypt(ciphertext, context).then(
        (key) => {
          this.#inFlight.delete(id);
          this.#store(id, key);
          return key;
        },
        (error: unknown) => {
          this.#inFlight.delete(id);
          throw error;
        },
      );
      this.#inFlight.set(id, flight);
    }
    return new Uint8Array(await flight);
  }

  stats(): DataKeyCacheStats {
    return { ...this.#stats };
  }

  /** Forgets (and zeroes) every cached key; calls in flight still complete. */
  clear(): void {
    for (const [id, entry] of this.#entries) this.#evict(id, entry);
  }

  #count(result: 'hit' | 'miss'): void {
    if (result === 'hit') this.#stats.hits++;
    else this.#stats.misses++;
    this.#observer?.cacheLookup(result);
  }

  #store(id: string, key: Uint8Array): void {
    this.#entries.set(id, { key: new Uint8Array(key), expiresAt: this.#clock() + this.#ttlMs });
    for (const [oldest, entry] of this.#entries) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#evict(oldest, entry);
    }
  }

  #evict(id: string, entry: Entry): void {
    this.#entries.delete(id);
    entry.key.fill(0);
  }

  async #decrypt(ciphertext: Uint8Array, context: EncryptionContext): Promise<Uint8Array> {
    // Credentials have their own budget, counted in a row: a blip must not eat the attempts meant for throttling, nor the reverse.
    const output = await retry(
      () => {
        this.#stats.kmsCalls++;
        return this.#kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { ...context } }));
      },
      (error, attempt) => {
        const failure = classify(error);
        this.#observer?.kmsRequest(failure.outcome);
        if (!failure.transient) return { retry: false, error: toDasError(failure, error, attempt + 1, context) };
        return { retry: true, reason: failure.reason, credentials: failure.outcome === 'credentials' };
      },
      {
        maxAttempts: this.#maxAttempts,
        backoff: this.#backoff,
        sleep: (ms) => this.#sleep(ms),
        exhausted: (_budget, attempts, error) => toDasError(classify(error), error, attempts, context),
      },
    );
    this.#observer?.kmsRequest('success');
    return takePlaintext(output, context);
  }
}

/** Copies KMS's plaintext into an isolated buffer (pooled views break the keyring) and wipes the original. */
function takePlaintext(output: DecryptCommandOutput, context: EncryptionContext): Uint8Array {
  const plaintext = output.Plaintext;
  const length = plaintext?.length ?? 0;
  const key = new Uint8Array(length);
  if (plaintext) {
    key.set(plaintext);
    plaintext.fill(0);
  }
  if (length !== DATA_KEY_BYTES) {
    key.fill(0);
    throw new DasError(
      'kms_invalid_ciphertext',
      `KMS decrypted the record key for ${describeContext(context)} to ${length} bytes, not a ${DATA_KEY_BYTES}-byte data key`,
    );
  }
  return key;
}

function classify(error: unknown): Classified {
  const name = error instanceof Error ? error.name : '';
  const code = (error as { code?: unknown } | null)?.code;
  const status = (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  if (name === 'ThrottlingException') return { outcome: 'throttled', reason: 'kms_throttled', transient: true };
  if (name === 'InvalidCiphertextException') {
    return { outcome: 'invalid_ciphertext', reason: 'kms_invalid_ciphertext', transient: false };
  }
  // Checked before access denied: an expired token is refreshed, not refused.
  if (isCredentialsFailure(error)) return { outcome: 'credentials', reason: 'credentials_unavailable', transient: true };
  if (AUTH_REJECTED.has(name)) return { outcome: 'access_denied', reason: 'kms_access_denied', transient: false };
  // No region: nothing will change until someone configures one.
  if (isMissingRegion(error)) return { outcome: 'error', reason: 'aws_config_missing', transient: false };
  if (KEY_UNUSABLE.has(name)) return { outcome: 'error', reason: 'kms_key_unusable', transient: false };
  const transient =
    KMS_SIDE_FAULTS.has(name) ||
    (status !== undefined && status >= 500) ||
    (typeof code === 'string' && NETWORK_CODES.has(code)) ||
    TIMEOUT_NAMES.has(name);
  // Anything unrecognised is reported as an outage, never as bad data, but not retried here.
  return { outcome: 'error', reason: 'kms_unavailable', transient };
}


function toDasError(failure: Classified, error: unknown, attempts: number, context: EncryptionContext): DasError {
  return new DasError(failure.reason, `${summary(failure, attempts, context)}: ${describeError(error)}`, { cause: error });
}

function summary(failure: Classified, attempts: number, context: EncryptionContext): string {
  switch (failure.reason) {
    case 'kms_throttled':
      return `KMS kept throttling Decrypt (${attempts} attempts)`;
    case 'kms_invalid_ciphertext':
      return `KMS rejected the record key for ${describeContext(context)} (wrong encryption context, or not a KMS ciphertext)`;
    case 'kms_access_denied':
      return 'KMS refused Decrypt: check the credentials and that they allow kms:Decrypt on the DAS key';
    case 'kms_key_unusable':
      return 'the DAS KMS key cannot be used (disabled, pending deletion, unavailable or missing)';
    case 'aws_config_missing':
      return 'KMS cannot be called: set AWS_REGION (the standard AWS SDK chain)';
    case 'credentials_unavailable':
      return `KMS cannot be called: the AWS credentials kept failing (${attempts} attempts; the standard AWS SDK chain)`;
    default:
      return failure.transient ? `KMS Decrypt kept failing (${attempts} attempts)` : 'KMS Decrypt failed';
  }
}

function cacheKey(ciphertext: Uint8Array, context: EncryptionContext): string {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${Buffer.from(ciphertext.buffer, ciphertext.byteOffset, ciphertext.byteLength).toString('base64')} ${JSON.stringify(entries)}`;
}

function describeContext(context: EncryptionContext): string {
  return Object.entries(context)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ') || 'an empty encryption context';
}

function positive(name: string, value: number, integer: boolean): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new RangeError(`${name} is invalid, expected ${integer ? 'an integer' : 'a number'} greater than 0 (actual: '${value}')`);
  }
  return value;
}
