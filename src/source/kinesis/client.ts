/**
 * The Kinesis side of the consumer, decided once: how a stream given by name
 * or ARN is addressed in API calls, how the client is built, and what each
 * Kinesis error means for the shard loop (start a new iterator, wait and
 * retry, or stop the stream and alert).
 */
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ACCESS_DENIED_ERRORS, awsErrorOf, isCredentialsFailure, isMissingRegion, THROTTLING_ERRORS } from '../../util/aws-errors.ts';
import { KinesisClient, type KinesisClientConfig } from '@aws-sdk/client-kinesis';
import { USER_AGENT } from '../../version.ts';

/** A stream as the user named it, and the parameters that address it in API calls. */
export interface StreamRef {
  /** The stream name: what records, event ids and checkpoints carry. */
  name: string;
  arn: string | undefined;
  /** `{StreamARN}` for an ARN (needed across accounts), else `{StreamName}` (all kinesalite understands). */
  params: { StreamName: string } | { StreamARN: string };
}

const STREAM_ARN = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:\d{12}:stream\/([A-Za-z0-9_.-]{1,128})$/;

export function streamRef(stream: string): StreamRef {
  if (stream.startsWith('arn:')) {
    const match = STREAM_ARN.exec(stream);
    if (!match) throw new Error(`not a Kinesis stream ARN: "${stream}" (expected arn:aws:kinesis:<region>:<account>:stream/<name>)`);
    return { name: match[1]!, arn: stream, params: { StreamARN: stream } };
  }
  if (!/^[A-Za-z0-9_.-]{1,128}$/.test(stream)) throw new Error(`not a Kinesis stream name: "${stream}"`);
  return { name: stream, arn: undefined, params: { StreamName: stream } };
}

/**
 * A Kinesis client from the standard AWS SDK chain (region, credentials,
 * AWS_ENDPOINT_URL_KINESIS). The shard loop owns retrying, with backoff that
 * knows an expired iterator from throttling, so the SDK makes one attempt.
 * Polling works over HTTP/1.1 (the SDK's default HTTP/2 handler is only
 * needed for SubscribeToShard, and local emulators such as kinesalite refuse
 * it); timeouts throw, so a hung connection cannot stall a shard forever.
 * Requests carry `das-exporter/<version>` in their User-Agent.
 */
export function createKinesisClient(config: KinesisClientConfig = {}): KinesisClient {
  return new KinesisClient({
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 3_000, requestTimeout: 30_000, throwOnRequestTimeout: true }),
    customUserAgent: USER_AGENT,
    ...config,
  });
}

/**
 * The client enhanced fan-out subscribes with: SubscribeToShard is HTTP/2
 * only, so it keeps the SDK's default HTTP/2 handler (one session per
 * subscription, whose flow control holds Kinesis back while the sinks are
 * behind). Every other call goes through `createKinesisClient`'s. One attempt
 * per call: the subscription loop owns retrying.
 */
export function createSubscriptionClient(config: KinesisClientConfig = {}): KinesisClient {
  return new KinesisClient({ maxAttempts: 1, customUserAgent: USER_AGENT, ...config });
}

/**
 * What a failed Kinesis call means:
 * - `expired_iterator`: get a new iterator after the last delivered record;
 * - `retryable` (throttled, 5xx, network, credentials being refreshed): back off and try again, with `reason`
 *   as a metric label; `credentials` only CREDENTIALS_ATTEMPTS times in a row, then `credentials_unavailable`;
 * - `fatal` (access denied, stream gone, stream key unusable): stop this stream and alert.
 */
export type KinesisFailure =
  | { kind: 'expired_iterator' }
  | { kind: 'retryable'; reason: 'throttled' | 'service_unavailable' | 'network' | 'credentials' | 'unexpected' }
  | { kind: 'fatal'; reason: 'kinesis_access_denied' | 'stream_not_found' | 'stream_key_unusable' | 'aws_config_missing' };

const KEY_UNUSABLE = new Set(['KMSAccessDeniedException', 'KMSDisabledException', 'KMSInvalidStateException', 'KMSNotFoundException', 'KMSOptInRequired']);

export function classifyKinesisError(error: unknown): KinesisFailure {
  const { name, status, serverFault } = awsErrorOf(error);
  if (name === 'ExpiredIteratorException') return { kind: 'expired_iterator' };
  if (THROTTLING_ERRORS.has(name)) return { kind: 'retryable', reason: 'throttled' };
  if (isCredentialsFailure(error)) return { kind: 'retryable', reason: 'credentials' };
  if (ACCESS_DENIED_ERRORS.has(name)) return { kind: 'fatal', reason: 'kinesis_access_denied' };
  if (isMissingRegion(error)) return { kind: 'fatal', reason: 'aws_config_missing' };
  if (KEY_UNUSABLE.has(name)) return { kind: 'fatal', reason: 'stream_key_unusable' };
  if (name === 'ResourceNotFoundException') return { kind: 'fatal', reason: 'stream_not_found' };
  if ((status !== undefined && status >= 500) || serverFault) return { kind: 'retryable', reason: 'service_unavailable' };
  if (status === undefined) return { kind: 'retryable', reason: 'network' };
  // A 4xx we do not know: retry slowly rather than drop the stream over a surprise, and log it.
  return { kind: 'retryable', reason: 'unexpected' };
}
