/**
 * Assembles das-exporter from a Config: the pipeline (build-pipeline.ts: the
 * decoding path, the policy, the sinks), the Kinesis consumer with its
 * checkpoints or leases, and the metrics/health server. `run` and `demo`
 * both start it; they differ only in where Kinesis and KMS are and which log
 * sink prints events.
 */
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { KMSClient } from '@aws-sdk/client-kms';
import { ConfigError, type Config } from './config/config.ts';
import type { Writable } from 'node:stream';
import { buildPipeline, resourceFactsOf } from './build-pipeline.ts';
import type { Pipeline } from './pipeline.ts';
import { deadLetterFileIn, FileDeadLetterSink, type DeadLetterSink } from './sinks/dead-letter.ts';
import { metricsStreamHealth } from './sinks/metrics-sink.ts';
import { endpointForLogs, loadOtlpEnvironment, untracedSamplingProblem, type OtlpEnvironment } from './sinks/otlp/config.ts';
import type { OtlpExportObserver } from './sinks/otlp/exporter.ts';
import type { LogRecordMapper } from './sinks/otlp/mapping.ts';
import type { Sink } from './sinks/sink.ts';
import { FileCheckpointStore } from './source/checkpoints/file-store.ts';
import type { LeaseCoordinator } from './source/checkpoints/store.ts';
import { createDynamoDbClient, DynamoDbLeaseCoordinator } from './source/leases/dynamodb-coordinator.ts';
import { streamIdentifierOf, type InitialPosition } from './source/leases/lease-table.ts';
import { streamRef } from './source/kinesis/client.ts';
import { describeStreamIdentity } from './source/kinesis/discovery.ts';
import { jsonLogger, type KinesisObserver, type Logger } from './source/kinesis/observer.ts';
import { parseStartPosition } from './source/kinesis/shard-delivery.ts';
import { KinesisConsumer, type EfoOptions } from './source/kinesis/stream-consumer.ts';
import { createMetrics, createMetricsRegistry, type DasMetrics } from './telemetry/metrics.ts';
import { startMetricsServer, type StreamReadiness } from './telemetry/server.ts';
import type { ReloadResult } from './policy/holder.ts';

export interface AppDependencies {
  kinesis: KinesisClient;
  /** With `--consumer efo`: the HTTP/2 client SubscribeToShard goes through (createSubscriptionClient). */
  subscriber?: KinesisClient;
  kms: KMSClient;
  env: NodeJS.ProcessEnv;
  /** Where events go when no OTLP endpoint is configured. */
  stdout: NodeJS.WritableStream;
  log?: Logger;
  /** Replaces the default log sink (OTLP, else JSON lines on stdout); the demo prints compact lines. */
  logSink?: (mapper: LogRecordMapper, observer: OtlpExportObserver) => Sink;
  /** Replaces the lease coordinator chosen by `config.leases` (tests, DynamoDB). */
  coordinator?: LeaseCoordinator;
  deadLetters?: DeadLetterSink;
  /** Default true; tests turn process-wide collectors off. */
  processMetrics?: boolean;
}

export interface RunningApp {
  metrics: DasMetrics;
  consumer: KinesisConsumer;
  pipeline: Pipeline;
  /** URL of the metrics/health server. */
  metricsUrl: string;
  otlp: OtlpEnvironment;
  /** Reads the policy file again (SIGHUP); null without --policy. A bad file keeps the running policy and says why. */
  reloadPolicy(): ReloadResult | null;
  /** Shutdown requested: stop polling, let the pipeline finish or abandon batches, write checkpoints, flush sinks. */
  stop(): Promise<void>;
}

/** Checks what can be checked before any connection is made; throws ConfigError listing every problem. */
export function preflight(config: Config, env: NodeJS.ProcessEnv, options: { needStreams: boolean }): OtlpEnvironment {
  const problems: string[] = [];
  if (options.needStreams && config.streams.length === 0) problems.push('--stream / DAS_STREAMS: at least one DAS stream name or ARN is required');
  let otlp: OtlpEnvironment | undefined;
  try {
    otlp = loadOtlpEnvironment(env);
  } catch (error) {
    if (error instanceof ConfigError) problems.push(...error.problems);
    else throw error;
  }
  const sampling = otlp ? untracedSamplingProblem(config.tracesSampleUntraced, otlp) : null;
  if (sampling) problems.push(sampling);
  if (problems.length > 0 || !otlp) throw new ConfigError(problems);
  return otlp;
}

export async function startApp(config: Config, deps: AppDependencies): Promise<RunningApp> {
  const otlp = preflight(config, deps.env, { needStreams: true });
  const log = deps.log ?? jsonLogger();
  const metrics = createMetrics(createMetricsRegistry(), { processMetrics: deps.processMetrics ?? true });
  const health = metricsStreamHealth(metrics);

  const resources = resourceFactsOf(config, deps.env, otlp);
  if (config.consumer === 'polling' && (config.consumerName !== undefined || config.deregisterOnStop)) {
    log.warn('--consumer-name and --deregister-on-stop apply to --consumer efo only; this process polls', { consumerName: config.consumerName, deregisterOnStop: config.deregisterOnStop });
  }
  const deadLetters = deps.deadLetters ?? new FileDeadLetterSink(deadLetterFileIn(config.stateDir));
  const built = buildPipeline(config, {
    kms: deps.kms,
    otlp,
    resources,
    deadLetters,
    log,
    stdout: deps.stdout as NodeJS.WritableStream & Writable,
    ...(deps.logSink ? { logSink: deps.logSink } : {}),
    metrics,
  });
  const { pipeline, sinks, policy } = built;
  const metricsSink = built.metricsSink!;

  const kinesisObserver: KinesisObserver = {
    millisBehindLatest: (stream, shard, ms) => health.setMillisBehindLatest(stream, shard, ms),
    shardStopped: (stream, shard) => health.forgetShard(stream, shard),
    subscriptionStarted: (stream, shard) => health.subscriptionStarted(stream, shard),
    subscriptionEnded: (stream, shard, reason) => health.subscriptionEnded(stream, shard, reason),
    subscriptionReceived: (stream, shard, records, bytes) => health.subscriptionReceived(stream, shard, records, bytes),
    streamStatus: (status) => {
      health.setStreamUp(status.stream, status.up);
      // With file checkpoints this process owns every shard it reads; a DynamoDB coordinator reports its leases itself.
      if (!config.leases.startsWith('dynamodb:')) health.setLeasesHeld(status.stream, status.shards);
    },
  };
  const consumer = new KinesisConsumer({
    client: deps.kinesis,
    streams: config.streams,
    pipeline,
    coordinator: deps.coordinator ?? chooseCoordinator(config, { log, metrics, kinesis: deps.kinesis, leasesHeld: (stream, n) => health.setLeasesHeld(stream, n) }),
    startPosition: parseStartPosition(config.startPosition),
    limit: config.getRecordsLimit,
    ...(config.consumer === 'efo' ? { efo: efoOptions(config, deps) } : {}),
    discoveryIntervalMs: config.discoveryIntervalSeconds * 1000,
    observer: kinesisObserver,
    log,
  });

  const server = await startMetricsServer({
    registry: metrics.registry,
    host: config.metricsHost,
    port: config.metricsPort,
    ...(config.metricsToken ? { bearerToken: config.metricsToken } : {}),
    ...(policy ? { details: () => ({ policy: policy.status() }) } : {}),
    readiness: () => {
      // A sink that cannot deliver as configured (a refused credential) holds every stream back, though each is read.
      const blocked = sinks.map((sink) => sink.blockedReason?.() ?? null).find((reason) => reason !== null) ?? null;
      return consumer.status().map((s): StreamReadiness => {
        if (!s.up) return { stream: s.stream, ready: false, reason: s.reason ?? 'starting' };
        return blocked === null ? { stream: s.stream, ready: true } : { stream: s.stream, ready: false, reason: blocked };
      });
    },
  });
  try {
    await consumer.start();
  } catch (error) {
    await server.close();
    await built.close().catch(() => {});
    throw error;
  }
  // Series of instances gone quiet are removed within a minute of their expiry; the timer does not keep the process alive.
  const forgetting = setInterval(() => {
    const { instances, clusters } = metricsSink.forgetUnseen();
    if (instances.length > 0 || clusters.length > 0) log.info('removed the series of instances not seen for the series expiry', { instances, clusters, expirySeconds: config.seriesExpirySeconds });
  }, SERIES_SWEEP_INTERVAL_MS);
  forgetting.unref();
  log.info('das-exporter started', {
    streams: config.streams,
    metrics: server.url,
    logs: otlp.exporter ? endpointForLogs(otlp.exporter.endpoint) : 'stdout',
    ...(otlp.traces ? { traces: endpointForLogs(otlp.traces.endpoint) } : {}),
  });

  let stopping: Promise<void> | undefined;
  return {
    metrics,
    consumer,
    pipeline,
    metricsUrl: server.url,
    otlp,
    reloadPolicy: () => policy?.reload() ?? null,
    stop: () =>
      (stopping ??= (async () => {
        // Every step runs even when one fails (a checkpoint directory that refuses the last write): the first failure is thrown after.
        const failures: unknown[] = [];
        const step = (run: () => Promise<unknown> | undefined) => Promise.resolve().then(run).catch((error: unknown) => void failures.push(error));
        clearInterval(forgetting);
        await step(() => consumer.stop());
        await step(() => built.close());
        await step(() => deadLetters.close());
        await step(() => server.close());
        if (failures.length > 0) throw failures[0];
      })()),
  };
}

const SERIES_SWEEP_INTERVAL_MS = 60_000;

/** `--consumer efo`: the named consumer, read through the HTTP/2 client the command made. */
function efoOptions(config: Config, deps: AppDependencies): EfoOptions {
  if (!deps.subscriber) throw new Error('--consumer efo needs an HTTP/2 Kinesis client (createSubscriptionClient) in AppDependencies.subscriber');
  return { client: deps.subscriber, consumerName: config.consumerName!, deregisterOnStop: config.deregisterOnStop };
}

/** `file`: checkpoints in the state directory; `dynamodb:<table>`: KCL-style leases shared by every worker. */
export function chooseCoordinator(
  config: Config,
  wiring: { log: Logger; metrics: DasMetrics; kinesis: KinesisClient; leasesHeld: (stream: string, count: number) => void },
): LeaseCoordinator {
  const { log, metrics, kinesis, leasesHeld } = wiring;
  if (!config.leases.startsWith('dynamodb:')) {
    return new FileCheckpointStore({
      dir: config.stateDir,
      lockTimeoutMs: config.lockTimeoutSeconds * 1000,
      observer: { checkpointRegressed: (stream) => metrics.checkpointRegressions.inc({ stream }) },
      log,
    });
  }
  const initial = config.startPosition.split(':')[0]!.toUpperCase() as InitialPosition;
  const refs = new Map(config.streams.map((s) => [streamRef(s).name, streamRef(s)]));
  return new DynamoDbLeaseCoordinator({
    client: createDynamoDbClient(),
    destroyClient: true,
    table: config.leases.slice('dynamodb:'.length),
    failoverTimeMs: config.leaseFailoverSeconds * 1000,
    initialPosition: initial,
    // For KCL's multi-stream keys, when several streams share the table.
    streamIdentifier: async (stream) => {
      const { streamArn, createdAt } = await describeStreamIdentity(kinesis, refs.get(stream) ?? streamRef(stream));
      return streamIdentifierOf(streamArn, createdAt);
    },
    observer: { leasesHeld },
    log,
  });
}
