/**
 * One resharding scenario for every way of reading a stream (polling on
 * kinesalite or kinesis-local, enhanced fan-out on kinesis-local): records
 * written without pause while shard 0 is split and then two shards merged,
 * behind a slow sink that keeps a backlog on the parents when they close.
 * Every record is delivered once and in order per key, each parent to its end
 * before its children, and the closed shards are checkpointed as ended.
 */
import assert from 'node:assert/strict';
import { MergeShardsCommand, SplitShardCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { ActivityEvent } from '../../src/events/model.ts';
import { MemorySink, type Sink } from '../../src/sinks/sink.ts';
import { SHARD_END } from '../../src/source/checkpoints/store.ts';
import { listShards, payloadOf, produce, waitActive, type TestRecord } from './kinesalite.ts';

export interface ReshardScenario {
  client: KinesisClient;
  /** A stream of 2 shards, empty. */
  stream: string;
  /** Starts a consumer of the stream that delivers to `sink`. */
  start(sink: Sink): { start(): Promise<void>; stop(): Promise<void> };
  /** The stream's checkpoints by shard, after the consumer stopped. */
  checkpoints(): Promise<Record<string, { checkpoint: string | null }>>;
  /** How long to wait for everything (default 20 s). */
  timeoutMs?: number;
}

export async function reshardUnderLoad(scenario: ReshardScenario): Promise<void> {
  const { client, stream } = scenario;
  const timeoutMs = scenario.timeoutMs ?? 20_000;
  const produced: TestRecord[] = [];
  const counters = new Map<string, number>();
  let producing = true;
  const producer = (async () => {
    for (let batch = 0; producing; batch++) {
      const records = Array.from({ length: 20 }, (_, i) => {
        const key = `key${i % 16}`;
        const n = counters.get(key) ?? 0;
        counters.set(key, n + 1);
        return { id: `b${batch}-${i}`, key, n };
      });
      await produce(client, stream, records);
      produced.push(...records);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();

  // A slow sink keeps a backlog on the parents when they close, so reading a child early would show.
  const sink = new MemorySink();
  const slow: Sink = { name: 'slow', write: async (batch) => (await new Promise((r) => setTimeout(r, 30)), sink.write(batch)), close: async () => {} };
  const c = scenario.start(slow);
  await c.start();
  try {
    await waitFor(() => sink.events.length >= 200, timeoutMs, () => `200 events before the split (have ${sink.events.length})`);
    const [shard0] = (await listShards(client, stream)).filter((s) => s.ShardId === 'shardId-000000000000');
    const mid = (BigInt(shard0!.HashKeyRange!.StartingHashKey!) + BigInt(shard0!.HashKeyRange!.EndingHashKey!)) / 2n;
    await client.send(new SplitShardCommand({ StreamName: stream, ShardToSplit: shard0!.ShardId!, NewStartingHashKey: String(mid + 1n) }));
    await waitActive(client, stream);
    const afterSplit = produced.length;
    await waitFor(() => produced.length >= afterSplit + 200, timeoutMs, () => 'records produced after the split');
    // After the split, shard 3 holds the upper half of shard 0's range, adjacent to shard 1.
    await client.send(new MergeShardsCommand({ StreamName: stream, ShardToMerge: 'shardId-000000000003', AdjacentShardToMerge: 'shardId-000000000001' }));
    await waitActive(client, stream);
    const afterMerge = produced.length;
    await waitFor(() => produced.length >= afterMerge + 200, timeoutMs, () => 'records produced after the merge');
  } finally {
    producing = false;
    await producer;
  }
  await waitFor(() => sink.events.length >= produced.length, timeoutMs * 2, () => `${produced.length} events (have ${sink.events.length})`);
  await c.stop();

  const delivered = sink.events.map((e) => payloadOf(e).id);
  const seen = new Set<string>();
  assert.deepEqual(delivered.filter((id) => (seen.has(id) ? true : (seen.add(id), false))), [], 'no record delivered twice');
  assert.deepEqual(produced.map((r) => r.id).filter((id) => !seen.has(id)), [], 'no record missing');

  const lastN = new Map<string, number>();
  for (const e of sink.events) {
    const { key, n } = payloadOf(e);
    assert.equal(n, (lastN.get(key) ?? -1) + 1, `records of ${key} delivered in order`);
    lastN.set(key, n);
  }

  const shards = await listShards(client, stream);
  assert.equal(shards.length, 5, 'two original shards, two from the split, one from the merge');
  const position = (shardId: string) => sink.events.flatMap((e: ActivityEvent, i) => (e.position!.shardId === shardId ? [i] : []));
  for (const shard of shards) {
    const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => !!p);
    const childFirst = Math.min(...position(shard.ShardId!));
    assert.ok(Number.isFinite(childFirst), `${shard.ShardId} delivered records`);
    for (const parent of parents) {
      assert.ok(Math.max(...position(parent)) < childFirst, `${parent} fully delivered before its child ${shard.ShardId}`);
    }
  }
  const saved = await scenario.checkpoints();
  for (const closed of ['shardId-000000000000', 'shardId-000000000001', 'shardId-000000000003']) {
    assert.equal(saved[closed]?.checkpoint, SHARD_END, `${closed} checkpointed as ended`);
  }
}

async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
