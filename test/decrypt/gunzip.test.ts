import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { isDasError } from '../../src/errors.ts';
import { DEFAULT_MAX_GUNZIP_BYTES, gunzipCappedSync } from '../../src/decrypt/gunzip.ts';

async function reasonOf(promise: Promise<unknown>): Promise<{ reason: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    assert.ok(isDasError(error), `expected a DasError, got ${String(error)}`);
    return { reason: error.reason, message: error.message };
  }
  assert.fail('expected gunzipCapped to fail');
}

const gunzipCapped = async (bytes: Uint8Array, maxBytes?: number): Promise<Buffer> => gunzipCappedSync(bytes, maxBytes);

describe('gunzipCappedSync', () => {
  const record = JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', databaseActivityEventList: [{ type: 'heartbeat' }] });

  it('returns the decompressed bytes of a gzip payload', async () => {
    const out = await gunzipCapped(gzipSync(record));
    assert.equal(out.toString('utf8'), record);
  });

  it('accepts output exactly at the cap', async () => {
    const bytes = Buffer.alloc(1000, 0x61);
    assert.equal((await gunzipCapped(gzipSync(bytes), 1000)).length, 1000);
  });

  it('output one byte over the cap is too_large', async () => {
    const { reason } = await reasonOf(gunzipCapped(gzipSync(Buffer.alloc(1001, 0x61)), 1000));
    assert.equal(reason, 'too_large');
  });

  it('a gzip bomb (80 KB of gzip members inflating to 80 MiB) is too_large under the default cap', async () => {
    const member = gzipSync(Buffer.alloc(1024 * 1024));
    const bomb = Buffer.concat(Array.from({ length: 80 }, () => member));
    assert.ok(bomb.length < 200 * 1024);
    assert.ok(80 * 1024 * 1024 > DEFAULT_MAX_GUNZIP_BYTES);
    const { reason, message } = await reasonOf(gunzipCapped(bomb));
    assert.equal(reason, 'too_large');
    assert.match(message, new RegExp(String(DEFAULT_MAX_GUNZIP_BYTES)));
  });

  it('concatenated gzip members under the cap decompress in full', async () => {
    const out = await gunzipCapped(Buffer.concat([gzipSync('ab'), gzipSync('cd')]));
    assert.equal(out.toString(), 'abcd');
  });

  const notGzip: [string, Uint8Array][] = [
    ['plain JSON bytes', Buffer.from(record)],
    ['empty input', new Uint8Array(0)],
    ['a single 0x1f byte', Buffer.from([0x1f])],
  ];
  for (const [name, bytes] of notGzip) {
    it(`${name} is not_gzip`, async () => {
      const { reason, message } = await reasonOf(gunzipCapped(bytes));
      assert.equal(reason, 'not_gzip');
      assert.match(message, /magic/);
    });
  }

  const corrupt: [string, () => Uint8Array][] = [
    ['gzip magic followed by garbage', () => Buffer.concat([Buffer.from([0x1f, 0x8b]), Buffer.from('not deflate at all')])],
    ['a gzip stream cut short', () => gzipSync(record).subarray(0, 20)],
    ['a gzip stream with a damaged CRC', () => {
      const bytes = Buffer.from(gzipSync(record));
      bytes[bytes.length - 6]! ^= 0xff;
      return bytes;
    }],
  ];
  for (const [name, make] of corrupt) {
    it(`${name} is not_gzip, reported as corrupt`, async () => {
      const { reason, message } = await reasonOf(gunzipCapped(make()));
      assert.equal(reason, 'not_gzip');
      assert.match(message, /corrupt/);
    });
  }

  it('refuses a cap that is not a positive integer', async () => {
    for (const cap of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(gunzipCapped(gzipSync(record), cap), RangeError);
    }
  });
});
