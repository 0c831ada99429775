/**
 * What the Kinesis consumer reports as it goes: the metrics layer implements
 * `KinesisObserver`, the CLI supplies the `Logger`. Labels passed here are
 * low-cardinality (a stream, a shard, a closed `reason`), never raw error text.
 */
import type { ShardEnd } from '../checkpoints/store.ts';

/** Whether a stream is being read; readiness and a `up` gauge read it. `reason` is null while up. */
export interface StreamStatus {
  stream: string;
  up: boolean;
  reason: string | null;
  /** Shards being read right now. */
  shards: number;
}

export interface KinesisObserver {
  /** After every GetRecords or SubscribeToShardEvent: how far the shard's reader is behind the tip. */
  millisBehindLatest?(stream: string, shardId: string, millis: number): void;
  recordsRead?(stream: string, shardId: string, count: number): void;
  checkpointed?(stream: string, shardId: string, position: string | ShardEnd): void;
  /** A call failed and will be tried again after a wait (or with a new iterator). */
  retrying?(stream: string, shardId: string | null, operation: string, reason: string): void;
  shardStarted?(stream: string, shardId: string): void;
  /** Enhanced fan-out: a SubscribeToShard call was answered with an event stream. */
  subscriptionStarted?(stream: string, shardId: string): void;
  /** Enhanced fan-out: a subscription ended; `completed` after its 5 minutes, `shard_end`, or a failure's reason. */
  subscriptionEnded?(stream: string, shardId: string, reason: string): void;
  /** Enhanced fan-out: one SubscribeToShardEvent arrived with `records` records of `bytes` bytes of data. */
  subscriptionReceived?(stream: string, shardId: string, records: number, bytes: number): void;
  shardStopped?(stream: string, shardId: string, outcome: string): void;
  /** The stream's status changed (up, or stopped with a reason). */
  streamStatus?(status: StreamStatus): void;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One JSON object per line on stderr: the default when the caller gives no logger. */
export function jsonLogger(write: (line: string) => void = (line) => void process.stderr.write(line)): Logger {
  const at = (level: string) => (message: string, fields: Record<string, unknown> = {}) =>
    write(JSON.stringify({ time: new Date().toISOString(), level, component: 'kinesis', message, ...fields }) + '\n');
  return { info: at('info'), warn: at('warn'), error: at('error') };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };
