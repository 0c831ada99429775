import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseDasTimestamp } from '../../src/events/time.ts';

describe('parseDasTimestamp', () => {
  const parsed: [string, string, bigint][] = [
    ['PostgreSQL/MySQL, 6 digits, +00', '2019-10-30 00:39:49.940668+00', 1572395989940668000n],
    ['SQL Server, 7 digits, kept to the 100 ns tick', '2022-10-06 21:24:59.9422268+00', 1665091499942226800n],
    ['Oracle, no zone, read as UTC', '2021-01-15 00:15:36.233787', 1610669736233787000n],
    ['no fraction', '2019-10-30 00:39:49+00', 1572395989000000000n],
    ['1 fractional digit', '2019-10-30 00:39:49.9+00', 1572395989900000000n],
    ['9 fractional digits', '2019-10-30 00:39:49.123456789+00', 1572395989123456789n],
    ['zone +0000', '2019-10-30 00:39:49.940668+0000', 1572395989940668000n],
    ['zone +00:00', '2019-10-30 00:39:49.940668+00:00', 1572395989940668000n],
    ['zone Z with ISO T', '2019-10-30T00:39:49.940668Z', 1572395989940668000n],
    ['ISO T without zone', '2019-10-30T00:39:49.940668', 1572395989940668000n],
    ['positive offset +02:30 is earlier in UTC', '2019-10-30 02:39:49.940668+02:30', 1572394189940668000n],
    ['negative offset -05 is later in UTC', '2019-10-29 19:39:49.940668-05', 1572395989940668000n],
    ['the epoch', '1970-01-01 00:00:00+00', 0n],
    ['before the epoch', '1969-12-31 23:59:59.999999999+00', -1n],
    ['leap day', '2024-02-29 12:00:00+00', 1709208000000000000n],
    ['offset crossing midnight into a new year', '2021-01-01 01:00:00+02', 1609455600000000000n],
  ];
  for (const [name, text, nanos] of parsed) {
    it(`reads ${name}: ${text}`, () => {
      assert.equal(parseDasTimestamp(text), nanos);
    });
  }

  const rejected: [string, string][] = [
    ['empty text', ''],
    ['words', 'yesterday'],
    ['a date without a time', '2019-10-30'],
    ['10 fractional digits', '2019-10-30 00:39:49.1234567890+00'],
    ['a dot without digits', '2019-10-30 00:39:49.+00'],
    ['month 13', '2019-13-30 00:39:49+00'],
    ['February 29 outside a leap year', '2019-02-29 00:00:00+00'],
    ['April 31', '2019-04-31 00:00:00+00'],
    ['hour 24', '2019-10-30 24:00:00+00'],
    ['second 60', '2019-10-30 23:59:60+00'],
    ['zone hour 24', '2019-10-30 00:39:49+24'],
    ['a named zone', '2019-10-30 00:39:49 UTC'],
    ['surrounding spaces', ' 2019-10-30 00:39:49+00 '],
    ['epoch seconds as text', '1572395989'],
  ];
  for (const [name, text] of rejected) {
    it(`returns null for ${name}: ${JSON.stringify(text)}`, () => {
      assert.equal(parseDasTimestamp(text), null);
    });
  }

  it('agrees with Date.parse to the millisecond on the documented forms', () => {
    for (const [text, iso] of [
      ['2019-05-24 00:39:49.940668+00', '2019-05-24T00:39:49.940Z'],
      ['2022-10-06 21:34:42.7113072+00', '2022-10-06T21:34:42.711Z'],
      ['2021-01-15 00:22:49.535239', '2021-01-15T00:22:49.535Z'],
    ] as const) {
      assert.equal(parseDasTimestamp(text)! / 1_000_000n, BigInt(Date.parse(iso)), text);
    }
  });
});

describe('parseDasTimestamp on the UTC form of every engine (read by character, seconds remembered)', () => {
  /** What the general pattern reads, for comparison: the same text with an ISO `T`, which the fast path never takes. */
  const general = (text: string) => parseDasTimestamp(text.replace(' ', 'T'));

  it('reads each text as the general pattern does, whatever came before it', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            at: fc.integer({ min: -2_000_000_000, max: 4_000_000_000 }),
            digits: fc.integer({ min: 0, max: 9 }),
            fraction: fc.integer({ min: 0, max: 999_999_999 }),
            zone: fc.constantFrom('+00', 'Z', ''),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (stamps) => {
          for (const { at, digits, fraction, zone } of stamps) {
            const whole = new Date(at * 1000).toISOString().slice(0, 19).replace('T', ' ');
            const text = `${whole}${digits > 0 ? `.${String(fraction).padStart(9, '0').slice(0, digits)}` : ''}${zone}`;
            assert.equal(parseDasTimestamp(text), general(text), text);
            assert.notEqual(parseDasTimestamp(text), null, text);
          }
        },
      ),
    );
  });

  it('never lets a remembered second vouch for a different text', () => {
    assert.equal(parseDasTimestamp('2019-10-30 00:39:49.940668+00'), 1572395989940668000n);
    for (const text of ['2019-10-30 00:39:49.+00', '2019-10-30 00:39:49.1234567890+00', '2019-10-30 00:39:49.94x668+00', '2019-10-30 00:39:4', '2019-10-30 00:39:49 UTC']) {
      assert.equal(parseDasTimestamp(text), null, text);
    }
    assert.equal(parseDasTimestamp('2019-10-30 00:39:50.5+00'), 1572395990500000000n);
    assert.equal(parseDasTimestamp('2019-02-29 00:00:00.5+00'), null);
    assert.equal(parseDasTimestamp('2019-10-30 00:39:49.940668+02'), 1572388789940668000n);
  });
});
