/**
 * Fuzzing the decrypt side: the Encryption SDK header parser, the native
 * decryptor (with the library as its fallback) and the whole opening path
 * (`DasRecordOpener`, wired as in src/cli/wiring.ts with an in-memory data-key
 * source). Arbitrary bytes, mutated valid messages and small inputs claiming
 * huge sizes either open to exactly the original plaintext or fail with a
 * DasError of a closed reason, quickly and without allocating what they claim.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { contextResolver } from '../../src/cli/wiring.ts';
import { DasRecordOpener, type DataKeySource } from '../../src/record/opener.ts';
import { NativePayloadDecryptor } from '../../src/decrypt/fast/native-payload.ts';
import { CONTENT_TYPE, DAS_SUITES, parseMessageHeader } from '../../src/decrypt/message-header.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import { AURORA_MYSQL, AURORA_POSTGRESQL, DasRecordFactory, type EngineProfile } from '../../src/demo/record-factory.ts';
import { InMemoryDataKeys, rewritePayload } from '../support/record-mutations.ts';
import { DasError } from '../../src/errors.ts';
import { toJsonLine } from '../../src/sinks/jsonl.ts';
import { mapEvent } from '../../src/sinks/otlp/mapping.ts';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { assertDasError, caseStarted, fuzzSuite } from './support.ts';

const PAYLOAD_REASONS = ['truncated_message', 'unsupported_message', 'unsupported_suite', 'wrong_data_key', 'auth_tag_mismatch', 'signature_invalid'];
const CLUSTER = 'cluster-FUZZ0000000000000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;
/** A claim this size must never be allocated: fail first. */
const ALLOCATION_ALLOWANCE = 32 * 1024 * 1024;

interface Sample {
  name: string;
  record: Buffer;
  message: Buffer;
  dataKey: Uint8Array;
  plaintext: Buffer;
}

const keys = new InMemoryDataKeys();
const dataKeys: DataKeySource = keys;

const EVENTS = [
  { type: 'record', class: 'READ', command: 'SELECT', commandText: "SELECT * FROM t WHERE a = 'x'", serverType: 'PostgreSQL', logTime: '2024-01-01 00:00:00.123456+00', paramList: ['1'] },
  { type: 'heartbeat', logTime: '2024-01-01 00:00:00.123456+00' },
  { type: 'record', class: 'MAIN', command: 'QUERY', commandText: "ALTER USER u IDENTIFIED BY \\'pw\\'", serverType: 'MySQL', engineNativeAuditFields: { a: 1 } },
];

let samplesPromise: Promise<Sample[]> | undefined;
/** A few valid records of every suite DAS writes, with frames small enough that there are several. */
function samples(): Promise<Sample[]> {
  samplesPromise ??= (async () => {
    const profiles: [string, EngineProfile][] = [
      ['0x0078 framed', { suiteId: DAS_SUITES.AES256_GCM_IV12_TAG16, frameLength: 96, version: '1.1' }],
      ['0x0178 framed', { ...AURORA_POSTGRESQL, frameLength: 64 }],
      ['0x0378 signed', { ...AURORA_MYSQL, frameLength: 128 }],
      ['0x0178 one 4 GiB frame', { ...AURORA_POSTGRESQL, frameLength: 2 ** 32 - 1 }],
    ];
    const out: Sample[] = [];
    for (const [name, profile] of profiles) {
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys, profile });
      const inner = JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', clusterId: CLUSTER, instanceId: 'db-FUZZ', databaseActivityEventList: EVENTS });
      const plaintext = gzipSync(inner);
      const record = Buffer.from(await factory.recordFromPlaintext(plaintext));
      const envelope = JSON.parse(record.toString('utf8')) as { databaseActivityEvents: string; key: string };
      const dataKey = keys.plaintextOf(Buffer.from(envelope.key, 'base64'), { 'aws:rds:dbc-id': CLUSTER })!;
      assert.ok(dataKey, 'the factory used the encryption context the opener derives');
      out.push({ name, record, message: Buffer.from(envelope.databaseActivityEvents, 'base64'), dataKey, plaintext });
    }
    return out;
  })();
  return samplesPromise;
}

const decryptor = new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() });

/** Byte-level changes to a message: overwrite, flip, cut, insert, truncate, duplicate a run. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

/** Mutations land mostly in the header and the first frames, where the structure is. */
function apply(message: Buffer, m: Mutation): Buffer {
  const at = (n: number) => (n % 3 === 0 ? n % Math.max(1, message.length) : n % Math.min(message.length, 400));
  switch (m.kind) {
    case 'flip': {
      const copy = Buffer.from(message);
      const i = at(m.at);
      copy[i] = copy[i]! ^ (1 << m.bit);
      return copy;
    }
    case 'set': {
      const copy = Buffer.from(message);
      copy.set(m.bytes.subarray(0, Math.max(0, copy.length - at(m.at))), at(m.at));
      return copy;
    }
    case 'cut':
      return Buffer.concat([message.subarray(0, at(m.at)), message.subarray(at(m.at) + m.length)]);
    case 'insert':
      return Buffer.concat([message.subarray(0, at(m.at)), m.bytes, message.subarray(at(m.at))]);
    case 'truncate':
      return message.subarray(0, at(m.at));
    case 'append':
      return Buffer.concat([message, m.bytes]);
  }
}

/** Decrypts; a success must be the original plaintext exactly (no mutation may change what opens). */
async function checkDecrypt(message: Uint8Array, dataKey: Uint8Array, original: Buffer | undefined): Promise<void> {
  caseStarted();
  const before = process.memoryUsage().arrayBuffers;
  try {
    const plaintext = await decryptor.decrypt(message, dataKey);
    assert.ok(original !== undefined, 'arbitrary bytes opened');
    assert.ok(Buffer.from(plaintext).equals(original), 'a changed message opened to other plaintext');
  } catch (error) {
    assertDasError(error, PAYLOAD_REASONS);
  }
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < ALLOCATION_ALLOWANCE, `decrypting ${message.length} bytes grew array buffers by ${grown} bytes`);
}

/** A version 1 header from parts, each free to lie about sizes. */
function header(parts: {
  suiteId: number;
  aad: Buffer;
  aadLength?: number;
  edks: Buffer;
  edkCount: number;
  contentType: number;
  ivLength: number;
  frameLength: number;
  tail: Buffer;
}): Buffer {
  const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
  const u32 = (n: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return b;
  };
  return Buffer.concat([
    Buffer.from([0x01, 0x80]),
    u16(parts.suiteId),
    randomBytes(16),
    u16(parts.aadLength ?? parts.aad.length),
    parts.aad,
    u16(parts.edkCount),
    parts.edks,
    Buffer.from([parts.contentType]),
    u32(0),
    Buffer.from([parts.ivLength]),
    u32(parts.frameLength),
    parts.tail,
  ]);
}

const hugeClaims = fc.record({
  suiteId: fc.constantFrom(0x0078, 0x0178, 0x0378, 0x0478, 0x0014, 0xffff),
  aad: fc.oneof(fc.constant(Buffer.alloc(0)), fc.uint8Array({ maxLength: 16 }).map((b) => Buffer.concat([Buffer.from([0xff, 0xff]), b]))),
  aadLength: fc.option(fc.constantFrom(0xffff, 0xfffe, 3), { nil: undefined }),
  edks: fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
  edkCount: fc.constantFrom(1, 2, 0xffff),
  contentType: fc.constantFrom(1, 2, 3),
  ivLength: fc.constantFrom(12, 0, 255),
  frameLength: fc.constantFrom(0, 1, 4096, 0x7fffffff, 0xffffffff),
  tail: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)),
});

function opener(): DasRecordOpener {
  return new DasRecordOpener({
    dataKeys,
    decryptor: new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() }),
    contextFor: contextResolver({}),
    setup: { redact: 'passwords', maxRecordBytes: 1024 * 1024, steps: [] },
  });
}

const RESOURCE = resourceFromAttributes({ 'service.name': 'fuzz' });

/** Opens a record through the whole path; whatever opens must also map and serialize. */
async function checkOpen(path: DasRecordOpener, data: Uint8Array, stream = STREAM): Promise<void> {
  caseStarted();
  try {
    const decoded = await path.open({ stream, shardId: 'shardId-000000000000', sequenceNumber: '1', data });
    for (const event of decoded.events) {
      mapEvent(event, { resource: RESOURCE, observed: new Date(0) });
      toJsonLine(event);
    }
    for (const heartbeat of decoded.heartbeats) toJsonLine(heartbeat);
  } catch (error) {
    assertDasError(error);
    assert.notEqual(error.disposition, 'retryable', 'nothing here is flaky: a retryable reason would stall the shard');
  }
}

fuzzSuite('fuzz: decrypt', import.meta.url, {
  'parseMessageHeader: small headers claiming 65535 data keys, 64 KiB contexts or 4 GiB frames fail fast with a reason': {
    runs: 2000,
    run: (params) =>
      fc.assert(
        fc.property(hugeClaims, (parts) => {
          caseStarted();
          const bytes = header(parts);
          const before = process.memoryUsage().arrayBuffers;
          try {
            const parsed = parseMessageHeader(bytes);
            assert.ok(parsed.headerLength <= bytes.length && parsed.encryptedDataKeys.length <= bytes.length / 6);
          } catch (error) {
            assertDasError(error, ['truncated_message', 'unsupported_message']);
          }
          assert.ok(process.memoryUsage().arrayBuffers - before < ALLOCATION_ALLOWANCE);
        }),
        params,
      ),
  },

  'NativePayloadDecryptor: small messages claiming huge sizes reject without allocating': {
    runs: 1500,
    run: async (params) => {
      const key = (await samples())[0]!.dataKey;
      await fc.assert(fc.asyncProperty(hugeClaims, fc.boolean(), async (parts, rightKey) => checkDecrypt(header(parts), rightKey ? key : randomBytes(32), undefined)), { ...params, timeout: 10_000 });
    },
  },

  'NativePayloadDecryptor: a valid 4 GiB-frame message whose final frame claims 4 GiB is truncated_message, not an allocation': {
    runs: 50,
    run: async (params) => {
      const sample = (await samples()).find((s) => s.name.includes('4 GiB'))!;
      const head = parseMessageHeader(sample.message);
      assert.equal(head.contentType, CONTENT_TYPE.FRAMED);
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(0xffffffff, 0xfffffff0, 0x80000000, 0x10000000), async (claim) => {
          const lying = Buffer.from(sample.message);
          // Final frame: marker u32 | sequence u32 | IV (12) | content length u32.
          lying.writeUInt32BE(claim, head.headerLength + 4 + 4 + 12);
          await checkDecrypt(lying, sample.dataKey, undefined);
          try {
            await decryptor.decrypt(lying, sample.dataKey);
            assert.fail('opened');
          } catch (error) {
            assertDasError(error, ['truncated_message']);
          }
        }),
        { ...params, timeout: 10_000 },
      );
    },
  },

  'NativePayloadDecryptor: arbitrary bytes reject with a payload reason': {
    runs: 1500,
    run: async (params) => {
      const key = (await samples())[0]!.dataKey;
      const bytes = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([0x01, 0x80, 0x01, 0x78]), b])),
        fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.concat([Buffer.from([0x02, 0x04, 0x78]), b])),
      );
      await fc.assert(fc.asyncProperty(bytes, fc.constantFrom(key, new Uint8Array(32), new Uint8Array(16), new Uint8Array(0)), async (message, dataKey) => checkDecrypt(message, dataKey, undefined)), { ...params, timeout: 10_000 });
    },
  },

  'NativePayloadDecryptor: a mutated valid message opens to its own plaintext or rejects with a payload reason': {
    runs: 1500,
    run: async (params) => {
      const all = await samples();
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...all), fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.constantFrom('right', 'other', 'short'), async (sample, mutations, which) => {
          const message = mutations.reduce(apply, sample.message);
          const dataKey = which === 'right' ? sample.dataKey : which === 'other' ? randomBytes(32) : sample.dataKey.subarray(0, 31);
          await checkDecrypt(message, dataKey, which === 'right' ? sample.plaintext : undefined);
        }),
        { ...params, timeout: 10_000 },
      );
    },
  },

  'DasRecordOpener: mutated records (envelope, key, message) resolve or reject with a DasError, never retryable': {
    runs: 800,
    run: async (params) => {
      const all = await samples();
      const path = opener();
      const record = fc.oneof(
        // The envelope bytes themselves.
        fc.tuple(fc.constantFrom(...all), fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([s, ms]) => ms.reduce(apply, s.record)),
        // A well-formed envelope around a mutated message.
        fc.tuple(fc.constantFrom(...all), fc.array(mutation, { minLength: 1, maxLength: 2 })).map(([s, ms]) => Buffer.from(rewritePayload(s.record, (m) => ms.reduce(apply, Buffer.from(m))))),
        // Arbitrary bytes.
        fc.uint8Array({ maxLength: 200 }),
      );
      await fc.assert(
        fc.asyncProperty(record, fc.constantFrom(STREAM, 'orders', 'aws-rds-das-db-OTHER', ''), async (data, stream) => checkOpen(path, data, stream)),
        { ...params, timeout: 10_000 },
      );
    },
  },

  'DasRecordOpener: any decrypted payload (not gzip, gzip of anything, bombs, deep JSON) resolves or rejects with a DasError': {
    runs: 300,
    run: async (params) => {
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys, profile: { ...AURORA_POSTGRESQL, frameLength: 4096 }, recordsPerDataKey: 1000 });
      const path = opener();
      const json = fc.oneof(
        fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
        fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', clusterId: v, instanceId: 'db-x', databaseActivityEventList: [v, { type: 'record', x: v }] })),
        fc.integer({ min: 1, max: 60_000 }).map((depth) => `{"type":"DatabaseActivityMonitoringRecord","databaseActivityEventList":[{"type":"record","deep":${'['.repeat(depth)}${']'.repeat(depth)}}]}`),
        fc.integer({ min: 1, max: 60_000 }).map((depth) => `{"type":"DatabaseActivityMonitoringRecord","databaseActivityEventList":[{"paramList":[${'['.repeat(depth)}${']'.repeat(depth)}]}]}`),
      );
      const plaintext = fc.oneof(
        fc.uint8Array({ maxLength: 100 }),
        json.map((text) => new Uint8Array(gzipSync(text))),
        fc.integer({ min: 1, max: 4 }).map((mb) => new Uint8Array(gzipSync(Buffer.alloc(mb * 1024 * 1024, 0x20)))),
        json.map((text) => new Uint8Array(gzipSync(text).subarray(0, Math.max(2, text.length >> 1)))),
      );
      await fc.assert(fc.asyncProperty(plaintext, async (bytes) => checkOpen(path, await factory.recordFromPlaintext(bytes))), { ...params, timeout: 15_000 });
    },
  },
});
