/**
 * What a failed call to the lease coordinator (the DynamoDB lease table, or
 * the checkpoint directory) means for the stream it serves. Read apart from
 * Kinesis failures: the same AccessDeniedException or
 * ResourceNotFoundException names another fix when it comes from the table
 * (its policy, its name) than from the stream.
 *
 * Fatal failures stop the stream (re-checked with backoff, as for Kinesis):
 * retrying a denied write forever would hold the shard's batch
 * unacknowledged while the stream looked up. Credentials being refreshed are
 * `retryable` `credentials`, for CREDENTIALS_ATTEMPTS attempts in a row.
 */
import { ACCESS_DENIED_ERRORS, awsErrorOf, isCredentialsFailure, isMissingRegion, THROTTLING_ERRORS } from '../../util/aws-errors.ts';
import { StreamOwnedError } from './store.ts';

export type LeaseStoreFailure =
  | {
      kind: 'fatal';
      reason: 'lease_table_access_denied' | 'lease_table_not_found' | 'lease_table_invalid' | 'checkpoint_dir_denied' | 'checkpoint_lock_taken' | 'aws_config_missing';
    }
  | { kind: 'retryable'; reason: 'throttled' | 'service_unavailable' | 'credentials' | 'unexpected' };

/** The file system's refusals that waiting does not fix (a socket's EPERM, from a firewall, is not one of them). */
const DENIED_CODES: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'EROFS']);

export function classifyLeaseStoreError(error: unknown): LeaseStoreFailure {
  const { name, status, serverFault } = awsErrorOf(error);
  if (THROTTLING_ERRORS.has(name)) return { kind: 'retryable', reason: 'throttled' };
  if (isCredentialsFailure(error)) return { kind: 'retryable', reason: 'credentials' };
  if (ACCESS_DENIED_ERRORS.has(name)) return { kind: 'fatal', reason: 'lease_table_access_denied' };
  if (isMissingRegion(error)) return { kind: 'fatal', reason: 'aws_config_missing' };
  if (name === 'ResourceNotFoundException') return { kind: 'fatal', reason: 'lease_table_not_found' };
  // The table is not a lease table (another key schema), or an item breaks its rules: the same request fails again.
  if (name === 'ValidationException') return { kind: 'fatal', reason: 'lease_table_invalid' };
  // It holds single-stream leases while several streams would share it (told by name: failures.ts does not import the leases).
  if (error instanceof Error && error.name === 'LeaseTableFormError') return { kind: 'fatal', reason: 'lease_table_invalid' };
  // Another process took the stream's checkpoint lock over: stopped, and re-checked until that one lets it go.
  if (error instanceof StreamOwnedError) return { kind: 'fatal', reason: 'checkpoint_lock_taken' };
  const { code, path } = (error ?? {}) as { code?: unknown; path?: unknown };
  if (typeof code === 'string' && typeof path === 'string' && DENIED_CODES.has(code)) return { kind: 'fatal', reason: 'checkpoint_dir_denied' };
  if ((status !== undefined && status >= 500) || serverFault) return { kind: 'retryable', reason: 'service_unavailable' };
  // A network error, a full disk, a surprise: keep trying, and the logs say which.
  return { kind: 'retryable', reason: 'unexpected' };
}

/** A lease-coordinator call failed (its error is the cause): tells discovery not to read it as a Kinesis failure. */
export class LeaseStoreError extends Error {
  constructor(cause: unknown) {
    super(`lease store: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'LeaseStoreError';
  }
}

/**
 * A Kinesis call a lease coordinator made for itself (a stream's identity,
 * for KCL's multi-stream lease keys) failed: the failure is Kinesis's, and
 * discovery reads it as one (stream_not_found, kinesis_access_denied, …).
 */
export class KinesisCallError extends Error {
  constructor(operation: string, cause: unknown) {
    super(`${operation}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'KinesisCallError';
  }
}

/** Runs a lease-coordinator call, its failure wrapped as a LeaseStoreError (a KinesisCallError's cause is passed on as it is). */
export async function leaseStoreCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof KinesisCallError) throw error.cause;
    throw new LeaseStoreError(error);
  }
}
