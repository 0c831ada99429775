/**
 * A real Kinesis to test against: kinesalite in this process, bound to
 * 127.0.0.1, a producer that writes plain test records, and the opener that
 * reads them back. Plain records stand in for DAS envelopes so the consumer's
 * tests do not depend on decryption: `{"id": "...", "key": "...", "n": 0}` in
 * the data becomes one ActivityEvent whose eventId comes from its position.
 */
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
  type Shard,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ActivityEvent, DecodedRecord } from '../../src/events/model.ts';
import type { RecordOpener } from '../../src/pipeline.ts';
import { activityEvent } from './events.ts';
import type { SourceRecord } from '../../src/source/record.ts';

const require = createRequire(import.meta.url);

export interface LocalKinesis {
  endpoint: string;
  client: KinesisClient;
  stop(): Promise<void>;
}

/** Starts kinesalite in memory on a free port of 127.0.0.1. */
export async function startKinesalite(): Promise<LocalKinesis> {
  const kinesalite = require('kinesalite') as (options: object) => Server;
  const server = kinesalite({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 50 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = testClient(endpoint);
  return {
    endpoint,
    client,
    async stop() {
      client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Kinesis client for kinesalite: HTTP/1.1 handler, dummy credentials. */
export function testClient(endpoint: string): KinesisClient {
  return new KinesisClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
}

/** Creates a stream and waits until it is ACTIVE. */
export async function createStream(client: KinesisClient, name: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  await waitActive(client, name);
}

export async function waitActive(client: KinesisClient, name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { StreamDescriptionSummary: s } = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s?.StreamStatus === 'ACTIVE') return;
    if (Date.now() > deadline) throw new Error(`stream ${name} not ACTIVE after ${timeoutMs} ms (status ${s?.StreamStatus})`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function listShards(client: KinesisClient, name: string): Promise<Shard[]> {
  const { Shards } = await client.send(new ListShardsCommand({ StreamName: name }));
  return Shards ?? [];
}

export interface TestRecord {
  id: string;
  key: string;
  n: number;
}

/** Writes records with PutRecords, 500 per call, retrying any the stream refused, in order. */
export async function produce(client: KinesisClient, stream: string, records: readonly TestRecord[]): Promise<void> {
  for (let i = 0; i < records.length; i += 500) {
    let pending = records.slice(i, i + 500);
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt > 20) throw new Error(`PutRecords kept failing for ${pending.length} records on ${stream}`);
      const out = await client.send(
        new PutRecordsCommand({
          StreamName: stream,
          Records: pending.map((r) => ({ PartitionKey: r.key, Data: Buffer.from(JSON.stringify(r)) })),
        }),
      );
      pending = pending.filter((_, j) => out.Records?.[j]?.ErrorCode);
    }
  }
}

/** `count` records spread over `keys` partition keys, numbered per key from 0. */
export function testRecords(count: number, keys: number, prefix = 'r'): TestRecord[] {
  const next = new Map<string, number>();
  return Array.from({ length: count }, (_, i) => {
    const key = `k${i % keys}`;
    const n = next.get(key) ?? 0;
    next.set(key, n + 1);
    return { id: `${prefix}${i}`, key, n };
  });
}

/** Reads the plain test records `produce` writes: one event per record, the payload under `extra`. */
export const plainRecordOpener: RecordOpener = {
  async open(record: SourceRecord): Promise<DecodedRecord> {
    const payload = JSON.parse(Buffer.from(record.data).toString('utf8')) as TestRecord;
    return { version: 'test', clusterId: null, instanceId: null, events: [plainEvent(record, payload)], heartbeats: [] };
  },
};

/** The test record an event came from. */
export function payloadOf(event: ActivityEvent): TestRecord {
  return event.extra.payload as TestRecord;
}

function plainEvent(record: SourceRecord, payload: TestRecord): ActivityEvent {
  const position = { stream: record.stream, shardId: record.shardId, sequenceNumber: record.sequenceNumber, index: 0 };
  return activityEvent({
    engine: 'unknown',
    extra: { payload },
    position,
    eventId: `${record.stream}/${record.shardId}/${record.sequenceNumber}/0`,
  });
}
