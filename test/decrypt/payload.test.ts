import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  MultiKeyringNode,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { isDasError } from '../../src/errors.ts';
import { gunzipCappedSync } from '../../src/decrypt/gunzip.ts';
import { parseMessageHeader } from '../../src/decrypt/message-header.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import { AURORA_MYSQL, AURORA_POSTGRESQL, DasRecordFactory } from '../../src/demo/record-factory.ts';
import { flipByte, flipCiphertextByte, InMemoryDataKeys } from '../support/record-mutations.ts';
import type { EngineProfile } from '../../src/demo/record-factory.ts';

const RESOURCE_ID = 'cluster-ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const CONTEXT = { 'aws:rds:dbc-id': RESOURCE_ID };
const UNSIGNED_NO_KDF: EngineProfile = { suiteId: 0x0078, frameLength: 4096, version: '1.0' };

const PROFILES: [string, EngineProfile][] = [
  ['0x0178 as Aurora PostgreSQL', AURORA_POSTGRESQL],
  ['0x0378 as Aurora MySQL', AURORA_MYSQL],
  ['0x0078', UNSIGNED_NO_KDF],
];

/** Events whose gzip is about `bytes` long: random text does not compress. */
function bulkyEvents(bytes: number): unknown[] {
  const events: unknown[] = [];
  for (let total = 0; total < bytes; total += 3000) {
    events.push({ type: 'record', command: 'QUERY', commandText: `SELECT '${randomBytes(3000).toString('base64')}'` });
  }
  return events;
}

async function sealed(profile: EngineProfile, events: unknown[]): Promise<{ message: Buffer; dataKey: Uint8Array }> {
  const keys = new InMemoryDataKeys();
  const factory = new DasRecordFactory({ resourceId: RESOURCE_ID, dataKeys: keys, profile });
  const data = await factory.record({ clusterId: RESOURCE_ID, instanceId: 'db-INSTANCE', events });
  const envelope = JSON.parse(Buffer.from(data).toString('utf8'));
  const dataKey = keys.plaintextOf(Buffer.from(envelope.key, 'base64'), CONTEXT);
  assert.ok(dataKey);
  return { message: Buffer.from(envelope.databaseActivityEvents, 'base64'), dataKey };
}

function rawAesKeyring(key: Uint8Array): RawAesKeyringNode {
  return new RawAesKeyringNode({
    keyNamespace: 'BC',
    keyName: 'DataKey',
    unencryptedMasterKey: new Uint8Array(key),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

async function failure(message: Uint8Array, dataKey: Uint8Array, decryptor = new EsdkPayloadDecryptor()): Promise<string> {
  const before = Buffer.from(dataKey);
  try {
    await decryptor.decrypt(message, dataKey);
  } catch (error) {
    assert.ok(isDasError(error), `expected a DasError, got ${String(error)}`);
    assert.deepEqual(Buffer.from(dataKey), before, 'the caller’s data key must be left intact');
    for (const encoding of ['hex', 'base64'] as const) {
      assert.ok(!error.message.includes(before.toString(encoding)), 'error message must not hold key bytes');
    }
    return error.reason;
  }
  assert.fail('expected decrypt to fail');
}

describe('EsdkPayloadDecryptor', () => {
  describe('round trip with the record factory and gunzip', () => {
    for (const [name, profile] of PROFILES) {
      it(`${name}: events spanning several frames come back intact`, async () => {
        const events = bulkyEvents(profile.frameLength + 40_000);
        const { message, dataKey } = await sealed(profile, events);
        const header = parseMessageHeader(message);
        assert.equal(header.suiteId, profile.suiteId);
        assert.ok(message.length > header.headerLength + header.frameLength + 100, 'expected a multi-frame message');

        const record = JSON.parse((gunzipCappedSync(await new EsdkPayloadDecryptor().decrypt(message, dataKey))).toString('utf8'));
        assert.deepEqual(record.databaseActivityEventList, events);
      });

      it(`${name}: an empty event list comes back empty`, async () => {
        const { message, dataKey } = await sealed(profile, []);
        const record = JSON.parse((gunzipCappedSync(await new EsdkPayloadDecryptor().decrypt(message, dataKey))).toString('utf8'));
        assert.deepEqual(record, {
          type: 'DatabaseActivityMonitoringRecord',
          clusterId: RESOURCE_ID,
          instanceId: 'db-INSTANCE',
          databaseActivityEventList: [],
        });
      });
    }

    it('leaves the caller’s data key buffer as it was (the keyring zeroes what it is given)', async () => {
      const { message, dataKey } = await sealed(AURORA_POSTGRESQL, [{ type: 'heartbeat' }]);
      const before = Buffer.from(dataKey);
      const decryptor = new EsdkPayloadDecryptor();
      await decryptor.decrypt(message, dataKey);
      await decryptor.decrypt(message, dataKey);
      assert.deepEqual(Buffer.from(dataKey), before);
    });

    it('accepts a data key that is a view into a larger, pooled buffer', async () => {
      const { message, dataKey } = await sealed(AURORA_POSTGRESQL, [{ type: 'heartbeat' }]);
      const pooled = Buffer.concat([Buffer.alloc(7), dataKey, Buffer.alloc(9)]).subarray(7, 7 + 32);
      assert.ok((await new EsdkPayloadDecryptor().decrypt(message, pooled)).length > 0);
    });
  });

  describe('failures', () => {
    for (const [name, profile] of PROFILES) {
      describe(name, () => {
        let message: Buffer;
        let dataKey: Uint8Array;
        let headerLength: number;
        before(async () => {
          ({ message, dataKey } = await sealed(profile, bulkyEvents(6000)));
          ({ headerLength } = parseMessageHeader(message));
        });

        it('a flipped body byte is auth_tag_mismatch', async () => {
          assert.equal(await failure(flipCiphertextByte(message), dataKey), 'auth_tag_mismatch');
        });

        it('a flipped message id byte (header) is auth_tag_mismatch', async () => {
          assert.equal(await failure(flipByte(message, 4), dataKey), 'auth_tag_mismatch');
        });

        it('a flipped header auth tag byte is auth_tag_mismatch', async () => {
          assert.equal(await failure(flipByte(message, headerLength - 1), dataKey), 'auth_tag_mismatch');
        });

        it('a flipped last byte is signature_invalid when signed, auth_tag_mismatch otherwise', async () => {
          const expected = profile.suiteId === 0x0378 ? 'signature_invalid' : 'auth_tag_mismatch';
          assert.equal(await failure(flipByte(message, -1), dataKey), expected);
        });

        it('a message cut in its body is truncated_message', async () => {
          assert.equal(await failure(message.subarray(0, headerLength + 100), dataKey), 'truncated_message');
        });

        it('a message cut in its header is truncated_message', async () => {
          assert.equal(await failure(message.subarray(0, headerLength - 20), dataKey), 'truncated_message');
        });

        it('another data key is wrong_data_key', async () => {
          assert.equal(await failure(message, randomBytes(32)), 'wrong_data_key');
        });

        it('an altered encrypted data key is wrong_data_key', async () => {
          const { encryptedDataKeys } = parseMessageHeader(message);
          const offset = encryptedDataKeys[0]!.ciphertext.byteOffset - message.byteOffset;
          assert.equal(await failure(flipByte(message, offset), dataKey), 'wrong_data_key');
        });
      });
    }

    it('a data key that is not 32 bytes is wrong_data_key', async () => {
      const { message } = await sealed(AURORA_POSTGRESQL, []);
      assert.equal(await failure(message, randomBytes(16)), 'wrong_data_key');
    });

    it('a key wrapped under another namespace than BC/DataKey is wrong_data_key', async () => {
      const dataKey = randomBytes(32);
      const keyring = new RawAesKeyringNode({
        keyNamespace: 'XX',
        keyName: 'DataKey',
        unencryptedMasterKey: new Uint8Array(dataKey),
        wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
      });
      const { result } = await buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).encrypt(keyring, 'x', {
        suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
      });
      assert.equal(await failure(result, dataKey), 'wrong_data_key');
    });

    const foreignSuites: [string, CommitmentPolicy, AlgorithmSuiteIdentifier][] = [
      ['0x0114 (AES-128, a non-committing suite DAS does not use)', CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT, AlgorithmSuiteIdentifier.ALG_AES128_GCM_IV12_TAG16_HKDF_SHA256],
      ['0x0346 (AES-192 with ECDSA P-384)', CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT, AlgorithmSuiteIdentifier.ALG_AES192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384],
      ['0x0478 (committing, format version 2)', CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY],
      ['0x0578 (committing and signed, format version 2)', CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT, AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY_ECDSA_P384],
    ];
    for (const [name, policy, suiteId] of foreignSuites) {
      it(`a message made with suite ${name} is unsupported_suite`, async () => {
        const dataKey = randomBytes(32);
        const { result } = await buildClient(policy).encrypt(rawAesKeyring(dataKey), 'select 1', { suiteId });
        assert.equal(await failure(result, dataKey), 'unsupported_suite');
      });
    }

    it('a DAS message with its suite bytes rewritten to 0xbeef is unsupported_suite', async () => {
      const { message, dataKey } = await sealed(AURORA_POSTGRESQL, []);
      const crafted = Buffer.from(message);
      crafted.writeUInt16BE(0xbeef, 2);
      assert.equal(await failure(crafted, dataKey), 'unsupported_suite');
    });

    describe('more encrypted data keys than allowed', () => {
      let message: Buffer;
      let dataKey: Uint8Array;
      before(async () => {
        dataKey = randomBytes(32);
        const keyring = new MultiKeyringNode({ generator: rawAesKeyring(dataKey), children: [rawAesKeyring(randomBytes(32))] });
        ({ result: message } = await buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).encrypt(keyring, 'select 1', {
          suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
        }));
        assert.equal(parseMessageHeader(message).encryptedDataKeys.length, 2);
      });

      it('two keys against the default limit of one is unsupported_message', async () => {
        assert.equal(await failure(message, dataKey), 'unsupported_message');
      });

      it('two keys open when the limit is raised to two', async () => {
        const plaintext = await new EsdkPayloadDecryptor({ maxEncryptedDataKeys: 2 }).decrypt(message, dataKey);
        assert.equal(Buffer.from(plaintext).toString(), 'select 1');
      });
    });

    it('bytes that are no Encryption SDK message are unsupported_message', async () => {
      assert.equal(await failure(Buffer.from('{"hello": "world"}'), randomBytes(32)), 'unsupported_message');
    });

    it('an empty message is truncated_message', async () => {
      assert.equal(await failure(new Uint8Array(0), randomBytes(32)), 'truncated_message');
    });

    it('refuses a limit on encrypted data keys below one', () => {
      assert.throws(() => new EsdkPayloadDecryptor({ maxEncryptedDataKeys: 0 }), RangeError);
    });
  });
});
