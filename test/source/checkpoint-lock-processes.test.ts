/**
 * The checkpoint lock between real processes on one shared directory, each
 * calling itself another host (test/support/lock-child.ts): a holder killed
 * with SIGKILL is taken over once its heartbeat stands still for the lock
 * timeout; while it lives, it never is; one that was only paused wakes up to
 * find the lock taken and writes nothing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LockChildEvent, LockChildOptions } from '../support/lock-child.ts';

const CHILD = fileURLToPath(new URL('../support/lock-child.ts', import.meta.url));
const STREAM = 'aws-rds-das-cluster-shared';
const LOCK_TIMEOUT_MS = 3_000;

interface Child {
  process: ChildProcess;
  events: LockChildEvent[];
  exited: Promise<unknown>;
  stderr: () => string;
}

function startChild(options: Omit<LockChildOptions, 'stream' | 'lockTimeoutMs'> & Partial<LockChildOptions>): Child {
  const full: LockChildOptions = { stream: STREAM, lockTimeoutMs: LOCK_TIMEOUT_MS, ...options };
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', CHILD, JSON.stringify(full)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: LockChildEvent[] = [];
  let pending = '';
  child.stdout!.on('data', (d) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) if (line) events.push(JSON.parse(line) as LockChildEvent);
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { process: child, events, exited, stderr: () => stderr };
}

const count = (child: Child, event: LockChildEvent['event']) => child.events.filter((e) => e.event === event).length;
const checkpointsOf = (child: Child, event: 'held' | 'checkpointed') =>
  child.events.flatMap((e) => (e.event === event ? [BigInt((e as { checkpoint: string }).checkpoint)] : []));

async function waitFor(condition: () => boolean, describe: () => string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('checkpoint lock between processes of two hosts', function () {
  this.timeout(120_000);
  let dir: string;
  const children: Child[] = [];
  const start = (options: Parameters<typeof startChild>[0]) => {
    const child = startChild(options);
    children.push(child);
    return child;
  };
  const lock = async () => JSON.parse(await readFile(path.join(dir, `${STREAM}.lock`), 'utf8')) as { hostname: string; pid: number };
  const storedCheckpoint = async () =>
    BigInt((JSON.parse(await readFile(path.join(dir, `${STREAM}.checkpoints.json`), 'utf8')) as { shards: { s0: { checkpoint: string } } }).shards.s0.checkpoint);
  const told = (...list: Child[]) => () => list.map((c, i) => `child ${i}: ${JSON.stringify(c.events.slice(-5))}\n${c.stderr().slice(-2000)}`).join('\n');

  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'das-lock-'));
  });
  afterEach(async () => {
    for (const child of children.splice(0)) {
      if (child.process.exitCode === null && child.process.signalCode === null) {
        child.process.kill('SIGKILL');
        await child.exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('never takes over a live holder, and takes over one killed with SIGKILL once its heartbeat stood still, resuming from its checkpoint', async () => {
    const a = start({ dir, hostname: 'host-a', everyMs: 50, step: 1, pauseMs: 0 });
    await waitFor(() => count(a, 'held') === 1, told(a));
    const b = start({ dir, hostname: 'host-b', everyMs: 50, step: 1, pauseMs: 0 });
    // Each refusal is host-b watching host-a's lock until its heartbeat moved: about a third of the timeout each.
    await waitFor(() => count(b, 'refused') >= 8, told(a, b));
    assert.equal(count(b, 'held'), 0, 'host-b never held the stream while host-a lived');
    assert.equal((await lock()).hostname, 'host-a');
    assert.ok(count(a, 'checkpointed') > 0 && count(a, 'lost') === 0, told(a)());

    a.process.kill('SIGKILL');
    await a.exited;
    const lastOfA = checkpointsOf(a, 'checkpointed').at(-1)!;
    await waitFor(() => count(b, 'held') === 1, told(b));
    const lockNow = await lock();
    assert.deepEqual([lockNow.hostname, lockNow.pid], ['host-b', b.process.pid]);
    assert.ok(checkpointsOf(b, 'held')[0]! >= lastOfA, `host-b resumed at ${checkpointsOf(b, 'held')[0]}, host-a had written ${lastOfA}`);
    await waitFor(() => count(b, 'checkpointed') >= 3, told(b));
    assert.ok((await storedCheckpoint()) > lastOfA, 'host-b moves the checkpoint on');
  });

  it('makes a holder paused past the timeout find its lock taken when it wakes: lease lost, nothing written', async () => {
    // host-a counts by 1, host-b by 1000: a write of host-a after the takeover would show in the file.
    const a = start({ dir, hostname: 'host-a', everyMs: 50, step: 1, pauseMs: 3 * LOCK_TIMEOUT_MS });
    await waitFor(() => count(a, 'checkpointed') >= 3, told(a));
    const b = start({ dir, hostname: 'host-b', everyMs: 50, step: 1000, pauseMs: 0 });
    await waitFor(() => count(b, 'refused') >= 1, told(a, b));

    a.process.kill('SIGUSR2');
    await waitFor(() => count(b, 'checkpointed') >= 3, told(a, b));
    await waitFor(() => count(a, 'lost') === 1, told(a, b));
    const resumedFrom = checkpointsOf(b, 'held')[0]!;
    // A write already under way when the pause began may report after it; none may come after host-b took over.
    assert.ok(
      checkpointsOf(a, 'checkpointed').every((c) => c <= resumedFrom),
      `host-a reported ${checkpointsOf(a, 'checkpointed').at(-1)} written after host-b resumed from ${resumedFrom}`,
    );
    assert.equal(a.events.at(-1)?.event, 'lost', 'host-a stopped at its first write after waking');
    assert.equal((await lock()).hostname, 'host-b', "host-a's heartbeat did not take the lock back");

    b.process.kill('SIGTERM');
    await b.exited;
    assert.equal(await storedCheckpoint(), checkpointsOf(b, 'checkpointed').at(-1), "the file holds host-b's last checkpoint");
    assert.equal(resumedFrom, checkpointsOf(a, 'checkpointed').at(-1), 'host-b resumed from where host-a had got');
  });
});
