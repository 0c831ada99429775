import assert from 'node:assert/strict';
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
