/**
 * das-exporter as an AWS Lambda function (`das-exporter/lambda`), for a
 * Kinesis event source mapping with `ReportBatchItemFailures`: each batch goes
 * through the same pipeline and sinks as `run`, in order, a chunk at a time,
 * so the handler always knows which records were delivered.
 *
 * - Every chunk `done` (poison records dead-lettered): no failures; Lambda
 *   moves the shard's checkpoint past the batch.
 * - A chunk still waiting out an outage when the deadline comes (shortly
 *   before the function's timeout), a `fatal` verdict (KMS access denied) or
 *   a crash: the chunk's first record is reported, so Lambda retries from
 *   there and nothing after it is acknowledged. Chunks before it stay
 *   delivered; a retry may deliver the failed chunk's records twice, never
 *   skip one.
 *
 * The pipeline and its clients are built once per container, on the first
 * invocation, from the environment (`DAS_*`, `OTEL_*`, the AWS SDK chain).
 * Metrics are not scraped in Lambda, so there is no metrics sink; dead
 * letters go to `DAS_STATE_DIR/dead-letters.jsonl` when that is set (an EFS
 * mount), else to stdout as `{"deadLetter":…}` lines in CloudWatch Logs.
 */
import type { Writable } from 'node:stream';
import { buildPipeline, resourceFactsOf } from '../build-pipeline.ts';
import { createKmsClient } from '../cli/wiring.ts';
import { ConfigError, loadConfig } from '../config/config.ts';
import { describeError } from '../errors.ts';
import { deadLetterFileIn, FileDeadLetterSink, type DeadLetter, type DeadLetterSink } from '../sinks/dead-letter.ts';
import { loadOtlpEnvironment, untracedSamplingProblem } from '../sinks/otlp/config.ts';
import type { KMSClient } from '@aws-sdk/client-kms';
import { jsonLogger, type Logger } from './kinesis/observer.ts';
import type { BatchProcessor } from './kinesis/shard-delivery.ts';
import { parseLambdaEvent, type LambdaEntryResult } from './lambda-event.ts';
import type { SourceRecord } from './record.ts';

/** The Kinesis event Lambda hands the function (only what the handler reads is typed). */
export interface KinesisStreamEvent {
  Records: readonly unknown[];
}

/** The part of the Lambda context the handler uses. */
export interface LambdaContext {
  getRemainingTimeInMillis(): number;
}

export interface KinesisBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface LambdaHandlerDependencies {
  pipeline: BatchProcessor;
  /** Where entries that are no Kinesis record at all are set aside. */
  deadLetters: DeadLetterSink;
  log: Logger;
  /** Time kept back before the function's timeout for the pipeline to notice the deadline and answer (ms). */
  reserveMs: number;
  /** Records per pipeline call (default 100): the unit a failure sends back for retry. */
  chunkSize?: number;
  clock?: () => Date;
}

export type LambdaHandler = (event: KinesisStreamEvent, context: LambdaContext) => Promise<KinesisBatchResponse>;

// The KMS client's own request timeout (cli/wiring.ts): a pending Decrypt answers within it.
const KMS_REQUEST_TIMEOUT_MS = 5_000;
const ANSWER_MARGIN_MS = 1_000;

export function createLambdaHandler(dependencies: LambdaHandlerDependencies | (() => Promise<LambdaHandlerDependencies>)): LambdaHandler {
  let ready: Promise<LambdaHandlerDependencies> | undefined;
  const resolve = () => {
    if (typeof dependencies !== 'function') return Promise.resolve(dependencies);
    // A failed build is tried again on the next invocation rather than remembered.
    ready ??= dependencies().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  return async (event, context) => processBatch(await resolve(), event, context);
}

/** Runs once per invocation: every chunk in order until one is not delivered. */
async function processBatch(deps: LambdaHandlerDependencies, event: KinesisStreamEvent, context: LambdaContext): Promise<KinesisBatchResponse> {
  const entries = parseLambdaEvent(event);
  const controller = new AbortController();
  const budget = Math.max(0, context.getRemainingTimeInMillis() - deps.reserveMs);
  const timer = setTimeout(() => controller.abort(new Error('Lambda deadline near')), budget);
  try {
    for (const chunk of chunks(entries, deps.chunkSize ?? 100)) {
      const records = chunk.flatMap((e) => (e.ok ? [e.record] : []));
      const failure = await deliverChunk(deps, records, controller.signal);
      if (failure) return { batchItemFailures: [{ itemIdentifier: failure }] };
      for (const entry of chunk) if (!entry.ok) await deadLetterEntry(deps, entry);
    }
    return { batchItemFailures: [] };
  } finally {
    clearTimeout(timer);
  }
}

/** The sequence number to retry from, or undefined when the chunk was delivered (or dead-lettered). */
async function deliverChunk(deps: LambdaHandlerDependencies, records: readonly SourceRecord[], signal: AbortSignal): Promise<string | undefined> {
  if (records.length === 0) return undefined;
  const first = records[0]!;
  const at = { stream: first.stream, shardId: first.shardId, sequenceNumber: first.sequenceNumber };
  if (signal.aborted) {
    deadlineReached(deps, at);
    return first.sequenceNumber;
  }
  try {
    const outcome = await deps.pipeline.process(records, signal);
    if (outcome.status === 'done') return undefined;
    if (outcome.status === 'aborted') deadlineReached(deps, at);
    else deps.log.error(`batch not delivered: ${outcome.reason}; Lambda retries it from this record`, { ...at, reason: outcome.reason, detail: outcome.message });
  } catch (error) {
    deps.log.error('pipeline failed; Lambda retries the batch from this record', { ...at, error: describeError(error) });
  }
  return first.sequenceNumber;
}

/** Runs when the deadline fired while a chunk waited out a retryable failure: hand the rest back to Lambda. */
function deadlineReached(deps: LambdaHandlerDependencies, at: Record<string, string>): void {
  deps.log.warn('function deadline near with records undelivered; Lambda retries from this record', at);
}

async function deadLetterEntry(deps: LambdaHandlerDependencies, entry: Extract<LambdaEntryResult, { ok: false }>): Promise<void> {
  await deps.deadLetters.put({
    reason: entry.reason,
    message: entry.message,
    stream: '',
    shardId: '',
    sequenceNumber: '',
    ...(entry.eventId === undefined ? {} : { eventId: entry.eventId }),
    at: (deps.clock?.() ?? new Date()).toISOString(),
  });
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Dead letters as one JSON line each, `{"deadLetter":{…}}`, on a stream (stdout: CloudWatch Logs). */
export class JsonLinesDeadLetterSink implements DeadLetterSink {
  readonly #out: NodeJS.WritableStream;

  constructor(out: NodeJS.WritableStream) {
    this.#out = out;
  }

  async put(letter: DeadLetter): Promise<void> {
    this.#out.write(JSON.stringify({ deadLetter: letter }) + '\n');
  }

  async close(): Promise<void> {}
}

export interface LambdaEnvironmentOptions {
  kms?: KMSClient;
  stdout?: Writable;
  log?: Logger;
  reserveMs?: number;
  chunkSize?: number;
}

/** Builds the pipeline `run` uses, minus metrics, from the function's environment; throws ConfigError naming every bad variable. */
export async function lambdaDependenciesFromEnvironment(env: NodeJS.ProcessEnv, options: LambdaEnvironmentOptions = {}): Promise<LambdaHandlerDependencies> {
  const config = loadConfig({}, env);
  const otlp = loadOtlpEnvironment(env);
  const sampling = untracedSamplingProblem(config.tracesSampleUntraced, otlp);
  if (sampling) throw new ConfigError([sampling]);
  const stdout = options.stdout ?? process.stdout;
  const log = options.log ?? jsonLogger();
  const deadLetters = env.DAS_STATE_DIR ? new FileDeadLetterSink(deadLetterFileIn(config.stateDir)) : new JsonLinesDeadLetterSink(stdout);
  // The pipeline of `run`, minus metrics: the same opening (prepared for OTLP/protobuf), policy and spans.
  const { pipeline } = buildPipeline(config, {
    kms: options.kms ?? createKmsClient(),
    otlp,
    resources: resourceFactsOf(config, env, otlp),
    deadLetters,
    log,
    stdout,
  });
  // A write or Decrypt under way when the deadline fires still runs to its own timeout before the pipeline answers.
  const reserveMs = options.reserveMs ?? Math.max(otlp.exporter?.timeoutMs ?? 0, otlp.traces?.timeoutMs ?? 0, KMS_REQUEST_TIMEOUT_MS) + ANSWER_MARGIN_MS;
  return {
    pipeline,
    deadLetters,
    log,
    reserveMs,
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
  };
}

/** The function's entry point: `handler` of `das-exporter/lambda`. */
export const handler: LambdaHandler = createLambdaHandler(() => lambdaDependenciesFromEnvironment(process.env));
