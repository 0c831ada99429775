import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { isDasError } from '../../src/errors.ts';
import { parseMessageHeader, peekSuiteId } from '../../src/decrypt/message-header.ts';
import type { MessageHeader } from '../../src/decrypt/message-header.ts';
import { realRecordPath } from '../support/fixtures.ts';

function realPostgresMessage(): Buffer {
  const envelope = JSON.parse(readFileSync(realRecordPath('aurora-postgresql-record.json'), 'utf8'));
  return Buffer.from(envelope.databaseActivityEvents, 'base64');
}

function realMysqlMessages(): Buffer[] {
  const event = JSON.parse(readFileSync(realRecordPath('aurora-mysql-lambda-kinesis-event.json'), 'utf8'));
  return event.Records.map((record: { kinesis: { data: string } }) => {
    const envelope = JSON.parse(Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
    return Buffer.from(envelope.databaseActivityEvents, 'base64');
  });
}

interface HeaderParts {
  version?: number;
  type?: number;
  suiteId?: number;
  messageId?: Uint8Array;
  /** Raw AAD section; defaults to the encoding of `context`. */
  aad?: Uint8Array;
  context?: [string, string][];
  edks?: { providerId: Uint8Array; providerInfo: Uint8Array; ciphertext: Uint8Array }[];
  contentType?: number;
  reserved?: number;
  ivLength?: number;
  frameLength?: number;
}

/** An independent encoder of the version 1 header, written from the message-format spec. */
function encodeHeader(parts: HeaderParts = {}): Buffer {
  const u8 = (n: number) => Buffer.from([n]);
  const u16 = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(n); return b; };
  const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
  const field = (bytes: Uint8Array) => Buffer.concat([u16(bytes.length), bytes]);
  const context = parts.context ?? [];
  const aad =
    parts.aad ??
    (context.length === 0
      ? Buffer.alloc(0)
      : Buffer.concat([u16(context.length), ...context.flatMap(([k, v]) => [field(Buffer.from(k)), field(Buffer.from(v))])]));
  const edks = parts.edks ?? [
    { providerId: Buffer.from('BC'), providerInfo: Buffer.from('DataKey'), ciphertext: Buffer.alloc(48, 7) },
  ];
  const ivLength = parts.ivLength ?? 12;
  return Buffer.concat([
    u8(parts.version ?? 1),
    u8(parts.type ?? 0x80),
    u16(parts.suiteId ?? 0x0178),
    parts.messageId ?? Buffer.alloc(16, 0xab),
    field(aad),
    u16(edks.length),
    ...edks.flatMap((edk) => [field(edk.providerId), field(edk.providerInfo), field(edk.ciphertext)]),
    u8(parts.contentType ?? 2),
    u32(parts.reserved ?? 0),
    u8(ivLength),
    u32(parts.frameLength ?? 4096),
    Buffer.alloc(ivLength, 0x11),
    Buffer.alloc(16, 0x22),
  ]);
}

function byKey([a]: [string, string], [b]: [string, string]): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function failureReason(bytes: Uint8Array): string {
  try {
    parseMessageHeader(bytes);
  } catch (error) {
    assert.ok(isDasError(error), `expected a DasError, got ${String(error)}`);
    return error.reason;
  }
  return 'parsed';
}

function assertRealDasHeader(header: MessageHeader, suiteId: number, frameLength: number): void {
  assert.equal(header.version, 1);
  assert.equal(header.type, 0x80);
  assert.equal(header.suiteId, suiteId);
  assert.equal(header.messageId.length, 16);
  assert.equal(header.encryptedDataKeys.length, 1);
  const [edk] = header.encryptedDataKeys;
  assert.equal(edk!.providerId, 'BC');
  assert.ok(edk!.providerInfo.startsWith('DataKey'));
  assert.equal(Buffer.from(edk!.providerInfoBytes.subarray(0, 7)).toString('latin1'), 'DataKey');
  assert.equal(header.contentType, 2);
  assert.equal(header.ivLength, 12);
  assert.equal(header.frameLength, frameLength);
  assert.equal(header.headerIv.length, 12);
  assert.equal(header.headerAuthTag.length, 16);
  assert.equal(header.headerLength, header.authenticatedLength + 12 + 16);
}

describe('parseMessageHeader', () => {
  describe('real records', () => {
    it('Aurora PostgreSQL record: suite 0x0178, 4 KiB frames, empty context, one BC/DataKey key', () => {
      const header = parseMessageHeader(realPostgresMessage());
      assertRealDasHeader(header, 0x0178, 4096);
      assert.deepEqual(header.encryptionContext, {});
    });

    it('Aurora MySQL records from the Lambda event: suite 0x0378, 256 KiB frames, the signing public key in the context', () => {
      const messages = realMysqlMessages();
      assert.equal(messages.length, 2);
      for (const message of messages) {
        const header = parseMessageHeader(message);
        assertRealDasHeader(header, 0x0378, 262144);
        assert.deepEqual(Object.keys(header.encryptionContext), ['aws-crypto-public-key']);
        // A compressed P-384 point: 49 bytes, base64.
        assert.equal(Buffer.from(header.encryptionContext['aws-crypto-public-key']!, 'base64').length, 49);
      }
    });

    it('every strict prefix of a real header is truncated_message', () => {
      for (const message of [realPostgresMessage(), ...realMysqlMessages()]) {
        const { headerLength } = parseMessageHeader(message);
        for (let length = 0; length < headerLength; length++) {
          assert.equal(failureReason(message.subarray(0, length)), 'truncated_message', `prefix of ${length} bytes`);
        }
        assert.equal(parseMessageHeader(message.subarray(0, headerLength)).headerLength, headerLength);
      }
    });

    it('reads through a view with a non-zero byteOffset', () => {
      const message = realPostgresMessage();
      const padded = Buffer.concat([Buffer.alloc(13, 0xee), message]);
      const header = parseMessageHeader(padded.subarray(13));
      assertRealDasHeader(header, 0x0178, 4096);
    });
  });

  describe('crafted headers', () => {
    it('reads every field of an encoded header', () => {
      const bytes = encodeHeader({
        suiteId: 0x0378,
        messageId: Buffer.alloc(16, 0x5a),
        context: [['aws-crypto-public-key', 'AbC='], ['team', 'db']],
        edks: [
          { providerId: Buffer.from('BC'), providerInfo: Buffer.from('DataKey\x00\x01'), ciphertext: Buffer.from([1, 2, 3]) },
          { providerId: Buffer.from('aws-kms'), providerInfo: Buffer.from('arn'), ciphertext: Buffer.from([9]) },
        ],
        frameLength: 262144,
      });
      const header = parseMessageHeader(bytes);
      assert.equal(header.suiteId, 0x0378);
      assert.deepEqual(Buffer.from(header.messageId), Buffer.alloc(16, 0x5a));
      assert.deepEqual(header.encryptionContext, { 'aws-crypto-public-key': 'AbC=', team: 'db' });
      assert.deepEqual(
        header.encryptedDataKeys.map((edk) => [edk.providerId, edk.providerInfo, [...edk.ciphertext]]),
        [['BC', 'DataKey\x00\x01', [1, 2, 3]], ['aws-kms', 'arn', [9]]],
      );
      assert.equal(header.frameLength, 262144);
      assert.equal(header.headerLength, bytes.length);
    });

    it('context keys that look like integers are kept', () => {
      const header = parseMessageHeader(encodeHeader({ context: [['1', 'b'], ['0', 'a']] }));
      assert.deepEqual(header.encryptionContext, { '0': 'a', '1': 'b' });
    });

    it('a context key named __proto__ stays an own data property', () => {
      const header = parseMessageHeader(encodeHeader({ context: [['__proto__', 'x']] }));
      assert.equal(Object.getPrototypeOf(header.encryptionContext), Object.prototype);
      assert.deepEqual(Object.entries(header.encryptionContext), [['__proto__', 'x']]);
    });

    it('a zero pair count inside a 2-byte AAD section is an empty context', () => {
      assert.deepEqual(parseMessageHeader(encodeHeader({ aad: Buffer.from([0, 0]) })).encryptionContext, {});
    });

    const malformed: [string, HeaderParts][] = [
      ['format version 2 (committing suites)', { version: 2 }],
      ['format version 0', { version: 0 }],
      ['message type other than 0x80', { type: 0x81 }],
      ['reserved bytes not zero', { reserved: 1 }],
      ['content type 0', { contentType: 0 }],
      ['content type 3', { contentType: 3 }],
      ['no encrypted data key', { edks: [] }],
      ['encryption context pairs overrun the AAD length', { aad: Buffer.from([0, 1, 0, 5, 0x61]) }],
      ['encryption context shorter than the AAD length', { aad: Buffer.from([0, 1, 0, 1, 0x61, 0, 1, 0x62, 0]) }],
      ['encryption context repeats a key', { context: [['a', '1'], ['a', '2']] }],
    ];
    for (const [name, parts] of malformed) {
      it(`${name} is unsupported_message`, () => {
        assert.equal(failureReason(encodeHeader(parts)), 'unsupported_message');
      });
    }

    it('base64 text instead of bytes is unsupported_message and says so', () => {
      const base64 = Buffer.from(realPostgresMessage().toString('base64'), 'ascii');
      assert.throws(() => parseMessageHeader(base64), (error: unknown) =>
        isDasError(error) && error.reason === 'unsupported_message' && /base64/.test(error.message));
    });
  });

  describe('arbitrary input', () => {
    it('random bytes either parse within bounds or fail as truncated_message / unsupported_message', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
          try {
            const header = parseMessageHeader(bytes);
            assert.ok(header.headerLength <= bytes.length);
          } catch (error) {
            assert.ok(isDasError(error), String(error));
            assert.ok(['truncated_message', 'unsupported_message'].includes(error.reason));
          }
        }),
        { numRuns: 2000 },
      );
    });

    it('real headers with random bytes overwritten never escape as anything but a DasError', () => {
      const messages = [realPostgresMessage(), realMysqlMessages()[0]!];
      fc.assert(
        fc.property(
          fc.constantFrom(...messages),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
          fc.nat(),
          (message, edits, cut) => {
            const bytes = Buffer.from(message);
            for (const [at, value] of edits) bytes[at % bytes.length] = value;
            const input = bytes.subarray(0, cut % (bytes.length + 1));
            try {
              const header = parseMessageHeader(input);
              assert.ok(header.headerLength <= input.length);
            } catch (error) {
              assert.ok(isDasError(error), String(error));
            }
          },
        ),
        { numRuns: 2000 },
      );
    });

    it('encoded headers with arbitrary fields parse back to the same fields', () => {
      const text = fc.string({ unit: 'grapheme', maxLength: 12 });
      fc.assert(
        fc.property(
          fc.uniqueArray(fc.tuple(text, text), { selector: ([k]) => k, maxLength: 4 }),
          fc.array(fc.record({ id: text, info: text, ciphertext: fc.uint8Array({ maxLength: 64 }) }), { minLength: 1, maxLength: 3 }),
          fc.integer({ min: 0, max: 0xffff }),
          fc.integer({ min: 0, max: 0xffffffff }),
          fc.constantFrom(1, 2),
          (context, edks, suiteId, frameLength, contentType) => {
            const bytes = encodeHeader({
              context,
              suiteId,
              frameLength,
              contentType,
              edks: edks.map((edk) => ({ providerId: Buffer.from(edk.id), providerInfo: Buffer.from(edk.info), ciphertext: edk.ciphertext })),
            });
            const header = parseMessageHeader(bytes);
            // A Record lists integer-like keys first, so compare as sets of pairs.
            assert.deepEqual(Object.entries(header.encryptionContext).sort(byKey), [...context].sort(byKey));
            assert.deepEqual(
              header.encryptedDataKeys.map((edk) => ({ id: edk.providerId, info: edk.providerInfo, ciphertext: new Uint8Array(edk.ciphertext) })),
              edks.map((edk) => ({ id: edk.id, info: edk.info, ciphertext: new Uint8Array(edk.ciphertext) })),
            );
            assert.equal(header.suiteId, suiteId);
            assert.equal(header.frameLength, frameLength);
            assert.equal(header.contentType, contentType);
            assert.equal(header.headerLength, bytes.length);
          },
        ),
        { numRuns: 500 },
      );
    });
  });
});

describe('peekSuiteId', () => {
  it('reads the suite of version 1 and version 2 messages', () => {
    assert.equal(peekSuiteId(realPostgresMessage()), 0x0178);
    assert.equal(peekSuiteId(realMysqlMessages()[0]!), 0x0378);
    assert.equal(peekSuiteId(Buffer.from([0x02, 0x04, 0x78, 0x81])), 0x0478);
  });

  it('says nothing about bytes too short or not a message', () => {
    assert.equal(peekSuiteId(Buffer.from([0x01, 0x80, 0x01])), undefined);
    assert.equal(peekSuiteId(Buffer.from([0x02, 0x04])), undefined);
    assert.equal(peekSuiteId(Buffer.from('AYAB', 'ascii')), undefined);
  });
});
