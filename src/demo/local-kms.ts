/**
 * A local stand-in for AWS KMS, for tests and the `demo` command. It is not
 * KMS and protects nothing: key material lives in this process's memory.
 *
 * It speaks the KMS JSON 1.1 protocol exactly as `@aws-sdk/client-kms` sends
 * it (POST /, `Content-Type: application/x-amz-json-1.1`,
 * `X-Amz-Target: TrentService.<Op>`), so the real client can be pointed at it
 * with `endpoint`. It implements `GenerateDataKey`, `Encrypt` and `Decrypt`
 * for symmetric keys addressed by key id, key ARN or alias.
 *
 * What it enforces, as KMS does:
 * - a SigV4 `Authorization` header must be present and well formed (the
 *   signature itself is not checked);
 * - a ciphertext blob opens only with the exact encryption context it was
 *   made with (the canonical context is the AES-GCM additional data), and
 *   garbage, truncated or foreign blobs fail with `InvalidCiphertextException`;
 * - disabled keys, unknown keys, a mismatched `KeyId` and bad parameters fail
 *   with KMS's own error names and status codes.
 *
 * Faults for tests: deny all access, fail the next n requests (with any KMS
 * error, a reset connection or no answer at all), or fail a seeded random
 * share of requests. Calls are counted per operation.
 *
 * Ciphertext blob layout (ours, opaque to callers):
 *   version 0x01 | key id length (1 byte) | key id (UTF-8) | IV (12) | AES-256-GCM ciphertext | tag (16)
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const KMS_OPERATIONS = ['GenerateDataKey', 'Encrypt', 'Decrypt'] as const;
export type KmsOperation = (typeof KMS_OPERATIONS)[number];

/** KMS error names this stand-in can answer with, and the HTTP status KMS uses for each. */
const ERROR_STATUS = {
  AccessDeniedException: 400,
  DependencyTimeoutException: 503,
  DisabledException: 400,
  // A session token that ran out (mid-refresh, typically): the request is refused, the next refresh fixes it.
  ExpiredTokenException: 400,
  IncompleteSignatureException: 400,
  IncorrectKeyException: 400,
  InvalidCiphertextException: 400,
  KeyUnavailableException: 500,
  KMSInternalException: 500,
  KMSInvalidStateException: 400,
  MissingAuthenticationTokenException: 400,
  NotFoundException: 400,
  SerializationException: 400,
  ThrottlingException: 400,
  UnknownOperationException: 400,
  ValidationException: 400,
} as const;
export type KmsErrorName = keyof typeof ERROR_STATUS;

/** A scheduled fault: a KMS error response, a connection reset, or a request left unanswered. */
export type KmsFault = KmsErrorName | 'connection_reset' | 'no_response';

export interface LocalKmsOptions {
  region?: string;
  account?: string;
}

export interface LocalKmsKey {
  keyId: string;
  arn: string;
  alias?: string;
}

interface StoredKey extends LocalKmsKey {
  material: Buffer;
  enabled: boolean;
}

class KmsFailure extends Error {
  constructor(
    readonly type: KmsErrorName,
    message: string,
  ) {
    super(message);
  }
}

const VERSION = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_BODY_BYTES = 64 * 1024;

export class LocalKms {
  readonly region: string;
  readonly account: string;
  #keys = new Map<string, StoredKey>();
  #aliases = new Map<string, string>();
  #calls = Object.fromEntries(KMS_OPERATIONS.map((op) => [op, 0])) as Record<KmsOperation, number>;
  #denyAccess = false;
  #scheduled: { fault: KmsFault; operation: KmsOperation | undefined }[] = [];
  #random: { probability: number; fault: KmsFault; next: () => number } | undefined;
  #server: Server | undefined;

  constructor(options: LocalKmsOptions = {}) {
    this.region = options.region ?? 'us-east-1';
    this.account = options.account ?? '111122223333';
  }

  createKey(options: { keyId?: string; alias?: string } = {}): LocalKmsKey {
    const keyId = options.keyId ?? randomUUID();
    if (this.#keys.has(keyId)) throw new Error(`key ${keyId} already exists`);
    if (Buffer.byteLength(keyId) > 255) throw new Error('key id too long');
    const visible: LocalKmsKey = { keyId, arn: `arn:aws:kms:${this.region}:${this.account}:key/${keyId}` };
    if (options.alias !== undefined) {
      const alias = options.alias.startsWith('alias/') ? options.alias : `alias/${options.alias}`;
      if (this.#aliases.has(alias)) throw new Error(`${alias} already exists`);
      this.#aliases.set(alias, keyId);
      visible.alias = alias;
    }
    this.#keys.set(keyId, { ...visible, material: randomBytes(32), enabled: true });
    return visible;
  }

  setKeyEnabled(keyId: string, enabled: boolean): void {
    const key = this.#keys.get(keyId);
    if (!key) throw new Error(`no key ${keyId}`);
    key.enabled = enabled;
  }

  /** While on, every authenticated request fails with AccessDeniedException, as with a missing key policy grant. */
  denyAccess(deny: boolean): void {
    this.#denyAccess = deny;
  }

  /** The next `count` requests (for `operation`, or any) fail with `fault`; schedules queue up in call order. */
  failNext(count: number, fault: KmsFault, options: { operation?: KmsOperation } = {}): void {
    for (let i = 0; i < count; i++) this.#scheduled.push({ fault, operation: options.operation });
  }

  /** Each request fails with `fault` with the given probability, drawn from an RNG seeded with `seed`; probability 0 turns it off. */
  failRandomly(probability: number, fault: KmsFault, seed: number): void {
    this.#random = probability > 0 ? { probability, fault, next: mulberry32(seed) } : undefined;
  }

  /** Drops every scheduled and random fault and lifts an access denial. */
  clearFaults(): void {
    this.#scheduled = [];
    this.#random = undefined;
    this.#denyAccess = false;
  }

  /** Requests received per operation, counted whether or not they succeeded. */
  get calls(): Readonly<Record<KmsOperation, number>> {
    return { ...this.#calls };
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<{ endpoint: string }> {
    if (this.#server) throw new Error('already listening');
    const server = createServer((req, res) => void this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address() as AddressInfo;
    return { endpoint: `http://${host}:${address.port}` };
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    try {
      const body = await readBody(req);
      const operation = this.#route(req);
      this.#calls[operation]++;
      checkAuthorization(req);
      const fault = this.#takeFault(operation);
      if (fault === 'connection_reset') return void req.socket.destroy();
      if (fault === 'no_response') return;
      if (fault) throw new KmsFailure(fault, `injected ${fault}`);
      if (this.#denyAccess) {
        throw new KmsFailure(
          'AccessDeniedException',
          `User: arn:aws:iam::${this.account}:user/local is not authorized to perform: kms:${operation} because no identity-based policy allows the kms:${operation} action`,
        );
      }
      const input = parseInput(body);
      const output = this.#operations[operation](input);
      send(res, 200, output, requestId);
    } catch (error) {
      if (error instanceof KmsFailure) {
        send(res, ERROR_STATUS[error.type], { __type: error.type, message: error.message }, requestId);
      } else {
        send(res, 500, { __type: 'KMSInternalException', message: 'internal error' }, requestId);
      }
    }
  }

  #route(req: IncomingMessage): KmsOperation {
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' && target.startsWith('TrentService.') ? target.slice(13) : undefined;
    if (req.method !== 'POST' || req.url !== '/' || !KMS_OPERATIONS.includes(operation as KmsOperation)) {
      throw new KmsFailure('UnknownOperationException', `unknown operation ${String(target)}`);
    }
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') {
      throw new KmsFailure('SerializationException', 'expected Content-Type application/x-amz-json-1.1');
    }
    return operation as KmsOperation;
  }

  #takeFault(operation: KmsOperation): KmsFault | undefined {
    const index = this.#scheduled.findIndex((s) => s.operation === undefined || s.operation === operation);
    if (index >= 0) return this.#scheduled.splice(index, 1)[0]!.fault;
    if (this.#random && this.#random.next() < this.#random.probability) return this.#random.fault;
    return undefined;
  }

  #operations: Record<KmsOperation, (input: Record<string, unknown>) => Record<string, unknown>> = {
    GenerateDataKey: (input) => {
      const key = this.#usableKey(input.KeyId, true)!;
      const length = dataKeyLength(input.KeySpec, input.NumberOfBytes);
      const plaintext = randomBytes(length);
      return {
        KeyId: key.arn,
        Plaintext: plaintext.toString('base64'),
        CiphertextBlob: seal(key, plaintext, encryptionContext(input.EncryptionContext)).toString('base64'),
      };
    },
    Encrypt: (input) => {
      const key = this.#usableKey(input.KeyId, true)!;
      const plaintext = blob(input.Plaintext, 'plaintext', 4096);
      return {
        KeyId: key.arn,
        CiphertextBlob: seal(key, plaintext, encryptionContext(input.EncryptionContext)).toString('base64'),
        EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      };
    },
    Decrypt: (input) => {
      const ciphertext = blob(input.CiphertextBlob, 'ciphertextBlob', 6144);
      const context = encryptionContext(input.EncryptionContext);
      const requested = this.#usableKey(input.KeyId, false);
      const parsed = parseBlob(ciphertext);
      const key = parsed && this.#keys.get(parsed.keyId);
      if (!parsed || !key) throw invalidCiphertext();
      if (requested && requested.keyId !== key.keyId) {
        throw new KmsFailure('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
      }
      if (!key.enabled) throw new KmsFailure('DisabledException', `${key.arn} is disabled.`);
      return { KeyId: key.arn, Plaintext: open(key, parsed, context).toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
  };

  #usableKey(keyId: unknown, required: boolean): StoredKey | undefined {
    if (keyId === undefined && !required) return undefined;
    if (typeof keyId !== 'string' || keyId.length === 0) {
      throw new KmsFailure('ValidationException', "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null");
    }
    const key = this.#keys.get(this.#resolve(keyId) ?? '');
    if (!key) throw new KmsFailure('NotFoundException', `Key '${keyId}' does not exist`);
    if (!key.enabled) throw new KmsFailure('DisabledException', `${key.arn} is disabled.`);
    return key;
  }

  #resolve(keyId: string): string | undefined {
    const arnPrefix = `arn:aws:kms:${this.region}:${this.account}:`;
    const local = keyId.startsWith(arnPrefix) ? keyId.slice(arnPrefix.length) : keyId;
    if (local.startsWith('alias/')) return this.#aliases.get(local);
    return local.startsWith('key/') ? local.slice(4) : local;
  }
}

function invalidCiphertext(): KmsFailure {
  return new KmsFailure('InvalidCiphertextException', 'The ciphertext is invalid or the encryption context does not match.');
}

/** Order-independent, unambiguous encoding of an encryption context, used as GCM additional data. */
function canonicalContext(context: Record<string, string>): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries));
}

function seal(key: StoredKey, plaintext: Buffer, context: Record<string, string>): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.material, iv);
  cipher.setAAD(canonicalContext(context));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const keyId = Buffer.from(key.keyId);
  return Buffer.concat([Buffer.from([VERSION, keyId.length]), keyId, iv, body, cipher.getAuthTag()]);
}

interface ParsedBlob {
  keyId: string;
  iv: Buffer;
  body: Buffer;
  tag: Buffer;
}

function parseBlob(blob: Buffer): ParsedBlob | undefined {
  if (blob.length < 2 || blob[0] !== VERSION) return undefined;
  const idEnd = 2 + blob[1]!;
  if (blob.length < idEnd + IV_BYTES + 1 + TAG_BYTES) return undefined;
  return {
    keyId: blob.subarray(2, idEnd).toString('utf8'),
    iv: blob.subarray(idEnd, idEnd + IV_BYTES),
    body: blob.subarray(idEnd + IV_BYTES, blob.length - TAG_BYTES),
    tag: blob.subarray(blob.length - TAG_BYTES),
  };
}

function open(key: StoredKey, parsed: ParsedBlob, context: Record<string, string>): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.material, parsed.iv);
    decipher.setAAD(canonicalContext(context));
    decipher.setAuthTag(parsed.tag);
    return Buffer.concat([decipher.update(parsed.body), decipher.final()]);
  } catch {
    throw invalidCiphertext();
  }
}

function dataKeyLength(keySpec: unknown, numberOfBytes: unknown): number {
  if ((keySpec === undefined) === (numberOfBytes === undefined)) {
    throw new KmsFailure('ValidationException', 'Please specify either number of bytes or key spec.');
  }
  if (keySpec === 'AES_256') return 32;
  if (keySpec === 'AES_128') return 16;
  if (Number.isInteger(numberOfBytes) && (numberOfBytes as number) >= 1 && (numberOfBytes as number) <= 1024) {
    return numberOfBytes as number;
  }
  throw new KmsFailure('ValidationException', `1 validation error detected: invalid KeySpec or NumberOfBytes`);
}

function blob(value: unknown, field: string, maxBytes: number): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'base64') : Buffer.alloc(0);
  if (bytes.length < 1 || bytes.length > maxBytes) {
    throw new KmsFailure(
      'ValidationException',
      `1 validation error detected: Value at '${field}' failed to satisfy constraint: Member must have length between 1 and ${maxBytes}`,
    );
  }
  return bytes;
}

function encryptionContext(value: unknown): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new KmsFailure('SerializationException', 'EncryptionContext must be a map of strings');
  }
  return value as Record<string, string>;
}

function checkAuthorization(req: IncomingMessage): void {
  const header = req.headers.authorization;
  if (header === undefined) throw new KmsFailure('MissingAuthenticationTokenException', 'Missing Authentication Token');
  const credential = /^AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]{64}$/.exec(header)?.[1];
  const scope = credential?.split('/');
  if (scope?.length !== 5 || scope[3] !== 'kms' || scope[4] !== 'aws4_request' || req.headers['x-amz-date'] === undefined) {
    throw new KmsFailure(
      'IncompleteSignatureException',
      'Authorization header requires Credential, SignedHeaders and Signature, scoped to the kms service, and an X-Amz-Date header.',
    );
  }
}

function parseInput(body: Buffer): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(body.length === 0 ? '{}' : body.toString('utf8'));
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the same answer as a non-object body
  }
  throw new KmsFailure('SerializationException', 'Start of structure or map found where not expected.');
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new KmsFailure('ValidationException', 'request body too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function send(res: ServerResponse, status: number, body: Record<string, unknown>, requestId: string): void {
  const json = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(json),
    'x-amzn-RequestId': requestId,
  });
  res.end(json);
}

/** Small seeded PRNG so a random fault schedule replays identically. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
