/**
 * Caps how many shards hand a batch to the pipeline at once, across every
 * stream. Each shard already holds at most one batch, so records in memory
 * stay below shards × limit; this also bounds the work running together.
 */
export class Limiter {
  readonly #max: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(max: number) {
    if (!(max >= 1)) throw new Error(`Limiter needs a maximum of at least 1 (actual: ${max})`);
    this.#max = max;
  }

  /** Runs `task` once a slot is free; rejects with the signal's reason if it aborts while waiting. */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.#enter(signal);
    try {
      return await task();
    } finally {
      this.#leave();
    }
  }

  #enter(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.#active < this.#max) {
      this.#active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        this.#active++;
        resolve();
      };
      const onAbort = () => {
        const i = this.#waiting.indexOf(wake);
        if (i !== -1) this.#waiting.splice(i, 1);
        reject(signal?.reason);
      };
      this.#waiting.push(wake);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  #leave(): void {
    this.#active--;
    this.#waiting.shift()?.();
  }
}
