/**
 * The lock file's takeover step on its own: a lock judged stale is moved
 * aside, and when what was moved is not what was judged (a heartbeat landed
 * in between), it is put back and the holder counts as live.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { StreamLock } from '../../src/source/checkpoints/lock-file.ts';

const TIMEOUT_MS = 1_000;

describe('StreamLock', () => {
  let dir: string;
  let file: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'das-lock-file-'));
    file = path.join(dir, 'stream.lock');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const foreign = (heartbeat: number) => JSON.stringify({ pid: 4242, hostname: 'elsewhere.example', token: 'other', startedAt: '2026-01-01T00:00:00.000Z', heartbeat });
  const lockOf = (now: () => number) =>
    new StreamLock({ file, token: 'mine', hostname: 'here.example', pid: process.pid, timeoutMs: TIMEOUT_MS, now, isAlive: () => true });

  it('puts back a lock whose heartbeat landed between judging it stale and moving it, and calls its holder live', async () => {
    await writeFile(file, foreign(1));
    let t = 0;
    let landHeartbeat = false;
    const lock = lockOf(() => {
      // The other host's heartbeat lands the moment this process judges the lock stale.
      if (landHeartbeat) writeFileSync(file, foreign(2));
      return t;
    });
    assert.deepEqual(await lock.tryAcquire(), { status: 'held', holder: JSON.parse(foreign(1)), live: false }, 'first sight: watched');
    t = TIMEOUT_MS;
    landHeartbeat = true;
    const attempt = await lock.tryAcquire();
    assert.equal(attempt.status, 'held');
    assert.equal(attempt.status === 'held' && attempt.live, true);
    assert.equal(await readFile(file, 'utf8'), foreign(2), 'the fresh heartbeat is back in place');
    assert.deepEqual(await readdir(dir), ['stream.lock'], 'nothing left beside it');
  });

  it('takes a lock that stood still for the timeout, leaving nothing beside it', async () => {
    await writeFile(file, foreign(1));
    let t = 0;
    const lock = lockOf(() => t);
    assert.equal((await lock.tryAcquire()).status, 'held');
    t = TIMEOUT_MS - 1;
    assert.equal((await lock.tryAcquire()).status, 'held', 'not before the timeout');
    t = TIMEOUT_MS;
    assert.deepEqual(await lock.tryAcquire(), { status: 'acquired', from: JSON.parse(foreign(1)) });
    assert.equal(JSON.parse(await readFile(file, 'utf8')).token, 'mine');
    assert.deepEqual(await readdir(dir), ['stream.lock']);
  });
});
