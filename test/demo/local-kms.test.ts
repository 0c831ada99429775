import assert from 'node:assert/strict';
import {
  DecryptCommand,
  DisabledException,
  EncryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  KMSClient,
  KMSInternalException,
  NotFoundException,
} from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LocalKms, type KmsErrorName, type LocalKmsKey } from '../../src/demo/local-kms.ts';

const CONTEXT = { 'aws:rds:dbc-id': 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ' };

function kmsClient(endpoint: string, requestTimeout = 5_000): KMSClient {
  return new KMSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' },
    maxAttempts: 1,
    // Without throwOnRequestTimeout this handler version only warns when requestTimeout passes.
    requestHandler: new NodeHttpHandler({ requestTimeout, throwOnRequestTimeout: true }),
  });
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number }; code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  assert.fail('expected the call to fail');
}

describe('LocalKms', () => {
  const kms = new LocalKms({ region: 'us-east-1', account: '123456789012' });
  let key: LocalKmsKey;
  let endpoint: string;
  let client: KMSClient;

  before(async () => {
    key = kms.createKey({ alias: 'das-test' });
    ({ endpoint } = await kms.listen());
    client = kmsClient(endpoint);
  });
  afterEach(() => kms.clearFaults());
  after(async () => {
    client.destroy();
    await kms.close();
  });

  async function generate(context: Record<string, string> = CONTEXT) {
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', EncryptionContext: context }));
    return { plaintext: out.Plaintext!, ciphertext: out.CiphertextBlob!, keyId: out.KeyId };
  }

  it('listens on an ephemeral loopback port', () => {
    assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(endpoint, 'http://127.0.0.1:0');
  });

  it('GenerateDataKey returns a 32-byte key and a blob that Decrypt opens with the same context', async () => {
    const { plaintext, ciphertext, keyId } = await generate();
    assert.equal(plaintext.length, 32);
    assert.equal(keyId, `arn:aws:kms:us-east-1:123456789012:key/${key.keyId}`);
    const out = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: { ...CONTEXT } }));
    assert.deepEqual(Buffer.from(out.Plaintext!), Buffer.from(plaintext));
    assert.equal(out.KeyId, key.arn);
    assert.equal(out.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
  });

  it('each GenerateDataKey call makes a new key', async () => {
    const a = await generate();
    const b = await generate();
    assert.notDeepEqual(Buffer.from(a.plaintext), Buffer.from(b.plaintext));
    assert.notDeepEqual(Buffer.from(a.ciphertext), Buffer.from(b.ciphertext));
  });

  it('GenerateDataKey honours NumberOfBytes', async () => {
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, NumberOfBytes: 64 }));
    assert.equal(out.Plaintext!.length, 64);
  });

  for (const [name, keyId] of [
    ['key id', () => key.keyId],
    ['key ARN', () => key.arn],
    ['alias name', () => 'alias/das-test'],
    ['alias ARN', () => 'arn:aws:kms:us-east-1:123456789012:alias/das-test'],
  ] as const) {
    it(`addresses a key by its ${name}`, async () => {
      const out = await client.send(new GenerateDataKeyCommand({ KeyId: keyId(), KeySpec: 'AES_256' }));
      assert.equal(out.KeyId, key.arn);
    });
  }

  it('Encrypt then Decrypt round-trips, whatever order the context entries come in', async () => {
    const message = Buffer.from('not a data key, just bytes');
    const encrypted = await client.send(
      new EncryptCommand({ KeyId: key.arn, Plaintext: message, EncryptionContext: { a: '1', b: '2' } }),
    );
    assert.equal(encrypted.EncryptionAlgorithm, 'SYMMETRIC_DEFAULT');
    const decrypted = await client.send(
      new DecryptCommand({ CiphertextBlob: encrypted.CiphertextBlob, EncryptionContext: { b: '2', a: '1' } }),
    );
    assert.deepEqual(Buffer.from(decrypted.Plaintext!), message);
  });

  it('Decrypt with the KeyId that made the blob succeeds', async () => {
    const { ciphertext } = await generate();
    const out = await client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT, KeyId: 'alias/das-test' }));
    assert.equal(out.KeyId, key.arn);
  });

  describe('Decrypt fails with InvalidCiphertextException (HTTP 400), like KMS', () => {
    const cases: [string, (blob: Uint8Array) => { blob: Uint8Array; context?: Record<string, string> }][] = [
      ['wrong resource id in the context', (blob) => ({ blob, context: { 'aws:rds:dbc-id': 'cluster-SOMEONEELSE' } })],
      ['instance key name instead of cluster key name', (blob) => ({ blob, context: { 'aws:rds:db-id': CONTEXT['aws:rds:dbc-id'] } })],
      ['no encryption context', (blob) => ({ blob })],
      ['an extra context entry', (blob) => ({ blob, context: { ...CONTEXT, extra: 'x' } })],
      ['one flipped bit in the ciphertext', (blob) => ({ blob: flip(blob, blob.length - 20), context: CONTEXT })],
      ['a truncated blob', (blob) => ({ blob: blob.subarray(0, 40), context: CONTEXT })],
      ['garbage bytes', () => ({ blob: Buffer.from('this is not a KMS ciphertext blob at all, not even close'), context: CONTEXT })],
      ['a blob naming a key this KMS does not hold', (blob) => ({ blob: renameKey(blob), context: CONTEXT })],
    ];
    for (const [name, mutate] of cases) {
      it(name, async () => {
        const { ciphertext } = await generate();
        const { blob, context } = mutate(ciphertext);
        const error = await rejection(client.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: context })));
        assert.ok(error instanceof InvalidCiphertextException, `${error.name}: ${error.message}`);
        assert.equal(error.$metadata?.httpStatusCode, 400);
      });
    }
  });

  it('Decrypt with a KeyId other than the one that made the blob fails with IncorrectKeyException', async () => {
    const other = kms.createKey();
    const { ciphertext } = await generate();
    const error = await rejection(client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT, KeyId: other.keyId })));
    assert.ok(error instanceof IncorrectKeyException, error.name);
  });

  it('an unknown key fails with NotFoundException', async () => {
    const error = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: 'alias/nope', KeySpec: 'AES_256' })));
    assert.ok(error instanceof NotFoundException, error.name);
  });

  it('a disabled key fails with DisabledException until enabled again', async () => {
    const disabled = kms.createKey();
    const made = await client.send(new GenerateDataKeyCommand({ KeyId: disabled.keyId, KeySpec: 'AES_256', EncryptionContext: CONTEXT }));
    kms.setKeyEnabled(disabled.keyId, false);
    const onGenerate = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: disabled.keyId, KeySpec: 'AES_256' })));
    const onDecrypt = await rejection(client.send(new DecryptCommand({ CiphertextBlob: made.CiphertextBlob, EncryptionContext: CONTEXT })));
    assert.ok(onGenerate instanceof DisabledException, onGenerate.name);
    assert.ok(onDecrypt instanceof DisabledException, onDecrypt.name);
    kms.setKeyEnabled(disabled.keyId, true);
    await client.send(new DecryptCommand({ CiphertextBlob: made.CiphertextBlob, EncryptionContext: CONTEXT }));
  });

  for (const [name, input] of [
    ['neither KeySpec nor NumberOfBytes', {}],
    ['both KeySpec and NumberOfBytes', { KeySpec: 'AES_256', NumberOfBytes: 32 }],
    ['NumberOfBytes over 1024', { NumberOfBytes: 2048 }],
  ] as const) {
    it(`GenerateDataKey with ${name} fails with ValidationException`, async () => {
      const error = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, ...input })));
      assert.equal(error.name, 'ValidationException');
      assert.equal(error.$metadata?.httpStatusCode, 400);
    });
  }

  describe('authentication', () => {
    async function post(headers: Record<string, string>) {
      const res = await fetch(endpoint, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-amz-json-1.1', 'X-Amz-Target': 'TrentService.GenerateDataKey', ...headers },
        body: JSON.stringify({ KeyId: key.keyId, KeySpec: 'AES_256' }),
      });
      return { status: res.status, body: (await res.json()) as { __type: string; message: string }, contentType: res.headers.get('content-type') };
    }

    it('rejects a request without an Authorization header as KMS does', async () => {
      const res = await post({});
      assert.equal(res.status, 400);
      assert.equal(res.body.__type, 'MissingAuthenticationTokenException');
      assert.equal(res.contentType, 'application/x-amz-json-1.1');
    });

    for (const [name, authorization] of [
      ['that is not SigV4', 'Basic dXNlcjpwYXNz'],
      ['without a Signature', 'AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date'],
      ['scoped to another service', `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${'a'.repeat(64)}`],
    ]) {
      it(`rejects an Authorization header ${name} with IncompleteSignatureException`, async () => {
        const res = await post({ Authorization: authorization!, 'X-Amz-Date': '20240101T000000Z' });
        assert.equal(res.status, 400);
        assert.equal(res.body.__type, 'IncompleteSignatureException');
      });
    }

    it('accepts a well-formed SigV4 header (the signature math is not checked)', async () => {
      const res = await post({
        Authorization: `AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`,
        'X-Amz-Date': '20240101T000000Z',
      });
      assert.equal(res.status, 200);
    });

    it('rejects an unknown operation with UnknownOperationException', async () => {
      const res = await post({ 'X-Amz-Target': 'TrentService.ScheduleKeyDeletion' });
      assert.equal(res.status, 400);
      assert.equal(res.body.__type, 'UnknownOperationException');
    });
  });

  it('denyAccess(true) answers every call with AccessDeniedException until lifted', async () => {
    const { ciphertext } = await generate();
    kms.denyAccess(true);
    const error = await rejection(client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT })));
    assert.equal(error.name, 'AccessDeniedException');
    assert.equal(error.$metadata?.httpStatusCode, 400);
    kms.denyAccess(false);
    await client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT }));
  });

  describe('failNext', () => {
    const errors: [KmsErrorName, number][] = [
      ['ThrottlingException', 400],
      ['KMSInternalException', 500],
      ['DependencyTimeoutException', 503],
      ['KeyUnavailableException', 500],
      ['KMSInvalidStateException', 400],
      ['AccessDeniedException', 400],
    ];
    for (const [name, status] of errors) {
      it(`injects ${name} (HTTP ${status}) once, then serves normally`, async () => {
        const { ciphertext } = await generate();
        kms.failNext(1, name);
        const error = await rejection(client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT })));
        assert.equal(error.name, name);
        assert.equal(error.$metadata?.httpStatusCode, status);
        await client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT }));
      });
    }

    it('surfaces KMSInternalException as the SDK\'s modeled class', async () => {
      kms.failNext(1, 'KMSInternalException');
      const error = await rejection(generate());
      assert.ok(error instanceof KMSInternalException);
    });

    it('fails exactly the next n matching calls, leaving other operations alone', async () => {
      const { ciphertext } = await generate();
      kms.failNext(2, 'ThrottlingException', { operation: 'Decrypt' });
      await generate();
      const decrypt = () => client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT }));
      assert.equal((await rejection(decrypt())).name, 'ThrottlingException');
      assert.equal((await rejection(decrypt())).name, 'ThrottlingException');
      await decrypt();
    });

    it('connection_reset drops the connection (the client sees ECONNRESET)', async () => {
      kms.failNext(1, 'connection_reset');
      const error = await rejection(generate());
      assert.equal(error.code, 'ECONNRESET');
      await generate();
    });

    it('no_response leaves the request hanging until the client times out', async () => {
      const impatient = kmsClient(endpoint, 200);
      try {
        kms.failNext(1, 'no_response');
        const error = await rejection(impatient.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' })));
        assert.equal(error.name, 'TimeoutError');
        await impatient.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' }));
      } finally {
        impatient.destroy();
      }
    });
  });

  it('failRandomly replays the same pattern for the same seed', async () => {
    async function pattern(seed: number): Promise<string> {
      kms.failRandomly(0.3, 'ThrottlingException', seed);
      let outcomes = '';
      for (let i = 0; i < 40; i++) {
        outcomes += await generate().then(
          () => '.',
          () => 'T',
        );
      }
      kms.failRandomly(0, 'ThrottlingException', seed);
      return outcomes;
    }
    const first = await pattern(7);
    assert.equal(await pattern(7), first);
    assert.match(first, /T/);
    assert.match(first, /\./);
    assert.notEqual(await pattern(8), first);
  });

  it('counts calls per operation, failed ones included', async () => {
    const before = kms.calls;
    const { ciphertext } = await generate();
    await client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: CONTEXT }));
    await rejection(client.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: {} })));
    const after = kms.calls;
    assert.deepEqual(
      { GenerateDataKey: after.GenerateDataKey - before.GenerateDataKey, Decrypt: after.Decrypt - before.Decrypt, Encrypt: after.Encrypt - before.Encrypt },
      { GenerateDataKey: 1, Decrypt: 2, Encrypt: 0 },
    );
  });
});

describe('LocalKms lifecycle', () => {
  it('after close() the endpoint refuses connections', async () => {
    const kms = new LocalKms();
    kms.createKey({ keyId: 'k1' });
    const { endpoint } = await kms.listen();
    const client = kmsClient(endpoint);
    const fresh = kmsClient(endpoint);
    try {
      await client.send(new GenerateDataKeyCommand({ KeyId: 'k1', KeySpec: 'AES_256' }));
      await kms.close();
      const error = await rejection(fresh.send(new GenerateDataKeyCommand({ KeyId: 'k1', KeySpec: 'AES_256' })));
      assert.equal(error.code, 'ECONNREFUSED');
    } finally {
      client.destroy();
      fresh.destroy();
    }
  });

  it('close() does not wait for requests left hanging by no_response', async () => {
    const kms = new LocalKms();
    kms.createKey({ keyId: 'k1' });
    const { endpoint } = await kms.listen();
    const client = kmsClient(endpoint, 0);
    try {
      kms.failNext(1, 'no_response');
      const pending = rejection(client.send(new GenerateDataKeyCommand({ KeyId: 'k1', KeySpec: 'AES_256' })));
      while (kms.calls.GenerateDataKey === 0) await new Promise((resolve) => setImmediate(resolve));
      await kms.close();
      assert.ok((await pending) instanceof Error);
    } finally {
      client.destroy();
    }
  });
});

function flip(blob: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(blob);
  copy[index]! ^= 0x01;
  return copy;
}

/** Same layout, but the embedded key id changed to one the server never issued. */
function renameKey(blob: Uint8Array): Uint8Array {
  const copy = new Uint8Array(blob);
  copy[2]! ^= 0x01;
  return copy;
}
