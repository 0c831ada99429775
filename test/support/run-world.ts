/**
 * The world an end-to-end `run` test talks to: a Kinesis (kinesalite or
 * kinesis-local), the local KMS, the Loki-faithful OTLP receiver, a state
 * directory, and the AWS environment the exporter reads (KMS endpoint,
 * region, credentials), put back as it was on close. `writeRecords` puts real
 * DAS records (encrypted with data keys of the local KMS) and answers the
 * event ids das-exporter will give them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutRecordCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { KMSClient } from '@aws-sdk/client-kms';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import type { LocalKinesis } from './kinesalite.ts';
import { LokiReceiver } from './loki-receiver.ts';

export interface RecordsToWrite {
  stream: string;
  cluster: string;
  instance?: string;
  count: number;
  eventsPerRecord: number;
  /** The number of the first event; each event gets the next. */
  first: number;
  /** A raw PostgreSQL event as DAS writes it, by its number and log time. */
  event: (n: number, at: Date) => Record<string, unknown>;
  loggedAt?: () => Date;
}

export class RunWorld {
  readonly kinesis: LocalKinesis;
  readonly kms: LocalKms;
  readonly kmsEndpoint: string;
  readonly keyId: string;
  readonly receiver: LokiReceiver;
  readonly stateDir: string;
  readonly #savedEnv: NodeJS.ProcessEnv;

  private constructor(fields: { kinesis: LocalKinesis; kms: LocalKms; kmsEndpoint: string; keyId: string; receiver: LokiReceiver; stateDir: string; savedEnv: NodeJS.ProcessEnv }) {
    this.kinesis = fields.kinesis;
    this.kms = fields.kms;
    this.kmsEndpoint = fields.kmsEndpoint;
    this.keyId = fields.keyId;
    this.receiver = fields.receiver;
    this.stateDir = fields.stateDir;
    this.#savedEnv = fields.savedEnv;
  }

  static async start(startKinesis: () => Promise<LocalKinesis>, name: string): Promise<RunWorld> {
    const savedEnv = { ...process.env };
    const kinesis = await startKinesis();
    const kms = new LocalKms();
    const kmsEndpoint = (await kms.listen()).endpoint;
    const keyId = kms.createKey().keyId;
    const receiver = await new LokiReceiver().start();
    const stateDir = mkdtempSync(path.join(tmpdir(), `das-${name}-`));
    Object.assign(process.env, { AWS_ENDPOINT_URL_KMS: kmsEndpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example' });
    return new RunWorld({ kinesis, kms, kmsEndpoint, keyId, receiver, stateDir, savedEnv });
  }

  get client(): KinesisClient {
    return this.kinesis.client;
  }

  async writeRecords(w: RecordsToWrite): Promise<string[]> {
    const kmsClient = new KMSClient({ endpoint: this.kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const factory = new DasRecordFactory({ resourceId: w.cluster, dataKeys: kmsDataKeySource(kmsClient, this.keyId), profile: AURORA_POSTGRESQL, recordsPerDataKey: 10 });
    const loggedAt = w.loggedAt ?? (() => new Date());
    const ids: string[] = [];
    try {
      for (let r = 0; r < w.count; r++) {
        const events = Array.from({ length: w.eventsPerRecord }, (_, i) => w.event(w.first + r * w.eventsPerRecord + i, loggedAt()));
        const data = await factory.record({ clusterId: w.cluster, instanceId: w.instance ?? 'db-RUNINSTANCE', events });
        const out = await this.client.send(new PutRecordCommand({ StreamName: w.stream, PartitionKey: `p${w.first + r}`, Data: data }));
        for (let i = 0; i < w.eventsPerRecord; i++) ids.push(`${w.stream}/${out.ShardId}/${out.SequenceNumber}/${i}`);
      }
    } finally {
      kmsClient.destroy();
    }
    return ids;
  }

  async close(): Promise<void> {
    await this.receiver.close();
    await this.kms.close();
    await this.kinesis.stop();
    rmSync(this.stateDir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in this.#savedEnv)) delete process.env[key];
    Object.assign(process.env, this.#savedEnv);
  }
}
