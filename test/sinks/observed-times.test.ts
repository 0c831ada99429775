/**
 * ObservedTimes, the read-time counter of `--old-events observed-time`: runs
 * of nanoseconds no one else in the process gets, never before the read
 * millisecond, shared through a SharedArrayBuffer. Across real threads:
 * test/workers/observed-time.test.ts.
 */
import assert from 'node:assert/strict';
import { ObservedTimes } from '../../src/sinks/otlp/observed-times.ts';

const MS = Date.parse('2026-05-01T12:00:00.250Z');
const NS = BigInt(MS) * 1_000_000n;

describe('ObservedTimes', () => {
  it('hands out consecutive runs from the read millisecond plus the offset', () => {
    const times = new ObservedTimes({ offsetNs: 700 });
    assert.equal(times.take(MS, 3), NS + 700n);
    assert.equal(times.take(MS, 2), NS + 703n, 'after the run before');
    assert.equal(times.take(MS, 1), NS + 705n);
  });

  it('a later millisecond starts at its own floor; an earlier one goes on from the counter, never back', () => {
    const times = new ObservedTimes({ offsetNs: 0 });
    assert.equal(times.take(MS, 10), NS);
    assert.equal(times.take(MS + 5, 1), NS + 5_000_000n);
    assert.equal(times.take(MS, 1), NS + 5_000_001n, 'a record stamped earlier but encoded later still gets a new time');
  });

  it('more than a million records in one millisecond move on into the next, still one time each', () => {
    const times = new ObservedTimes({ offsetNs: 999_000 });
    assert.equal(times.take(MS, 1_000), NS + 999_000n);
    assert.equal(times.take(MS, 1), NS + 1_000_000n);
  });

  it('instances over one shared counter never hand out the same time, and share the offset', () => {
    const main = new ObservedTimes({ offsetNs: 123 });
    const other = new ObservedTimes({ shared: main.shared, offsetNs: 999 });
    const handed: bigint[] = [];
    for (let i = 0; i < 50; i++) {
      const [times, count] = i % 2 === 0 ? [main, 3] : [other, 2];
      const first = times.take(MS + (i % 3), count);
      for (let k = 0n; k < BigInt(count); k++) handed.push(first + k);
    }
    assert.equal(new Set(handed).size, handed.length);
    assert.equal(new ObservedTimes({ shared: main.shared }).take(MS + 10, 1), NS + 10_000_000n + 123n, 'the offset is the first instance\'s');
  });

  it('picks its offset at random within the millisecond unless told, and refuses one outside it', () => {
    const firsts = new Set(Array.from({ length: 20 }, () => new ObservedTimes().take(MS, 1) - NS));
    for (const offset of firsts) assert.ok(offset >= 0n && offset < 1_000_000n, String(offset));
    assert.ok(firsts.size > 1, 'processes start at different nanoseconds');
    assert.throws(() => new ObservedTimes({ offsetNs: 1_000_000 }), RangeError);
    assert.throws(() => new ObservedTimes({ offsetNs: -1 }), RangeError);
  });
});
