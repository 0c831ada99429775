/**
 * The consumer modes and the consumer name form, apart from the code that
 * uses them: the configuration schema reads them, and must load no AWS SDK.
 */

/** How shards are read: GetRecords (`polling`), or enhanced fan-out (`efo`). */
export const CONSUMER_MODES = ['polling', 'efo'] as const;

export type ConsumerMode = (typeof CONSUMER_MODES)[number];

/** A stream consumer name as the service accepts it. */
export const CONSUMER_NAME = /^[a-zA-Z0-9_.-]{1,128}$/;
