/**
 * One scenario's world on this machine: a Kinesis, the local KMS, the
 * Loki-faithful receiver (the ledger), a fault proxy in front of each of the
 * three (and, when asked for, dynalite behind a fourth, for a DynamoDB lease
 * table, or an OTLP traces receiver behind a fifth, for database spans), a
 * temporary directory, and helpers to write events, start the
 * exporter and wait for things. Every scenario file builds its own lab, so a
 * scenario's faults, ledger and duplicates never leak into the next.
 *
 * The consumer mode decides the Kinesis: `polling` runs kinesalite behind the
 * fault proxy; `efo` runs kinesis-local (enhanced fan-out) and the exporter
 * reads as a registered consumer (`--consumer efo`). The Kinesis fault proxy
 * speaks HTTP/1.1 only, so an `efo` lab has none: its Kinesis faults are
 * injected into the subscriptions by kinesis-local's test front
 * (`subscriptionFaults`), its other faults as a polling lab's.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { LocalKms } from '../../../src/demo/local-kms.ts';
import { kmsDataKeySource, type DataKeyGenerator } from '../../../src/demo/record-factory.ts';
import { deadLetterFileIn } from '../../../src/sinks/dead-letter.ts';
import { startDynalite, type LocalDynamoDb } from '../../support/dynalite.ts';
import { createStream, startKinesalite, type LocalKinesis } from '../../support/kinesalite.ts';
import { startKinesisLocal } from '../../support/kinesis-local.ts';
import type { SubscriptionFaults } from '../../support/subscription-faults.ts';
import { LokiReceiver } from '../../support/loki-receiver.ts';
import { TraceReceiver } from '../../support/trace-receiver.ts';
import { ExporterProcess } from './exporter-process.ts';
import { FaultProxy } from './fault-proxy.ts';
import { checkLedger, deliveredIds, readDeadLetters, type Verdict } from './ledger-check.ts';
import { EventProducer, type ProducerOptions } from './producer.ts';

export type ConsumerMode = 'polling' | 'efo';

/** The consumer modes every scenario that does not inject Kinesis faults runs in. */
export const CONSUMER_MODES: readonly ConsumerMode[] = ['polling', 'efo'];

/** The registered consumer an `efo` lab's exporters read as. */
export const FAULTS_CONSUMER = 'das-faults';

interface LabParts {
  name: string;
  mode: ConsumerMode;
  dir: string;
  kinesis: LocalKinesis;
  kms: LocalKms;
  kmsEndpoint: string;
  keyId: string;
  kmsClient: KMSClient;
  receiver: LokiReceiver;
  kinesisFaults: FaultProxy | undefined;
  efoFaults: SubscriptionFaults | undefined;
  kmsProxy: FaultProxy;
  otlpProxy: FaultProxy;
  dynamo: LocalDynamoDb | undefined;
  dynamoProxy: FaultProxy | undefined;
  traceReceiver: TraceReceiver | undefined;
  tracesProxy: FaultProxy | undefined;
}

export class FaultLab {
  readonly name!: string;
  readonly mode!: ConsumerMode;
  readonly dir!: string;
  readonly kinesis!: LocalKinesis;
  readonly kms!: LocalKms;
  readonly kmsEndpoint!: string;
  readonly keyId!: string;
  readonly kmsClient!: KMSClient;
  readonly receiver!: LokiReceiver;
  readonly kinesisFaults!: FaultProxy | undefined;
  readonly efoFaults!: SubscriptionFaults | undefined;
  readonly kmsProxy!: FaultProxy;
  readonly otlpProxy!: FaultProxy;
  /** dynalite, when the lab was started with `{ dynamodb: true }`; exporters reach it through `dynamoProxy`. */
  readonly dynamo: LocalDynamoDb | undefined;
  readonly dynamoProxy: FaultProxy | undefined;
  /** The traces receiver, when the lab was started with `{ traces: true }`; exporters send spans through `tracesProxy`. */
  readonly traceReceiver: TraceReceiver | undefined;
  readonly tracesProxy: FaultProxy | undefined;
  readonly #exporters: ExporterProcess[] = [];

  private constructor(fields: LabParts) {
    Object.assign(this, fields);
  }

  static async start(name: string, options: { dynamodb?: boolean; traces?: boolean; mode?: ConsumerMode } = {}): Promise<FaultLab> {
    const mode = options.mode ?? 'polling';
    const dir = await mkdtemp(path.join(os.tmpdir(), `das-faults-${name}-${mode}-`));
    const kinesisLocal = mode === 'efo' ? await startKinesisLocal() : undefined;
    const kinesis: LocalKinesis = kinesisLocal ?? (await startKinesalite());
    const kms = new LocalKms();
    const kmsEndpoint = (await kms.listen()).endpoint;
    const keyId = kms.createKey({ alias: 'das-faults' }).keyId;
    const kmsClient = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'producer', secretAccessKey: 'producer' } });
    const receiver = await new LokiReceiver().start();
    const kinesisFaults = mode === 'polling' ? await new FaultProxy('kinesis', kinesis.endpoint).start() : undefined;
    const kmsProxy = await new FaultProxy('kms', kmsEndpoint).start();
    const otlpProxy = await new FaultProxy('otlp', receiver.url).start();
    const dynamo = options.dynamodb ? await startDynalite() : undefined;
    const dynamoProxy = dynamo ? await new FaultProxy('dynamodb', dynamo.endpoint).start() : undefined;
    const traceReceiver = options.traces ? await new TraceReceiver().start() : undefined;
    const tracesProxy = traceReceiver ? await new FaultProxy('otlp', traceReceiver.url).start() : undefined;
    return new FaultLab({ name, mode, dir, kinesis, kms, kmsEndpoint, keyId, kmsClient, receiver, kinesisFaults, efoFaults: kinesisLocal?.faults, kmsProxy, otlpProxy, dynamo, dynamoProxy, traceReceiver, tracesProxy });
  }

  /** The fault proxy in front of Kinesis: polling labs only (it speaks HTTP/1.1, and SubscribeToShard is HTTP/2). */
  get kinesisProxy(): FaultProxy {
    if (!this.kinesisFaults) throw new Error(`the ${this.mode} lab has no Kinesis fault proxy: it proxies HTTP/1.1 only, and SubscribeToShard is HTTP/2`);
    return this.kinesisFaults;
  }

  /** The faults kinesis-local's front injects into subscriptions: `efo` labs only. */
  get subscriptionFaults(): SubscriptionFaults {
    if (!this.efoFaults) throw new Error(`the ${this.mode} lab has no subscriptions to inject faults into: use the Kinesis fault proxy`);
    return this.efoFaults;
  }

  /** `polling` or `efo`, for a scenario's row in the results table. */
  get modeLabel(): string {
    return this.mode === 'efo' ? 'enhanced fan-out (kinesis-local)' : 'polling (kinesalite)';
  }

  get stateDir(): string {
    return path.join(this.dir, 'state');
  }

  get logFile(): string {
    return path.join(this.dir, 'exporter.log');
  }

  get deadLetterFile(): string {
    return deadLetterFileIn(this.stateDir);
  }

  /** A stream named like DAS's, so its encryption context comes from its name. */
  async stream(clusterId: string, shards: number): Promise<string> {
    const stream = `aws-rds-das-${clusterId}`;
    await createStream(this.kinesis.client, stream, shards);
    return stream;
  }

  producer(options: Omit<ProducerOptions, 'kinesis' | 'dataKeys'> & { dataKeys?: DataKeyGenerator }): EventProducer {
    return new EventProducer({ kinesis: this.kinesis.client, dataKeys: kmsDataKeySource(this.kmsClient, this.keyId), ...options });
  }

  /** Starts `das-exporter run` on `stream`, through the proxies (DynamoDB's and the traces', when the lab has them: spans on). */
  exporter(stream: string, options: { env?: Record<string, string>; args?: string[] } = {}): ExporterProcess {
    const exporter = ExporterProcess.start({
      stream,
      stateDir: this.stateDir,
      kinesisEndpoint: this.kinesisFaults?.url ?? this.kinesis.endpoint,
      kmsEndpoint: this.kmsProxy.url,
      otlpLogsEndpoint: `${this.otlpProxy.url}/otlp/v1/logs`,
      logFile: this.logFile,
      ...options,
      args: [...(this.mode === 'efo' ? ['--consumer', 'efo', '--consumer-name', FAULTS_CONSUMER] : []), ...(options.args ?? [])],
      env: {
        ...(this.dynamoProxy ? { AWS_ENDPOINT_URL_DYNAMODB: this.dynamoProxy.url } : {}),
        ...(this.tracesProxy ? { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${this.tracesProxy.url}/v1/traces` } : {}),
        ...options.env,
      },
    });
    this.#exporters.push(exporter);
    return exporter;
  }

  delivered(): Set<string> {
    return deliveredIds(this.receiver);
  }

  verdict(producer: EventProducer): Verdict {
    return checkLedger(producer.produced, this.receiver, readDeadLetters(this.deadLetterFile));
  }

  /** Polls `probe` until it returns something other than undefined; fails naming `what` after `timeoutMs`. */
  async until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000, everyMs = 50): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await probe();
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        const tail = this.#exporters.at(-1)?.stderr.split('\n').slice(-15).join('\n') ?? '';
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; exporter stderr tail:\n${tail}`);
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  async close(): Promise<void> {
    for (const exporter of this.#exporters) if (exporter.running) await exporter.stop(5_000);
    await Promise.all([this.kinesisFaults?.close(), this.kmsProxy.close(), this.otlpProxy.close(), this.dynamoProxy?.close(), this.tracesProxy?.close()]);
    await this.dynamo?.stop();
    await this.traceReceiver?.close();
    await this.receiver.close();
    this.kmsClient.destroy();
    await this.kms.close();
    await this.kinesis.stop();
    if (!process.env.DAS_FAULTS_KEEP) await rm(this.dir, { recursive: true, force: true });
  }
}
