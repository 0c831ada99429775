/**
 * The native decrypt path refuses every altered message the library refuses,
 * with the same reason: each byte of small messages flipped, every
 * truncation, frames reordered, a signature or signer key taken from another
 * message, trailing bytes. And it is all or nothing: an altered last frame or
 * signature yields no plaintext at all.
 */
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
import { NativePayloadDecryptor } from '../../src/decrypt/fast/native-payload.ts';
import { parseMessageHeader } from '../../src/decrypt/message-header.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import type { PayloadDecryptor } from '../../src/decrypt/payload.ts';
import { flipByte } from '../support/record-mutations.ts';

const { encrypt } = buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT);

function rawAesKeyring(key: Uint8Array, keyName = 'DataKey'): RawAesKeyringNode {
  return new RawAesKeyringNode({
    keyNamespace: 'BC',
    keyName,
    unencryptedMasterKey: new Uint8Array(key),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

interface Sealed {
  name: string;
  message: Buffer;
  wrappingKey: Uint8Array;
  plaintext: Buffer;
}

async function seal(name: string, suiteId: AlgorithmSuiteIdentifier, size: number, frameLength: number): Promise<Sealed> {
  const wrappingKey = new Uint8Array(randomBytes(32));
  const plaintext = randomBytes(size);
  const { result } = await encrypt(rawAesKeyring(wrappingKey), plaintext, { suiteId, frameLength, encryptionContext: {} });
  return { name, message: Buffer.from(result), wrappingKey, plaintext };
}

type Outcome = { ok: true; plaintext: Buffer } | { ok: false; reason: string };

async function outcome(decryptor: PayloadDecryptor, message: Uint8Array, key: Uint8Array, verify?: 'sync' | 'threadpool'): Promise<Outcome> {
  try {
    return { ok: true, plaintext: Buffer.from(await decryptor.decrypt(message, key, verify ? { verify } : {})) };
  } catch (error) {
    assert.ok(isDasError(error), `expected a DasError, got ${String(error)}`);
    return { ok: false, reason: error.reason };
  }
}

const esdk = new EsdkPayloadDecryptor();
const native = new NativePayloadDecryptor({ fallback: esdk });

/** Both paths refuse `message` and agree on why, the native one whether it verifies on the thread pool or here; returns the reason. */
async function bothRefuse(message: Uint8Array, key: Uint8Array, what: string): Promise<string> {
  const [library, fast, here] = [await outcome(esdk, message, key), await outcome(native, message, key), await outcome(native, message, key, 'sync')];
  assert.equal(fast.ok, false, `${what}: the native path accepted it`);
  assert.equal(here.ok, false, `${what}: the native path verifying on the calling thread accepted it`);
  assert.equal(library.ok, false, `${what}: the library accepted it`);
  assert.equal(!fast.ok && fast.reason, !library.ok && library.reason, `${what}: reasons differ`);
  assert.equal(!here.ok && here.reason, !library.ok && library.reason, `${what}: reasons differ (verifying on the calling thread)`);
  return fast.ok ? '' : fast.reason;
}

/** Offsets of each frame (sequence number field) of a framed message. */
function frameOffsets(message: Buffer): number[] {
  const header = parseMessageHeader(message);
  const offsets: number[] = [];
  let at = header.headerLength;
  for (;;) {
    offsets.push(at);
    if (message.readUInt32BE(at) === 0xffffffff) return offsets;
    at += 4 + 12 + header.frameLength + 16;
  }
}

function footerStart(message: Buffer): number {
  const last = frameOffsets(message).at(-1)!;
  return last + 4 + 4 + 12 + 4 + message.readUInt32BE(last + 20) + 16;
}

describe('NativePayloadDecryptor, altered messages', function () {
  this.timeout(300_000);
  let messages: Sealed[];

  before(async () => {
    messages = [
      await seal('0x0078, three 16-byte frames', AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16, 40, 16),
      await seal('0x0178, three 16-byte frames', AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256, 40, 16),
      await seal('0x0178, empty body', AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256, 0, 4096),
      await seal('0x0378, three 16-byte frames', AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, 40, 16),
      await seal('0x0378, final frame exactly full', AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, 32, 16),
    ];
  });

  it('opens every unaltered message (the baseline the mutations start from)', async () => {
    for (const m of messages) {
      for (const verify of ['threadpool', 'sync'] as const) {
        const opened = await outcome(native, m.message, m.wrappingKey, verify);
        assert.ok(opened.ok && opened.plaintext.equals(m.plaintext), `${m.name}, verify ${verify}`);
      }
    }
  });

  it('refuses every single flipped byte of each message, for the same reason as the library', async () => {
    for (const m of messages) {
      const reasons = new Map<string, number>();
      for (let i = 0; i < m.message.length; i++) {
        const reason = await bothRefuse(flipByte(m.message, i), m.wrappingKey, `${m.name}, byte ${i} flipped`);
        reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
      }
      // Flips reach the header structure, the key wrap, the header tag and the frames.
      assert.ok(reasons.has('auth_tag_mismatch') && reasons.has('wrong_data_key') && reasons.has('unsupported_message'), `${m.name}: ${[...reasons.keys()]}`);
      if (m.name.startsWith('0x0378')) assert.ok(reasons.has('signature_invalid'), `${m.name}: the signature footer was never reached`);
    }
  });

  it('refuses the message cut at every length, for the same reason as the library', async () => {
    for (const m of messages) {
      for (let length = 0; length < m.message.length; length++) {
        const reason = await bothRefuse(m.message.subarray(0, length), m.wrappingKey, `${m.name}, cut to ${length} bytes`);
        if (length >= parseMessageHeader(m.message).headerLength && m.name.startsWith('0x0378') && length >= footerStart(m.message)) {
          assert.equal(reason, 'signature_invalid', `${m.name}: a cut inside the signature footer`);
        }
      }
    }
  });

  it('refuses frames swapped or a frame repeated, as out of order', async () => {
    for (const m of messages.filter((x) => x.name.includes('three'))) {
      const [first, second, final] = frameOffsets(m.message);
      const swapped = Buffer.concat([
        m.message.subarray(0, first),
        m.message.subarray(second!, final),
        m.message.subarray(first!, second),
        m.message.subarray(final!),
      ]);
      assert.equal(await bothRefuse(swapped, m.wrappingKey, `${m.name}, frames 1 and 2 swapped`), 'unsupported_message');
      const repeated = Buffer.concat([m.message.subarray(0, second), m.message.subarray(first!, second), m.message.subarray(second!)]);
      assert.equal(await bothRefuse(repeated, m.wrappingKey, `${m.name}, frame 1 repeated`), 'unsupported_message');
      const dropped = Buffer.concat([m.message.subarray(0, second), m.message.subarray(final!)]);
      assert.equal(await bothRefuse(dropped, m.wrappingKey, `${m.name}, frame 2 dropped`), 'unsupported_message');
    }
  });

  it('refuses a signature, or a signer public key, taken from another message', async () => {
    const a = messages.find((m) => m.name === '0x0378, three 16-byte frames')!;
    const b = await seal('another 0x0378', AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384, 40, 16);
    const withOtherSignature = Buffer.concat([a.message.subarray(0, footerStart(a.message)), b.message.subarray(footerStart(b.message))]);
    assert.equal(await bothRefuse(withOtherSignature, a.wrappingKey, 'signature from another message'), 'signature_invalid');

    // Same length, so only the key differs; the context is bound into the key wrap, so the unwrap fails first.
    const keyOf = (m: Buffer) => Buffer.from(parseMessageHeader(m).encryptionContext['aws-crypto-public-key']!);
    const withOtherKey = Buffer.from(a.message);
    withOtherKey.set(keyOf(b.message), a.message.indexOf(keyOf(a.message)));
    assert.equal(await bothRefuse(withOtherKey, a.wrappingKey, 'public key from another message'), 'wrong_data_key');

    // Both the key and the signature of b, body of a: the data key still does not unwrap.
    const chimera = Buffer.concat([withOtherKey.subarray(0, footerStart(a.message)), b.message.subarray(footerStart(b.message))]);
    assert.equal(await bothRefuse(chimera, a.wrappingKey, 'public key and signature from another message'), 'wrong_data_key');
  });

  it('refuses bytes appended after a signed message, as the library does', async () => {
    for (const m of messages.filter((x) => x.name.startsWith('0x0378'))) {
      for (const extra of [Buffer.from([0]), randomBytes(100)]) {
        assert.equal(await bothRefuse(Buffer.concat([m.message, extra]), m.wrappingKey, `${m.name} + ${extra.length} bytes`), 'signature_invalid');
      }
    }
  });

  it('refuses bytes appended after an unsigned message, which the library accepts (a documented difference)', async () => {
    for (const m of messages.filter((x) => !x.name.startsWith('0x0378'))) {
      const longer = Buffer.concat([m.message, Buffer.from([0x00, 0x01])]);
      const library = await outcome(esdk, longer, m.wrappingKey);
      assert.ok(library.ok && library.plaintext.equals(m.plaintext), `${m.name}: the library ignores trailing bytes`);
      const fast = await outcome(native, longer, m.wrappingKey);
      assert.deepEqual(fast, { ok: false, reason: 'unsupported_message' }, m.name);
    }
  });

  it('refuses another data key, or a data key of the wrong length, as wrong_data_key', async () => {
    for (const m of messages) {
      assert.equal(await bothRefuse(m.message, new Uint8Array(randomBytes(32)), `${m.name}, another data key`), 'wrong_data_key');
      assert.equal(await bothRefuse(m.message, new Uint8Array(16), `${m.name}, a 16-byte key`), 'wrong_data_key');
    }
  });

  it('refuses a key name other than DataKey as wrong_data_key', async () => {
    const wrappingKey = new Uint8Array(randomBytes(32));
    const { result } = await encrypt(rawAesKeyring(wrappingKey, 'OtherKey'), randomBytes(10), {
      suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
      encryptionContext: {},
    });
    assert.equal(await bothRefuse(result, wrappingKey, 'key name OtherKey'), 'wrong_data_key');
  });

  describe('all or nothing', () => {
    it('yields no plaintext when only the last frame tag or the signature is altered', async () => {
      for (const m of messages) {
        const lastTag = m.message.length - 1 - (m.name.startsWith('0x0378') ? m.message.length - footerStart(m.message) : 0);
        const altered = [flipByte(m.message, lastTag)];
        if (m.name.startsWith('0x0378')) altered.push(flipByte(m.message, -1), flipByte(m.message, footerStart(m.message) + 10));
        for (const message of altered) {
          for (const verify of ['threadpool', 'sync'] as const) {
            let resolved: unknown;
            const promise = native.decrypt(message, m.wrappingKey, { verify }).then((value) => (resolved = value));
            await assert.rejects(promise, (error: unknown) => isDasError(error) && ['auth_tag_mismatch', 'signature_invalid'].includes(error.reason));
            assert.equal(resolved, undefined, `${m.name}, verify ${verify}: some plaintext was handed out`);
          }
        }
      }
    });

    it('exposes one promise per message and nothing else: no stream, no callback, no partial result', async () => {
      const publicMembers = Object.getOwnPropertyNames(NativePayloadDecryptor.prototype).filter((name) => name !== 'constructor');
      assert.deepEqual(publicMembers, ['decrypt']);
      assert.equal(NativePayloadDecryptor.prototype.decrypt.length, 2, 'decrypt(message, dataKey, options?): no callback parameter');
      const m = messages[3]!;
      const result = await native.decrypt(m.message, m.wrappingKey);
      assert.ok(result instanceof Uint8Array);
      assert.ok(!('pipe' in result) && !('on' in result), 'the result is bytes, not a stream');
    });
  });

  describe('what goes to the fallback', () => {
    function recording(): { calls: number; decryptor: PayloadDecryptor } {
      const spy = {
        calls: 0,
        decryptor: {
          decrypt: async (message: Uint8Array, key: Uint8Array) => {
            spy.calls++;
            return esdk.decrypt(message, key);
          },
        },
      };
      return spy;
    }

    it('hands a message with two encrypted data keys to the fallback, which refuses it', async () => {
      const key = new Uint8Array(randomBytes(32));
      const keyring = new MultiKeyringNode({ generator: rawAesKeyring(key), children: [rawAesKeyring(new Uint8Array(randomBytes(32)), 'DataKey2')] });
      const { result } = await encrypt(keyring, randomBytes(10), { suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256, encryptionContext: {} });
      const spy = recording();
      const paths: string[] = [];
      const decryptor = new NativePayloadDecryptor({ fallback: spy.decryptor, onPath: (p) => paths.push(p) });
      await assert.rejects(decryptor.decrypt(result, key), (e: unknown) => isDasError(e) && e.reason === 'unsupported_message');
      assert.deepEqual([spy.calls, paths], [1, ['fallback']]);
    });

    it('hands a committing (format version 2) message to the fallback, which names its suite', async () => {
      const key = new Uint8Array(randomBytes(32));
      const { result } = await buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT).encrypt(rawAesKeyring(key), randomBytes(10));
      const spy = recording();
      const decryptor = new NativePayloadDecryptor({ fallback: spy.decryptor });
      await assert.rejects(decryptor.decrypt(result, key), (e: unknown) => isDasError(e) && e.reason === 'unsupported_suite');
      assert.equal(spy.calls, 1);
    });

    it('keeps every ordinary DAS message away from the fallback', async () => {
      const spy = recording();
      const decryptor = new NativePayloadDecryptor({ fallback: spy.decryptor });
      for (const m of messages) await decryptor.decrypt(m.message, m.wrappingKey);
      assert.equal(spy.calls, 0);
    });
  });
});
