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
import { awsErrorOf } from '../../util/aws-errors.ts';
import type { SubscriptionEndReason } from './consumer-modes.ts';
import { classifyKinesisError } from './client.ts';

export type SubscriptionEnd = Exclude<SubscriptionEndReason, 'shard_end'>;

export type SubscriptionFailure =
  | { kind: 'retryable'; reason: Exclude<SubscriptionEnd, 'completed'> }
  | { kind: 'fatal'; reason: 'efo_consumer_not_found' | 'efo_access_denied' | 'stream_key_unusable' | 'aws_config_missing' };

/**
 * The names SubscribeToShard gives a meaning of its own; every other failure means what it means for any
 * Kinesis call (classifyKinesisError), with the enhanced fan-out reasons where the consumer is concerned.
 */
const OWN_MEANING: Readonly<Record<string, Exclude<SubscriptionEnd, 'completed'>>> = {
  ResourceInUseException: 'resource_in_use',
  LimitExceededException: 'limit_exceeded',
  InternalFailureException: 'internal_failure',
};

export function classifySubscriptionError(error: unknown): SubscriptionFailure {
  const own = OWN_MEANING[awsErrorOf(error).name];
  if (own) return { kind: 'retryable', reason: own };
  const failure = classifyKinesisError(error);
  switch (failure.kind) {
    // Subscriptions have no iterators: a surprise, retried slowly.
    case 'expired_iterator':
      return { kind: 'retryable', reason: 'unexpected' };
    case 'retryable':
      return { kind: 'retryable', reason: failure.reason === 'service_unavailable' ? 'internal_failure' : failure.reason };
    case 'fatal':
      if (failure.reason === 'kinesis_access_denied') return { kind: 'fatal', reason: 'efo_access_denied' };
      // The consumer (or the shard) the subscription names is gone: the stream is checked again, which registers it anew.
      if (failure.reason === 'stream_not_found') return { kind: 'fatal', reason: 'efo_consumer_not_found' };
      return { kind: 'fatal', reason: failure.reason };
  }
}
