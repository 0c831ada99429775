/**
 * Fuzzing the source side: the DAS envelope parser, the Lambda event parser
 * and `readReplayInput` on arbitrary bytes, arbitrary JSON, mutated real
 * records and arbitrary chunkings. Whatever comes in, each returns values or
 * throws a DasError with a closed reason, and never hangs (see support.ts).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { parseEnvelope } from '../../src/source/envelope.ts';
import { parseLambdaEvent } from '../../src/source/lambda-event.ts';
import { readReplayInput, type ReplayItem } from '../../src/source/replay-input.ts';
import { lambdaEvent, mysqlEnvelopes, postgresEnvelope } from '../source/real-records.ts';
import { assertDasError, caseStarted, fuzzSuite, isKnownReason } from './support.ts';

const ENVELOPE_REASONS = ['invalid_json', 'not_das_envelope', 'unsupported_version', 'bad_base64'];

const REAL_ENVELOPES = [...mysqlEnvelopes(), postgresEnvelope()];
const REAL_LAMBDA = lambdaEvent();

/** JSON values with the keys parsers look at, `__proto__` and friends mixed in. */
const KEYS = ['type', 'version', 'databaseActivityEvents', 'key', 'Records', 'kinesis', 'data', 'Data', 'sequenceNumber', 'SequenceNumber',
  'eventID', 'eventSourceARN', 'eventSource', 'approximateArrivalTimestamp', 'ApproximateArrivalTimestamp', 'StreamARN', 'streamName', 'ShardId',
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'];
const jsonish = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -1, 1.5, 1e300, '', 'DatabaseActivityMonitoringRecords', '1.2', 'AQ==', 'aws:kinesis',
      'arn:aws:kinesis:us-east-1:123456789012:stream/aws-rds-das-cluster-X', 'shardId-000000000001:1', '9'.repeat(40), '2024-01-01T00:00:00Z'),
    fc.string({ maxLength: 20 }),
    fc.double(),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }),
  object: fc
    .array(fc.tuple(fc.oneof(fc.constantFrom(...KEYS), fc.string({ maxLength: 8 })), tie('value')), { maxLength: 6 })
    .map((entries) => JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`) as unknown),
}));

/** A real record with one of its bytes, or a run of them, changed, cut or duplicated. */
function mutated(originals: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.constantFrom(...originals), fc.nat(), fc.nat({ max: 16 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'insert', 'dup'))
    .map(([original, at, length, byte, how]) => {
      const i = at % (original.length + 1);
      switch (how) {
        case 'set': {
          const copy = Buffer.from(original);
          for (let k = i; k < Math.min(copy.length, i + length + 1); k++) copy[k] = byte;
          return copy;
        }
        case 'cut':
          return Buffer.concat([original.subarray(0, i), original.subarray(Math.min(original.length, i + length + 1))]);
        case 'insert':
          return Buffer.concat([original.subarray(0, i), Buffer.alloc(length + 1, byte), original.subarray(i)]);
        default:
          return Buffer.concat([original.subarray(0, i), original.subarray(i, i + length * 97), original.subarray(i)]);
      }
    });
}

function checkEnvelope(input: Uint8Array | string | object): void {
  caseStarted();
  try {
    const envelope = parseEnvelope(input);
    assert.match(envelope.version, /^1\.\d{1,4}$/);
    assert.ok(Buffer.isBuffer(envelope.payload) && envelope.payload.length > 0);
    assert.ok(Buffer.isBuffer(envelope.key) && envelope.key.length > 0);
  } catch (error) {
    assertDasError(error, ENVELOPE_REASONS);
    // The message names the field at fault and never echoes the payload or key.
    assert.ok(error.message.length < 300, `message of ${error.message.length} characters`);
  }
}

async function readAll(chunks: readonly (Buffer | string)[], maxObjectBytes?: number): Promise<ReplayItem[]> {
  const items: ReplayItem[] = [];
  const options = maxObjectBytes === undefined ? {} : { maxObjectBytes };
  for await (const item of readReplayInput(Readable.from(chunks, { objectMode: true }), 'fuzz.json', options)) items.push(item);
  return items;
}

function cut(bytes: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let at = 0;
  for (let k = 0; at < bytes.length; k++) {
    const size = sizes.length === 0 ? bytes.length : Math.max(1, sizes[k % sizes.length]!);
    chunks.push(bytes.subarray(at, at + size));
    at += size;
  }
  return chunks;
}

function checkItems(items: readonly ReplayItem[], maxObjectBytes: number): void {
  for (const item of items) {
    if (item.ok) {
      assert.ok(item.record.stream !== '' && item.record.shardId !== '' && item.record.sequenceNumber !== '');
      assert.ok(item.record.data.length <= maxObjectBytes, `a ${item.record.data.length}-byte record came through a ${maxObjectBytes}-byte limit`);
      const arrival = item.record.approximateArrivalTimestamp;
      if (arrival !== undefined) assert.ok(!Number.isNaN(arrival.getTime()), 'an arrival time is a valid Date or absent');
    } else {
      assert.ok(isKnownReason(item.reason), `reason ${item.reason}`);
      assert.ok(item.message !== '' && item.where.startsWith('fuzz.json: '));
    }
  }
}

/** Pieces a saved file is made of: real records in every shape, JSON that is almost right, and garbage. */
const piece: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...REAL_ENVELOPES.map((e) => e.toString('utf8'))),
  fc.constantFrom(...REAL_LAMBDA.Records.map((r) => JSON.stringify(r.kinesis))),
  fc.constant(JSON.stringify(REAL_LAMBDA)),
  jsonish.value.map((v) => JSON.stringify(v) ?? 'null'),
  fc.string({ unit: fc.constantFrom(...'{}[]",:\\ \n\rtrue0-eE.ab'.split('')), maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  mutated(REAL_ENVELOPES).map((b) => b.toString('latin1')),
);
const file = fc
  .tuple(fc.array(piece, { maxLength: 8 }), fc.constantFrom('', '\n', '\r\n', ',', ' '), fc.constantFrom('plain', 'array', 'records'))
  .map(([pieces, separator, frame]) => {
    const body = pieces.join(separator);
    const text = frame === 'array' ? `[${body}]` : frame === 'records' ? `{"Records":[${body}]}` : body;
    return Buffer.from(text, 'latin1');
  });

fuzzSuite('fuzz: source', import.meta.url, {
  'parseEnvelope: arbitrary bytes, strings and JSON values give an envelope or a DasError with an envelope reason': {
    runs: 3000,
    run: (params) =>
      fc.assert(
        fc.property(
          fc.oneof(
            fc.uint8Array({ maxLength: 200 }),
            fc.string({ maxLength: 200 }),
            jsonish.value,
            jsonish.value.map((v) => JSON.stringify(v) ?? ''),
            // Almost an envelope: every field arbitrary.
            fc.record({ type: fc.oneof(fc.constant('DatabaseActivityMonitoringRecords'), jsonish.value), version: fc.oneof(fc.stringMatching(/^1\.\d{0,6}$/), jsonish.value), databaseActivityEvents: fc.oneof(fc.base64String({ maxLength: 40 }), jsonish.value), key: fc.oneof(fc.base64String({ maxLength: 40 }), jsonish.value) }, { requiredKeys: [] }),
          ),
          (input) => checkEnvelope(input as Uint8Array | string | object),
        ),
        params,
      ),
  },

  'parseEnvelope: real envelopes with bytes changed, cut, inserted or duplicated': {
    runs: 3000,
    run: (params) => fc.assert(fc.property(mutated(REAL_ENVELOPES), (bytes) => checkEnvelope(bytes)), params),
  },

  'parseEnvelope: a megabyte-long field is refused without quoting it': {
    runs: 20,
    run: (params) =>
      fc.assert(
        fc.property(fc.constantFrom('databaseActivityEvents', 'key', 'version'), fc.constantFrom('A', '-', ' ', '=', 'é'), (field, unit) => {
          const long = unit.repeat(1 << 20);
          const envelope = { type: 'DatabaseActivityMonitoringRecords', version: '1.2', databaseActivityEvents: 'AAAA', key: 'AAAA', [field]: long };
          checkEnvelope(Buffer.from(JSON.stringify(envelope)));
        }),
        params,
      ),
  },

  'parseLambdaEvent: any JSON value gives one result per entry, each a record or a closed reason': {
    runs: 2000,
    run: (params) => {
      const entryFrom = (real: (typeof REAL_LAMBDA.Records)[number]) =>
        fc
          .record({ field: fc.constantFrom('kinesis', 'eventID', 'eventSourceARN', 'eventSource', 'data', 'sequenceNumber', 'approximateArrivalTimestamp', '__proto__'), value: jsonish.value })
          .map(({ field, value }) => {
            const entry = JSON.parse(JSON.stringify(real)) as Record<string, unknown> & { kinesis: Record<string, unknown> };
            const target = ['data', 'sequenceNumber', 'approximateArrivalTimestamp'].includes(field) ? entry.kinesis : entry;
            Object.defineProperty(target, field, { value, enumerable: true, writable: true, configurable: true });
            return entry;
          });
      const event = fc.oneof(
        jsonish.value,
        fc.array(fc.oneof(jsonish.value, entryFrom(REAL_LAMBDA.Records[0]!), entryFrom(REAL_LAMBDA.Records[1]!)), { maxLength: 5 }).map((Records) => ({ Records })),
        entryFrom(REAL_LAMBDA.Records[0]!),
      );
      fc.assert(
        fc.property(event, (value) => {
          caseStarted();
          let results;
          try {
            results = parseLambdaEvent(value);
          } catch (error) {
            assertDasError(error, ['invalid_source_record']);
            return;
          }
          results.forEach((result, index) => {
            assert.equal(result.index, index);
            if (result.ok) {
              const { record } = result;
              assert.ok(record.stream !== '' && record.shardId !== '' && record.sequenceNumber !== '' && record.data.length > 0);
              if (record.approximateArrivalTimestamp !== undefined) {
                assert.ok(!Number.isNaN(record.approximateArrivalTimestamp.getTime()), 'an arrival time is a valid Date or absent');
              }
            } else {
              assert.ok(isKnownReason(result.reason) && result.message.startsWith(`Records[${index}]: `));
            }
          });
        }),
        params,
      );
    },
  },

  'readReplayInput: any file, cut into any chunks, gives the same items as read whole, each a record or a closed reason': {
    runs: 400,
    run: (params) =>
      fc.assert(
        fc.asyncProperty(file, fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }), fc.constantFrom(undefined, 64, 1500, 4096), async (bytes, sizes, max) => {
          caseStarted();
          const whole = await readAll([bytes], max);
          const pieces = await readAll(cut(bytes, sizes), max);
          checkItems(whole, max ?? 8 * 1024 * 1024);
          assert.deepEqual(pieces, whole);
        }),
        { ...params, timeout: 10_000 },
      ),
  },

  'readReplayInput: gzipped files, whole or cut short, and string chunks': {
    runs: 150,
    run: (params) =>
      fc.assert(
        fc.asyncProperty(file, fc.nat(), fc.boolean(), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 4 }), async (bytes, cutAt, truncate, sizes) => {
          caseStarted();
          const gz = gzipSync(bytes);
          const input = truncate ? gz.subarray(0, cutAt % gz.length) : gz;
          const items = await readAll(cut(input, sizes));
          checkItems(items, 8 * 1024 * 1024);
          // Offsets in `where` count the decompressed bytes and say so; everything else is as read plain.
          const withoutWhere = (list: ReplayItem[]) => list.map((item) => (item.ok ? item : { ...item, where: '' }));
          if (!truncate) assert.deepEqual(withoutWhere(items), withoutWhere(await readAll([bytes])));
          const asStrings = await readAll(cut(bytes, sizes).map((c) => c.toString('latin1')).filter((s) => /^[\x00-\x7f]*$/.test(s)));
          checkItems(asStrings, 8 * 1024 * 1024);
        }),
        { ...params, timeout: 10_000 },
      ),
  },

  'readReplayInput: deep nesting, endless strings and long garbage over a small limit finish with too_large or invalid_json': {
    runs: 30,
    run: (params) =>
      fc.assert(
        fc.asyncProperty(
          fc.constantFrom('[', '{"a":', '{"Records":[', '"', '[{"x":"', '\\'),
          fc.integer({ min: 1_000, max: 200_000 }),
          fc.constantFrom('', ']', '}', '\n{}'),
          fc.integer({ min: 1, max: 65_536 }),
          async (open, depth, close, chunk) => {
            caseStarted();
            const bytes = Buffer.from(open.repeat(depth) + close);
            const items = await readAll(cut(bytes, [chunk]), 1024);
            checkItems(items, 1024);
            assert.ok(items.every((item) => item.ok || item.reason === 'too_large' || item.reason === 'invalid_json' || item.reason === 'not_das_envelope'));
          },
        ),
        { ...params, timeout: 20_000 },
      ),
  },
});
