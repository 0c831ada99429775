import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cutEventList, parseRecordJson, SPLIT_ABOVE_BYTES } from '../../src/events/record-json.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** What the whole-text path gives: the value, or the thrown error's class and message. */
function whole(bytes: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: JSON.parse(utf8.decode(bytes)) };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

function viaCut(bytes: Uint8Array): { value: unknown } | { error: string } {
  try {
    return { value: parseRecordJson(bytes) };
  } catch (error) {
    return { error: `${(error as Error).name}: ${(error as Error).message}` };
  }
}

/** Entries padded until the record is past the split threshold. */
function bigList(entry: (i: number) => unknown): unknown[] {
  const list: unknown[] = [];
  for (let size = 0, i = 0; size <= SPLIT_ABOVE_BYTES; i++) {
    const e = entry(i);
    list.push(e);
    size += JSON.stringify(e).length;
  }
  return list;
}

const TRICKY = [
  'plain',
  'a "quoted" word',
  'ends in a backslash \\',
  '\\\\',
  '\\"',
  'brackets ] } [ { and commas , , inside',
  '"databaseActivityEventList":[',
  'é € 😀 and \u2028 \u2029',
  '\u0000\u001f control',
];

function event(i: number): Record<string, unknown> {
  return {
    type: 'record',
    commandText: `SELECT ${i}, '${TRICKY[i % TRICKY.length]}'`,
    paramList: [TRICKY[(i + 1) % TRICKY.length], String(i)],
    engineNativeAuditFields: { nested: [[], {}, [{ x: TRICKY[(i + 2) % TRICKY.length] }], null, true, -1.5e-7] },
    statementId: i,
  };
}

function recordText(list: unknown[], layout: 'compact' | 'spaced' | 'list-first' = 'compact'): Buffer {
  const base = { type: 'DatabaseActivityMonitoringRecord', clusterId: 'cluster-X', instanceId: 'db-X' };
  if (layout === 'list-first') return Buffer.from(JSON.stringify({ databaseActivityEventList: list, ...base }));
  if (layout === 'spaced') return Buffer.from(JSON.stringify({ ...base, databaseActivityEventList: list }, null, '\t').replace(/\n/g, '\r\n  '));
  return Buffer.from(JSON.stringify({ ...base, databaseActivityEventList: list }));
}

describe('a large record parsed entry by entry (record-json.ts)', () => {
  it('cuts the event list of a large record at the commas between its entries, not at those inside strings or nested values', () => {
    const list = bigList(event);
    const bytes = recordText(list);
    assert.ok(bytes.length > SPLIT_ABOVE_BYTES);
    const cut = cutEventList(bytes);
    assert.ok(cut !== null);
    assert.equal(cut.ends.length, list.length);
    let from = cut.open + 1;
    cut.ends.forEach((end, i) => {
      assert.deepEqual(JSON.parse(bytes.subarray(from, end).toString()), list[i], `entry ${i}`);
      from = end + 1;
    });
  });

  for (const layout of ['compact', 'spaced', 'list-first'] as const) {
    it(`gives what JSON.parse of the whole text gives (${layout})`, () => {
      const bytes = recordText(bigList(event), layout);
      assert.ok(cutEventList(bytes) !== null, 'the cut path is taken');
      assert.deepEqual(parseRecordJson(bytes), JSON.parse(bytes.toString()));
    });
  }

  it('finds no entries in an empty list, and one in a list of one', () => {
    const pad = 'x'.repeat(SPLIT_ABOVE_BYTES);
    const empty = Buffer.from(`{"clusterId":"${pad}","databaseActivityEventList":[ \n ]}`);
    assert.deepEqual(cutEventList(empty)?.ends, []);
    assert.deepEqual(parseRecordJson(empty), { clusterId: pad, databaseActivityEventList: [] });
    const one = Buffer.from(`{"databaseActivityEventList":[{"commandText":"${pad}"}]}`);
    assert.equal(cutEventList(one)?.ends.length, 1);
    assert.deepEqual(parseRecordJson(one), { databaseActivityEventList: [{ commandText: pad }] });
  });

  it('leaves to the whole text what it cannot cut safely, with the same result or the same error', () => {
    const entries = bigList(event);
    const body = JSON.stringify(entries).slice(1, -1);
    const cases: Record<string, string> = {
      'the key twice (the last one counts)': `{"databaseActivityEventList":[1],"databaseActivityEventList":[${body}]}`,
      'an escaped key': `{"database\\u0041ctivityEventList":[${body}]}`,
      'the key again, escaped, after the list (the last one counts)': `{"databaseActivityEventList":[${body}],"databaseActivityEventLis\\u0074":[]}`,
      'the key again, escaped, before the list': `{"databaseActivityEventLis\\u0074":[1],"databaseActivityEventList":[${body}]}`,
      'another key twice': `{"clusterId":"a","databaseActivityEventList":[${body}],"clusterId":"b"}`,
      'a byte-order mark after a comma': `{"databaseActivityEventList":[${body},\uFEFF{}]}`,
      'a byte-order mark after the bracket': `{"databaseActivityEventList":[\uFEFF${body}]}`,
      'a byte-order mark after the list': `{"databaseActivityEventList":[${body}]\uFEFF}`,
      'a byte-order mark at the start (both drop it)': `\uFEFF{"databaseActivityEventList":[${body}]}`,
      'the key as a value': `{"type":"databaseActivityEventList","databaseActivityEventList":[${body}]}`,
      'a list that is an object': `{"databaseActivityEventList":{"a":[${body}]}}`,
      'a trailing comma': `{"databaseActivityEventList":[${body},]}`,
      'an empty entry': `{"databaseActivityEventList":[${body},,1]}`,
      'a bracket closed by a brace': `{"databaseActivityEventList":[${body}}}`,
      'a truncated record': `{"databaseActivityEventList":[${body}`,
      'text after the record': `{"databaseActivityEventList":[${body}]} x`,
      'two records': `{"databaseActivityEventList":[${body}]}{}`,
      'a list at the top': `[${body}]`,
      'an unclosed string': `{"databaseActivityEventList":[${body},"]}`,
    };
    for (const [name, text] of Object.entries(cases)) {
      const bytes = Buffer.from(text);
      assert.ok(bytes.length > SPLIT_ABOVE_BYTES, name);
      assert.deepEqual(viaCut(bytes), whole(bytes), name);
    }
  });

  it('refuses invalid UTF-8 inside an entry, as the whole text does', () => {
    const bytes = recordText(bigList(event));
    const cut = cutEventList(bytes)!;
    const bad = Buffer.from(bytes);
    // Inside the third entry's commandText: a lone continuation byte.
    const at = bad.indexOf('SELECT', cut.ends[2]! + 1);
    bad[at] = 0x80;
    assert.ok(cutEventList(bad) !== null, 'the cut is still found');
    const got = viaCut(bad);
    assert.ok('error' in got, 'refused');
    assert.deepEqual(got, whole(bad));
  });

  it('gives what JSON.parse gives for arbitrary entries, and for those records with bytes changed (property)', () => {
    const entry = fc.oneof(fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' })));
    fc.assert(
      fc.property(
        fc.array(entry, { minLength: 1, maxLength: 30 }),
        fc.array(fc.record({ at: fc.nat(), byte: fc.constantFrom(0x22, 0x5c, 0x2c, 0x5b, 0x5d, 0x7b, 0x7d, 0x3a, 0x20, 0x80, 0xef, 0xbb, 0xbf) }), { maxLength: 3 }),
        (entries, edits) => {
          const pad = { type: 'DatabaseActivityMonitoringRecord', clusterId: 'c'.repeat(SPLIT_ABOVE_BYTES) };
          const bytes = Buffer.from(JSON.stringify({ ...pad, databaseActivityEventList: entries }));
          assert.deepEqual(viaCut(bytes), whole(bytes));
          // Structural bytes written anywhere in the list: the cut path must agree or step aside.
          const list = bytes.indexOf('"databaseActivityEventList"');
          for (const { at, byte } of edits) bytes[list + (at % (bytes.length - list))] = byte;
          assert.deepEqual(viaCut(bytes), whole(bytes));
        },
      ),
      { numRuns: 300 },
    );
  });
});
