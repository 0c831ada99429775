/**
 * The one retry loop: an operation tried until it succeeds, each failure
 * classified by the caller (retry, with a reason and maybe the service's own
 * Retry-After, or give up), waits from the shared backoff (backoff.ts),
 * credentials failures on a budget of their own counted in a row (a blip
 * must not eat the attempts meant for throttling, nor the reverse), the
 * other failures on an optional total budget, and an abort signal that ends
 * a wait at once. What differs from loop to loop (what is retryable, what is
 * logged and counted, what giving up or stopping throws) is the caller's.
 */
import { CREDENTIALS_ATTEMPTS } from './aws-errors.ts';
import { backoffDelay, sleep as abortableSleep, type BackoffOptions } from './backoff.ts';

/** What to do after a failed attempt. */
export type RetryVerdict =
  /** Throw `error` (the failure itself, or what the caller makes of it). */
  | { retry: false; error: unknown }
  /**
   * Try again: `reason` names the failure for counters and logs; `delayMs` is the service's own wait (Retry-After);
   * `credentials` puts it on the credentials budget; `fresh`: the attempt made progress before it failed (a
   * subscription that delivered events before it was cut), so the backoff and the credentials count start over.
   */
  | { retry: true; reason: string; delayMs?: number; credentials?: boolean; fresh?: boolean };

export interface RetryOptions {
  backoff?: BackoffOptions;
  signal?: AbortSignal;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Attempts in all that may fail for other reasons than credentials; default unbounded. */
  maxAttempts?: number;
  /** Credentials failures in a row before giving up; default CREDENTIALS_ATTEMPTS. */
  credentialAttempts?: number;
  /** Before each wait: `failures` is how many attempts failed since the last progress (1 after the first; see `fresh`). */
  onRetry?: (reason: string, failures: number, error: unknown) => void;
  /** What to throw when a budget is spent; default the last failure. */
  exhausted?: (budget: 'credentials' | 'attempts', attempts: number, error: unknown) => unknown;
  /** What to throw when the signal aborts; default `RetryAborted`. */
  aborted?: () => unknown;
}

/** The signal aborted while an operation was being retried. */
export class RetryAborted extends Error {
  constructor() {
    super('aborted while retrying');
    this.name = 'RetryAborted';
  }
}

export async function retry<T>(operation: (attempt: number) => Promise<T>, classify: (error: unknown, attempt: number) => RetryVerdict, o: RetryOptions = {}): Promise<T> {
  const sleep = o.sleep ?? abortableSleep;
  const aborted = o.aborted ?? (() => new RetryAborted());
  let credentialFailures = 0;
  let otherFailures = 0;
  /** Failures since the last progress: what the backoff grows with. */
  let backoffFailures = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      const verdict = classify(error, attempt);
      if (!verdict.retry) throw verdict.error;
      if (verdict.fresh) backoffFailures = credentialFailures = 0;
      if (verdict.credentials) credentialFailures++;
      else {
        credentialFailures = 0;
        otherFailures++;
      }
      if (credentialFailures >= (o.credentialAttempts ?? CREDENTIALS_ATTEMPTS)) throw o.exhausted ? o.exhausted('credentials', credentialFailures, error) : error;
      if (otherFailures >= (o.maxAttempts ?? Infinity)) throw o.exhausted ? o.exhausted('attempts', otherFailures, error) : error;
      o.onRetry?.(verdict.reason, backoffFailures + 1, error);
      if (o.signal?.aborted) throw aborted();
      const delayMs = verdict.delayMs ?? backoffDelay(backoffFailures, o.backoff);
      backoffFailures++;
      await sleep(delayMs, o.signal).catch(() => {});
      if (o.signal?.aborted) throw aborted();
    }
  }
}
