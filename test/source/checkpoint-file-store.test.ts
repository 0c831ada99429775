import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { CheckpointRegressionError, LeaseLostError, SHARD_END, StreamOwnedError } from '../../src/source/checkpoints/store.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { ManualClock } from '../support/manual-clock.ts';
import { CapturingLogger } from '../support/capturing-logger.ts';

const STREAM = 'aws-rds-das-cluster-ABC';
const LOCK_TIMEOUT_MS = 30_000;
const HEARTBEAT_MS = LOCK_TIMEOUT_MS / 3;

/** Two neighbouring Kinesis sequence numbers (56 digits): as Numbers they are the same value. */
const SEQ_LOW = '49590338271490256608559692538361571095921575989136588897';
const SEQ_HIGH = '49590338271490256608559692538361571095921575989136588898';

async function waitFor(condition: () => boolean | Promise<boolean>, describe: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${describe}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
    const s = new FileCheckpointStore({ dir, log: silentLogger, ...options });
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

  const lockFile = () => path.join(dir, `${STREAM}.lock`);
  const readLockFile = async () => JSON.parse(await readFile(lockFile(), 'utf8')) as { pid: number; hostname: string; token: string; heartbeat?: number };
  const onDisk = async () =>
    (JSON.parse(await readFile(path.join(dir, `${STREAM}.checkpoints.json`), 'utf8')) as { shards: Record<string, { checkpoint: string | null }> }).shards;
  /** A lock written by a process on another host; `heartbeat` absent: as versions before heartbeats wrote it. */
  const writeForeignLock = (heartbeat?: number) =>
    writeFile(
      lockFile(),
      JSON.stringify({
        pid: 4242,
        hostname: 'elsewhere.example',
        token: 'other-host',
        startedAt: '2026-01-01T00:00:00.000Z',
        ...(heartbeat === undefined ? {} : { heartbeat, heartbeatAt: new Date(Date.UTC(2026, 0, 1, 0, 0, heartbeat)).toISOString() }),
      }),
    );
  /** A store on a host of its own with a clock of its own: it writes heartbeats only when that clock is moved. */
  const onHost = (hostname: string, clock = new ManualClock(), options: ConstructorParameters<typeof FileCheckpointStore>[0] = {}) =>
    store({ hostname, now: clock.now, sleep: clock.sleep, lockTimeoutMs: LOCK_TIMEOUT_MS, ...options });

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

  it('starts shards born of a reshard while the stream was read at TRIM_HORIZON, across a restart, and the shards it first saw at the start position', async () => {
    const s = store();
    await s.initialize([STREAM]);
    // Seen for the first time: p0 was split into a and b before reading began.
    await s.syncShards(STREAM, [
      { shardId: 'p0', parentShardIds: [] },
      { shardId: 'a', parentShardIds: ['p0'] },
      { shardId: 'b', parentShardIds: ['p0'] },
    ]);
    await s.checkpoint(STREAM, 'p0', SHARD_END);
    assert.deepEqual(await s.acquire(STREAM), [
      { shardId: 'a', checkpoint: null },
      { shardId: 'b', checkpoint: null },
    ]);
    // Then, while it is read, a splits, and one child splits again before the next discovery.
    await s.syncShards(STREAM, [
      { shardId: 'p0', parentShardIds: [] },
      { shardId: 'a', parentShardIds: ['p0'] },
      { shardId: 'b', parentShardIds: ['p0'] },
      { shardId: 'a1', parentShardIds: ['a'] },
      { shardId: 'a2', parentShardIds: ['a'] },
      { shardId: 'a2x', parentShardIds: ['a2'] },
    ]);
    await s.checkpoint(STREAM, 'a', SHARD_END);
    await s.checkpoint(STREAM, 'a2', SHARD_END);
    await s.shutdown();

    const after = store();
    await after.initialize([STREAM]);
    assert.deepEqual(await after.acquire(STREAM), [
      { shardId: 'b', checkpoint: null },
      { shardId: 'a1', checkpoint: null, fromTrimHorizon: true },
      { shardId: 'a2x', checkpoint: null, fromTrimHorizon: true },
    ]);
  });

  it('reads a checkpoint file written before fromTrimHorizon was recorded: a child of a shard in the file starts at TRIM_HORIZON', async () => {
    const s = store();
    const shards = {
      p0: { checkpoint: SHARD_END, parentShardIds: [] },
      child: { checkpoint: null, parentShardIds: ['p0'] },
      orphan: { checkpoint: null, parentShardIds: ['aged-out'] },
    };
    await writeFile(s.fileFor(STREAM), JSON.stringify({ version: 1, stream: STREAM, updatedAt: '2026-11-01T00:00:00.000Z', shards }));
    await s.initialize([STREAM]);
    assert.deepEqual(await s.acquire(STREAM), [
      { shardId: 'child', checkpoint: null, fromTrimHorizon: true },
      { shardId: 'orphan', checkpoint: null },
    ]);
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
  describe('checkpoints only move forward', () => {
    it('refuses a checkpoint behind the stored one, comparing 56-digit sequence numbers exactly, counting it and leaving the file as it was', async () => {
      const regressions: string[] = [];
      const s = store({ observer: { checkpointRegressed: (stream, shardId) => regressions.push(`${stream}/${shardId}`) } });
      await s.initialize([STREAM]);
      await s.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }, { shardId: 's1', parentShardIds: [] }]);
      await s.checkpoint(STREAM, 's0', SEQ_HIGH);
      await assert.rejects(s.checkpoint(STREAM, 's0', SEQ_LOW), (e: unknown) => {
        assert.ok(e instanceof CheckpointRegressionError, String(e));
        assert.ok(e instanceof LeaseLostError, 'the shard reader stops instead of retrying');
        assert.equal(e.stored, SEQ_HIGH);
        assert.equal(e.attempted, SEQ_LOW);
        return true;
      });
      assert.equal((await onDisk()).s0!.checkpoint, SEQ_HIGH);
      // More digits is further, whatever the first digit says.
      await s.checkpoint(STREAM, 's1', '9');
      await s.checkpoint(STREAM, 's1', '10');
      assert.equal((await onDisk()).s1!.checkpoint, '10');
      assert.deepEqual(regressions, [`${STREAM}/s0`]);
    });

    it('never moves an ended shard back to a sequence number', async () => {
      const s = store();
      await s.initialize([STREAM]);
      await s.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
      await s.checkpoint(STREAM, 's0', '100');
      await s.checkpoint(STREAM, 's0', SHARD_END);
      await assert.rejects(s.checkpoint(STREAM, 's0', '200'), (e: unknown) => e instanceof CheckpointRegressionError && e.stored === SHARD_END);
      await s.checkpoint(STREAM, 's0', SHARD_END);
      assert.equal((await onDisk()).s0!.checkpoint, SHARD_END);
    });

    it('checks the file, not only its memory: a shard another writer moved further keeps the file\'s checkpoint', async () => {
      const s = store();
      await s.initialize([STREAM]);
      await s.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }, { shardId: 's1', parentShardIds: [] }]);
      await s.checkpoint(STREAM, 's0', '200');
      await s.checkpoint(STREAM, 's1', '10');
      // Another writer of the same file (a process that lost the lock while it was writing) moved s0 on.
      const saved = JSON.parse(await readFile(s.fileFor(STREAM), 'utf8'));
      saved.shards.s0.checkpoint = '500';
      await writeFile(s.fileFor(STREAM), JSON.stringify(saved));

      await assert.rejects(s.checkpoint(STREAM, 's0', '300'), (e: unknown) => e instanceof CheckpointRegressionError && e.stored === '500');
      assert.equal((await onDisk()).s0!.checkpoint, '500');
      await s.checkpoint(STREAM, 's1', '20');
      const after = await onDisk();
      assert.deepEqual([after.s0!.checkpoint, after.s1!.checkpoint], ['500', '20'], 'a write for another shard did not move s0 back either');
      assert.deepEqual((await s.acquire(STREAM)).find((l) => l.shardId === 's0'), { shardId: 's0', checkpoint: '500' }, 's0 is read again from the file\'s checkpoint');
    });

    it('refuses a stale writer, one that lost the lock but still has the store: it moves the checkpoint neither back nor on', async () => {
      const a = onHost('host-a');
      await a.initialize([STREAM]);
      await a.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
      await a.checkpoint(STREAM, 's0', '100');
      // host-a stops (its clock stands still: no heartbeat); host-b takes the stream over after the timeout.
      const bClock = new ManualClock();
      const b = onHost('host-b', bClock);
      await bClock.run(b.initialize([STREAM]));
      assert.deepEqual(await b.acquire(STREAM), [{ shardId: 's0', checkpoint: '100' }]);
      await b.checkpoint(STREAM, 's0', '200');

      for (const stale of ['150', '300']) {
        await assert.rejects(a.checkpoint(STREAM, 's0', stale), LeaseLostError, `host-a's ${stale}`);
        assert.equal((await onDisk()).s0!.checkpoint, '200', `host-a's ${stale} was not written`);
      }
      assert.equal((await readLockFile()).hostname, 'host-b');
    });

    it('takes its temporary file removed at the rename, by a new owner after a pause, for the lock lost; with the lock still its own, for the disk error it is', async () => {
      let meanwhile: 'nothing' | 'leftover removed' | 'taken over' = 'nothing';
      const a = onHost('host-a', new ManualClock(), {
        fs: {
          rename: async (from, to) => {
            // The check before the rename passed (it read the lock through a file opened before the pause);
            // meanwhile host-b took the lock and removed what it took for a crashed write's leftover.
            if (meanwhile === 'taken over') await writeForeignLock(7);
            if (meanwhile !== 'nothing') await rm(from);
            return rename(from, to);
          },
        },
      });
      await a.initialize([STREAM]);
      await a.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);

      meanwhile = 'leftover removed';
      await assert.rejects(a.checkpoint(STREAM, 's0', '100'), (e: unknown) => {
        assert.equal((e as NodeJS.ErrnoException).code, 'ENOENT', 'the lock is still host-a\'s: a plain disk error, retried by the reader');
        assert.ok(!(e instanceof LeaseLostError));
        return true;
      });
      meanwhile = 'taken over';
      await assert.rejects(a.checkpoint(STREAM, 's0', '100'), LeaseLostError);
      await assert.rejects(a.checkpoint(STREAM, 's0', '101'), LeaseLostError, 'and stays lost');
      assert.equal((await readLockFile()).hostname, 'elsewhere.example');
    });
  });

  describe('locks on a shared volume', () => {
    it('rewrites its heartbeat every third of the timeout, keeping its token', async () => {
      const clock = new ManualClock();
      const s = onHost('host-a', clock);
      await s.initialize([STREAM]);
      const first = await readLockFile();
      assert.equal(first.heartbeat, 0);
      clock.advance(HEARTBEAT_MS);
      await waitFor(async () => (await readLockFile()).heartbeat === 1, 'the first heartbeat');
      clock.advance(HEARTBEAT_MS);
      await waitFor(async () => (await readLockFile()).heartbeat === 2, 'the second heartbeat');
      assert.equal((await readLockFile()).token, first.token);
    });

    it('takes over a lock of another host once it stood still for the timeout on its own clock, and not before', async () => {
      await writeForeignLock();
      const clock = new ManualClock();
      const log = new CapturingLogger();
      const s = onHost('host-b', clock, { log });
      await clock.run(s.initialize([STREAM]));
      assert.ok(clock.now() >= LOCK_TIMEOUT_MS, `taken over at ${clock.now()} ms on its clock`);
      const lock = await readLockFile();
      assert.deepEqual([lock.hostname, lock.pid], ['host-b', process.pid]);
      const took = log.lines.find((l) => l.message === 'took over a stale checkpoint lock');
      assert.equal((took?.fields.from as { hostname?: string } | undefined)?.hostname, 'elsewhere.example');
    });

    it('refuses a lock of another host whose heartbeat moves, however long it watches', async () => {
      const clock = new ManualClock();
      let beats = 0;
      await writeForeignLock(beats);
      // The other host's heartbeats: the lock moves on while this store waits.
      const s = store({
        hostname: 'host-b',
        now: clock.now,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        sleep: async (ms, signal) => {
          await writeForeignLock(++beats);
          return clock.sleep(ms, signal);
        },
      });
      for (let attempt = 0; attempt < 40 && clock.now() < 3 * LOCK_TIMEOUT_MS; attempt++) {
        await assert.rejects(clock.run(s.initialize([STREAM])), (e: unknown) => {
          assert.ok(e instanceof StreamOwnedError, String(e));
          assert.match(e.message, /pid 4242 on elsewhere\.example/);
          assert.ok(e.message.includes(path.resolve(lockFile())), e.message);
          return true;
        });
      }
      assert.ok(clock.now() >= 3 * LOCK_TIMEOUT_MS, `watched for ${clock.now()} ms on its clock`);
      assert.equal((await readLockFile()).hostname, 'elsewhere.example');
    });

    it('lets exactly one of two hosts racing for a stale lock take it', async () => {
      const hosts = ['host-b', 'host-c'];
      for (let round = 0; round < 20; round++) {
        await writeForeignLock(round);
        const clocks = hosts.map(() => new ManualClock());
        const racers = hosts.map((host, i) => onHost(host, clocks[i]));
        const results = await Promise.allSettled(racers.map((racer, i) => clocks[i]!.run(racer.initialize([STREAM]))));
        const winners = hosts.filter((_, i) => results[i]!.status === 'fulfilled');
        const describe = results.map((r) => (r.status === 'rejected' ? String(r.reason) : 'took it')).join('; ');
        assert.equal(winners.length, 1, `round ${round}: ${describe}`);
        assert.ok(results.some((r) => r.status === 'rejected' && r.reason instanceof StreamOwnedError), `round ${round}: ${describe}`);
        assert.equal((await readLockFile()).hostname, winners[0], `round ${round}`);
        await Promise.all(racers.map((racer) => racer.shutdown()));
      }
    });

    it('makes a holder that was only paused find its lock taken at its next heartbeat, write nothing, and take the stream back once it is free', async () => {
      const aClock = new ManualClock();
      const aLog = new CapturingLogger();
      const a = onHost('host-a', aClock, { log: aLog });
      await a.initialize([STREAM]);
      await a.syncShards(STREAM, [{ shardId: 's0', parentShardIds: [] }]);
      await a.checkpoint(STREAM, 's0', '100');
      assert.deepEqual([a.holds(STREAM, 's0'), a.holds(STREAM, 's1'), a.holds('another-stream', 's0')], [true, false, false], 'its own stream\'s known shards only');
      // host-a is paused: its clock stands still, so no heartbeat; host-b takes over after the timeout.
      const bClock = new ManualClock();
      const b = onHost('host-b', bClock);
      await bClock.run(b.initialize([STREAM]));
      await b.checkpoint(STREAM, 's0', '200');
      const taken = await readFile(lockFile(), 'utf8');
      assert.equal(a.holds(STREAM, 's0'), true, 'host-a has not looked yet');

      // host-a wakes: its next heartbeat finds host-b's token.
      aClock.advance(HEARTBEAT_MS);
      await waitFor(() => aLog.lines.some((l) => l.message.startsWith('checkpoint lock lost')), 'host-a to notice');
      assert.equal(a.holds(STREAM, 's0'), false, 'its readers deliver nothing more');
      assert.equal(await readFile(lockFile(), 'utf8'), taken, "host-a's heartbeat did not overwrite host-b's lock");
      await assert.rejects(a.checkpoint(STREAM, 's0', '300'), LeaseLostError);
      await assert.rejects(a.acquire(STREAM), StreamOwnedError, 'no shard is handed out while host-b holds the stream');
      assert.equal((await onDisk()).s0!.checkpoint, '200');

      await b.shutdown();
      assert.deepEqual(await a.acquire(STREAM), [{ shardId: 's0', checkpoint: '200' }], 'free again: taken back, resuming from the file');
      assert.equal(a.holds(STREAM, 's0'), true);
      await a.checkpoint(STREAM, 's0', '300');
      assert.equal((await onDisk()).s0!.checkpoint, '300');
    });
  });
});
