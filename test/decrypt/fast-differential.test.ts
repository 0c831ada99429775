/**
 * The native decrypt path against @aws-crypto/client-node on the same bytes:
 * thousands of seeded messages (every DAS suite, frame lengths from 1 byte to
 * 256 KiB, empty, exactly-full and multi-frame bodies, contexts of 0–5
 * pairs) must open to identical plaintext both ways. Non-framed messages,
 * which the JavaScript library can open but not write, are sealed here on
 * node:crypto by `sealNonFramed` and checked against the library too.
 */
import assert from 'node:assert/strict';
import { createCipheriv, ECDH, generateKeyPairSync, hkdfSync, randomBytes, sign } from 'node:crypto';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { NativePayloadDecryptor } from '../../src/decrypt/fast/native-payload.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';

const { encrypt } = buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT);

const SUITES = [
  AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16,
  AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
  AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
] as const;

/** Seeded so a failure names a case that can be replayed. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rawAesKeyring(key: Uint8Array): RawAesKeyringNode {
  return new RawAesKeyringNode({
    keyNamespace: 'BC',
    keyName: 'DataKey',
    unencryptedMasterKey: new Uint8Array(key),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
}

interface Case {
  name: string;
  suiteId: AlgorithmSuiteIdentifier;
  frameLength: number;
  size: number;
  context: Record<string, string>;
}

const FRAME_LENGTHS = [1, 16, 64, 100, 4096, 262144];

function contextOf(random: () => number, pairs: number): Record<string, string> {
  const context: Record<string, string> = {};
  for (let i = 0; i < pairs; i++) {
    // Lower-case keys keep byte order and localeCompare order equal, so these stay on the native path.
    const key = `k${i}-${'abcdefghijklmnop'.slice(0, Math.floor(random() * 16))}`;
    context[key] = 'v'.repeat(Math.floor(random() * 300));
  }
  return context;
}

function generateCases(count: number, seed: number): Case[] {
  const random = mulberry32(seed);
  const cases: Case[] = [];
  for (let i = 0; i < count; i++) {
    const suiteId = SUITES[i % SUITES.length]!;
    const frameLength = FRAME_LENGTHS[Math.floor(random() * FRAME_LENGTHS.length)]!;
    const shape = Math.floor(random() * 6);
    // Empty, one byte, exactly one full frame, a full final frame after others, a partial final frame, random.
    const size = [0, 1, frameLength, frameLength * (1 + Math.floor(random() * 3)), frameLength * 2 + 1 + Math.floor(random() * Math.max(1, frameLength - 1)), Math.floor(random() * 9000)][shape]!;
    const bounded = Math.min(size, frameLength === 1 ? 300 : 600_000);
    const pairs = Math.floor(random() * 6);
    cases.push({ name: `case ${i} (seed ${seed})`, suiteId, frameLength, size: bounded, context: contextOf(random, pairs) });
  }
  return cases;
}

/** A non-framed (content type 1) version 1 message, sealed as the Encryption SDK specification lays it out. */
function sealNonFramed(plaintext: Uint8Array, wrappingKey: Uint8Array, suiteId: 0x0078 | 0x0178 | 0x0378, context: Record<string, string> = {}): Buffer {
  const u16 = (n: number) => Buffer.from([n >>> 8, n & 0xff]);
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeUInt32BE(Math.floor(n / 2 ** 32)); b.writeUInt32BE(n >>> 0, 4); return b; };
  const gcm = (key: Uint8Array, iv: Uint8Array, aad: Uint8Array, data: Uint8Array) => {
    const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(aad);
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    return { body, tag: cipher.getAuthTag() };
  };
  const signed = suiteId === 0x0378;
  const fullContext = { ...context };
  let privateKey;
  if (signed) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    privateKey = pair.privateKey;
    const jwk = pair.publicKey.export({ format: 'jwk' });
    const uncompressed = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
    fullContext['aws-crypto-public-key'] = (ECDH.convertKey(uncompressed, 'secp384r1', undefined, undefined, 'compressed') as Buffer).toString('base64');
  }
  const entries = Object.entries(fullContext).map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as const).sort((a, b) => Buffer.compare(a[0], b[0]));
  const aad = entries.length === 0 ? Buffer.alloc(0) : Buffer.concat([u16(entries.length), ...entries.flatMap(([k, v]) => [u16(k.length), k, u16(v.length), v])]);
  const messageId = randomBytes(16);
  const dataKey = randomBytes(32);
  const wrapIv = randomBytes(12);
  const wrapped = gcm(wrappingKey, wrapIv, aad, dataKey);
  const providerInfo = Buffer.concat([Buffer.from('DataKey'), u32(128), u32(12), wrapIv]);
  const edk = Buffer.concat([wrapped.body, wrapped.tag]);
  const header = Buffer.concat([
    Buffer.from([0x01, 0x80]), u16(suiteId), messageId, u16(aad.length), aad,
    u16(1), u16(2), Buffer.from('BC'), u16(providerInfo.length), providerInfo, u16(edk.length), edk,
    Buffer.from([0x01]), u32(0), Buffer.from([12]), u32(0),
  ]);
  const hash = suiteId === 0x0078 ? undefined : suiteId === 0x0178 ? 'sha256' : 'sha384';
  const key = hash === undefined ? dataKey : Buffer.from(hkdfSync(hash, dataKey, Buffer.alloc(0), Buffer.concat([u16(suiteId), messageId]), 32));
  const headerIv = randomBytes(12);
  const headerTag = gcm(key, headerIv, header, Buffer.alloc(0)).tag;
  const bodyIv = randomBytes(12);
  const bodyAad = Buffer.concat([messageId, Buffer.from('AWSKMSEncryptionClient Single Block'), u32(1), u64(plaintext.length)]);
  const sealed = gcm(key, bodyIv, bodyAad, plaintext);
  const message = Buffer.concat([header, headerIv, headerTag, bodyIv, u64(plaintext.length), sealed.body, sealed.tag]);
  if (!signed) return message;
  const signature = sign('sha384', message, privateKey!);
  return Buffer.concat([message, u16(signature.length), signature]);
}

describe('NativePayloadDecryptor, differential against @aws-crypto/client-node', function () {
  this.timeout(300_000);
  const esdk = new EsdkPayloadDecryptor();
  const paths = { native: 0, fallback: 0 };
  const native = new NativePayloadDecryptor({ fallback: esdk, onPath: (path) => paths[path]++ });

  it('opens 2,400 seeded framed messages to the same bytes as the library, all on the native path, verifying on the thread pool or here', async () => {
    const cases = generateCases(2400, 20240601);
    const seen = { empty: 0, exactlyFull: 0, multiFrame: 0, tinyFrames: 0, bigContext: 0 };
    for (const c of cases) {
      const wrappingKey = new Uint8Array(randomBytes(32));
      const plaintext = randomBytes(c.size);
      const { result } = await encrypt(rawAesKeyring(wrappingKey), plaintext, { suiteId: c.suiteId, frameLength: c.frameLength, encryptionContext: c.context });
      const fromLibrary = await esdk.decrypt(result, wrappingKey);
      const fromNative = await native.decrypt(result, wrappingKey);
      const verifiedHere = await native.decrypt(result, wrappingKey, { verify: 'sync' });
      assert.ok(Buffer.from(fromNative).equals(plaintext), `${c.name}: native plaintext differs`);
      assert.ok(Buffer.from(fromLibrary).equals(Buffer.from(fromNative)), `${c.name}: paths disagree`);
      assert.ok(Buffer.from(verifiedHere).equals(plaintext), `${c.name}: native plaintext differs when verified on the calling thread`);
      if (c.size === 0) seen.empty++;
      if (c.size > 0 && c.size % c.frameLength === 0) seen.exactlyFull++;
      if (c.size > c.frameLength) seen.multiFrame++;
      if (c.frameLength <= 16) seen.tinyFrames++;
      if (Object.keys(c.context).length >= 4) seen.bigContext++;
    }
    assert.equal(paths.fallback, 0, 'no generated message should need the library');
    assert.equal(paths.native, 2 * cases.length);
    // The generator must actually reach the edges it claims to cover.
    for (const [edge, count] of Object.entries(seen)) assert.ok(count >= 50, `only ${count} cases of ${edge}`);
  });

  it('opens non-framed messages of every suite to the same bytes as the library', async () => {
    const random = mulberry32(7);
    for (let i = 0; i < 150; i++) {
      const suiteId = ([0x0078, 0x0178, 0x0378] as const)[i % 3]!;
      const wrappingKey = new Uint8Array(randomBytes(32));
      const plaintext = randomBytes([0, 1, 4096, Math.floor(random() * 70_000)][i % 4]!);
      const message = sealNonFramed(plaintext, wrappingKey, suiteId, contextOf(random, i % 4));
      const before = paths.native;
      const fromLibrary = await esdk.decrypt(message, wrappingKey);
      const fromNative = await native.decrypt(message, wrappingKey);
      assert.equal(paths.native, before + 1, 'non-framed messages stay on the native path');
      assert.ok(Buffer.from(fromLibrary).equals(plaintext), `non-framed case ${i}: the library does not accept the sealed message`);
      assert.ok(Buffer.from(fromNative).equals(plaintext), `non-framed case ${i}: native plaintext differs`);
    }
  });

  it('refuses every flipped byte and every cut of small non-framed messages, for the same reason as the library', async () => {
    for (const suiteId of [0x0078, 0x0178, 0x0378] as const) {
      const wrappingKey = new Uint8Array(randomBytes(32));
      const message = sealNonFramed(randomBytes(24), wrappingKey, suiteId);
      const variants: [string, Uint8Array][] = [];
      for (let i = 0; i < message.length; i++) {
        const flipped = Buffer.from(message);
        flipped[i] = flipped[i]! ^ 0xff;
        variants.push([`byte ${i} flipped`, flipped]);
        variants.push([`cut to ${i} bytes`, message.subarray(0, i)]);
      }
      for (const [what, variant] of variants) {
        const reasons = await Promise.all([esdk, native].map((d) => d.decrypt(variant, wrappingKey).then(() => 'accepted', (e: { reason?: string }) => e.reason)));
        assert.notEqual(reasons[1], 'accepted', `0x${suiteId.toString(16)} non-framed, ${what}: native accepted it`);
        assert.equal(reasons[1], reasons[0], `0x${suiteId.toString(16)} non-framed, ${what}: reasons differ`);
      }
    }
  });

  it('sends a context whose key order differs between UTF-8 bytes and localeCompare to the library, which opens it', async () => {
    const wrappingKey = new Uint8Array(randomBytes(32));
    const plaintext = randomBytes(500);
    const { result } = await encrypt(rawAesKeyring(wrappingKey), plaintext, {
      suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
      frameLength: 64,
      encryptionContext: { apple: '1', Zebra: '2' },
    });
    const before = paths.fallback;
    const opened = await native.decrypt(result, wrappingKey);
    assert.equal(paths.fallback, before + 1);
    assert.ok(Buffer.from(opened).equals(plaintext));
  });
});
