import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { parseEnvelope } from '../../src/source/envelope.ts';
import { MAX_INPUT_DEPTH, readReplayInput, type ReplayItem } from '../../src/source/replay-input.ts';
import {
  chunked,
  lambdaEvent,
  lambdaEventBytes,
  MYSQL_SHARD,
  MYSQL_STREAM,
  mysqlEnvelopes,
  postgresEnvelope,
  postgresEnvelopeFile,
} from './real-records.ts';

const ORIGIN = 'saved.json';

async function readAll(bytes: Buffer, options: { chunk?: number; max?: number } = {}): Promise<ReplayItem[]> {
  const items: ReplayItem[] = [];
  const input = chunked(bytes, options.chunk ?? 65536);
  for await (const item of readReplayInput(input, ORIGIN, options.max === undefined ? {} : { maxObjectBytes: options.max })) items.push(item);
  return items;
}

function summary(items: ReplayItem[]) {
  return items.map((item) =>
    item.ok
      ? { ok: true, stream: item.record.stream, shardId: item.record.shardId, sequenceNumber: item.record.sequenceNumber, data: Buffer.from(item.record.data).toString('utf8') }
      : { ok: false, reason: item.reason, where: item.where },
  );
}

const [MYSQL_0, MYSQL_1] = mysqlEnvelopes() as [Buffer, Buffer];
const PG_PRETTY = Buffer.from(postgresEnvelopeFile().toString('utf8').trim());
const PG = postgresEnvelope();
const SEQ = lambdaEvent().Records.map((entry) => entry.kinesis.sequenceNumber);
const PG_SEQ = '49642881480676763694242309434545606762700577414896943999';

/** The same three records (MySQL, PostgreSQL, MySQL) in every shape a saved file can take. */
interface Format {
  name: string;
  /** Bytes of each record's entry, in order; `join` puts them into one file. */
  entries: Buffer[];
  join: (entries: Buffer[]) => Buffer;
  /** The envelope bytes each record must come out with. */
  expected: Buffer[];
  stream: (i: number) => { stream: string; shardId: string; sequenceNumber: string };
  /** Whether the format records the arrival time. */
  arrival: boolean;
}

const synthetic = (i: number) => ({ stream: ORIGIN, shardId: 'replay', sequenceNumber: String(i) });
const lines = (entries: Buffer[]) => Buffer.from(`${entries.map((e) => e.toString('utf8')).join('\n')}\n`);
const envelopes = [MYSQL_0, PG, MYSQL_1];
const sequences = [SEQ[0]!, PG_SEQ, SEQ[1]!];
const kinesisRecord = (upper: boolean) => (envelope: Buffer, i: number) =>
  Buffer.from(
    JSON.stringify(
      upper
        ? { SequenceNumber: sequences[i], ApproximateArrivalTimestamp: '2023-07-22T14:04:13.976000+00:00', Data: envelope.toString('base64'), PartitionKey: 'p' }
        : { sequenceNumber: sequences[i], approximateArrivalTimestamp: 1690034653.976, data: envelope.toString('base64'), partitionKey: 'p' },
    ),
  );
const lambdaEntry = (envelope: Buffer, i: number) => {
  const template = lambdaEvent().Records[0]!;
  return Buffer.from(
    JSON.stringify({ ...template, kinesis: { ...template.kinesis, data: envelope.toString('base64'), sequenceNumber: sequences[i] }, eventID: `${MYSQL_SHARD}:${sequences[i]}` }),
  );
};

const FORMATS: Format[] = [
  {
    name: 'Firehose/S3 object: envelopes back to back, no separator',
    entries: [MYSQL_0, PG_PRETTY, MYSQL_1],
    join: (entries) => Buffer.concat(entries),
    expected: [MYSQL_0, PG_PRETTY, MYSQL_1],
    stream: synthetic,
    arrival: false,
  },
  {
    name: 'newline-delimited envelopes',
    entries: envelopes,
    join: lines,
    expected: envelopes,
    stream: synthetic,
    arrival: false,
  },
  {
    name: 'newline-delimited Kinesis records as get-records prints them (Data, SequenceNumber)',
    entries: envelopes.map(kinesisRecord(true)),
    join: lines,
    expected: envelopes,
    stream: (i) => ({ stream: ORIGIN, shardId: 'replay', sequenceNumber: sequences[i]! }),
    arrival: true,
  },
  {
    name: 'newline-delimited Kinesis records as the SDKs print them (data, sequenceNumber)',
    entries: envelopes.map(kinesisRecord(false)),
    join: lines,
    expected: envelopes,
    stream: (i) => ({ stream: ORIGIN, shardId: 'replay', sequenceNumber: sequences[i]! }),
    arrival: true,
  },
  {
    name: 'get-records output, pretty-printed',
    entries: envelopes.map(kinesisRecord(true)),
    join: (entries) => {
      // As the AWS CLI prints it; an entry broken on purpose goes in as it is.
      const pretty = entries.map((e) => {
        try {
          return JSON.stringify(JSON.parse(e.toString('utf8')), null, 4).replaceAll('\n', '\n        ');
        } catch {
          return e.toString('utf8');
        }
      });
      return Buffer.from(`{\n    "Records": [\n        ${pretty.join(',\n        ')}\n    ],\n    "NextShardIterator": "AAAA{\\"x\\"",\n    "MillisBehindLatest": 0\n}\n`);
    },
    expected: envelopes,
    stream: (i) => ({ stream: ORIGIN, shardId: 'replay', sequenceNumber: sequences[i]! }),
    arrival: true,
  },
  {
    name: 'Lambda Kinesis event',
    entries: envelopes.map(lambdaEntry),
    join: (entries) => Buffer.from(`{"Records": [${entries.map((e) => e.toString('utf8')).join(',\n  ')}]}`),
    expected: envelopes,
    stream: (i) => ({ stream: MYSQL_STREAM, shardId: MYSQL_SHARD, sequenceNumber: sequences[i]! }),
    arrival: true,
  },
];

describe('readReplayInput', () => {
  it('the real Lambda event file, as saved', async () => {
    const items = await readAll(lambdaEventBytes());
    assert.deepEqual(
      summary(items),
      [0, 1].map((i) => ({ ok: true, stream: MYSQL_STREAM, shardId: MYSQL_SHARD, sequenceNumber: SEQ[i], data: mysqlEnvelopes()[i]!.toString('utf8') })),
    );
    const [first, second] = items.map((item) => (item.ok ? parseEnvelope(item.record.data) : assert.fail(item.message)));
    assert.ok(first!.key.equals(second!.key));
    assert.equal(first!.version, '1.2');
  });

  it('the real PostgreSQL envelope file, as saved', async () => {
    const [item, ...rest] = await readAll(postgresEnvelopeFile());
    assert.equal(rest.length, 0);
    assert.ok(item?.ok);
    assert.equal(parseEnvelope(item.record.data).version, '1.1');
    assert.deepEqual(item.record, { stream: ORIGIN, shardId: 'replay', sequenceNumber: '0', data: PG_PRETTY });
  });

  for (const format of FORMATS) {
    describe(format.name, () => {
      const file = format.join(format.entries);
      const expected = format.expected.map((data, i) => ({ ok: true, ...format.stream(i), data: data.toString('utf8') }));

      for (const [variant, bytes, chunk] of [
        ['read whole', file, 65536],
        ['fed one byte at a time', file, 1],
        ['fed in 7-byte chunks', file, 7],
        ['gzipped', gzipSync(file), 65536],
        ['gzipped, fed in 3-byte chunks', gzipSync(file), 3],
      ] as const) {
        it(`${variant}: every record, with its data byte for byte`, async () => {
          assert.deepEqual(summary(await readAll(bytes, { chunk })), expected);
        });
      }

      it('arrival time is kept where the format has it', async () => {
        const [first] = await readAll(file);
        assert.ok(first?.ok);
        assert.equal(first.record.approximateArrivalTimestamp?.getTime(), format.arrival ? 1690034653976 : undefined);
      });
    });
  }

  describe('a broken object in the middle is one failure, and the rest is still read', () => {
    const truncated = MYSQL_1.subarray(0, 700);
    const cases: [string, Buffer, number][] = [
      ['Firehose: an envelope cut short inside its base64', Buffer.concat([MYSQL_0, truncated, PG_PRETTY, MYSQL_1]), 4],
      ['Firehose: an envelope missing its closing brace', Buffer.concat([MYSQL_0, MYSQL_1.subarray(0, -1), PG, MYSQL_1]), 4],
      ['Firehose: a record that is not JSON at all', Buffer.concat([MYSQL_0, Buffer.from('not json at all'), PG, MYSQL_1]), 4],
      ['Firehose: an envelope with a stray comma', Buffer.concat([MYSQL_0, Buffer.from(MYSQL_1.toString().replace('",', '",,')), PG, MYSQL_1]), 4],
      ['Firehose, gzipped: an envelope cut short', gzipSync(Buffer.concat([MYSQL_0, truncated, PG, MYSQL_1])), 4],
      ['NDJSON envelopes: a line cut short inside a string', lines([MYSQL_0, truncated, PG, MYSQL_1]), 4],
      ['NDJSON envelopes: a line cut short between fields', lines([MYSQL_0, Buffer.from('{"type": "DatabaseActivityMonitoringRecords", "version": '), PG, MYSQL_1]), 4],
      ['NDJSON envelopes: a line with a syntax error', lines([MYSQL_0, Buffer.from('{"type": "x",, "key": "QQ=="}'), PG, MYSQL_1]), 4],
      ['NDJSON Kinesis records: a line cut short', lines([...envelopes.map(kinesisRecord(true)).slice(0, 1), kinesisRecord(true)(MYSQL_1, 2).subarray(0, 90), ...envelopes.map(kinesisRecord(true)).slice(1)]), 4],
      ['NDJSON Kinesis records, gzipped: a line cut short', gzipSync(lines([kinesisRecord(false)(MYSQL_0, 0), kinesisRecord(false)(MYSQL_1, 2).subarray(0, 50), kinesisRecord(false)(PG, 1)])), 3],
      [
        'Lambda event: an entry with a missing colon',
        FORMATS[5]!.join([lambdaEntry(MYSQL_0, 0), Buffer.from(lambdaEntry(PG, 1).toString().replace('"eventSource":', '"eventSource"')), lambdaEntry(MYSQL_1, 2)]),
        3,
      ],
      [
        'Lambda event: an entry cut short inside its data',
        FORMATS[5]!.join([lambdaEntry(MYSQL_0, 0), lambdaEntry(PG, 1).subarray(0, 300), lambdaEntry(MYSQL_1, 2)]),
        3,
      ],
      [
        'get-records output: a record with a stray brace',
        FORMATS[4]!.join([kinesisRecord(true)(MYSQL_0, 0), Buffer.from(kinesisRecord(true)(PG, 1).toString().replace('"Data"', '} "Data"')), kinesisRecord(true)(MYSQL_1, 2)]),
        3,
      ],
    ];
    for (const [name, file, total] of cases) {
      for (const chunk of [65536, 1]) {
        it(`${name}${chunk === 1 ? ' (one byte at a time)' : ''}`, async () => {
          const items = await readAll(file, { chunk });
          assert.equal(items.length, total, JSON.stringify(summary(items), null, 1).slice(0, 2000));
          const failures = items.filter((item) => !item.ok);
          assert.equal(failures.length, 1);
          assert.ok(!items[1]!.ok, 'the failure sits where the broken object was');
          assert.equal(items[1]!.reason, 'invalid_json');
          assert.match(items[1]!.where, /^saved\.json: object 1 \((Records\[1\], )?byte \d+/);
          for (const item of items) if (item.ok) parseEnvelope(item.record.data);
        });
      }
    }

    describe(`a value nesting deeper than ${MAX_INPUT_DEPTH} levels is invalid_json, however deep, and the records after it are read`, () => {
      // Deep enough that remembering every level (as before the limit) would hold a million entries.
      const deep: [string, Buffer][] = [
        ['arrays', Buffer.from('['.repeat(1_000_000))],
        ['objects', Buffer.from('{"a":'.repeat(200_000))],
        ['arrays, closed', Buffer.from('['.repeat(300) + ']'.repeat(300))],
      ];
      for (const [name, value] of deep) {
        it(name, async () => {
          const items = await readAll(Buffer.concat([MYSQL_0, Buffer.from('\n'), value, Buffer.from('\n'), PG, MYSQL_1]));
          const outcomes = items.map((item) => (item.ok ? 'ok' : item.reason));
          // What follows the cut-off point up to the next object (closing brackets) may be one more broken value.
          assert.ok(['ok,invalid_json,ok,ok', 'ok,invalid_json,invalid_json,ok,ok'].includes(outcomes.join()), outcomes.join());
          assert.match(!items[1]!.ok ? items[1]!.message : '', new RegExp(`nests deeper than ${MAX_INPUT_DEPTH} levels`));
          assert.deepEqual(items.filter((item) => item.ok).map((item) => item.ok && Buffer.from(item.record.data)), [MYSQL_0, PG, MYSQL_1]);
        });
      }

      it(`${MAX_INPUT_DEPTH} levels are still a value`, async () => {
        const nested = `${'['.repeat(MAX_INPUT_DEPTH - 1)}${PG.toString('utf8')}${']'.repeat(MAX_INPUT_DEPTH - 1)}`;
        const items = await readAll(Buffer.concat([MYSQL_0, Buffer.from(nested), MYSQL_1]));
        // A top-level array hands out its elements: the one element, read whole, is an array, not an envelope.
        assert.deepEqual(items.map((item) => (item.ok ? 'ok' : `${item.reason}: ${item.message}`)), ['ok', 'not_das_envelope: a JSON array, expected an object', 'ok']);
      });
    });

    it('says where the failure is in bytes', async () => {
      const items = await readAll(Buffer.concat([MYSQL_0, Buffer.from('garbage'), PG]));
      assert.equal(items[1]!.ok, false);
      assert.equal(!items[1]!.ok && items[1]!.where, `saved.json: object 1 (byte ${MYSQL_0.length})`);
    });
  });

  describe('too large', () => {
    for (const chunk of [65536, 1]) {
      it(`an object over the limit is one too_large item and reading resumes after it${chunk === 1 ? ' (one byte at a time)' : ''}`, async () => {
        const items = await readAll(Buffer.concat([PG, MYSQL_0, PG]), { max: 1000, chunk });
        assert.deepEqual(
          items.map((item) => (item.ok ? 'ok' : item.reason)),
          ['ok', 'too_large', 'ok'],
        );
      });
    }

    it('in NDJSON too', async () => {
      const items = await readAll(lines([PG, MYSQL_0, PG]), { max: 1000 });
      assert.deepEqual(items.map((item) => (item.ok ? 'ok' : item.reason)), ['ok', 'too_large', 'ok']);
    });

    it('a Lambda event bigger than the limit is fine: only each entry must fit', async () => {
      const items = await readAll(lambdaEventBytes(), { max: 3500 });
      assert.ok(lambdaEventBytes().length > 3500);
      assert.deepEqual(items.map((item) => item.ok), [true, true]);
    });
  });

  describe('what is not a DAS record', () => {
    it('an object of another shape is not_das_envelope', async () => {
      const items = await readAll(lines([MYSQL_0, Buffer.from('{"hello": "world"}'), PG]));
      assert.deepEqual(items.map((item) => (item.ok ? 'ok' : item.reason)), ['ok', 'not_das_envelope', 'ok']);
    });

    it('a Kinesis record whose Data is not strict base64 is bad_base64, naming the field', async () => {
      const record = JSON.parse(kinesisRecord(true)(PG, 1).toString()) as { Data: string };
      record.Data = record.Data.replace(/=*$/, '');
      const items = await readAll(lines([kinesisRecord(true)(MYSQL_0, 0), Buffer.from(JSON.stringify(record))]));
      assert.ok(!items[1]!.ok);
      assert.equal(items[1]!.reason, 'bad_base64');
      assert.match(items[1]!.message, /^Data is not valid base64/);
    });

    it('a Lambda entry without kinesis data is invalid_source_record', async () => {
      const items = await readAll(Buffer.from(JSON.stringify({ Records: [{ kinesis: {} }] })));
      assert.deepEqual(items.map((item) => (item.ok ? 'ok' : item.reason)), ['invalid_source_record']);
    });

    it('an envelope with a bad version is passed on: the decoding path judges envelopes', async () => {
      const odd = Buffer.from(PG.toString().replace('"1.1"', '"9.9"'));
      const [item] = await readAll(odd);
      assert.ok(item?.ok);
      assert.throws(() => parseEnvelope(item.record.data), { reason: 'unsupported_version' });
    });

    it('a gzip file cut short gives the records before the cut, then not_gzip', async () => {
      const gz = gzipSync(Buffer.concat([MYSQL_0, PG, MYSQL_1, PG, MYSQL_0]));
      const items = await readAll(gz.subarray(0, Math.floor(gz.length * 0.6)));
      const last = items.at(-1)!;
      assert.ok(!last.ok);
      assert.equal(last.reason, 'not_gzip');
      assert.ok(items[0]!.ok);
    });

    it('empty input and whitespace are no items', async () => {
      assert.deepEqual(await readAll(Buffer.alloc(0)), []);
      assert.deepEqual(await readAll(Buffer.from(' \n\r\n\t')), []);
    });
  });

  describe('odd but valid input', () => {
    const expected = envelopes.map((data, i) => ({ ok: true, ...synthetic(i), data: data.toString('utf8') }));

    it('gzip members concatenated (cat a.gz b.gz)', async () => {
      const file = Buffer.concat([gzipSync(Buffer.concat([MYSQL_0, PG])), gzipSync(MYSQL_1)]);
      assert.deepEqual(summary(await readAll(file, { chunk: 5 })), expected);
    });

    it('CRLF line ends and a UTF-8 byte order mark', async () => {
      const file = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(envelopes.map((e) => e.toString()).join('\r\n'))]);
      assert.deepEqual(summary(await readAll(file, { chunk: 1 })), expected);
    });

    it('a JSON array of envelopes', async () => {
      const items = await readAll(Buffer.from(`[${envelopes.map((e) => e.toString()).join(', ')}]`), { chunk: 3 });
      assert.deepEqual(summary(items), expected);
    });

    it('a stream that yields strings', async () => {
      const text = lines(envelopes).toString('utf8');
      const items: ReplayItem[] = [];
      for await (const item of readReplayInput(Readable.from([text.slice(0, 100), text.slice(100)]), ORIGIN)) items.push(item);
      assert.deepEqual(summary(items), expected);
    });

    it('newline-delimited Lambda events, one per line', async () => {
      const event = JSON.stringify(lambdaEvent());
      const items = await readAll(Buffer.from(`${event}\n${event}\n`), { chunk: 64 });
      assert.deepEqual(items.map((item) => item.ok && item.record.sequenceNumber), [SEQ[0], SEQ[1], SEQ[0], SEQ[1]]);
    });

    it('a Kinesis record that names its stream keeps it', async () => {
      const record = { ...JSON.parse(kinesisRecord(true)(MYSQL_0, 0).toString()), StreamARN: lambdaEvent().Records[0]!.eventSourceARN };
      const [item] = await readAll(Buffer.from(JSON.stringify(record)));
      assert.ok(item?.ok);
      assert.equal(item.record.stream, MYSQL_STREAM);
    });
  });

  it('gives the same records, ids included, however the file is cut into chunks', async () => {
    const file = Buffer.concat([MYSQL_0, MYSQL_1.subarray(0, 500), PG_PRETTY, Buffer.from('junk'), MYSQL_1, PG]);
    const whole = summary(await readAll(file));
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 600 }), async (chunk) => {
        assert.deepEqual(summary(await readAll(file, { chunk })), whole);
      }),
      { numRuns: 40 },
    );
  });

  it('streams: items arrive while an endless input is still being written', async () => {
    const endless = Readable.from(
      (function* () {
        for (;;) yield Buffer.concat([MYSQL_0, PG, MYSQL_1]);
      })(),
    );
    let n = 0;
    for await (const item of readReplayInput(endless, ORIGIN)) {
      assert.ok(item.ok);
      if (++n === 3000) break;
    }
    assert.equal(n, 3000);
    assert.ok(endless.destroyed, 'a reader that stops early closes its input');
  });
});
