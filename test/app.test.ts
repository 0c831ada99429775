/**
 * How startApp wires the lease coordinator: the file store gets the
 * configured lock timeout, and its refused backwards checkpoints reach
 * das_checkpoint_regressions_total; DynamoDB leases of several streams are
 * keyed by each stream's identity as Kinesis describes it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeStreamSummaryCommand, KinesisClient } from '@aws-sdk/client-kinesis';
import { chooseCoordinator } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { FileCheckpointStore } from '../src/source/checkpoints/file-store.ts';
import { CheckpointRegressionError } from '../src/source/checkpoints/store.ts';
import { silentLogger } from '../src/source/kinesis/observer.ts';
import { createMetrics, createMetricsRegistry } from '../src/telemetry/metrics.ts';
import { startDynalite } from './support/dynalite.ts';
import { createStream, startKinesalite } from './support/kinesalite.ts';

const STREAM = 'aws-rds-das-cluster-WIRED';

describe('app wiring of the lease coordinator', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'das-app-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives file checkpoints the configured lock timeout and counts a refused backwards checkpoint in das_checkpoint_regressions_total', async () => {
    const config = loadConfig({ stateDir: dir }, { DAS_LOCK_TIMEOUT_SECONDS: '7' });
    const metrics = createMetrics(createMetricsRegistry());
    // File checkpoints never call Kinesis: a client with nowhere to go.
    const kinesis = new KinesisClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const store = chooseCoordinator(config, { log: silentLogger, metrics, kinesis, leasesHeld: () => {} });
    assert.ok(store instanceof FileCheckpointStore);
    assert.equal(store.lockTimeoutMs, 7_000);
    await store.initialize([STREAM]);
    try {
      await store.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
      await store.checkpoint(STREAM, 's0', '20');
      await assert.rejects(store.checkpoint(STREAM, 's0', '10'), CheckpointRegressionError);
      const text = await metrics.registry.metrics();
      assert.match(text, new RegExp(`^das_checkpoint_regressions_total\\{stream="${STREAM}"\\} 1$`, 'm'));
    } finally {
      await store.shutdown();
      kinesis.destroy();
    }
  });

  it("keys the DynamoDB leases of two streams sharing a table by each stream's account, name and creation time", async () => {
    const [dynamo, kinesis] = await Promise.all([startDynalite(), startKinesalite()]);
    const streams = [`${STREAM}-A`, `${STREAM}-B`];
    // createDynamoDbClient takes the standard chain, as in production: point it at dynalite for this test only.
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' });
    const config = loadConfig({ stateDir: dir, streams, leases: 'dynamodb:das-wired-leases' }, {});
    const coordinator = chooseCoordinator(config, { log: silentLogger, metrics: createMetrics(createMetricsRegistry()), kinesis: kinesis.client, leasesHeld: () => {} });
    try {
      for (const stream of streams) await createStream(kinesis.client, stream, 1);
      await coordinator.initialize(streams);
      for (const stream of streams) await coordinator.syncShards(stream, [{ shardId: 'shardId-000000000000', parentShardIds: [] }]);
      const { Items } = await dynamo.client().send(new ScanCommand({ TableName: 'das-wired-leases', ConsistentRead: true }));
      const keys = (Items ?? []).map((item) => item.leaseKey!.S).sort();
      const expected = await Promise.all(
        streams.map(async (stream) => {
          const { StreamDescriptionSummary: s } = await kinesis.client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
          return `000000000000:${stream}:${Math.floor(s!.StreamCreationTimestamp!.getTime() / 1000)}:shardId-000000000000`;
        }),
      );
      assert.deepEqual(keys, expected.sort());
    } finally {
      await coordinator.shutdown();
      process.env = saved;
      await Promise.all([dynamo.stop(), kinesis.stop()]);
    }
  });
});
