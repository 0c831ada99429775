/**
 * Fault 7: scale-out churn. Several `das-exporter run --leases dynamodb:TABLE`
 * workers share one stream through a lease table in dynalite (behind the
 * fault proxy, which counts the lease traffic), while workers are SIGKILLed
 * and added and the stream is split and merged under load. Nothing may be
 * lost; per shard and per partition key first deliveries keep their order;
 * a child shard starts only after its parents were read to their end; a
 * lease checkpoint is never ahead of the ledger; and duplicates stay within
 * one batch per lease handover.
 *
 * After each kill, add or reshard, the lease table is read until every
 * shard is held by a live worker and the leases are spread evenly (each live
 * worker holds ⌊n/w⌋ or ⌈n/w⌉ of the n readable leases). That time is the
 * recovery in the table: reported, never asserted. Only a liveness bound is
 * asserted: balanced within 10 × the failover time.
 *
 * Run in both consumer modes: with enhanced fan-out every worker reads as the
 * one registered consumer, so a lease that moves also moves its subscription
 * (the new holder waits out ResourceInUse until the old one lets go).
 */
import assert from 'node:assert/strict';
import { MergeShardsCommand, SplitShardCommand, type Shard } from '@aws-sdk/client-kinesis';
import { SHARD_END } from '../../src/source/checkpoints/store.ts';
import { LeaseTable, SINGLE_STREAM, type LeaseItem } from '../../src/source/leases/lease-table.ts';
import { listShards, waitActive } from '../support/kinesalite.ts';
import type { ExporterProcess } from './harness/exporter-process.ts';
import { CONSUMER_MODES, FaultLab } from './harness/lab.ts';
import { checkpointAheadOfLedger, parentsBeforeChildren } from './harness/ledger-check.ts';
import { FAULT_SEED, seeded } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTCHURN00000000000000000';
const TABLE = 'das-faults-leases';
const SHARDS = 4;
const FAILOVER_SECONDS = 2;
const LIMIT = 25; // records per GetRecords (1–8 events each): the most one handover can repeat
const BALANCED_WITHIN_MS = 10 * FAILOVER_SECONDS * 1000;
const EVENTS_PER_TICK = 40;
const TICK_MS = 200;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The pid in a lease owner `<host>:<pid>:<random>`, as `das-exporter run` names its worker. */
function ownerPid(owner: string | null): number | undefined {
  const pid = owner === null ? undefined : /:(\d+):[0-9a-f]+$/.exec(owner)?.[1];
  return pid === undefined ? undefined : Number(pid);
}

/** Leases that can be read now: not ended, every parent ended (or its lease already cleaned up). */
function readable(items: readonly LeaseItem[]): LeaseItem[] {
  const byShard = new Map(items.map((i) => [i.shardId, i]));
  return items.filter((i) => i.checkpoint !== SHARD_END && i.parentShardIds.every((p) => (byShard.get(p)?.checkpoint ?? SHARD_END) === SHARD_END));
}

/**
 * Why the table is not settled yet, or null when every shard has a lease,
 * the reshard's parents are read to their end, every readable lease is held
 * by a live worker and the spread is even.
 */
function unsettled(items: readonly LeaseItem[], shardIds: readonly string[], live: readonly ExporterProcess[], parents: readonly string[]): string | null {
  const have = new Map(items.map((i) => [i.shardId, i]));
  const missing = shardIds.filter((id) => !have.has(id));
  if (missing.length > 0) return `no lease yet for ${missing.join(', ')}`;
  const open = parents.filter((id) => have.get(id)?.checkpoint !== SHARD_END);
  if (open.length > 0) return `parent ${open.join(', ')} not read to its end yet`;
  const leases = readable(items);
  const held = new Map(live.map((w) => [w.pid, 0]));
  for (const lease of leases) {
    const pid = ownerPid(lease.leaseOwner);
    if (pid === undefined || !held.has(pid)) return `${lease.shardId} held by ${lease.leaseOwner ?? 'nobody'}, not a live worker`;
    held.set(pid, held.get(pid)! + 1);
  }
  const [low, high] = [Math.floor(leases.length / live.length), Math.ceil(leases.length / live.length)];
  const counts = [...held.values()];
  return counts.every((n) => n >= low && n <= high) ? null : `uneven: ${counts.join('/')} of ${leases.length} leases`;
}

/** Lease handovers from one worker to another (a dead worker's lease taken, or one stolen to balance), from the workers' logs. */
function handovers(workers: readonly ExporterProcess[]): { taken: number; stolen: number } {
  let taken = 0;
  let stolen = 0;
  for (const w of workers) {
    for (const line of w.stderr.split('\n')) {
      if (!line.includes('"lease taken"') && !line.includes('"lease stolen to balance"')) continue;
      let entry: { message: string; from: string | null; worker: string };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        continue; // the first line of a stderr buffer cut at its size limit
      }
      if (entry.from === null || entry.from === entry.worker) continue;
      if (entry.message === 'lease taken') taken++;
      else stolen++;
    }
  }
  return { taken, stolen };
}

for (const mode of CONSUMER_MODES) describe(`fault 7: scale-out churn (DynamoDB leases) (${mode})`, function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('churn', { dynamodb: true, mode });
  });
  after(async () => lab?.close());

  it('loses nothing while workers die and join and shards split and merge, and the leases settle evenly each time', async () => {
    const random = seeded(FAULT_SEED + 7);
    const kinesis = lab.kinesis.client;
    const stream = await lab.stream(CLUSTER, SHARDS);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'churn', seed: FAULT_SEED + 7 });
    // The test reads the table straight from dynalite: the proxy counts only the workers' calls.
    const table = new LeaseTable(lab.dynamo!.client(), TABLE);
    const leases = () => table.list(SINGLE_STREAM).catch((): LeaseItem[] => []);
    let shardIds = (await listShards(kinesis, stream)).map((s) => s.ShardId!);

    const all: ExporterProcess[] = [];
    const live: ExporterProcess[] = [];
    const names = new Map<ExporterProcess, string>();
    const add = (name: string) => {
      const w = lab.exporter(stream, { args: ['--leases', `dynamodb:${TABLE}`, '--lease-failover', String(FAILOVER_SECONDS), '--get-records-limit', String(LIMIT)] });
      all.push(w);
      live.push(w);
      names.set(w, name);
      return w;
    };
    const kill = async (w: ExporterProcess) => {
      assert.ok(w.running, `worker ${names.get(w)} exited on its own:\n${w.stderr.slice(-2000)}`);
      w.kill('SIGKILL');
      assert.equal(await w.exited, 'SIGKILL');
      live.splice(live.indexOf(w), 1);
    };
    const holderOf = async (shardId: string) => {
      const pid = ownerPid((await leases()).find((l) => l.shardId === shardId)?.leaseOwner ?? null);
      return live.find((w) => w.pid === pid);
    };

    // The database keeps writing through every kill, add and reshard.
    let producing = true;
    let producerError: unknown;
    const writing = (async () => {
      while (producing) {
        await producer.write(EVENTS_PER_TICK);
        await sleep(TICK_MS);
      }
    })().catch((error: unknown) => {
      producerError = error;
    });

    // Checkpoints first, ledger second (the ledger only grows in between): no lease may be ahead of what was delivered.
    const ahead: string[] = [];
    let checks = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const checkpoints = Object.fromEntries((await leases()).map((l) => [l.shardId, /^\d+$/.test(l.checkpoint) || l.checkpoint === SHARD_END ? l.checkpoint : null]));
        ahead.push(...checkpointAheadOfLedger(checkpoints, producer.produced, lab.delivered(), new Set()));
        checks++;
        await sleep(300);
      }
    })();

    /** Waits until the table settles (after a reshard: with `parents` ended); the time since `since` is the recovery. */
    const settle = async (what: string, since: number, parents: readonly string[] = []): Promise<number> => {
      let why: string | null = 'not read yet';
      try {
        await lab.until(
          `${what}: every shard held by a live worker and the leases balanced, within 10 × failover`,
          async () => {
            if (producerError) throw producerError;
            why = unsettled(await leases(), shardIds, live, parents);
            return why === null ? true : undefined;
          },
          BALANCED_WITHIN_MS,
          100,
        );
      } catch (error) {
        const dump = (await leases()).map((l) => `  ${l.shardId} ${l.leaseOwner ?? '-'} #${l.leaseCounter} @${l.checkpoint} parents=${l.parentShardIds.join(',')}`).join('\n');
        const tails = live.map((w) => `--- ${names.get(w)} (pid ${w.pid}):\n${w.stderr.split('\n').slice(-8).join('\n')}`).join('\n');
        throw new Error(`${(error as Error).message.split(';')[0]}; last seen: ${why}\nlease table:\n${dump}\n${tails}`);
      }
      return Date.now() - since;
    };

    const reshard = async (how: 'split' | 'merge'): Promise<{ parents: string[]; label: string }> => {
      const open = (await listShards(kinesis, stream))
        .filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber)
        .sort((a, b) => (BigInt(a.HashKeyRange!.StartingHashKey!) < BigInt(b.HashKeyRange!.StartingHashKey!) ? -1 : 1));
      let parents: Shard[];
      if (how === 'split') {
        const shard = open[Math.floor(random() * open.length)]!;
        const [low, high] = [BigInt(shard.HashKeyRange!.StartingHashKey!), BigInt(shard.HashKeyRange!.EndingHashKey!)];
        await kinesis.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shard.ShardId!, NewStartingHashKey: String((low + high) / 2n) }));
        parents = [shard];
      } else {
        const pairs = open.slice(1).map((b, i) => [open[i]!, b] as const).filter(([a, b]) => BigInt(a.HashKeyRange!.EndingHashKey!) + 1n === BigInt(b.HashKeyRange!.StartingHashKey!));
        const [a, b] = pairs[Math.floor(random() * pairs.length)]!;
        await kinesis.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: a.ShardId!, AdjacentShardToMerge: b.ShardId! }));
        parents = [a, b];
      }
      await waitActive(kinesis, stream);
      shardIds = (await listShards(kinesis, stream)).map((s) => s.ShardId!);
      const ids = parents.map((p) => p.ShardId!);
      return { parents: ids, label: `${how} ${ids.map((id) => id.replace(/^shardId-0*/, '#')).join('+')}` };
    };

    const recoveries: { label: string; ms: number }[] = [];
    /** One churn step; `act` answers the reshard's parents, if it made one. */
    const step = async (label: string, act: () => Promise<readonly string[] | void>) => {
      const since = Date.now();
      const parents = (await act()) ?? [];
      recoveries.push({ label, ms: await settle(label, since, parents) });
    };

    const [a, b] = [add('A'), add('B')];
    const firstBalancedMs = await settle('two workers starting', Math.min(a.startedAt, b.startedAt));
    await step('add C', async () => void add('C'));
    await step('split', async () => (await reshard('split')).parents);
    await step('kill A', () => kill(a));
    await step('merge', async () => (await reshard('merge')).parents);
    await step('add D + kill B', async () => {
      add('D');
      await kill(b);
    });
    // The harshest moment: a shard splits and its reader dies with it, so another worker must finish the parent.
    // The harshest moments: a reshard's parent loses its reader with it, so another worker must finish the parent.
    const reshardAndKill: string[] = [];
    const reshardKillingHolder = async (how: 'split' | 'merge', newcomer: string) => {
      const { parents, label } = await reshard(how);
      const holder = await holderOf(parents[0]!);
      // Already read to its end and released: kill the first live worker anyway, and say so.
      const victim = holder ?? live[0]!;
      reshardAndKill.push(`${label}, ${holder ? 'its holder' : 'parent already ended,'} ${names.get(victim)} killed`);
      await kill(victim);
      add(newcomer);
      return parents;
    };
    await step('split + kill its holder + add E', () => reshardKillingHolder('split', 'E'));
    await step('merge + kill a parent\'s holder + add F', () => reshardKillingHolder('merge', 'F'));

    producing = false;
    await writing;
    assert.equal(producerError, undefined, `the producer failed: ${String(producerError)}`);
    await lab.until('every event delivered after the churn', () => (lab.delivered().size >= producer.produced.length ? true : undefined), 60_000, 100);
    sampling = false;
    await sampler;
    for (const w of [...live]) assert.equal(await w.stop(), 0, `worker ${names.get(w)} stops cleanly`);
    const released = await leases();

    const v = lab.verdict(producer);
    const shards = await listShards(kinesis, stream);
    const parents = new Map(shards.map((s) => [s.ShardId!, [s.ParentShardId, s.AdjacentParentShardId].filter((p): p is string => !!p)]));
    const early = parentsBeforeChildren(producer.produced, lab.receiver, parents);
    const moved = handovers(all);
    const duplicateBound = (moved.taken + moved.stolen) * LIMIT * 8;
    assert.deepEqual(v.lost, [], 'no event lost');
    assert.deepEqual(v.orderViolations, [], 'order kept per shard and per partition key');
    assert.deepEqual(early, [], 'parents read to their end before their children');
    assert.deepEqual(v.idMismatches, []);
    assert.equal(v.deadLetters.length, 0, 'churn dead-letters nothing');
    assert.deepEqual(ahead, [], `no lease checkpoint ahead of the ledger (${checks} reads of the table)`);
    assert.ok(v.duplicated <= duplicateBound, `duplicates ${v.duplicated} ≤ one batch (${LIMIT} records × ≤8 events) per handover (${moved.taken + moved.stolen})`);
    // After the clean stop: a closed shard at SHARD_END, an open one at the last record written to it.
    const lastWritten = new Map<string, string>();
    for (const p of producer.produced) if (BigInt(p.sequenceNumber) > BigInt(lastWritten.get(p.shardId) ?? '0')) lastWritten.set(p.shardId, p.sequenceNumber);
    const expected = Object.fromEntries(shards.map((s) => [s.ShardId!, s.SequenceNumberRange?.EndingSequenceNumber ? SHARD_END : (lastWritten.get(s.ShardId!) ?? 'TRIM_HORIZON')]));
    assert.deepEqual(Object.fromEntries(released.map((l) => [l.shardId, l.checkpoint])), expected, 'every shard checkpointed at its end or its last record');
    assert.deepEqual(released.map((l) => l.leaseOwner), released.map(() => null), 'a clean stop releases every lease');

    const dynamo = lab.dynamoProxy!.stats();
    const ops = Object.entries(dynamo.byOperation).sort((x, y) => y[1] - x[1]).map(([op, n]) => `${op} ${n}`).join(', ');
    const worst = recoveries.reduce((m, r) => (r.ms > m.ms ? r : m));
    recordRow({
      scenario: `7 scale-out churn (DynamoDB leases), ${lab.modeLabel}`,
      ...verdictColumns(v),
      recoveryMs: worst.ms,
      recoveredWhen: `max over churn steps (${worst.label}) → every shard held, leases balanced`,
      notes:
        `${SHARDS} shards → ${shards.length} (2 splits, 2 merges; ${reshardAndKill.join('; ')}); failover ${FAILOVER_SECONDS} s, discovery 1 s; ` +
        `${all.length} workers started, ${all.length - live.length} SIGKILLed; two workers balanced ${(firstBalancedMs / 1000).toFixed(1)} s after start; then ${recoveries.map((r) => `${r.label} ${(r.ms / 1000).toFixed(1)} s`).join(', ')}; ` +
        `${moved.taken} leases taken from dead or lapsed workers, ${moved.stolen} stolen to balance (duplicate bound ${duplicateBound}); ` +
        `${checks} table reads, no checkpoint ahead of the ledger; DynamoDB: ${dynamo.total} calls (${ops}), max ${dynamo.maxPerSecond}/s`,
    });
  });
});
