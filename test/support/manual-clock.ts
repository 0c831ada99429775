/**
 * A monotonic clock that moves only when a test moves it, with a sleep on
 * that clock: code that waits on time (lock timeouts, heartbeats) runs in a
 * test without real waiting. Real I/O still runs in real time between steps.
 */
import { setTimeout as realDelay } from 'node:timers/promises';

interface Sleeper {
  at: number;
  wake: () => void;
}

export class ManualClock {
  #t = 0;
  #sleepers: Sleeper[] = [];

  readonly now = (): number => this.#t;

  readonly sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== sleeper);
        reject(signal!.reason);
      };
      const sleeper: Sleeper = {
        at: this.#t + ms,
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#sleepers.push(sleeper);
    });

  /** Moves time on by `ms`, waking every sleep that is due. */
  advance(ms: number): void {
    this.#t += ms;
    const due = this.#sleepers.filter((s) => s.at <= this.#t);
    this.#sleepers = this.#sleepers.filter((s) => s.at > this.#t);
    for (const s of due) s.wake();
  }

  /** Moves time to each next wake-up in turn, letting real I/O run between steps, until `work` settles. */
  async run<T>(work: Promise<T>): Promise<T> {
    let settled = false;
    const done = work.finally(() => {
      settled = true;
    });
    done.catch(() => {});
    while (!settled) {
      await realDelay(2);
      if (settled) break;
      const next = Math.min(...this.#sleepers.map((s) => s.at));
      if (Number.isFinite(next)) this.advance(next - this.#t);
    }
    return work;
  }
}
