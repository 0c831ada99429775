/**
 * How startApp wires the lease coordinator: the file store gets the
 * configured lock timeout, and its refused backwards checkpoints reach
 * das_checkpoint_regressions_total.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { chooseCoordinator } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { FileCheckpointStore } from '../src/source/checkpoints/file-store.ts';
import { CheckpointRegressionError } from '../src/source/checkpoints/store.ts';
import { silentLogger } from '../src/source/kinesis/observer.ts';
import { createMetrics, createMetricsRegistry } from '../src/telemetry/metrics.ts';

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
});
