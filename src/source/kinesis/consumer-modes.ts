/**
 * The consumer modes, the consumer name form and the reasons a subscription
 * ends, apart from the code that uses them: the configuration schema and the
 * metrics read them, and must load no AWS SDK.
 */

/** How shards are read: GetRecords (`polling`), or enhanced fan-out (`efo`). */
export const CONSUMER_MODES = ['polling', 'efo'] as const;

export type ConsumerMode = (typeof CONSUMER_MODES)[number];

/** A stream consumer name as the service accepts it. */
export const CONSUMER_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;

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

export type SubscriptionEndReason = (typeof SUBSCRIPTION_END_REASONS)[number];
