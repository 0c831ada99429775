import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DasError } from '../../src/errors.ts';
import { decodeBase64Strict, parseEnvelope } from '../../src/source/envelope.ts';
import { lambdaEvent, mysqlEnvelopes, postgresEnvelopeFile, postgresEnvelopeObject } from './real-records.ts';

function failure(run: () => unknown): DasError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DasError, `expected a DasError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected parseEnvelope to throw');
}

function withField(field: string, value: unknown): string {
  return JSON.stringify({ ...postgresEnvelopeObject(), [field]: value });
}

describe('parseEnvelope', () => {
  describe('real records', () => {
    it('Aurora PostgreSQL envelope file: version 1.1, an unsigned 0x0178 message and the KMS blob', () => {
      const fixture = postgresEnvelopeObject();
      const envelope = parseEnvelope(postgresEnvelopeFile());
      assert.equal(envelope.version, '1.1');
      assert.equal(envelope.payload[0], 1, 'message format version 1');
      assert.equal(envelope.payload[1], 0x80, 'message type');
      assert.equal(envelope.payload.readUInt16BE(2), 0x0178);
      assert.deepEqual(envelope.payload, Buffer.from(fixture.databaseActivityEvents!, 'base64'));
      assert.deepEqual(envelope.key, Buffer.from(fixture.key!, 'base64'));
    });

    it('Aurora MySQL envelopes from the Lambda event (spaces around colons): version 1.2, signed 0x0378 messages', () => {
      for (const data of mysqlEnvelopes()) {
        assert.match(data.toString('utf8'), /"version": "1\.2"/);
        const envelope = parseEnvelope(data);
        assert.equal(envelope.version, '1.2');
        assert.equal(envelope.payload[0], 1);
        assert.equal(envelope.payload.readUInt16BE(2), 0x0378);
      }
    });

    it('both Aurora MySQL records carry a byte-identical key but different payloads', () => {
      const [first, second] = mysqlEnvelopes().map((data) => parseEnvelope(data));
      assert.ok(first!.key.equals(second!.key));
      assert.ok(first!.key.length > 32);
      assert.ok(!first!.payload.equals(second!.payload));
    });

    it('accepts an entry of the real Lambda Kinesis event as it is, and reads the same envelope as from its data bytes', () => {
      const entries = lambdaEvent().Records;
      entries.forEach((entry, i) => {
        assert.deepEqual(parseEnvelope(entry), parseEnvelope(mysqlEnvelopes()[i]!));
      });
      assert.throws(
        () => parseEnvelope({ ...entries[0]!, kinesis: { ...entries[0]!.kinesis, data: 'not base64!' } }),
        (e: DasError) => e.reason === 'bad_base64',
      );
      assert.throws(
        () => parseEnvelope({ ...entries[0]!, kinesis: { ...entries[0]!.kinesis, data: 42 } }),
        (e: DasError) => e.reason === 'not_das_envelope' && /kinesis\.data/.test(e.message),
      );
    });

    it('accepts the same envelope as bytes, a JSON string, a bare object, or a Uint8Array view at an offset', () => {
      const bytes = postgresEnvelopeFile();
      const padded = new Uint8Array(bytes.length + 10);
      padded.set(bytes, 7);
      const expected = parseEnvelope(bytes);
      for (const input of [bytes.toString('utf8'), postgresEnvelopeObject(), padded.subarray(7, 7 + bytes.length), new Uint8Array(bytes)]) {
        assert.deepEqual(parseEnvelope(input), expected);
      }
    });
  });

  describe('versions', () => {
    for (const version of ['1.0', '1.1', '1.2', '1.3', '1.4', '1.5', '1.12']) {
      it(`accepts ${version}`, () => assert.equal(parseEnvelope(withField('version', version)).version, version));
    }
    for (const [name, version] of [
      ['2.0', '2.0'],
      ['0.9', '0.9'],
      ['"1" without a minor version', '1'],
      ['1.2.3', '1.2.3'],
      ['the number 1.2', 1.2],
      ['null', null],
      ['a missing version', undefined],
    ] as const) {
      it(`refuses ${name} as unsupported_version`, () => {
        assert.equal(failure(() => parseEnvelope(withField('version', version))).reason, 'unsupported_version');
      });
    }
  });

  describe('not JSON → invalid_json', () => {
    for (const [name, input] of [
      ['plain text', Buffer.from('hello')],
      ['an envelope cut short', postgresEnvelopeFile().subarray(0, 300)],
      ['empty bytes', new Uint8Array(0)],
      ['an empty string', ''],
      ['two objects back to back', Buffer.concat([postgresEnvelopeFile(), postgresEnvelopeFile()])],
    ] as const) {
      it(name, () => {
        const error = failure(() => parseEnvelope(input));
        assert.equal(error.reason, 'invalid_json');
        assert.equal(error.disposition, 'permanent');
      });
    }

    it('never quotes the text around the fault', () => {
      const error = failure(() => parseEnvelope('{"type": "DatabaseActivityMonitoringRecords", "key": SECRETSTUFF}'));
      assert.equal(error.reason, 'invalid_json');
      assert.doesNotMatch(error.message, /SECRET/);
    });

    it('says where the syntax broke when the parser tells', () => {
      const error = failure(() => parseEnvelope('{"type": "DatabaseActivityMonitoringRecords", "key": "abc" '));
      assert.match(error.message, /position \d+/);
    });
  });

  describe('not an envelope → not_das_envelope', () => {
    const cases: [string, string | object, RegExp][] = [
      ['an array', '[1,2]', /array/],
      ['null', 'null', /null/],
      ['a number', '42', /number/],
      ['a wrong type', withField('type', 'SomethingElse'), /"type"/],
      ['a missing type', withField('type', undefined), /"type" is missing/],
      ['the decrypted inner record', withField('type', 'DatabaseActivityMonitoringRecord'), /decrypted/],
      ['databaseActivityEvents missing', withField('databaseActivityEvents', undefined), /"databaseActivityEvents" is missing/],
      ['databaseActivityEvents an object', withField('databaseActivityEvents', {}), /"databaseActivityEvents"/],
      ['key a number', withField('key', 12), /"key" is a number/],
      ['a bare object without fields', {}, /"type" is missing/],
    ];
    for (const [name, input, message] of cases) {
      it(name, () => {
        const error = failure(() => parseEnvelope(input));
        assert.equal(error.reason, 'not_das_envelope');
        assert.match(error.message, message);
      });
    }
  });

  describe('base64 that is not strictly valid → bad_base64', () => {
    const fixture = postgresEnvelopeObject();
    const key = fixture.key!;
    const events = fixture.databaseActivityEvents!;
    assert.ok(key.endsWith('=='), 'the fixture key ends with two padding characters');
    assert.ok(events.includes('+') && events.includes('/'), 'the fixture payload uses + and /');

    const cases: [string, 'key' | 'databaseActivityEvents', string, RegExp][] = [
      ['key with one padding character missing', 'key', key.slice(0, -1), /multiple of 4/],
      ['key with no padding', 'key', key.slice(0, -2), /multiple of 4/],
      ['key with an extra padding character', 'key', `${key}=`, /padding/],
      ['key with a quartet of padding', 'key', `${key}==`, /padding/],
      ['payload in the URL-safe alphabet', 'databaseActivityEvents', events.replaceAll('+', '-').replaceAll('/', '_'), /URL-safe/],
      ['payload with one URL-safe character', 'databaseActivityEvents', events.replace('/', '_'), /URL-safe/],
      ['payload with a space inside', 'databaseActivityEvents', `${events.slice(0, 40)} ${events.slice(40, -1)}`, /whitespace at offset 40/],
      ['payload wrapped over lines (MIME style)', 'databaseActivityEvents', `${events.slice(0, 76)}\n${events.slice(76)}`, /whitespace/],
      ['key with a trailing newline', 'key', `${key}\n`, /whitespace/],
      ['key with padding in the middle', 'key', `${key.slice(0, 8)}==${key.slice(10)}`, /padding "=" before the end/],
      ['payload with a character outside the alphabet', 'databaseActivityEvents', `${events.slice(0, 12)}*${events.slice(13)}`, /outside the base64 alphabet at offset 12/],
      ['payload with a non-ASCII character', 'databaseActivityEvents', `${events.slice(0, 12)}é${events.slice(13)}`, /outside the base64 alphabet/],
      ['key with non-zero bits before the padding', 'key', `${key.slice(0, -3)}x==`, /not canonical/],
      ['an empty key', 'key', '', /key is empty/],
      ['an empty payload', 'databaseActivityEvents', '', /databaseActivityEvents is empty/],
    ];
    for (const [name, field, value, message] of cases) {
      it(name, () => {
        const error = failure(() => parseEnvelope(withField(field, value)));
        assert.equal(error.reason, 'bad_base64');
        assert.ok(error.message.startsWith(field), `message names ${field}: ${error.message}`);
        assert.match(error.message, message);
        assert.ok(!error.message.includes(value.slice(0, 16)) || value.length === 0, 'the message never quotes the content');
      });
    }
  });
});

describe('decodeBase64Strict', () => {
  it('round-trips any bytes Node encodes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
        assert.deepEqual(decodeBase64Strict(Buffer.from(bytes).toString('base64'), 'x'), Buffer.from(bytes));
      }),
    );
  });

  it('accepts a string only when it is the canonical encoding of what it decodes to', () => {
    const base64ish = fc.string({ unit: fc.constantFrom(...'ABab09+/=-_ \n*'.split('')), minLength: 1, maxLength: 24 });
    fc.assert(
      fc.property(base64ish, (text) => {
        let decoded: Buffer | undefined;
        try {
          decoded = decodeBase64Strict(text, 'x');
        } catch (error) {
          assert.ok(error instanceof DasError && error.reason === 'bad_base64');
        }
        if (decoded) assert.equal(decoded.toString('base64'), text);
        else assert.notEqual(Buffer.from(text, 'base64').toString('base64'), text);
      }),
      { numRuns: 2000 },
    );
  });
});
