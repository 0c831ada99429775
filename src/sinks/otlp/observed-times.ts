/**
 * Read times for `--old-events observed-time`, no two alike in one process.
 * In that mode Loki files every record at its ObservedTimestamp, and drops an
 * entry with the same stream, time and line as one it already holds; a batch
 * is read within a millisecond or two, and events with the same SQL are
 * common, so a time made unique by a hash of the event (as distinctTimestamp
 * does for an event's own time, where few events share a microsecond) would
 * still let some of them merge and be lost.
 *
 * Instead every record takes the next nanosecond of one counter, never below
 * the millisecond it was read. The counter lives in a SharedArrayBuffer that
 * the main thread hands to the prepare workers, and moves by compare-and-swap,
 * so all of a process's mappers draw from it. A record is filed later than
 * its read millisecond only when more than a million records are read in one
 * (they move on into the next). Each process starts within the millisecond
 * at its own nanosecond, random unless injected, so that two processes
 * feeding one Loki stream meet only when their runs of times overlap.
 */
import { randomInt } from 'node:crypto';

const NANOS_PER_MS = 1_000_000n;

export interface ObservedTimesOptions {
  /** The state of another ObservedTimes (its `shared`): draw from the same counter. */
  shared?: SharedArrayBuffer;
  /** Where in each millisecond this process's times start, 0 to 999,999 (default random). Ignored with `shared`. */
  offsetNs?: number;
}

export class ObservedTimes {
  /** [the next free time in epoch nanoseconds, the offset within the millisecond]. */
  readonly #state: BigInt64Array;
  readonly #offset: bigint;

  constructor(options: ObservedTimesOptions = {}) {
    if (options.shared) {
      this.#state = new BigInt64Array(options.shared);
    } else {
      const offset = options.offsetNs ?? randomInt(1_000_000);
      if (!Number.isInteger(offset) || offset < 0 || offset >= 1_000_000) throw new RangeError(`offsetNs is a nanosecond within a millisecond (actual: ${offset})`);
      this.#state = new BigInt64Array(new SharedArrayBuffer(2 * BigInt64Array.BYTES_PER_ELEMENT));
      this.#state[1] = BigInt(offset);
    }
    this.#offset = this.#state[1]!;
  }

  /** The counter, to hand to a worker thread (PrepareSetup): `new ObservedTimes({ shared })` there draws from it. */
  get shared(): SharedArrayBuffer {
    return this.#state.buffer as SharedArrayBuffer;
  }

  /** `count` consecutive times no one else gets, the first at or after `readMs` (plus the offset): returns the first. */
  take(readMs: number, count: number): bigint {
    const floor = BigInt(readMs) * NANOS_PER_MS + this.#offset;
    for (;;) {
      const next = Atomics.load(this.#state, 0);
      const first = next > floor ? next : floor;
      if (Atomics.compareExchange(this.#state, 0, next, first + BigInt(count)) === next) return first;
    }
  }
}
