/**
 * The one retry loop (src/util/retry.ts): the budgets, the waits and the
 * abort, with a recording sleep instead of the clock.
 */
import assert from 'node:assert/strict';
import { retry, RetryAborted, type RetryVerdict } from '../../src/util/retry.ts';

/** An operation that fails with each of `failures` in turn, then returns 'ok'. */
function failing(failures: string[]): { op: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    op: async () => {
      const failure = failures[calls++];
      if (failure !== undefined) throw new Error(failure);
      return 'ok';
    },
    calls: () => calls,
  };
}

const byMessage = (error: unknown): RetryVerdict => {
  const message = (error as Error).message;
  if (message === 'fatal') return { retry: false, error: new Error('gave up: fatal') };
  return { retry: true, reason: message, credentials: message === 'credentials', ...(message === 'slow-down' ? { delayMs: 1234 } : {}) };
};

describe('retry', () => {
  it('retries until the operation succeeds, waiting the backoff (or the failure’s own delay) between attempts', async () => {
    const waits: number[] = [];
    const retried: string[] = [];
    const { op, calls } = failing(['throttled', 'slow-down', 'throttled']);
    const result = await retry(op, byMessage, {
      backoff: { baseDelayMs: 100, maxDelayMs: 10_000, random: () => 1 },
      sleep: async (ms) => void waits.push(ms),
      onRetry: (reason, failures) => retried.push(`${reason}#${failures}`),
    });
    assert.equal(result, 'ok');
    assert.equal(calls(), 4);
    assert.deepEqual(waits, [100, 1234, 400], 'full jitter at its top (random 1): 100·2^attempt; the delay a failure asks for wins');
    assert.deepEqual(retried, ['throttled#1', 'slow-down#2', 'throttled#3']);
  });

  it('gives up at once on a failure the caller says not to retry, throwing what it says', async () => {
    const { op, calls } = failing(['throttled', 'fatal']);
    await assert.rejects(retry(op, byMessage, { sleep: async () => {} }), /gave up: fatal/);
    assert.equal(calls(), 2);
  });

  it('counts credentials failures in a row on their own budget, and the others on theirs', async () => {
    // 2 credentials failures, then a throttle resets the run; 3 more in a row spend a budget of 3.
    const { op, calls } = failing(['credentials', 'credentials', 'throttled', 'credentials', 'credentials', 'credentials', 'never reached']);
    await assert.rejects(
      retry(op, byMessage, { sleep: async () => {}, credentialAttempts: 3, maxAttempts: 5, exhausted: (budget, attempts) => new Error(`${budget} spent after ${attempts}`) }),
      /credentials spent after 3/,
    );
    assert.equal(calls(), 6);
    // Other failures: a total budget, not reset by credentials failures in between.
    const other = failing(['throttled', 'credentials', 'throttled', 'throttled']);
    await assert.rejects(retry(other.op, byMessage, { sleep: async () => {}, maxAttempts: 3, exhausted: (budget, attempts) => new Error(`${budget} spent after ${attempts}`) }), /attempts spent after 3/);
    assert.equal(other.calls(), 4);
  });

  it('without exhausted, a spent budget throws the last failure', async () => {
    const { op } = failing(['throttled', 'throttled']);
    await assert.rejects(retry(op, byMessage, { sleep: async () => {}, maxAttempts: 2 }), /^Error: throttled$/);
  });

  it('an abort ends the wait at once and throws RetryAborted, or what the caller says', async () => {
    const controller = new AbortController();
    const { op, calls } = failing(['throttled', 'throttled', 'throttled']);
    const pending = retry(op, byMessage, { signal: controller.signal, backoff: { baseDelayMs: 60_000 } });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(pending, RetryAborted);
    assert.equal(calls(), 1, 'no attempt after the abort');
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(retry(failing(['throttled']).op, byMessage, { signal: aborted.signal, aborted: () => new Error('stopped') }), /stopped/);
  });
});
