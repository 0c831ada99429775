/**
 * Every way a record can fail to open, decided once.
 *
 * A failure is a value with a closed `reason` (used as a metric label and in
 * dead letters, never raw error text) and a `disposition`:
 * - `permanent`: the record itself is bad; set it aside with its reason and
 *   position, count it, and move on.
 * - `retryable`: the world is flaky (throttling, network, a backend outage);
 *   back off and try again, never checkpoint past it.
 * - `fatal`: the stream cannot be read at all as configured (KMS access
 *   denied); stop that stream and alert, dead-letter nothing.
 */

export const PERMANENT_REASONS = [
  'invalid_json',
  'not_das_envelope',
  'bad_base64',
  'unsupported_version',
  'kms_invalid_ciphertext',
  'unsupported_suite',
  'unsupported_message',
  'wrong_data_key',
  'auth_tag_mismatch',
  'signature_invalid',
  'truncated_message',
  'not_gzip',
  'too_large',
  'invalid_event_json',
  'not_das_record',
  'invalid_event',
  'rejected_by_backend',
  'rejected_too_old',
  'internal_error',
  'unknown_resource',
  'invalid_source_record',
] as const;

export const RETRYABLE_REASONS = ['kms_throttled', 'kms_unavailable', 'backend_unavailable'] as const;

export const FATAL_REASONS = ['kms_access_denied', 'kinesis_access_denied', 'kms_key_unusable', 'aws_config_missing', 'credentials_unavailable'] as const;

export type PermanentReason = (typeof PERMANENT_REASONS)[number];
export type RetryableReason = (typeof RETRYABLE_REASONS)[number];
export type FatalReason = (typeof FATAL_REASONS)[number];
export type FailureReason = PermanentReason | RetryableReason | FatalReason;
export type Disposition = 'permanent' | 'retryable' | 'fatal';

export function dispositionOf(reason: FailureReason): Disposition {
  if ((PERMANENT_REASONS as readonly string[]).includes(reason)) return 'permanent';
  if ((RETRYABLE_REASONS as readonly string[]).includes(reason)) return 'retryable';
  return 'fatal';
}

/** The one error type the decoding path throws. `message` is safe to log: it never holds key material. */
export class DasError extends Error {
  readonly reason: FailureReason;
  readonly disposition: Disposition;
  /** For retryable failures, how long the source suggests waiting, if it said. */
  readonly retryAfterMs: number | undefined;

  constructor(reason: FailureReason, message: string, options: { cause?: unknown; retryAfterMs?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DasError';
    this.reason = reason;
    this.disposition = dispositionOf(reason);
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isDasError(error: unknown): error is DasError {
  return error instanceof DasError;
}

/** Short, single-line description of any thrown value, for logs and dead letters. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.split('\n')[0]!.slice(0, 500);
  return String(error).split('\n')[0]!.slice(0, 500);
}
