/**
 * Several `das-exporter run --leases dynamodb:TABLE` processes on one stream:
 * kinesalite, dynalite, the local KMS and the Loki-faithful OTLP receiver,
 * with a producer writing the whole time. Three workers split six shards;
 * one is SIGKILLed and a fourth joins; the dead worker's leases are taken over
 * once they went unrenewed for the failover time, the newcomer gets a share,
 * and every event written reaches the receiver.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { KMSClient } from '@aws-sdk/client-kms';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { LeaseTable, SINGLE_STREAM, type LeaseItem } from '../../src/source/leases/lease-table.ts';
import { startDynalite, type LocalDynamoDb } from '../support/dynalite.ts';
import { createStream, startKinesalite, type LocalKinesis } from '../support/kinesalite.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';

const CLUSTER = 'cluster-SCALEOUT00000000000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;
const TABLE = 'das-exporter-leases';
const SHARDS = 6;
const FAILOVER_SECONDS = 2;

interface Worker {
  name: string;
  child: ChildProcess;
  exited: Promise<number | NodeJS.Signals | null>;
  stderr: () => string;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, detail: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail() ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function pgSelect(n: number): Record<string, unknown> {
  const stamp = new Date().toISOString().replace('T', ' ').replace('Z', '000+00');
  return {
    type: 'record', class: 'READ', command: 'SELECT', commandText: `SELECT * FROM orders WHERE id = ${n}`, databaseName: 'shop',
    dbUserName: 'app', remoteHost: '10.0.0.5', remotePort: '5432', sessionId: '5ce5f7f0.474b', statementId: n, substatementId: 1,
    objectType: 'TABLE', objectName: 'orders', rowCount: 1, paramList: [], pid: 100, clientApplication: 'orders-api', exitCode: null,
    errorMessage: null, startTime: stamp, logTime: stamp, serverVersion: '2.3.1', serverType: 'PostgreSQL',
    serviceName: 'Amazon Aurora PostgreSQL-Compatible edition', serverHost: '172.31.3.192', netProtocol: 'TCP', dbProtocol: 'Postgres 3.0',
  };
}

describe('das-exporter run with DynamoDB leases, scaled out', function () {
  this.timeout(240_000);
  let kinesis: LocalKinesis;
  let dynamo: LocalDynamoDb;
  const kms = new LocalKms();
  let kmsEndpoint: string;
  let keyId: string;
  let receiver: LokiReceiver;
  let dir: string;
  const workers: Worker[] = [];

  before(async () => {
    kinesis = await startKinesalite();
    dynamo = await startDynalite();
    kmsEndpoint = (await kms.listen()).endpoint;
    keyId = kms.createKey().keyId;
    receiver = await new LokiReceiver().start();
    dir = mkdtempSync(path.join(tmpdir(), 'das-scale-'));
    await createStream(kinesis.client, STREAM, SHARDS);
  });

  after(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await receiver.close();
    await kms.close();
    await dynamo.stop();
    await kinesis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  function startWorker(name: string): Worker {
    const child = spawn(
      process.execPath,
      [
        'bin/das-exporter.js', 'run', '--stream', STREAM, '--leases', `dynamodb:${TABLE}`, '--lease-failover', String(FAILOVER_SECONDS),
        '--discovery-interval', '1', '--get-records-limit', '25', '--state-dir', path.join(dir, name), '--metrics-port', '0', '--metrics-host', '127.0.0.1',
      ],
      {
        env: {
          ...process.env,
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret-example',
          AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
          AWS_ENDPOINT_URL_KMS: kmsEndpoint,
          AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
          OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    child.stdout!.resume();
    const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
    const worker = { name, child, exited, stderr: () => stderr };
    workers.push(worker);
    return worker;
  }

  const table = () => new LeaseTable(dynamo.client(), TABLE);
  const leases = async (): Promise<LeaseItem[]> => table().list(SINGLE_STREAM).catch(() => []);
  const ownedBy = (items: LeaseItem[], w: Worker) => items.filter((l) => l.leaseOwner?.includes(`:${w.child.pid}:`)).length;
  const describeLeases = async () => (await leases()).map((l) => `${l.shardId} ${l.leaseOwner} #${l.leaseCounter} @${l.checkpoint}`).join('\n');

  /** Writes batches spread over every shard until stopped; resolves with the ids of every event written. */
  function startProducer(): { stop(): Promise<string[]> } {
    const kmsClient = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: kmsDataKeySource(kmsClient, keyId), profile: AURORA_POSTGRESQL, recordsPerDataKey: 50 });
    const ids: string[] = [];
    let running = true;
    let n = 0;
    const loop = (async () => {
      while (running) {
        const batch = await Promise.all(
          Array.from({ length: 12 }, async (_, i) => ({
            PartitionKey: `key-${n + i}`,
            Data: await factory.record({ clusterId: CLUSTER, instanceId: 'db-SCALEOUT', events: [pgSelect(2 * (n + i)), pgSelect(2 * (n + i) + 1)] }),
          })),
        );
        n += batch.length;
        const out = await kinesis.client.send(new PutRecordsCommand({ StreamName: STREAM, Records: batch }));
        for (const r of out.Records ?? []) {
          if (r.ErrorCode) throw new Error(`PutRecords refused a record: ${r.ErrorCode}`);
          ids.push(`${STREAM}/${r.ShardId}/${r.SequenceNumber}/0`, `${STREAM}/${r.ShardId}/${r.SequenceNumber}/1`);
        }
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        kmsClient.destroy();
        return ids;
      },
    };
  }

  it('splits six shards over three workers, survives a SIGKILL and a newcomer, and loses no event', async () => {
    const producer = startProducer();
    let written: string[] = [];
    try {
      const [a, b, c] = ['a', 'b', 'c'].map(startWorker) as [Worker, Worker, Worker];
      const stderrs = () => workers.map((w) => `--- ${w.name} (pid ${w.child.pid}) stderr:\n${w.stderr().slice(-3000)}`).join('\n');
      await until(
        'three workers holding two leases each',
        async () => {
          const items = await leases();
          return items.length === SHARDS && [a, b, c].every((w) => ownedBy(items, w) === 2) ? true : undefined;
        },
        60_000,
        stderrs,
      );

      a.child.kill('SIGKILL');
      assert.equal(await a.exited, 'SIGKILL');
      const d = startWorker('d');
      await until(
        `the killed worker's leases taken over (failover ${FAILOVER_SECONDS} s, discovery every 1 s)`,
        async () => {
          const items = await leases();
          return ownedBy(items, a) === 0 && items.every((l) => l.leaseOwner !== null) ? true : undefined;
        },
        (FAILOVER_SECONDS + 1) * 1000 + 20_000,
        stderrs,
      ).catch(async (error: Error) => Promise.reject(new Error(`${error.message}\n${await describeLeases()}`)));
      await until(
        'the newcomer holding two leases, with b and c',
        async () => {
          const items = await leases();
          return [b, c, d].every((w) => ownedBy(items, w) === 2) ? true : undefined;
        },
        60_000,
        stderrs,
      );

      written = await producer.stop();
      const missing = () => {
        const got = new Set(receiver.eventIds());
        return written.filter((id) => !got.has(id));
      };
      await until('every event written at the receiver', async () => (missing().length === 0 ? true : undefined), 60_000, () => `missing ${missing().length}: ${missing().slice(0, 5).join(', ')}`);
      assert.deepEqual(missing(), []);
      assert.ok(written.length > 0);

      for (const w of [b, c, d]) w.child.kill('SIGTERM');
      for (const w of [b, c, d]) assert.equal(await w.exited, 0, w.stderr());
      const items = await leases();
      assert.deepEqual(items.map((l) => l.leaseOwner), Array(SHARDS).fill(null), 'a clean stop releases every lease');
      assert.ok(items.every((l) => /^\d+$/.test(l.checkpoint)), `every shard checkpointed: ${items.map((l) => l.checkpoint).join(', ')}`);
    } finally {
      if (written.length === 0) await producer.stop().catch(() => []);
    }
  });
});
