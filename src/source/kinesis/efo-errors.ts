/**
 * What a failure of enhanced fan-out means, by the service's documented
 * rules for SubscribeToShard and the consumer calls:
 * - `resource_in_use`: a subscription of this consumer to this shard is still
 *   active (two readers after a lease changed hands) — wait and subscribe again;
 * - `limit_exceeded`: more than one SubscribeToShard a second for this
 *   consumer and shard — wait at least a second;
 * - `internal_failure`, `network` (a reset, a timeout, an HTTP/2 error),
 *   `throttled`, `credentials`, `unexpected`: subscribe again from the last
 *   event handled, with backoff;
 * - fatal: the consumer or shard is gone (`efo_consumer_not_found`, the
 *   stream is then checked again, which registers the consumer anew), the role
 *   may not subscribe (`efo_access_denied`), the stream key is unusable.
 * `completed` is the ordinary end of a subscription after 5 minutes;
 * `ended_early` a stream that ended quietly before that (the SDK reads a
 * reset connection as a quiet end), `idle_timeout` one silent for too long
 * (a connection dropped without a reset): subscribed again with backoff.
 */
import { ACCESS_DENIED_ERRORS, awsErrorOf, isCredentialsFailure, isMissingRegion, THROTTLING_ERRORS } from '../../util/aws-errors.ts';

/** Every reason a subscription ends, `shard_end` included: a closed set, so it can be a metric label. */
export const SUBSCRIPTION_END_REASONS = [
  'completed',
  'shard_end',
  'ended_early',
  'idle_timeout',
  'resource_in_use',
  'limit_exceeded',
  'internal_failure',
  'network',
  'throttled',
  'credentials',
  'unexpected',
] as const;

export type SubscriptionEnd = Exclude<(typeof SUBSCRIPTION_END_REASONS)[number], 'shard_end'>;

export type SubscriptionFailure =
  | { kind: 'retryable'; reason: Exclude<SubscriptionEnd, 'completed'> }
  | { kind: 'fatal'; reason: 'efo_consumer_not_found' | 'efo_access_denied' | 'stream_key_unusable' | 'aws_config_missing' };

const KEY_UNUSABLE = new Set(['KMSAccessDeniedException', 'KMSDisabledException', 'KMSInvalidStateException', 'KMSNotFoundException', 'KMSOptInRequired']);

export function classifySubscriptionError(error: unknown): SubscriptionFailure {
  const { name, status, serverFault } = awsErrorOf(error);
  if (name === 'ResourceInUseException') return { kind: 'retryable', reason: 'resource_in_use' };
  if (name === 'LimitExceededException') return { kind: 'retryable', reason: 'limit_exceeded' };
  if (name === 'InternalFailureException') return { kind: 'retryable', reason: 'internal_failure' };
  if (THROTTLING_ERRORS.has(name)) return { kind: 'retryable', reason: 'throttled' };
  if (isCredentialsFailure(error)) return { kind: 'retryable', reason: 'credentials' };
  if (ACCESS_DENIED_ERRORS.has(name)) return { kind: 'fatal', reason: 'efo_access_denied' };
  if (isMissingRegion(error)) return { kind: 'fatal', reason: 'aws_config_missing' };
  if (KEY_UNUSABLE.has(name)) return { kind: 'fatal', reason: 'stream_key_unusable' };
  if (name === 'ResourceNotFoundException') return { kind: 'fatal', reason: 'efo_consumer_not_found' };
  if ((status !== undefined && status >= 500) || serverFault) return { kind: 'retryable', reason: 'internal_failure' };
  if (status === undefined) return { kind: 'retryable', reason: 'network' };
  return { kind: 'retryable', reason: 'unexpected' };
}
