/**
 * The lease table in KCL 2.x's item form, against dynalite: a table written
 * by hand exactly as KCL writes it (single-stream and multi-stream) is read
 * and every shard resumes at its checkpoint; a table in das-exporter's
 * previous form (`<stream>:<shard id>`) is moved in place at start, by two
 * workers at once, interrupted at any write, or while a worker of the
 * previous version still checkpoints, without losing a position.
 */
import assert from 'node:assert/strict';
import { CreateTableCommand, DescribeTableCommand, PutItemCommand, ScanCommand, UpdateItemCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { classifyLeaseStoreError } from '../../src/source/checkpoints/failures.ts';
import { SHARD_END, type ShardInfo } from '../../src/source/checkpoints/store.ts';
import { streamRef } from '../../src/source/kinesis/client.ts';
import { describeStreamIdentity } from '../../src/source/kinesis/discovery.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { DynamoDbLeaseCoordinator, type DynamoDbLeaseCoordinatorOptions } from '../../src/source/leases/dynamodb-coordinator.ts';
import { migratePreviousLeases } from '../../src/source/leases/key-migration.ts';
import { LeaseTable, LeaseTableFormError, SINGLE_STREAM, streamIdentifierOf } from '../../src/source/leases/lease-table.ts';
import { startDynalite, type LocalDynamoDb } from '../support/dynalite.ts';
import { createStream, startKinesalite } from '../support/kinesalite.ts';
import { ManualClock } from '../support/manual-clock.ts';

type Raw = Record<string, AttributeValue>;

const STREAM = 'aws-rds-das-cluster-KEYS0000000000000000000000';
const OTHER = 'aws-rds-das-cluster-OTHER000000000000000000000';
const ID = (n: number) => `shardId-${String(n).padStart(12, '0')}`;
const TOP = 2n ** 128n - 1n;
const HALF = TOP / 2n;
// Sequence numbers as Kinesis gives them (56 digits), in order.
const SEQ = {
  a: '49590338271490256608559692538361571095921575989136588898',
  b: '49590338271490256608559692540925702759324208523137515618',
  c: '49590338271490256608559692558461571095921575989136591234',
  d: '49590338271490256608559692600000000000000000000000000001',
};
const FAILOVER_MS = 1_000;

const s = (value: string): AttributeValue => ({ S: value });
const n = (value: number): AttributeValue => ({ N: String(value) });
const ss = (...values: string[]): AttributeValue => ({ SS: values });

describe('lease keys in the form KCL 2.x writes', function () {
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
    table = `kcl-leases-${++tableNumber}`;
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.shutdown().catch(() => {})));
  });

  /** The table as KCL's DynamoDBLeaseRefresher creates it: hash key leaseKey (S), nothing else. */
  async function createKclTable(items: Raw[]): Promise<void> {
    const client = dynamo.client();
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // As on DynamoDB, a new table takes writes once it is ACTIVE: dynalite too is CREATING for a moment.
    for (const deadline = Date.now() + 10_000; ; await new Promise((r) => setTimeout(r, 10))) {
      const { Table } = await client.send(new DescribeTableCommand({ TableName: table }));
      if (Table?.TableStatus === 'ACTIVE') break;
      if (Date.now() > deadline) throw new Error(`table ${table} not ACTIVE after 10 s (${Table?.TableStatus})`);
    }
    for (const item of items) await client.send(new PutItemCommand({ TableName: table, Item: item }));
  }

  async function worker(name: string, streams: string[], options: Partial<DynamoDbLeaseCoordinatorOptions> = {}): Promise<DynamoDbLeaseCoordinator> {
    const clock = new ManualClock();
    const coordinator = new DynamoDbLeaseCoordinator({
      client: dynamo.client(),
      table,
      workerId: name,
      failoverTimeMs: FAILOVER_MS,
      initialPosition: 'LATEST',
      now: clock.now,
      sleep: clock.sleep,
      log: silentLogger,
      ...options,
    });
    started.push(coordinator);
    await coordinator.initialize(streams);
    Object.assign(coordinator, { clock });
    return coordinator;
  }
  const clockOf = (c: DynamoDbLeaseCoordinator) => (c as unknown as { clock: ManualClock }).clock;

  /** Reads the table, lets every lease another owner holds expire on the worker's clock, and takes what it may. */
  async function takeOver(c: DynamoDbLeaseCoordinator, stream: string) {
    await c.acquire(stream);
    clockOf(c).advance(FAILOVER_MS + 1);
    await c.acquire(stream);
    clockOf(c).advance(FAILOVER_MS + 1);
    return Object.fromEntries((await c.acquire(stream)).map((l) => [l.shardId, l]));
  }

  /** Every item of the table as DynamoDB holds it, by leaseKey. */
  async function rawItems(): Promise<Record<string, Raw>> {
    const { Items } = await dynamo.client().send(new ScanCommand({ TableName: table, ConsistentRead: true }));
    return Object.fromEntries((Items ?? []).map((item) => [item.leaseKey!.S!, item]).sort(([a], [b]) => String(a).localeCompare(String(b))));
  }

  // A split shard 1 into 2 and 3; shard 0 open, at a checkpoint, held by a KCL worker.
  const shards: ShardInfo[] = [
    { shardId: ID(0), parentShardIds: [], hashKeyRange: { startingHashKey: '0', endingHashKey: String(HALF) } },
    { shardId: ID(1), parentShardIds: [], hashKeyRange: { startingHashKey: String(HALF + 1n), endingHashKey: String(TOP) } },
    { shardId: ID(2), parentShardIds: [ID(1)], hashKeyRange: { startingHashKey: String(HALF + 1n), endingHashKey: String(HALF + TOP / 4n) } },
    { shardId: ID(3), parentShardIds: [ID(1)], hashKeyRange: { startingHashKey: String(HALF + TOP / 4n + 1n), endingHashKey: String(TOP) } },
  ];
  const range = (i: number): Raw => ({ startingHashKey: s(shards[i]!.hashKeyRange!.startingHashKey), endingHashKey: s(shards[i]!.hashKeyRange!.endingHashKey) });

  /** The four leases of `shards` as KCL 2.x's DynamoDBLeaseSerializer writes them, under `key`, with `extra` beside. */
  const kclLeases = (key: (shardId: string) => string, extra: (shardId: string) => Raw = () => ({})): Raw[] => [
    {
      leaseKey: s(key(ID(0))),
      leaseOwner: s('kcl-worker-7c1d9e'),
      leaseCounter: n(5713),
      ownerSwitchesSinceCheckpoint: n(0),
      checkpoint: s(SEQ.a),
      checkpointSubSequenceNumber: n(0),
      ...range(0),
      ...extra(ID(0)),
    },
    {
      leaseKey: s(key(ID(1))),
      leaseCounter: n(840),
      ownerSwitchesSinceCheckpoint: n(0),
      checkpoint: s(SHARD_END),
      checkpointSubSequenceNumber: n(0),
      childShardIds: ss(ID(2), ID(3)),
      ...range(1),
      ...extra(ID(1)),
    },
    {
      leaseKey: s(key(ID(2))),
      leaseCounter: n(0),
      ownerSwitchesSinceCheckpoint: n(0),
      checkpoint: s('TRIM_HORIZON'),
      checkpointSubSequenceNumber: n(0),
      parentShardId: ss(ID(1)),
      ...range(2),
      ...extra(ID(2)),
    },
    {
      leaseKey: s(key(ID(3))),
      leaseOwner: s('kcl-worker-0a44f2'),
      leaseCounter: n(312),
      ownerSwitchesSinceCheckpoint: n(2),
      checkpoint: s(SEQ.b),
      checkpointSubSequenceNumber: n(0),
      parentShardId: ss(ID(1)),
      ...range(3),
      ...extra(ID(3)),
    },
  ];

  const resumed = {
    [ID(0)]: { shardId: ID(0), checkpoint: SEQ.a },
    [ID(2)]: { shardId: ID(2), checkpoint: null, fromTrimHorizon: true },
    [ID(3)]: { shardId: ID(3), checkpoint: SEQ.b },
  };

  it("reads a single-stream KCL application's table and resumes every shard at its checkpoint, writing KCL's form back", async () => {
    const written = kclLeases((shardId) => shardId);
    await createKclTable(written);
    const before = await rawItems();

    const w = await worker('das-1', [STREAM]);
    await w.syncShards(STREAM, shards);
    assert.deepEqual(await rawItems(), before, 'nothing added or rewritten: KCL already recorded every shard');

    // KCL's workers stopped: their leases expire on our clock, and we take them as they are.
    assert.deepEqual(await takeOver(w, STREAM), resumed);

    await w.checkpoint(STREAM, ID(0), SEQ.c);
    const after = (await rawItems())[ID(0)]!;
    assert.deepEqual(
      { ...after, leaseCounter: undefined },
      { ...before[ID(0)]!, leaseOwner: s('das-1'), ownerSwitchesSinceCheckpoint: n(0), checkpoint: s(SEQ.c), leaseCounter: undefined },
      'the same item, in the same form, with our owner and the new checkpoint',
    );
    assert.ok(Number(after.leaseCounter!.N) > 5713, 'the counter moved on from where KCL left it');
  });

  it("reads a multi-stream KCL application's table: each stream's leases under its own identifier, new shards keyed the same way", async () => {
    const identifiers: Record<string, string> = { [STREAM]: `123456789012:${STREAM}:1690000000`, [OTHER]: `123456789012:${OTHER}:1690000500` };
    // The same stream name deleted and created again: KCL keeps the old stream's leases apart by its creation epoch.
    const recreated = `123456789012:${STREAM}:1600000000`;
    const multi = (id: string) => (shardId: string) => `${id}:${shardId}`;
    const attributes = (id: string) => (shardId: string) => ({ streamName: s(id), shardId: s(shardId) });
    const recreatedLeases = kclLeases(multi(recreated), attributes(recreated)).map((item) => ({ ...item, checkpoint: s(SEQ.d) }));
    await createKclTable([
      ...kclLeases(multi(identifiers[STREAM]!), attributes(identifiers[STREAM]!)),
      ...recreatedLeases,
      ...kclLeases(multi(identifiers[OTHER]!), attributes(identifiers[OTHER]!)).slice(0, 1),
    ]);

    const asked: string[] = [];
    const w = await worker('das-1', [STREAM, OTHER], {
      streamIdentifier: async (stream) => {
        asked.push(stream);
        return identifiers[stream]!;
      },
    });
    const born: ShardInfo = { shardId: ID(4), parentShardIds: [], hashKeyRange: { startingHashKey: '0', endingHashKey: '1' } };
    await w.syncShards(STREAM, [...shards, born]);
    await w.syncShards(OTHER, [shards[0]!]);
    assert.deepEqual(asked.sort(), [STREAM, OTHER].sort());

    assert.deepEqual((await rawItems())[`${identifiers[STREAM]}:${ID(4)}`], {
      leaseKey: s(`${identifiers[STREAM]}:${ID(4)}`),
      streamName: s(identifiers[STREAM]!),
      shardId: s(ID(4)),
      leaseCounter: n(0),
      checkpoint: s('LATEST'),
      checkpointSubSequenceNumber: n(0),
      ownerSwitchesSinceCheckpoint: n(0),
      startingHashKey: s('0'),
      endingHashKey: s('1'),
    });
    assert.deepEqual(await takeOver(w, STREAM), { ...resumed, [ID(4)]: { shardId: ID(4), checkpoint: null } }, 'the recreated stream’s SEQ.d is never used');
    assert.deepEqual(await takeOver(w, OTHER), { [ID(0)]: { shardId: ID(0), checkpoint: SEQ.a } });
    const untouched = Object.values(await rawItems()).filter((item) => item.streamName?.S === recreated);
    assert.deepEqual(untouched, recreatedLeases, 'the recreated stream’s leases are left as they are');
  });

  it("refuses to share a single-stream table between several streams (lease_table_invalid), as KCL does, and writes nothing", async () => {
    await createKclTable(kclLeases((shardId) => shardId));
    const before = await rawItems();
    const w = await worker('das-1', [STREAM, OTHER], { streamIdentifier: async (stream) => `123456789012:${stream}:1690000000` });
    const error = await w.syncShards(STREAM, shards).then(
      () => assert.fail('the sync should be refused'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof LeaseTableFormError, String(error));
    assert.match(error.message, new RegExp(`${table}.*single-stream.*shardId-\\d{12}.*${STREAM}, ${OTHER}`));
    assert.deepEqual(classifyLeaseStoreError(error), { kind: 'fatal', reason: 'lease_table_invalid' });
    assert.deepEqual(await rawItems(), before);
  });

  it("takes a stream's identifier from DescribeStreamSummary: account, name, creation time in seconds", async () => {
    const kinesis = await startKinesalite();
    try {
      await createStream(kinesis.client, STREAM, 1);
      const { streamArn, createdAt } = await describeStreamIdentity(kinesis.client, streamRef(STREAM));
      const identifier = streamIdentifierOf(streamArn, createdAt);
      assert.match(identifier, new RegExp(`^000000000000:${STREAM}:\\d{10}$`));
      assert.equal(identifier.split(':')[2], String(Math.floor(createdAt.getTime() / 1000)));
      assert.throws(() => streamIdentifierOf(STREAM, createdAt), /not a Kinesis stream ARN/);
    } finally {
      await kinesis.stop();
    }
  });

  describe('a table in the previous form, moved in place at start', () => {
    /**
     * The leases as das-exporter wrote them before: key `<stream>:<shard id>`,
     * streamName and shardId beside it, no hash key range or child shards.
     * Shard 2 is a child at LATEST, as versions before the "born while read"
     * rule wrote it; they started such a child at TRIM_HORIZON.
     */
    const previousLeases = (stream: string): Raw[] =>
      kclLeases(
        (shardId) => `${stream}:${shardId}`,
        (shardId) => ({ streamName: s(stream), shardId: s(shardId) }),
      ).map(({ startingHashKey: _s, endingHashKey: _e, childShardIds: _c, ...item }) =>
        item.shardId!.S === ID(2) ? { ...item, checkpoint: s('LATEST') } : item,
      );

    /** What each lease holds after the move, whatever the key: positions, owners, counters, parents. */
    const positions = (items: Record<string, Raw>) =>
      Object.values(items).map((item) => ({
        shardId: item.shardId?.S ?? item.leaseKey!.S!,
        checkpoint: item.checkpoint!.S,
        leaseOwner: item.leaseOwner?.S,
        leaseCounter: item.leaseCounter!.N,
        ownerSwitchesSinceCheckpoint: item.ownerSwitchesSinceCheckpoint!.N,
        parentShardId: item.parentShardId?.SS,
      }));
    const expected = positions(Object.fromEntries(kclLeases((shardId) => shardId).map((item) => [item.leaseKey!.S!, item])));

    /** A client that fails its `failAt`-th write (1-based), as a worker killed there would stop. */
    function interruptedClient(failAt: number): { client: DynamoDBClient; writes: () => number } {
      const client = dynamo.client();
      let writes = 0;
      client.middlewareStack.add(
        (next, context) => async (args) => {
          if (['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand'].includes(context.commandName ?? '') && ++writes === failAt) {
            throw new Error(`worker killed before write ${failAt} (test)`);
          }
          return next(args);
        },
        { step: 'initialize', name: 'interruptAtWrite' },
      );
      return { client, writes: () => writes };
    }

    it('moves every lease to the shard-id key with its position, owner and counter, leaving no item of the previous form', async () => {
      await createKclTable(previousLeases(STREAM));
      const w = await worker('das-1', [STREAM]);
      await w.syncShards(STREAM, shards);

      const items = await rawItems();
      assert.deepEqual(Object.keys(items), [ID(0), ID(1), ID(2), ID(3)]);
      assert.deepEqual(positions(items), expected);
      assert.equal(items[ID(0)]!.streamName, undefined, "KCL's single-stream form has no streamName");
      assert.deepEqual(items[ID(1)]!.childShardIds, ss(ID(2), ID(3)), 'the parent names its children, as KCL records them');
      assert.deepEqual(items[ID(3)]!.startingHashKey, range(3).startingHashKey);
      assert.deepEqual(await takeOver(w, STREAM), resumed);
    });

    it('moves the leases of several streams in one table to the multi-stream form', async () => {
      await createKclTable([...previousLeases(STREAM), ...previousLeases(OTHER)]);
      const identifiers: Record<string, string> = { [STREAM]: `000000000000:${STREAM}:1700000000`, [OTHER]: `000000000000:${OTHER}:1700000001` };
      const w = await worker('das-1', [STREAM, OTHER], { streamIdentifier: async (stream) => identifiers[stream]! });
      await w.syncShards(STREAM, shards);
      await w.syncShards(OTHER, shards);

      const items = await rawItems();
      assert.deepEqual(Object.keys(items), [...[STREAM, OTHER].sort().flatMap((stream) => [0, 1, 2, 3].map((i) => `${identifiers[stream]}:${ID(i)}`))]);
      for (const stream of [STREAM, OTHER]) {
        const mine = Object.fromEntries(Object.entries(items).filter(([, item]) => item.streamName?.S === identifiers[stream]));
        assert.deepEqual(positions(mine), expected, stream);
        assert.deepEqual(await takeOver(w, stream), resumed, stream);
      }
    });

    it('moves a lease once when two workers start at once, and a worker with a stale view changes nothing', async () => {
      await createKclTable(previousLeases(STREAM));
      const stale = await new LeaseTable(dynamo.client(), table).scan();
      const [a, b] = await Promise.all([worker('das-a', [STREAM]), worker('das-b', [STREAM])]);
      await Promise.all([a.syncShards(STREAM, shards), b.syncShards(STREAM, shards)]);
      const items = await rawItems();
      assert.deepEqual(Object.keys(items), [ID(0), ID(1), ID(2), ID(3)]);
      assert.deepEqual(positions(items), expected);

      // A third worker that read the table before either moved it: every conditional write of its own is refused.
      const moved = await migratePreviousLeases(new LeaseTable(dynamo.client(), table), STREAM, SINGLE_STREAM, stale, silentLogger);
      assert.equal(moved, 4, 'each lease found moved already');
      assert.deepEqual(await rawItems(), items);
    });

    it('loses no position when a start is interrupted at any write, and the next start finishes the move', async () => {
      for (let failAt = 1; ; failAt++) {
        table = `kcl-leases-${++tableNumber}`;
        await createKclTable(previousLeases(STREAM));
        const { client, writes } = interruptedClient(failAt);
        const first = await worker('das-1', [STREAM], { client });
        const outcome = await first.syncShards(STREAM, shards).then(
          () => 'done',
          (error: unknown) => String(error),
        );
        if (outcome === 'done') {
          assert.ok(writes() < failAt, 'the last run needed fewer writes than that');
          assert.ok(failAt > 8, `a start writes at least a put and a delete per lease (${failAt - 1} writes)`);
          break;
        }
        assert.match(outcome, /worker killed before write/);

        // Half way: for every shard an item of one form or the other holds its position.
        const halfway = await rawItems();
        for (const lease of expected) {
          const holding = Object.values(halfway).filter((item) => (item.shardId?.S ?? item.leaseKey!.S) === lease.shardId);
          assert.ok(holding.length > 0, `shard ${lease.shardId} has a lease after an interruption at write ${failAt}`);
          const checkpoint = lease.shardId === ID(2) ? ['LATEST', 'TRIM_HORIZON'] : [lease.checkpoint];
          for (const item of holding) assert.ok(checkpoint.includes(item.checkpoint!.S!), `shard ${lease.shardId} at ${item.checkpoint!.S} after write ${failAt}`);
        }

        const next = await worker('das-2', [STREAM]);
        await next.syncShards(STREAM, shards);
        const items = await rawItems();
        assert.deepEqual(Object.keys(items), [ID(0), ID(1), ID(2), ID(3)], `after an interruption at write ${failAt}`);
        assert.deepEqual(positions(items), expected, `after an interruption at write ${failAt}`);
        await Promise.all(started.splice(0).map((c) => c.shutdown()));
      }
    });

    it("carries over a checkpoint a worker of the previous version writes while its lease is being moved", async () => {
      await createKclTable(previousLeases(STREAM));
      const client = dynamo.client();
      const oldKey = `${STREAM}:${ID(0)}`;
      let checkpointed = false;
      // Just before the move deletes the old item, its holder (still the previous version) checkpoints it further.
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const input = args.input as { Key?: Raw };
          if (context.commandName === 'DeleteItemCommand' && input.Key?.leaseKey?.S === oldKey && !checkpointed) {
            checkpointed = true;
            await dynamo.client().send(
              new UpdateItemCommand({
                TableName: table,
                Key: { leaseKey: s(oldKey) },
                UpdateExpression: 'SET #counter = #counter + :one, #checkpoint = :position',
                ConditionExpression: '#owner = :owner',
                ExpressionAttributeNames: { '#counter': 'leaseCounter', '#checkpoint': 'checkpoint', '#owner': 'leaseOwner' },
                ExpressionAttributeValues: { ':one': n(1), ':position': s(SEQ.c), ':owner': s('kcl-worker-7c1d9e') },
              }),
            );
          }
          return next(args);
        },
        { step: 'initialize', name: 'previousVersionCheckpoints' },
      );
      const w = await worker('das-1', [STREAM], { client });
      await w.syncShards(STREAM, shards);

      assert.ok(checkpointed);
      const items = await rawItems();
      assert.deepEqual(Object.keys(items), [ID(0), ID(1), ID(2), ID(3)]);
      assert.equal(items[ID(0)]!.checkpoint!.S, SEQ.c, 'the later checkpoint of the previous version is kept');
      assert.deepEqual((await takeOver(w, STREAM))[ID(0)], { shardId: ID(0), checkpoint: SEQ.c });
    });
  });
});
