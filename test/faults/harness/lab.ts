/**
 * One scenario's world on this machine: kinesalite, the local KMS, the
 * Loki-faithful receiver (the ledger), a fault proxy in front of each of the
 * three (and, when asked for, dynalite behind a fourth, for a DynamoDB lease
 * table), a temporary directory, and helpers to write events, start the
 * exporter and wait for things. Every scenario file builds its own lab, so a
 * scenario's faults, ledger and duplicates never leak into the next.
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
import { LokiReceiver } from '../../support/loki-receiver.ts';
import { ExporterProcess } from './exporter-process.ts';
import { FaultProxy } from './fault-proxy.ts';
import { checkLedger, deliveredIds, readDeadLetters, type Verdict } from './ledger-check.ts';
import { EventProducer, type ProducerOptions } from './producer.ts';

interface LabParts {
  name: string;
  dir: string;
  kinesis: LocalKinesis;
  kms: LocalKms;
  kmsEndpoint: string;
  keyId: string;
  kmsClient: KMSClient;
  receiver: LokiReceiver;
  kinesisProxy: FaultProxy;
  kmsProxy: FaultProxy;
  otlpProxy: FaultProxy;
  dynamo: LocalDynamoDb | undefined;
  dynamoProxy: FaultProxy | undefined;
}

export class FaultLab {
  readonly name!: string;
  readonly dir!: string;
  readonly kinesis!: LocalKinesis;
  readonly kms!: LocalKms;
  readonly kmsEndpoint!: string;
  readonly keyId!: string;
  readonly kmsClient!: KMSClient;
  readonly receiver!: LokiReceiver;
  readonly kinesisProxy!: FaultProxy;
  readonly kmsProxy!: FaultProxy;
  readonly otlpProxy!: FaultProxy;
  /** dynalite, when the lab was started with `{ dynamodb: true }`; exporters reach it through `dynamoProxy`. */
  readonly dynamo: LocalDynamoDb | undefined;
  readonly dynamoProxy: FaultProxy | undefined;
  readonly #exporters: ExporterProcess[] = [];

  private constructor(fields: LabParts) {
    Object.assign(this, fields);
  }

  static async start(name: string, options: { dynamodb?: boolean } = {}): Promise<FaultLab> {
    const dir = await mkdtemp(path.join(os.tmpdir(), `das-faults-${name}-`));
    const kinesis = await startKinesalite();
    const kms = new LocalKms();
    const kmsEndpoint = (await kms.listen()).endpoint;
    const keyId = kms.createKey({ alias: 'das-faults' }).keyId;
    const kmsClient = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'producer', secretAccessKey: 'producer' } });
    const receiver = await new LokiReceiver().start();
    const kinesisProxy = await new FaultProxy('kinesis', kinesis.endpoint).start();
    const kmsProxy = await new FaultProxy('kms', kmsEndpoint).start();
    const otlpProxy = await new FaultProxy('otlp', receiver.url).start();
    const dynamo = options.dynamodb ? await startDynalite() : undefined;
    const dynamoProxy = dynamo ? await new FaultProxy('dynamodb', dynamo.endpoint).start() : undefined;
    return new FaultLab({ name, dir, kinesis, kms, kmsEndpoint, keyId, kmsClient, receiver, kinesisProxy, kmsProxy, otlpProxy, dynamo, dynamoProxy });
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

  /** Starts `das-exporter run` on `stream`, through the proxies (DynamoDB's too, when the lab has one). */
  exporter(stream: string, options: { env?: Record<string, string>; args?: string[] } = {}): ExporterProcess {
    const exporter = ExporterProcess.start({
      stream,
      stateDir: this.stateDir,
      kinesisEndpoint: this.kinesisProxy.url,
      kmsEndpoint: this.kmsProxy.url,
      otlpLogsEndpoint: `${this.otlpProxy.url}/otlp/v1/logs`,
      logFile: this.logFile,
      ...options,
      env: { ...(this.dynamoProxy ? { AWS_ENDPOINT_URL_DYNAMODB: this.dynamoProxy.url } : {}), ...options.env },
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
    await Promise.all([this.kinesisProxy.close(), this.kmsProxy.close(), this.otlpProxy.close(), this.dynamoProxy?.close()]);
    await this.dynamo?.stop();
    await this.receiver.close();
    this.kmsClient.destroy();
    await this.kms.close();
    await this.kinesis.stop();
    if (!process.env.DAS_FAULTS_KEEP) await rm(this.dir, { recursive: true, force: true });
  }
}
