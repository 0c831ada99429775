/**
 * das-exporter as a library: the pieces `run`, `demo`, `replay` and the
 * Lambda handler are assembled from, for embedding the pipeline elsewhere.
 * The package ships it compiled (ES modules with declarations); the Lambda
 * handler is `das-exporter/lambda`, and a checkout builds a one-file bundle
 * of it (`npm run build:lambda`).
 */
export { startApp, type AppDependencies, type RunningApp } from './app.ts';
export { loadConfig, ConfigError, type Config, type ConfigInput } from './config/config.ts';
export { Pipeline, type BatchOutcome, type PipelineObserver, type RecordOpener } from './pipeline.ts';
export { buildOpener, createKmsClient } from './cli/wiring.ts';
export { DasError, type FailureReason, type Disposition } from './errors.ts';
export { parseEnvelope, type Envelope } from './source/envelope.ts';
export { decodeRecord } from './events/decode.ts';
export type { ActivityEvent, Heartbeat, DecodedRecord, Engine } from './events/model.ts';
export { enrichEvent, enrichRecord } from './enrich/stage.ts';
export type { Sink, SinkBatch, SinkResult } from './sinks/sink.ts';
export type { SourceRecord } from './source/record.ts';
