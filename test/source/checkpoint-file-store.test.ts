import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { LeaseLostError, SHARD_END, StreamOwnedError } from '../../src/source/checkpoints/store.ts';

const STREAM = 'aws-rds-das-cluster-ABC';

/** The pid of a process that has exited, so it is certainly dead. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.on('exit', resolve));
  return child.pid!;
}

describe('FileCheckpointStore', () => {
  let dir: string;
  const stores: FileCheckpointStore[] = [];
  const store = (options: ConstructorParameters<typeof FileCheckpointStore>[0] = {}) => {
    const s = new FileCheckpointStore({ dir, ...options });
    stores.push(s);
    return s;
  };

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'das-checkpoints-'));
  });
  afterEach(async () => {
    await Promise.all(stores.splice(0).map((s) => s.shutdown().catch(() => {})));
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps checkpoints across a restart', async () => {
    const first = store();
    await first.initialize([STREAM]);
    await first.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }, { shardId: 's1', parentShardIds: [] }]);
    await first.checkpoint(STREAM, 's0', '100');
    await first.checkpoint(STREAM, 's1', '200');
    await first.checkpoint(STREAM, 's0', '150');
    await first.shutdown();

    const second = store();
    await second.initialize([STREAM]);
    assert.deepEqual(await second.acquire(STREAM), [
      { shardId: 's0', checkpoint: '150' },
      { shardId: 's1', checkpoint: '200' },
    ]);
  });

  it('hands out a split child only after its parent ended, and a merged child only after both parents ended', async () => {
    const s = store();
    await s.initialize([STREAM]);
    await s.syncShards(STREAM, [
      { shardId: 'p0', parentShardIds: [] },
      { shardId: 'p1', parentShardIds: [] },
      { shardId: 'split-a', parentShardIds: ['p0'] },
      { shardId: 'merged', parentShardIds: ['split-a', 'p1'] },
    ]);
    const ready = async () => (await s.acquire(STREAM)).map((l) => l.shardId);
    assert.deepEqual(await ready(), ['p0', 'p1']);
    await s.checkpoint(STREAM, 'p0', '10');
    assert.deepEqual(await ready(), ['p0', 'p1'], 'a checkpoint is not an end');
    await s.checkpoint(STREAM, 'p0', SHARD_END);
    assert.deepEqual(await ready(), ['p1', 'split-a']);
    await s.checkpoint(STREAM, 'split-a', SHARD_END);
    assert.deepEqual(await ready(), ['p1'], 'the merge waits for its other parent');
    await s.checkpoint(STREAM, 'p1', SHARD_END);
    assert.deepEqual(await ready(), ['merged']);
  });

  it('treats a parent that aged out of the stream as ended, and forgets ended shards no longer listed', async () => {
    const s = store();
    await s.initialize([STREAM]);
    await s.syncShards(STREAM, [{ shardId: 'child', parentShardIds: ['gone'] }]);
    assert.deepEqual(await s.acquire(STREAM), [{ shardId: 'child', checkpoint: null }]);

    await s.syncShards(STREAM, [{ shardId: 'old', parentShardIds: [] }]);
    await s.checkpoint(STREAM, 'old', SHARD_END);
    await s.syncShards(STREAM, [{ shardId: 'child', parentShardIds: ['gone'] }]);
    const saved = JSON.parse(await readFile(s.fileFor(STREAM), 'utf8'));
    assert.deepEqual(Object.keys(saved.shards), ['child']);
  });

  it('leaves the previous checkpoint readable when the process dies between writing and renaming', async () => {
    const first = store();
    await first.initialize([STREAM]);
    await first.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
    await first.checkpoint(STREAM, 's0', '100');
    await first.shutdown();

    const crashing = store({ fs: { rename: async () => Promise.reject(new Error('killed before rename (test)')) } });
    await crashing.initialize([STREAM]);
    await assert.rejects(crashing.checkpoint(STREAM, 's0', '200'), /killed before rename/);
    await crashing.shutdown().catch(() => {});

    const temps = (await readdir(dir)).filter((f) => f.endsWith('.tmp'));
    assert.equal(temps.length, 1, 'the new checkpoint was written to a temporary file');
    assert.match(await readFile(path.join(dir, temps[0]!), 'utf8'), /"200"/);
    const after = store();
    await after.initialize([STREAM]);
    assert.deepEqual(await after.acquire(STREAM), [{ shardId: 's0', checkpoint: '100' }]);
    await after.checkpoint(STREAM, 's0', '300');
    assert.deepEqual(await after.acquire(STREAM), [{ shardId: 's0', checkpoint: '300' }], 'a later write replaces the leftover');
  });

  it('writes a checkpoint whose first write failed when it is retried, instead of taking the memory for the disk', async () => {
    let failures = 1;
    const flaky = store({
      fs: {
        rename: async (from, to) => {
          if (failures-- > 0) throw Object.assign(new Error('ENOSPC: no space left on device (test)'), { code: 'ENOSPC' });
          return rename(from, to);
        },
      },
    });
    await flaky.initialize([STREAM]);
    failures = 0;
    await flaky.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
    failures = 1;
    await assert.rejects(flaky.checkpoint(STREAM, 's0', '100'), /ENOSPC/);
    // The shard reader retries the same position.
    await flaky.checkpoint(STREAM, 's0', '100');
    const onDisk = JSON.parse(await readFile(flaky.fileFor(STREAM), 'utf8')) as { shards: Record<string, { checkpoint: string | null }> };
    assert.equal(onDisk.shards['s0']!.checkpoint, '100');
  });

  it('survives many concurrent checkpoints, writing the last of each shard', async () => {
    const s = store();
    await s.initialize([STREAM]);
    const shards = Array.from({ length: 8 }, (_, i) => ({ shardId: `s${i}`, parentShardIds: [] }));
    await s.syncShards(STREAM, shards);
    await Promise.all(shards.map(async ({ shardId }) => {
      for (let n = 1; n <= 25; n++) await s.checkpoint(STREAM, shardId, String(n));
    }));
    await s.shutdown();
    const saved = JSON.parse(await readFile(s.fileFor(STREAM), 'utf8'));
    for (const { shardId } of shards) assert.equal(saved.shards[shardId].checkpoint, '25');
  });

  it('refuses a second live owner, naming the pid and the lock file, and lets it in once the first shuts down', async () => {
    const first = store();
    await first.initialize([STREAM]);
    const second = store();
    await assert.rejects(second.initialize([STREAM]), (e: Error) => {
      assert.ok(e instanceof StreamOwnedError);
      assert.match(e.message, new RegExp(`pid ${process.pid}`));
      assert.ok(e.message.includes(path.join(path.resolve(dir), `${STREAM}.lock`)), e.message);
      return true;
    });
    await first.shutdown();
    await second.initialize([STREAM]);
  });

  it('takes over a lock left by a process that died', async () => {
    const pid = await deadPid();
    await writeFile(
      path.join(dir, `${STREAM}.lock`),
      JSON.stringify({ pid, hostname: os.hostname(), token: 'crashed', startedAt: new Date().toISOString() }),
    );
    const s = store();
    await s.initialize([STREAM]);
    const lock = JSON.parse(await readFile(path.join(dir, `${STREAM}.lock`), 'utf8'));
    assert.equal(lock.pid, process.pid);
  });

  it('refuses a lock held from another host, whose process it cannot check', async () => {
    await writeFile(
      path.join(dir, `${STREAM}.lock`),
      JSON.stringify({ pid: 4242, hostname: 'elsewhere.example', token: 't', startedAt: new Date().toISOString() }),
    );
    await assert.rejects(store().initialize([STREAM]), /pid 4242 on elsewhere\.example/);
  });

  it('answers a checkpoint after shutdown with LeaseLostError', async () => {
    const s = store();
    await s.initialize([STREAM]);
    await s.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
    await s.shutdown();
    await assert.rejects(s.checkpoint(STREAM, 's0', '1'), LeaseLostError);
  });

  it('refuses to start over from a damaged checkpoint file, and releases its lock', async () => {
    await writeFile(path.join(dir, `${STREAM}.checkpoints.json`), '{"version":1,"stre');
    await assert.rejects(store().initialize([STREAM]), /is not valid JSON; fix or remove it/);
    await rm(path.join(dir, `${STREAM}.checkpoints.json`));
    await store().initialize([STREAM]);
  });
});
