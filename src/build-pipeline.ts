/**
 * The one place a pipeline is assembled from a Config: how records are
 * opened (prepared for OTLP/protobuf where they are opened, in worker
 * threads with `--workers`), the audit policy, the sinks (OTLP logs or
 * stdout or the caller's, database spans, Prometheus metrics when there are
 * metrics) and the dead letters. `run` and `demo` (app.ts), `replay` and the
 * Lambda handler all build theirs here, so each gets the same fast path, the
 * same policy and the same spans; they differ only in the sinks and
 * observers they bring.
 */
import type { KMSClient } from '@aws-sdk/client-kms';
import type { Writable } from 'node:stream';
import type { Config } from './config/config.ts';
import { buildOpener, prepareSetup } from './cli/wiring.ts';
import { Pipeline, type PipelineObserver, type PipelineOptions } from './pipeline.ts';
import { PolicyRuntime } from './policy/runtime.ts';
import type { DeadLetterSink } from './sinks/dead-letter.ts';
import { metricsDataKeyObserver, metricsPipelineObserver, MetricsSink } from './sinks/metrics-sink.ts';
import type { OtlpEnvironment } from './sinks/otlp/config.ts';
import { OtlpLogSink, type OtlpExportObserver } from './sinks/otlp/exporter.ts';
import { LogRecordMapper } from './sinks/otlp/mapping.ts';
import { ObservedTimes } from './sinks/otlp/observed-times.ts';
import { ResourceCatalog, type ResourceFacts } from './sinks/otlp/resource.ts';
import { StdoutLogSink } from './sinks/otlp/stdout.ts';
import { OtlpTraceSink, TRACES_SINK } from './sinks/otlp/traces.ts';
import type { PrepareStepName } from './sinks/prepared.ts';
import type { Sink } from './sinks/sink.ts';
import type { Logger } from './source/kinesis/observer.ts';
import { parseKinesisStreamArn } from './source/resource.ts';
import type { DasMetrics } from './telemetry/metrics.ts';
import { PreparePool } from './workers/pool.ts';

export interface BuildPipelineOptions {
  kms: KMSClient;
  otlp: OtlpEnvironment;
  resources: ResourceFacts;
  deadLetters: DeadLetterSink;
  log: Logger;
  /** Where log records are printed when no OTLP endpoint is configured. */
  stdout?: Writable;
  /** A log sink of the caller's instead (replay's JSON lines, the demo's compact lines); records are then opened for events, not prepared. */
  logSink?: (mapper: LogRecordMapper, observer: OtlpExportObserver) => Sink;
  /** The Prometheus metrics of `run` and `demo`: a metrics sink, and counters for exports, policy and workers. */
  metrics?: DasMetrics;
  observer?: PipelineObserver;
  pipeline?: Pick<PipelineOptions, 'maxOpenAttempts' | 'retry'>;
}

export interface BuiltPipeline {
  pipeline: Pipeline;
  sinks: Sink[];
  policy: PolicyRuntime | undefined;
  metricsSink: MetricsSink | undefined;
  /** Stops the policy watch and the worker threads, then closes every sink (not the dead letters: the caller's). */
  close(): Promise<void>;
}

/** What names the resources of the log records and spans: friendly names, and the region and account of the first stream ARN (else the environment's region). */
export function resourceFactsOf(config: Config, env: NodeJS.ProcessEnv, otlp: OtlpEnvironment): ResourceFacts {
  const firstArn = config.streams.map(parseKinesisStreamArn).find((arn) => arn !== undefined);
  return {
    serviceNames: config.serviceNames,
    region: firstArn?.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? null,
    accountId: firstArn?.accountId ?? null,
    environment: otlp.resource,
  };
}

export function buildPipeline(config: Config, o: BuildPipelineOptions): BuiltPipeline {
  const { metrics, otlp, log } = o;
  // One read-time counter for the sink's mapper and every thread that prepares records (--old-events observed-time).
  const observedTimes = new ObservedTimes();
  const catalog = new ResourceCatalog(o.resources);
  const mapper = new LogRecordMapper({ resources: catalog, oldEvents: config.oldEvents, observedTimes });
  const exportObserver: OtlpExportObserver = metrics
    ? {
        exported: (outcome, n) => metrics.logRecordsExported.inc({ outcome }, n),
        authFailure: (status) => metrics.exportAuthFailures.inc({ sink: 'otlp', status: String(status) }),
      }
    : {};
  if (!o.logSink && !otlp.exporter && !o.stdout) throw new Error('buildPipeline: no OTLP endpoint, no log sink and no stdout to print log records to');
  const logSink = o.logSink
    ? o.logSink(mapper, exportObserver)
    : otlp.exporter
      ? new OtlpLogSink({ config: otlp.exporter, mapper, observer: exportObserver, log })
      : new StdoutLogSink(o.stdout!, mapper, exportObserver);
  // An invalid policy file throws here: the process refuses to start.
  const policy = config.policyFile
    ? new PolicyRuntime({ file: config.policyFile, names: config.serviceNames, watch: config.policyWatch, ...(metrics ? { metrics } : {}), log })
    : undefined;
  const sinks: Sink[] = [logSink];
  const metricsSink = metrics ? new MetricsSink(metrics, { topN: config.labelTopN, seriesExpiryMs: config.seriesExpirySeconds * 1000 }) : undefined;
  if (metricsSink) sinks.push(metricsSink);
  // Database spans of traced statements: a sink of their own, so a checkpoint waits for the traces endpoint too.
  if (otlp.traces) {
    const observer: OtlpExportObserver = metrics
      ? {
          exported: (outcome, n) => metrics.spans.inc({ outcome }, n),
          authFailure: (status) => metrics.exportAuthFailures.inc({ sink: TRACES_SINK, status: String(status) }),
        }
      : {};
    sinks.push(new OtlpTraceSink({ config: otlp.traces, resources: catalog, untracedRatio: config.tracesSampleUntraced, observer, log }));
  }

  // Records are prepared where they are opened (sinks/prepared.ts) only when every sink reads a prepare step's
  // results: a stdout, JSON or caller's log sink reads events, and would decode every record a second time.
  const steps = sinks.map((sink) => sink.prepareStep);
  const preparable = steps.every((step) => step !== undefined);
  if (config.workers > 0 && !preparable) {
    log.warn('--workers needs an OTLP/protobuf endpoint (OTEL_EXPORTER_OTLP_ENDPOINT); records are opened on the main thread', { workers: config.workers });
  }
  const prepared = {
    observedTimes,
    steps: steps as PrepareStepName[],
    ...(otlp.traces ? { spans: { untracedRatio: config.tracesSampleUntraced, encode: otlp.traces.protocol !== 'http/json' } } : {}),
    ...(policy ? { policy } : {}),
  };
  const pool =
    preparable && config.workers > 0
      ? new PreparePool({
          size: config.workers,
          setup: prepareSetup(config, o.resources, prepared),
          onWorkerLost: (reason) => {
            metrics?.workersLost.inc();
            log.warn('prepare worker lost; its records are prepared on the main thread', { reason });
          },
        })
      : undefined;
  const dataKeyObserver = metrics ? metricsDataKeyObserver(metrics) : undefined;
  const opener = buildOpener(config, o.kms, {
    resources: o.resources,
    ...prepared,
    steps: preparable ? prepared.steps : [],
    ...(dataKeyObserver ? { observer: dataKeyObserver } : {}),
    ...(pool ? { pool } : {}),
  });
  const observer = o.observer ?? (metrics ? metricsPipelineObserver(metrics) : undefined);
  const pipeline = new Pipeline({
    opener,
    sinks,
    deadLetters: o.deadLetters,
    concurrency: config.concurrency,
    ...(observer ? { observer } : {}),
    ...o.pipeline,
  });

  return {
    pipeline,
    sinks,
    policy,
    metricsSink,
    close: async () => {
      // Every step runs even when one fails: the first failure is thrown after.
      const failures: unknown[] = [];
      policy?.close();
      await pool?.close().catch((error: unknown) => void failures.push(error));
      for (const sink of sinks) await sink.close().catch((error: unknown) => void failures.push(error));
      if (failures.length > 0) throw failures[0];
    },
  };
}
