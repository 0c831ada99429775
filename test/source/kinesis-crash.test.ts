import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildOptions, LedgerLine } from '../support/consumer-child.ts';
import { createStream, produce, startKinesalite, testRecords, type LocalKinesis } from '../support/kinesalite.ts';

const CHILD = fileURLToPath(new URL('../support/consumer-child.ts', import.meta.url));

/** mulberry32: a small seeded generator, so a failing run can be repeated. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function readLedger(file: string): Promise<{ lines: LedgerLine[]; torn: number }> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines: LedgerLine[] = [];
  let torn = 0;
  for (const raw of text.split('\n')) {
    if (raw === '') continue;
    try {
      lines.push(JSON.parse(raw) as LedgerLine);
    } catch {
      torn++;
    }
  }
  return { lines, torn };
}

function startChild(options: ChildOptions): { child: ChildProcess; exited: Promise<number | NodeJS.Signals | null>; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', CHILD, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
  return { child, exited, stderr: () => stderr };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

describe('Kinesis consumer killed with SIGKILL', function () {
  this.timeout(180_000);
  let kinesis: LocalKinesis;
  let dir: string;

  before(async () => {
    kinesis = await startKinesalite();
    dir = await mkdtemp(path.join(os.tmpdir(), 'das-crash-'));
  });
  after(async () => {
    await kinesis?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing over five kills at random points, and repeats only batches in flight at a kill', async () => {
    const SEED = 20240501;
    const KILLS = 5;
    const LIMIT = 40;
    const SHARDS = 3;
    const random = seeded(SEED);
    const stream = 'aws-rds-das-cluster-crash';
    await createStream(kinesis.client, stream, SHARDS);
    const produced = testRecords(1500, 90);
    await produce(kinesis.client, stream, produced);

    const options = (run: number): ChildOptions => ({
      endpoint: kinesis.endpoint,
      streams: [stream],
      stateDir: path.join(dir, 'state'),
      ledger: path.join(dir, 'ledger.jsonl'),
      run,
      limit: LIMIT,
      pollIntervalMs: 50,
    });
    const distinct = async () => new Set((await readLedger(options(0).ledger)).lines.flatMap((l) => l.ids)).size;

    for (let run = 0; run < KILLS; run++) {
      // Kill somewhere in the next stretch of work, then a few random milliseconds later: mid-batch, mid-checkpoint, anywhere.
      const have = await distinct();
      const target = have + 1 + Math.floor(random() * ((produced.length - have) / (KILLS - run + 1)));
      const { child, exited, stderr } = startChild(options(run));
      await waitFor(
        async () => (await distinct()) >= target || child.exitCode !== null,
        30_000,
        () => `run ${run} to deliver ${target} distinct records`,
      );
      assert.equal(child.exitCode, null, `run ${run} exited on its own: ${stderr()}`);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 40)));
      child.kill('SIGKILL');
      assert.equal(await exited, 'SIGKILL');
    }

    const last = startChild(options(KILLS));
    await waitFor(
      async () => (await distinct()) >= produced.length || last.child.exitCode !== null,
      60_000,
      () => `the last run to deliver all ${produced.length} records`,
    );
    last.child.kill('SIGTERM');
    assert.equal(await last.exited, 0, `clean stop: ${last.stderr()}`);

    const { lines, torn } = await readLedger(options(0).ledger);
    assert.ok(torn <= KILLS, `at most one torn line per kill (found ${torn})`);
    const delivered = lines.flatMap((l) => l.ids);
    const got = new Set(delivered);
    assert.deepEqual(produced.map((r) => r.id).filter((id) => !got.has(id)), [], 'no record missing');

    // A batch can be repeated only if it was the last its shard delivered before a kill (delivered, not yet checkpointed).
    const inFlightAtKill = new Set<string>();
    for (let run = 0; run < KILLS; run++) {
      for (const shard of new Set(lines.map((l) => l.shard))) {
        const lastOfShard = lines.filter((l) => l.run === run && l.shard === shard).at(-1);
        for (const id of lastOfShard?.ids ?? []) inFlightAtKill.add(id);
      }
    }
    const seen = new Set<string>();
    const duplicates: string[] = [];
    for (const line of lines) {
      for (const id of line.ids) {
        if (seen.has(id)) duplicates.push(id);
        seen.add(id);
      }
    }
    assert.deepEqual(duplicates.filter((id) => !inFlightAtKill.has(id)), [], 'every duplicate was in flight at a kill');
    assert.ok(duplicates.length <= KILLS * SHARDS * LIMIT, `duplicates ${duplicates.length} ≤ kills × shards × limit`);
  });
});
