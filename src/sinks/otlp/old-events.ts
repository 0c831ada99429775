/**
 * The `--old-events` modes; apart so that flags and config can list them
 * without loading the OTLP mapping. `event-time` (default): a record's
 * Timestamp is the event's own time. `observed-time`: Timestamp is unset and
 * the read time (ObservedTimestamp) decides where Loki files it, the event's
 * time kept in an attribute (mapping.ts says how).
 */
export const OLD_EVENTS_MODES = ['event-time', 'observed-time'] as const;
export type OldEventsMode = (typeof OLD_EVENTS_MODES)[number];
