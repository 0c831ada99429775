/**
 * The registered consumer enhanced fan-out reads as: found by name on the
 * stream, or registered, then awaited until ACTIVE. Registration is
 * idempotent across processes (every replica names the same consumer; a race
 * to register ends with all of them on the one that won), and a normal stop
 * never deregisters it, so a restart keeps its throughput and its ARN.
 *
 * What cannot work is said once, with its reason for /readyz:
 * `efo_access_denied` (the role may not describe, register or subscribe; the
 * message names the action) and `efo_consumer_limit` (the stream already has
 * the 20 registered consumers the service allows). A throttled call or a
 * consumer still being created or deleted is only waited out.
 */
import {
  DeregisterStreamConsumerCommand,
  DescribeStreamConsumerCommand,
  DescribeStreamSummaryCommand,
  ListStreamConsumersCommand,
  RegisterStreamConsumerCommand,
  type Consumer,
  type ConsumerDescription,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { describeError } from '../../errors.ts';
import { ACCESS_DENIED_ERRORS, awsErrorOf } from '../../util/aws-errors.ts';
import type { StreamRef } from './client.ts';
import type { Logger } from './observer.ts';

/** Registered consumers a stream may have (the service's limit). */
export const MAX_STREAM_CONSUMERS = 20;

/** Enhanced fan-out cannot work for this stream as configured: stops the stream with `reason`. */
export class EfoSetupError extends Error {
  readonly reason: 'efo_access_denied' | 'efo_consumer_limit';

  constructor(reason: EfoSetupError['reason'], message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'EfoSetupError';
    this.reason = reason;
  }
}

export interface EnsureConsumerOptions {
  client: KinesisClient;
  stream: StreamRef;
  consumerName: string;
  signal: AbortSignal;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  log: Logger;
  /** Time between two looks at a consumer being created or deleted (default 1 s). */
  pollMs?: number;
}

/** The ARN of the stream's consumer named `consumerName`, registered if it is not, once it is ACTIVE. */
export async function ensureStreamConsumer(options: EnsureConsumerOptions): Promise<string> {
  const { client, stream, consumerName, signal, log } = options;
  const pollMs = options.pollMs ?? 1_000;
  const streamArn = await streamArnOf(client, stream, signal);
  for (let waited = 0; ; waited++) {
    const found = await describeConsumer(client, streamArn, consumerName, signal);
    if (found?.ConsumerStatus === 'ACTIVE') return found.ConsumerARN!;
    if (found === undefined) {
      const registered = await register(client, streamArn, consumerName, signal);
      if (registered) log.info('registered the enhanced fan-out consumer', { stream: stream.name, consumer: registered.ConsumerARN });
    } else if (waited % 30 === 29) {
      log.warn(`enhanced fan-out consumer is still ${found.ConsumerStatus}`, { stream: stream.name, consumer: found.ConsumerARN });
    }
    await options.sleep(pollMs, signal);
  }
}

/** Removes the consumer (`--deregister-on-stop`): for ephemeral runs that must not leave a registered consumer behind. */
export async function deregisterStreamConsumer(client: KinesisClient, consumerArn: string): Promise<void> {
  await client.send(new DeregisterStreamConsumerCommand({ ConsumerARN: consumerArn }));
}

async function streamArnOf(client: KinesisClient, stream: StreamRef, signal: AbortSignal): Promise<string> {
  if (stream.arn) return stream.arn;
  const out = await denied('kinesis:DescribeStreamSummary', stream.name, () => client.send(new DescribeStreamSummaryCommand({ ...stream.params }), { abortSignal: signal }));
  const arn = out.StreamDescriptionSummary?.StreamARN;
  if (!arn) throw new Error(`DescribeStreamSummary of ${stream.name} gave no StreamARN`);
  return arn;
}

async function describeConsumer(client: KinesisClient, streamArn: string, consumerName: string, signal: AbortSignal): Promise<ConsumerDescription | undefined> {
  try {
    const out = await denied('kinesis:DescribeStreamConsumer', streamArn, () =>
      client.send(new DescribeStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }), { abortSignal: signal }),
    );
    return out.ConsumerDescription;
  } catch (error) {
    if (awsErrorOf(error).name === 'ResourceNotFoundException') return undefined;
    throw error;
  }
}

/** RegisterStreamConsumer; undefined when another process registered it first. */
async function register(client: KinesisClient, streamArn: string, consumerName: string, signal: AbortSignal): Promise<Consumer | undefined> {
  try {
    const out = await denied('kinesis:RegisterStreamConsumer', streamArn, () =>
      client.send(new RegisterStreamConsumerCommand({ StreamARN: streamArn, ConsumerName: consumerName }), { abortSignal: signal }),
    );
    return out.Consumer;
  } catch (error) {
    const { name } = awsErrorOf(error);
    if (name === 'ResourceInUseException') return undefined;
    if (name === 'LimitExceededException' && (await consumerCount(client, streamArn, signal)) >= MAX_STREAM_CONSUMERS) {
      throw new EfoSetupError(
        'efo_consumer_limit',
        `stream ${streamArn} already has ${MAX_STREAM_CONSUMERS} registered consumers, the most the service allows: deregister one, or use --consumer polling`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function consumerCount(client: KinesisClient, streamArn: string, signal: AbortSignal): Promise<number> {
  let count = 0;
  let nextToken: string | undefined;
  do {
    const input = nextToken ? { StreamARN: streamArn, NextToken: nextToken } : { StreamARN: streamArn };
    const page = await denied('kinesis:ListStreamConsumers', streamArn, () => client.send(new ListStreamConsumersCommand(input), { abortSignal: signal }));
    count += page.Consumers?.length ?? 0;
    nextToken = page.NextToken;
  } while (nextToken);
  return count;
}

/** Runs a call; access denied becomes an EfoSetupError naming the action the role lacks. */
async function denied<T>(action: string, resource: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (!ACCESS_DENIED_ERRORS.has(awsErrorOf(error).name)) throw error;
    throw new EfoSetupError('efo_access_denied', `${action} on ${resource} was denied (enhanced fan-out needs it; see deploy/iam): ${describeError(error)}`, { cause: error });
  }
}
