import assert from 'node:assert/strict';
import { EncryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import {
  DataKeyCache,
  type DataKeyCacheOptions,
  type DataKeyObserver,
  type KmsRequestOutcome,
} from '../../src/decrypt/data-keys.ts';
import { LocalKms, type KmsFault, type LocalKmsKey } from '../../src/demo/local-kms.ts';
import { DasError, describeError, type FailureReason } from '../../src/errors.ts';
import { CREDENTIALS_ATTEMPTS } from '../../src/util/aws-errors.ts';
import { command, FlakyCredentials } from '../support/flaky-credentials.ts';

const CLUSTER = { 'aws:rds:dbc-id': 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ' };
const OTHER_CLUSTER = { 'aws:rds:dbc-id': 'cluster-ZYXWVUTSRQPONMLKJIHGFEDCBA' };

function kmsClient(endpoint: string): KMSClient {
  return new KMSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ requestTimeout: 300, throwOnRequestTimeout: true }),
  });
}

class RecordingObserver implements DataKeyObserver {
  requests: KmsRequestOutcome[] = [];
  lookups: ('hit' | 'miss')[] = [];
  kmsRequest(outcome: KmsRequestOutcome): void {
    this.requests.push(outcome);
  }
  cacheLookup(result: 'hit' | 'miss'): void {
    this.lookups.push(result);
  }
}

async function rejection(promise: Promise<unknown>): Promise<DasError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof DasError, `expected a DasError, got ${describeError(error)}`);
    return error;
  }
  assert.fail('expected the lookup to fail');
}

describe('DataKeyCache', () => {
  const kms = new LocalKms();
  let key: LocalKmsKey;
  let client: KMSClient;
  let kmsEndpoint: string;

  before(async () => {
    key = kms.createKey();
    kmsEndpoint = (await kms.listen()).endpoint;
    client = kmsClient(kmsEndpoint);
  });
  afterEach(() => kms.clearFaults());
  after(async () => {
    client.destroy();
    await kms.close();
  });

  /** A data key made the way RDS makes one for a DAS stream. */
  async function dataKey(context: Record<string, string> = CLUSTER) {
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: key.arn, KeySpec: 'AES_256', EncryptionContext: context }));
    return { plaintext: Buffer.from(out.Plaintext!), ciphertext: out.CiphertextBlob! };
  }

  function cache(options: Partial<DataKeyCacheOptions> = {}) {
    const observer = new RecordingObserver();
    const sleeps: number[] = [];
    const dataKeys = new DataKeyCache({
      kms: client,
      observer,
      sleep: async (ms) => void sleeps.push(ms),
      random: () => 1,
      ...options,
    });
    const decryptsBefore = kms.calls.Decrypt;
    return { dataKeys, observer, sleeps, kmsDecrypts: () => kms.calls.Decrypt - decryptsBefore };
  }

  it('returns the data key KMS decrypts, and serves a repeat from memory', async () => {
    const { plaintext, ciphertext } = await dataKey();
    const { dataKeys, observer, kmsDecrypts } = cache();
    assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
    assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
    assert.equal(kmsDecrypts(), 1);
    assert.deepEqual(dataKeys.stats(), { kmsCalls: 1, hits: 1, misses: 1 });
    assert.deepEqual(observer.lookups, ['miss', 'hit']);
    assert.deepEqual(observer.requests, ['success']);
  });

  it('hands out an isolated copy each time, so a keyring zeroing it does not spoil the cache', async () => {
    const { plaintext, ciphertext } = await dataKey();
    const { dataKeys } = cache();
    for (const lookup of ['miss', 'hit']) {
      const handed = await dataKeys.get(ciphertext, CLUSTER);
      assert.equal(handed.byteOffset, 0, lookup);
      assert.equal(handed.buffer.byteLength, 32, lookup);
      handed.fill(0);
    }
    assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
  });

  it('finds an entry whatever the order of the context entries', async () => {
    const context = { a: '1', b: '2' };
    const { ciphertext } = await dataKey(context);
    const { dataKeys, kmsDecrypts } = cache();
    await dataKeys.get(ciphertext, { a: '1', b: '2' });
    await dataKeys.get(ciphertext, { b: '2', a: '1' });
    assert.equal(kmsDecrypts(), 1);
  });

  it('fifty concurrent lookups of one key make a single KMS call', async () => {
    const { plaintext, ciphertext } = await dataKey();
    const { dataKeys, kmsDecrypts } = cache();
    const keys = await Promise.all(Array.from({ length: 50 }, () => dataKeys.get(ciphertext, CLUSTER)));
    assert.equal(kmsDecrypts(), 1);
    for (const k of keys) assert.deepEqual(Buffer.from(k), plaintext);
    assert.equal(new Set(keys.map((k) => k.buffer)).size, 50, 'every caller gets its own buffer');
    assert.deepEqual(dataKeys.stats(), { kmsCalls: 1, hits: 49, misses: 1 });
  });

  it('concurrent lookups of different keys each make their own call', async () => {
    const a = await dataKey();
    const b = await dataKey();
    const { dataKeys, kmsDecrypts } = cache();
    await Promise.all([a, b, a, b].map((k) => dataKeys.get(k.ciphertext, CLUSTER)));
    assert.equal(kmsDecrypts(), 2);
  });

  it('a different encryption context is never answered from the cache, and fails like KMS', async () => {
    const { ciphertext } = await dataKey();
    const { dataKeys, observer, kmsDecrypts } = cache();
    await dataKeys.get(ciphertext, CLUSTER);
    const error = await rejection(dataKeys.get(ciphertext, OTHER_CLUSTER));
    assert.equal(error.reason, 'kms_invalid_ciphertext');
    assert.equal(error.disposition, 'permanent');
    assert.match(error.message, /cluster-ZYXWVUTSRQPONMLKJIHGFEDCBA/);
    assert.equal(kmsDecrypts(), 2);
    assert.deepEqual(observer.lookups, ['miss', 'miss']);
    assert.deepEqual(observer.requests, ['success', 'invalid_ciphertext']);
  });

  it('an entry expires ttlMs after KMS returned it', async () => {
    const { ciphertext } = await dataKey();
    let now = 1_000_000;
    const { dataKeys, kmsDecrypts } = cache({ ttlMs: 60_000, clock: () => now });
    await dataKeys.get(ciphertext, CLUSTER);
    now += 59_999;
    await dataKeys.get(ciphertext, CLUSTER);
    assert.equal(kmsDecrypts(), 1);
    now += 1;
    await dataKeys.get(ciphertext, CLUSTER);
    assert.equal(kmsDecrypts(), 2);
    assert.deepEqual(dataKeys.stats(), { kmsCalls: 2, hits: 1, misses: 2 });
  });

  it('holds at most maxEntries keys, dropping the least recently used', async () => {
    const [a, b, c] = [await dataKey(), await dataKey(), await dataKey()];
    const { dataKeys, observer } = cache({ maxEntries: 2 });
    await dataKeys.get(a.ciphertext, CLUSTER);
    await dataKeys.get(b.ciphertext, CLUSTER);
    await dataKeys.get(a.ciphertext, CLUSTER);
    await dataKeys.get(c.ciphertext, CLUSTER);
    observer.lookups = [];
    await dataKeys.get(a.ciphertext, CLUSTER);
    await dataKeys.get(c.ciphertext, CLUSTER);
    await dataKeys.get(b.ciphertext, CLUSTER);
    assert.deepEqual(observer.lookups, ['hit', 'hit', 'miss']);
  });

  it('clear() forgets every key', async () => {
    const { ciphertext } = await dataKey();
    const { dataKeys, kmsDecrypts } = cache();
    await dataKeys.get(ciphertext, CLUSTER);
    dataKeys.clear();
    await dataKeys.get(ciphertext, CLUSTER);
    assert.equal(kmsDecrypts(), 2);
  });

  describe('retries while the world is flaky, then succeeds after', () => {
    const faults: [string, KmsFault][] = [
      ['throttling', 'ThrottlingException'],
      ['a KMS internal error (500)', 'KMSInternalException'],
      ['a KMS dependency timeout (503)', 'DependencyTimeoutException'],
      ['a key KMS says is unavailable for now (500, documented as retryable)', 'KeyUnavailableException'],
      ['a reset connection', 'connection_reset'],
      ['a request that never gets an answer', 'no_response'],
    ];
    for (const [name, fault] of faults) {
      it(name, async () => {
        const { plaintext, ciphertext } = await dataKey();
        const { dataKeys, observer, sleeps, kmsDecrypts } = cache({ baseDelayMs: 100, maxDelayMs: 10_000 });
        kms.failNext(2, fault, { operation: 'Decrypt' });
        assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
        assert.equal(kmsDecrypts(), 3);
        assert.equal(dataKeys.stats().kmsCalls, 3);
        assert.deepEqual(sleeps, [100, 200], 'exponential backoff, at the top of its jitter range');
        const failed = fault === 'ThrottlingException' ? 'throttled' : 'error';
        assert.deepEqual(observer.requests, [failed, failed, 'success']);
      });
    }
  });

  it('backoff never exceeds maxDelayMs', async () => {
    const { ciphertext } = await dataKey();
    const { dataKeys, sleeps } = cache({ maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 300 });
    kms.failNext(5, 'ThrottlingException', { operation: 'Decrypt' });
    await dataKeys.get(ciphertext, CLUSTER);
    assert.deepEqual(sleeps, [100, 200, 300, 300, 300]);
  });

  describe('when retries run out the failure is retryable, never bad data', () => {
    const cases: [string, KmsFault, FailureReason][] = [
      ['throttling', 'ThrottlingException', 'kms_throttled'],
      ['KMS internal errors', 'KMSInternalException', 'kms_unavailable'],
      ['reset connections', 'connection_reset', 'kms_unavailable'],
    ];
    for (const [name, fault, reason] of cases) {
      it(`${name} → ${reason}`, async () => {
        const { ciphertext } = await dataKey();
        const { dataKeys, sleeps, kmsDecrypts } = cache({ maxAttempts: 3 });
        kms.failNext(3, fault, { operation: 'Decrypt' });
        const error = await rejection(dataKeys.get(ciphertext, CLUSTER));
        assert.equal(error.reason, reason);
        assert.equal(error.disposition, 'retryable');
        assert.match(error.message, /3 attempts/);
        assert.equal(kmsDecrypts(), 3);
        assert.equal(sleeps.length, 2);
      });
    }

    it('an unreachable KMS → kms_unavailable', async () => {
      const gone = new LocalKms();
      const { endpoint } = await gone.listen();
      await gone.close();
      const unreachable = kmsClient(endpoint);
      try {
        const { ciphertext } = await dataKey();
        const { dataKeys } = cache({ kms: unreachable, maxAttempts: 2 });
        const error = await rejection(dataKeys.get(ciphertext, CLUSTER));
        assert.equal(error.reason, 'kms_unavailable');
        assert.equal(error.disposition, 'retryable');
        assert.match(error.message, /ECONNREFUSED/);
        assert.equal(dataKeys.stats().kmsCalls, 2);
      } finally {
        unreachable.destroy();
      }
    });
  });

  it('a failed call is not cached: the next lookup asks KMS again', async () => {
    const { plaintext, ciphertext } = await dataKey();
    const { dataKeys, kmsDecrypts } = cache({ maxAttempts: 1 });
    kms.failNext(1, 'ThrottlingException', { operation: 'Decrypt' });
    await rejection(dataKeys.get(ciphertext, CLUSTER));
    assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
    assert.equal(kmsDecrypts(), 2);
  });

  it('concurrent lookups share one failed call and all see its error', async () => {
    const { ciphertext } = await dataKey();
    const { dataKeys, kmsDecrypts } = cache();
    kms.denyAccess(true);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => dataKeys.get(ciphertext, CLUSTER)));
    assert.equal(kmsDecrypts(), 1);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.equal((result as PromiseRejectedResult).reason.reason, 'kms_access_denied');
    }
  });

  describe('failures that retrying cannot fix are not retried', () => {
    const cases: [string, () => void, FailureReason, 'permanent' | 'fatal', KmsRequestOutcome][] = [
      ['access denied is fatal', () => kms.denyAccess(true), 'kms_access_denied', 'fatal', 'access_denied'],
      ['a disabled key is fatal', () => kms.setKeyEnabled(key.keyId, false), 'kms_key_unusable', 'fatal', 'error'],
      ['a key in an invalid state is fatal', () => kms.failNext(1, 'KMSInvalidStateException'), 'kms_key_unusable', 'fatal', 'error'],
      ['a missing key is fatal', () => kms.failNext(1, 'NotFoundException'), 'kms_key_unusable', 'fatal', 'error'],
      ['an unsigned request is fatal', () => kms.failNext(1, 'IncompleteSignatureException'), 'kms_access_denied', 'fatal', 'access_denied'],
    ];
    for (const [name, arrange, reason, disposition, outcome] of cases) {
      it(name, async () => {
        const { ciphertext } = await dataKey();
        const { dataKeys, observer, sleeps, kmsDecrypts } = cache();
        arrange();
        try {
          const error = await rejection(dataKeys.get(ciphertext, CLUSTER));
          assert.equal(error.reason, reason);
          assert.equal(error.disposition, disposition);
          assert.equal(kmsDecrypts(), 1);
          assert.deepEqual(sleeps, []);
          assert.deepEqual(observer.requests, [outcome]);
        } finally {
          kms.setKeyEnabled(key.keyId, true);
        }
      });
    }

    it('a blob that is not a KMS ciphertext is permanent', async () => {
      const { dataKeys, kmsDecrypts } = cache();
      const error = await rejection(dataKeys.get(Buffer.from('AQIDAHj-not-really-a-ciphertext-blob'), CLUSTER));
      assert.equal(error.reason, 'kms_invalid_ciphertext');
      assert.equal(error.disposition, 'permanent');
      assert.equal(kmsDecrypts(), 1);
    });

    it('a ciphertext of something other than a 32-byte key is permanent, and not cached', async () => {
      const short = await client.send(new EncryptCommand({ KeyId: key.arn, Plaintext: Buffer.alloc(16, 7), EncryptionContext: CLUSTER }));
      const { dataKeys, kmsDecrypts } = cache();
      for (let i = 0; i < 2; i++) {
        const error = await rejection(dataKeys.get(short.CiphertextBlob!, CLUSTER));
        assert.equal(error.reason, 'kms_invalid_ciphertext');
        assert.match(error.message, /16 bytes/);
      }
      assert.equal(kmsDecrypts(), 2);
    });
  });

  it('never puts the plaintext key into an error', async () => {
    const secret = Buffer.from('0123456789abcdefghijklmnopqrstuv');
    const encrypted = await client.send(new EncryptCommand({ KeyId: key.arn, Plaintext: secret, EncryptionContext: CLUSTER }));
    const short = await client.send(new EncryptCommand({ KeyId: key.arn, Plaintext: secret.subarray(0, 20), EncryptionContext: CLUSTER }));
    const { dataKeys } = cache({ maxAttempts: 2 });
    await dataKeys.get(encrypted.CiphertextBlob!, CLUSTER);

    const errors: DasError[] = [];
    errors.push(await rejection(dataKeys.get(encrypted.CiphertextBlob!, OTHER_CLUSTER)));
    errors.push(await rejection(dataKeys.get(short.CiphertextBlob!, CLUSTER)));
    kms.failNext(2, 'ThrottlingException');
    errors.push(await rejection(dataKeys.get(encrypted.CiphertextBlob!, { 'aws:rds:dbc-id': 'cluster-NEW' })));
    kms.denyAccess(true);
    errors.push(await rejection(dataKeys.get(encrypted.CiphertextBlob!, { 'aws:rds:dbc-id': 'cluster-NEWER' })));

    const forms = [secret, secret.subarray(0, 20)].flatMap((s) => [s.toString('utf8'), s.toString('hex'), s.toString('base64')]);
    for (const error of errors) {
      const text = [error.message, error.stack, describeError(error), describeError(error.cause), JSON.stringify(error)].join('\n');
      for (const form of forms) assert.ok(!text.includes(form), `${error.reason} error mentions the key`);
    }
  });

  describe('credentials being refreshed', () => {
    /** A client like `kmsClient`, its credentials from a provider that fails when the test says. */
    function flakyClient(): { flaky: FlakyCredentials; flakyKms: KMSClient } {
      const flaky = new FlakyCredentials();
      const flakyKms = flaky.attach(
        new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: flaky.provider, maxAttempts: 1, requestHandler: new NodeHttpHandler({ requestTimeout: 300, throwOnRequestTimeout: true }) }),
      );
      return { flaky, flakyKms };
    }

    it('a provider that fails once (CredentialsProviderError) costs one short retry, and the key comes back', async () => {
      const { plaintext, ciphertext } = await dataKey();
      const { flaky, flakyKms } = flakyClient();
      try {
        flaky.failOnce(command('Decrypt'));
        const { dataKeys, observer, sleeps, kmsDecrypts } = cache({ kms: flakyKms, baseDelayMs: 100 });
        assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
        assert.deepEqual(flaky.failed, ['DecryptCommand']);
        assert.deepEqual(observer.requests, ['credentials', 'success']);
        assert.deepEqual(sleeps, [100], 'the first step of the backoff, no longer');
        assert.equal(kmsDecrypts(), 1, 'the failed attempt never reached KMS');
      } finally {
        flakyKms.destroy();
      }
    });

    it('a session token KMS says expired (ExpiredTokenException) is retried, not read as access denied', async () => {
      const { plaintext, ciphertext } = await dataKey();
      const { dataKeys, observer, sleeps } = cache({ baseDelayMs: 100 });
      kms.failNext(1, 'ExpiredTokenException', { operation: 'Decrypt' });
      assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
      assert.deepEqual(observer.requests, ['credentials', 'success']);
      assert.deepEqual(sleeps, [100]);
    });

    it('a credentials blip does not use up the attempts meant for throttling', async () => {
      const { plaintext, ciphertext } = await dataKey();
      const { flaky, flakyKms } = flakyClient();
      try {
        flaky.failOnce(command('Decrypt'));
        kms.failNext(2, 'ThrottlingException', { operation: 'Decrypt' });
        const { dataKeys, observer } = cache({ kms: flakyKms, maxAttempts: 3 });
        assert.deepEqual(Buffer.from(await dataKeys.get(ciphertext, CLUSTER)), plaintext);
        assert.deepEqual(observer.requests, ['credentials', 'throttled', 'throttled', 'success']);
      } finally {
        flakyKms.destroy();
      }
    });

    it(`a provider that keeps failing ends, after ${CREDENTIALS_ATTEMPTS} attempts in a row, as fatal credentials_unavailable that says so`, async () => {
      const { ciphertext } = await dataKey();
      const { flaky, flakyKms } = flakyClient();
      try {
        flaky.failAlways();
        const { dataKeys, observer, sleeps, kmsDecrypts } = cache({ kms: flakyKms, baseDelayMs: 100, maxDelayMs: 5_000 });
        const error = await rejection(dataKeys.get(ciphertext, CLUSTER));
        assert.equal(error.reason, 'credentials_unavailable');
        assert.equal(error.disposition, 'fatal');
        assert.match(error.message, new RegExp(`AWS credentials kept failing \\(${CREDENTIALS_ATTEMPTS} attempts`));
        assert.match(error.message, /CredentialsProviderError/);
        assert.deepEqual(observer.requests, Array(CREDENTIALS_ATTEMPTS).fill('credentials'));
        const backoff = Array.from({ length: CREDENTIALS_ATTEMPTS - 1 }, (_, i) => Math.min(5_000, 100 * 2 ** i));
        assert.deepEqual(sleeps, backoff, 'short, bounded backoff between them');
        assert.equal(kmsDecrypts(), 0);
      } finally {
        flakyKms.destroy();
      }
    });
  });

  for (const [name, options] of [
    ['maxEntries of 0', { maxEntries: 0 }],
    ['fractional maxAttempts', { maxAttempts: 1.5 }],
    ['negative ttlMs', { ttlMs: -1 }],
  ] as const) {
    it(`refuses ${name}, naming the option`, () => {
      const field = Object.keys(options)[0]!;
      assert.throws(() => new DataKeyCache({ kms: client, ...options }), new RegExp(`^RangeError: ${field} is invalid`));
    });
  }
});
