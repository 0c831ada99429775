/**
 * DynamoDB shard leases with KCL semantics, against dynalite: the table is
 * created when missing, workers share shards evenly, a silent worker's leases
 * are taken after the failover time, a stale owner's checkpoint is refused,
 * released leases are free at once, children wait for their parents, and of
 * two workers racing for one lease exactly one wins.
 */
import assert from 'node:assert/strict';
import { DescribeTableCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { LeaseLostError, SHARD_END, type ShardInfo } from '../../src/source/checkpoints/store.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { DynamoDbLeaseCoordinator, type DynamoDbLeaseCoordinatorOptions } from '../../src/source/leases/dynamodb-coordinator.ts';
import { LeaseTable, SINGLE_STREAM, type LeaseItem } from '../../src/source/leases/lease-table.ts';
import { chooseLeasesToTake } from '../../src/source/leases/lease-taker.ts';
import { startDynalite, type LocalDynamoDb } from '../support/dynalite.ts';

const STREAM = 'aws-rds-das-cluster-LEASES00000000000000000000';
const shard = (n: number, parents: string[] = []): ShardInfo => ({ shardId: `shardId-${String(n).padStart(12, '0')}`, parentShardIds: parents });
const FOUR = [0, 1, 2, 3].map((n) => shard(n));
const NEVER = 3_600_000;

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('DynamoDB lease coordinator', function () {
  let dynamo: LocalDynamoDb;
  let tableNumber = 0;
  let table: string;
  const started: DynamoDbLeaseCoordinator[] = [];

  before(async () => {
    dynamo = await startDynalite();
  });
  after(async () => {
    await dynamo.stop();
  });
  beforeEach(() => {
    table = `das-leases-${++tableNumber}`;
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.shutdown().catch(() => {})));
  });

  async function worker(name: string, options: Partial<DynamoDbLeaseCoordinatorOptions> = {}): Promise<DynamoDbLeaseCoordinator> {
    const coordinator = new DynamoDbLeaseCoordinator({
      client: dynamo.client(),
      table,
      workerId: name,
      failoverTimeMs: 600,
      log: silentLogger,
      ...options,
    });
    started.push(coordinator);
    await coordinator.initialize([STREAM]);
    return coordinator;
  }

  /** Every item of the table as DynamoDB holds it, by leaseKey. */
  const rawItems = async (): Promise<Record<string, Record<string, AttributeValue>>> => {
    const { Items } = await dynamo.client().send(new ScanCommand({ TableName: table, ConsistentRead: true }));
    return Object.fromEntries((Items ?? []).map((item) => [item.leaseKey!.S!, item]));
  };

  const owners = async (c: DynamoDbLeaseCoordinator) =>
    Object.fromEntries((await c.leases(STREAM)).map((l) => [l.shardId, l.leaseOwner]));

  it('creates the lease table when it is missing: leaseKey hash key, on demand, ACTIVE', async () => {
    const a = await worker('a');
    const { Table } = await dynamo.client().send(new DescribeTableCommand({ TableName: table }));
    assert.equal(Table?.TableStatus, 'ACTIVE');
    assert.deepEqual(Table?.KeySchema, [{ AttributeName: 'leaseKey', KeyType: 'HASH' }]);
    assert.deepEqual(Table?.AttributeDefinitions, [{ AttributeName: 'leaseKey', AttributeType: 'S' }]);
    assert.equal(Table?.BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST');
    await worker('b'); // a second worker finds it there

    const range = (start: bigint, end: bigint) => ({ startingHashKey: String(start), endingHashKey: String(end) });
    const top = 2n ** 128n - 1n;
    await a.syncShards(STREAM, [
      { ...shard(0), hashKeyRange: range(0n, top) },
      { ...shard(1, [shard(0).shardId]), hashKeyRange: range(0n, top / 2n) },
    ]);
    const items = (await a.leases(STREAM)).sort((x, y) => x.shardId.localeCompare(y.shardId));
    assert.deepEqual(items[1], {
      leaseKey: 'shardId-000000000001',
      streamName: null,
      shardId: 'shardId-000000000001',
      leaseOwner: null,
      leaseCounter: 0,
      checkpoint: 'TRIM_HORIZON',
      checkpointSubSequenceNumber: 0,
      ownerSwitchesSinceCheckpoint: 0,
      parentShardIds: ['shardId-000000000000'],
      childShardIds: [],
      hashKeyRange: range(0n, top / 2n),
    });
    // As DynamoDB holds them: KCL's attribute names and types, nothing else.
    const raw = await rawItems();
    assert.deepEqual(raw['shardId-000000000001'], {
      leaseKey: { S: 'shardId-000000000001' },
      leaseCounter: { N: '0' },
      checkpoint: { S: 'TRIM_HORIZON' },
      checkpointSubSequenceNumber: { N: '0' },
      ownerSwitchesSinceCheckpoint: { N: '0' },
      parentShardId: { SS: ['shardId-000000000000'] },
      startingHashKey: { S: '0' },
      endingHashKey: { S: String(top / 2n) },
    });
    assert.deepEqual(raw['shardId-000000000000']!.childShardIds, { SS: ['shardId-000000000001'] }, 'the parent names its child, as KCL records it');
    assert.equal(raw['shardId-000000000000']!.parentShardId, undefined, 'no empty set for a shard without parents');
  });

  it('two workers share four shards two and two, and a renewing worker keeps its share', async () => {
    const a = await worker('a');
    const b = await worker('b');
    await a.syncShards(STREAM, FOUR);
    await b.syncShards(STREAM, FOUR);
    assert.equal((await a.acquire(STREAM)).length, 4, 'alone, a takes everything');
    await until('an even split', async () => {
      const [la, lb] = [await a.acquire(STREAM), await b.acquire(STREAM)];
      return la.length === 2 && lb.length === 2 ? true : undefined;
    });
    // Several failover times of rounds later, nobody took anything more: renewals kept every lease alive.
    for (let round = 0; round < 8; round++) {
      await new Promise((r) => setTimeout(r, 250));
      assert.equal((await a.acquire(STREAM)).length, 2);
      assert.equal((await b.acquire(STREAM)).length, 2);
    }
    const byOwner = Object.values(await owners(a)).sort();
    assert.deepEqual(byOwner, ['a', 'a', 'b', 'b']);
  });

  it("takes a silent worker's leases once they went unrenewed for the failover time, and refuses that worker's checkpoints", async () => {
    const silent = await worker('silent', { renewIntervalMs: NEVER });
    await silent.syncShards(STREAM, FOUR);
    assert.equal((await silent.acquire(STREAM)).length, 4);
    await silent.checkpoint(STREAM, FOUR[0]!.shardId, '100');
    const switches = async () => Object.fromEntries((await silent.leases(STREAM)).map((l) => [l.shardId, l.ownerSwitchesSinceCheckpoint]));
    assert.deepEqual(await switches(), Object.fromEntries(FOUR.map((s) => [s.shardId, 0])), 'taking an unowned lease is no owner switch, as KCL counts');

    const b = await worker('b');
    const leases = await until('b holding all four', async () => {
      const held = await b.acquire(STREAM);
      return held.length === 4 ? held : undefined;
    });
    assert.deepEqual(await owners(b), Object.fromEntries(FOUR.map((s) => [s.shardId, 'b'])));
    assert.equal(leases.find((l) => l.shardId === FOUR[0]!.shardId)!.checkpoint, '100', 'b resumes after the last checkpoint');
    await b.checkpoint(STREAM, FOUR[0]!.shardId, '200');

    await assert.rejects(silent.checkpoint(STREAM, FOUR[0]!.shardId, '150'), (error: unknown) => {
      assert.ok(error instanceof LeaseLostError);
      assert.equal(error.shardId, FOUR[0]!.shardId);
      return true;
    });
    await assert.rejects(silent.checkpoint(STREAM, FOUR[1]!.shardId, '999'), LeaseLostError);
    const item = (await b.leases(STREAM)).find((l) => l.shardId === FOUR[0]!.shardId)!;
    assert.equal(item.checkpoint, '200', "the stale owner's checkpoint did not land");
    assert.equal(item.ownerSwitchesSinceCheckpoint, 0);
    assert.equal((await switches())[FOUR[1]!.shardId], 1, 'taken from another owner and not checkpointed since');
    const stillBelieved = silent.heldShards(STREAM);
    assert.ok(!stillBelieved.includes(FOUR[0]!.shardId) && !stillBelieved.includes(FOUR[1]!.shardId), 'a refused write tells it the lease is gone');
  });

  it('a new worker steals toward an even share, one lease per round from the busiest worker', async () => {
    const a = await worker('a');
    await a.syncShards(STREAM, [0, 1, 2, 3, 4, 5].map((n) => shard(n)));
    assert.equal((await a.acquire(STREAM)).length, 6);
    const c = await worker('c');
    assert.equal((await c.acquire(STREAM)).length, 1, 'one steal per round');
    const stolen = c.heldShards(STREAM)[0]!;
    assert.deepEqual([c.holds(STREAM, stolen), a.holds(STREAM, stolen)], [true, true], 'the victim has not looked yet');
    await a.acquire(STREAM);
    assert.deepEqual([c.holds(STREAM, stolen), a.holds(STREAM, stolen)], [true, false], 'the victim\'s readers deliver nothing more once it has');
    assert.equal((await c.acquire(STREAM)).length, 2);
    assert.equal((await c.acquire(STREAM)).length, 3);
    assert.equal((await c.acquire(STREAM)).length, 3, 'stops at the target');
    assert.equal((await a.acquire(STREAM)).length, 3, 'the victim notices on its next round');
    assert.equal(a.holds('another-stream', stolen), false);
    const counts = Object.values(await owners(a)).reduce<Record<string, number>>((m, o) => ({ ...m, [o!]: (m[o!] ?? 0) + 1 }), {});
    assert.deepEqual(counts, { a: 3, c: 3 });
  });

  it('release on shutdown leaves every lease unowned, so another worker takes them at once', async () => {
    const a = await worker('a');
    await a.syncShards(STREAM, FOUR);
    assert.equal((await a.acquire(STREAM)).length, 4);
    await a.checkpoint(STREAM, FOUR[2]!.shardId, '42');
    await a.shutdown();
    assert.deepEqual(Object.values(await owners(a)), [null, null, null, null]);

    // A failover time of an hour: only release, not expiry, can explain taking them now.
    const b = await worker('b', { failoverTimeMs: NEVER });
    const leases = await b.acquire(STREAM);
    assert.equal(leases.length, 4);
    assert.equal(leases.find((l) => l.shardId === FOUR[2]!.shardId)!.checkpoint, '42');
  });

  it('hands a child shard out only after every parent lease is at SHARD_END, and forgets ended shards the stream no longer lists', async () => {
    const [p1, p2, orphanParent] = [shard(0), shard(1), 'shardId-000000000009'];
    const merged = shard(2, [p1.shardId, p2.shardId]);
    const orphan = shard(3, [orphanParent]);
    const a = await worker('a');
    await a.syncShards(STREAM, [p1, p2, merged, orphan]);
    const ids = (leases: readonly { shardId: string }[]) => leases.map((l) => l.shardId).sort();

    assert.deepEqual(ids(await a.acquire(STREAM)), [p1.shardId, p2.shardId, orphan.shardId], 'a parent aged out of the table counts as ended');
    await a.checkpoint(STREAM, p1.shardId, SHARD_END);
    // No release: a worker killed right after its last checkpoint must not keep the ended lease in its name.
    assert.equal((await a.leases(STREAM)).find((l) => l.shardId === p1.shardId)?.leaseOwner, null, 'the SHARD_END checkpoint gives the lease up');
    assert.deepEqual(a.heldShards(STREAM), [p2.shardId, orphan.shardId]);
    await a.release(STREAM, p1.shardId);
    assert.deepEqual(ids(await a.acquire(STREAM)), [p2.shardId, orphan.shardId], 'one parent still open: the child waits');

    await a.checkpoint(STREAM, p2.shardId, SHARD_END);
    await a.release(STREAM, p2.shardId);
    // Another worker reads the parents' SHARD_END from the table and takes the child.
    const b = await worker('b');
    const child = (await b.acquire(STREAM)).find((l) => l.shardId === merged.shardId);
    assert.ok(child, 'the child is handed out once both parents ended');
    assert.equal(child.checkpoint, null, 'a child starts at its start position');

    await a.syncShards(STREAM, [p2, merged, orphan]);
    assert.deepEqual(ids(await a.leases(STREAM)), [p2.shardId, merged.shardId, orphan.shardId]);
  });

  it('writes TRIM_HORIZON in the leases of shards born while the stream is read, and the initial position in those it found', async () => {
    const [p0, a, b] = [shard(0), shard(1, [shard(0).shardId]), shard(2, [shard(0).shardId])];
    const first = await worker('first', { initialPosition: 'LATEST' });
    await first.syncShards(STREAM, [p0, a, b]);
    await first.acquire(STREAM);
    await first.checkpoint(STREAM, p0.shardId, SHARD_END);
    assert.equal((await first.acquire(STREAM)).length, 2, 'a and b handed out');
    const checkpoints = async () => Object.fromEntries((await first.leases(STREAM)).map((l) => [l.shardId, l.checkpoint]));
    assert.deepEqual(await checkpoints(), { [p0.shardId]: SHARD_END, [a.shardId]: 'LATEST', [b.shardId]: 'LATEST' }, 'split before reading began');

    // A second worker discovers a split of a while the stream is read.
    const [a1, a2] = [shard(3, [a.shardId]), shard(4, [a.shardId])];
    const second = await worker('second', { initialPosition: 'LATEST' });
    await second.syncShards(STREAM, [p0, a, b, a1, a2]);
    assert.deepEqual(await checkpoints(), { [p0.shardId]: SHARD_END, [a.shardId]: 'LATEST', [b.shardId]: 'LATEST', [a1.shardId]: 'TRIM_HORIZON', [a2.shardId]: 'TRIM_HORIZON' });
    await first.checkpoint(STREAM, a.shardId, SHARD_END);
    await first.shutdown();
    const handed = Object.fromEntries((await second.acquire(STREAM)).map((l) => [l.shardId, l]));
    assert.deepEqual(handed, {
      [b.shardId]: { shardId: b.shardId, checkpoint: null },
      [a1.shardId]: { shardId: a1.shardId, checkpoint: null, fromTrimHorizon: true },
      [a2.shardId]: { shardId: a2.shardId, checkpoint: null, fromTrimHorizon: true },
    });
  });

  it('of two workers racing for the same expired lease, exactly one wins', async () => {
    const lease: ShardInfo = shard(0);
    const silent = await worker('silent', { renewIntervalMs: NEVER });
    await silent.syncShards(STREAM, [lease]);
    await silent.acquire(STREAM);

    // At the table: two takes conditioned on the same view.
    const t = new LeaseTable(dynamo.client(), table);
    const seen = (await t.list(SINGLE_STREAM))[0]!;
    const results = await Promise.all([t.take(seen, 'x'), t.take(seen, 'y')]);
    assert.equal(results.filter(Boolean).length, 1, `exactly one take wins: ${JSON.stringify(results)}`);
    const winner = results.find(Boolean)!.leaseOwner!;
    assert.equal((await t.list(SINGLE_STREAM))[0]!.leaseOwner, winner);

    // Through coordinators: five workers see the lease expire and all try in the same round.
    const racers = await Promise.all(['r1', 'r2', 'r3', 'r4', 'r5'].map((name) => worker(name)));
    await Promise.all(racers.map((r) => r.acquire(STREAM)));
    await new Promise((r) => setTimeout(r, 900));
    const held = await Promise.all(racers.map((r) => r.acquire(STREAM)));
    assert.equal(held.flat().length, 1, `one holder, not ${held.flat().length}`);
    const holder = racers[held.findIndex((h) => h.length === 1)]!;
    assert.equal((await t.list(SINGLE_STREAM))[0]!.leaseOwner, holder.workerId);
    await assert.rejects(silent.checkpoint(STREAM, lease.shardId, '1'), LeaseLostError);
  });
});

describe('lease taker', () => {
  const lease = (n: number, owner: string | null): LeaseItem => ({
    leaseKey: String(n),
    streamName: null,
    shardId: String(n),
    leaseOwner: owner,
    leaseCounter: 1,
    checkpoint: 'TRIM_HORIZON',
    checkpointSubSequenceNumber: 0,
    ownerSwitchesSinceCheckpoint: 0,
    parentShardIds: [],
    childShardIds: [],
    hashKeyRange: null,
  });
  const inOrder = <T>(items: T[]) => items;

  it('prefers expired leases to stealing', () => {
    const eligible = [lease(0, 'a'), lease(1, 'a'), lease(2, 'dead'), lease(3, 'dead')];
    const decision = chooseLeasesToTake({ workerId: 'me', eligible, held: new Set(), isExpired: (l) => l.leaseOwner === 'dead', shuffle: inOrder });
    assert.deepEqual(decision.take.map((l) => l.shardId), ['2', '3']);
    assert.equal(decision.stealFrom, undefined);
  });

  it('steals from 2,2,0 (busiest at target, two needed) and leaves 2,1,1 alone', () => {
    const live = () => false;
    const first = chooseLeasesToTake({ workerId: 'me', eligible: [lease(0, 'a'), lease(1, 'a'), lease(2, 'b'), lease(3, 'b')], held: new Set(), isExpired: live, shuffle: inOrder });
    assert.equal(first.take.length, 1);
    assert.equal(first.target, 2);
    const settled = chooseLeasesToTake({ workerId: 'me', eligible: [lease(0, 'a'), lease(1, 'me'), lease(2, 'b'), lease(3, 'b')], held: new Set(['1']), isExpired: live, shuffle: inOrder });
    assert.deepEqual(settled.take, []);
  });
});
