/**
 * The DynamoDB lease table, item by item, in the form KCL 2.x writes it
 * (DynamoDBLeaseSerializer, DynamoDBMultiStreamLeaseSerializer), so that a
 * table can be read with KCL tooling and a KCL consumer's table keeps its
 * positions when das-exporter takes over from it. One item per shard:
 *
 * - `leaseKey` (the hash key, S): the shard id for a single-stream table;
 *   `<account>:<stream>:<creation epoch>:<shard id>` in the multi-stream
 *   form, with `streamName` (KCL's stream identifier,
 *   `<account>:<stream>:<creation epoch>`) and `shardId` beside it;
 * - `leaseOwner` (S, absent when nobody holds it), `leaseCounter` (N),
 *   `ownerSwitchesSinceCheckpoint` (N);
 * - `checkpoint` (S): a sequence number, or TRIM_HORIZON, LATEST,
 *   AT_TIMESTAMP (never read yet) or SHARD_END; `checkpointSubSequenceNumber`
 *   (N, always 0 here: DAS records are not KPL-aggregated);
 * - `parentShardId` and `childShardIds` (SS, absent when empty: a string set
 *   cannot be), `startingHashKey` and `endingHashKey` (S, decimal), KCL's
 *   hash key range.
 *
 * Which form a stream's leases take is a LeaseScope, decided once at start
 * (dynamodb-coordinator.ts). Items in the form das-exporter wrote before
 * (leaseKey `<stream>:<shard id>`, `streamName` the bare stream name) are
 * recognised here and moved to KCL's form by key-migration.ts.
 *
 * Every write that touches ownership or a checkpoint is conditional on the
 * `leaseCounter` last seen (and the owner where it matters) and answers
 * `undefined` when the condition failed: the caller decides whether that
 * means a lost race or a lost lease. Shard metadata (hash key range, child
 * shards) is written as KCL writes it, without moving the counter.
 */
import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  ScanCommand,
  UpdateItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type UpdateItemCommandInput,
} from '@aws-sdk/client-dynamodb';
import { SHARD_END, type HashKeyRange, type ShardEnd, type ShardInfo } from '../checkpoints/store.ts';

/** Where a lease that never delivered anything starts, as KCL writes it in `checkpoint`. */
export type InitialPosition = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
export const INITIAL_POSITIONS: readonly string[] = ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'];

export interface LeaseItem {
  leaseKey: string;
  /** The `streamName` attribute: KCL's stream identifier in the multi-stream form, null in the single-stream form. */
  streamName: string | null;
  shardId: string;
  /** null when nobody holds it (released, or never taken). */
  leaseOwner: string | null;
  leaseCounter: number;
  /** A sequence number, an InitialPosition, or SHARD_END. */
  checkpoint: string;
  checkpointSubSequenceNumber: number;
  ownerSwitchesSinceCheckpoint: number;
  parentShardIds: string[];
  childShardIds: string[];
  hashKeyRange: HashKeyRange | null;
}

/**
 * How one stream's leases are keyed: KCL's single-stream form (the table
 * holds one stream, leaseKey = shard id) or its multi-stream form, under the
 * stream's identifier `<account>:<stream>:<creation epoch>`.
 */
export type LeaseScope = { form: 'single' } | { form: 'multi'; streamIdentifier: string };
export const SINGLE_STREAM: LeaseScope = { form: 'single' };

export function leaseKeyOf(scope: LeaseScope, shardId: string): string {
  return scope.form === 'single' ? shardId : `${scope.streamIdentifier}:${shardId}`;
}

// KCL's StreamIdentifier pattern: the account id and creation epoch are decimal, the stream name has no colon.
const STREAM_IDENTIFIER = /^(\d+):([^:]+):(\d+)$/;

/**
 * KCL's stream identifier of a stream: its account (from the ARN), name and
 * creation epoch. KCL leaves the epoch to the application; das-exporter uses
 * the stream's creation time in seconds (DescribeStreamSummary's
 * StreamCreationTimestamp), the meaning KCL's documentation gives it.
 */
export function streamIdentifierOf(streamArn: string, createdAt: Date): string {
  const match = /^arn:aws[a-z-]*:kinesis:[a-z0-9-]+:(\d{12}):stream\/([A-Za-z0-9_.-]+)$/.exec(streamArn);
  if (!match) throw new Error(`not a Kinesis stream ARN: "${streamArn}"`);
  return `${match[1]}:${match[2]}:${Math.floor(createdAt.getTime() / 1000)}`;
}

/** The stream name in a KCL stream identifier, or undefined when it is not one. */
export function streamNameOfIdentifier(identifier: string): string | undefined {
  return STREAM_IDENTIFIER.exec(identifier)?.[2];
}

/**
 * What an item of the table is: a lease in KCL's single-stream or
 * multi-stream form, one in the form das-exporter wrote before (its
 * `streamName` a bare stream name), or something else (another KCL entity,
 * such as KCL 3's worker metrics, which only KCL reads).
 */
export type StoredLease =
  | { form: 'single'; item: LeaseItem }
  | { form: 'multi'; item: LeaseItem; streamIdentifier: string; stream: string }
  | { form: 'previous'; item: LeaseItem; stream: string };

export function classify(raw: Record<string, AttributeValue>): StoredLease | undefined {
  const leaseKey = raw.leaseKey?.S;
  if (leaseKey === undefined || (raw.entityType?.S !== undefined && raw.entityType.S !== 'LEASE')) return undefined;
  const item = fromItem(raw);
  const streamName = raw.streamName?.S;
  if (streamName === undefined) return leaseKey.includes(':') ? undefined : { form: 'single', item };
  if (leaseKey !== `${streamName}:${item.shardId}`) return undefined;
  const stream = streamNameOfIdentifier(streamName);
  if (stream !== undefined) return { form: 'multi', item, streamIdentifier: streamName, stream };
  return streamName.includes(':') ? undefined : { form: 'previous', item, stream: streamName };
}

/**
 * The table cannot hold these streams' leases as it is: it has leases in
 * KCL's single-stream form, which do not name their stream, while several
 * streams would share it. KCL refuses the same: a single-stream
 * application's table does not become a multi-stream one.
 */
export class LeaseTableFormError extends Error {
  readonly table: string;

  constructor(table: string, message: string) {
    super(message);
    this.name = 'LeaseTableFormError';
    this.table = table;
  }
}

/**
 * Which form the leases of `streams` take in a table holding `stored`: the
 * multi-stream form when several streams share it (configured now, or with
 * leases there already: KCL multi-stream leases, or leases of another stream
 * in das-exporter's previous form), else the single-stream form.
 */
export function chooseKeyForm(table: string, streams: readonly string[], stored: readonly StoredLease[]): LeaseScope['form'] {
  const configured = new Set(streams);
  const shared = configured.size > 1 || stored.some((l) => l.form === 'multi' || (l.form === 'previous' && !configured.has(l.stream)));
  if (!shared) return 'single';
  const single = stored.find((l) => l.form === 'single');
  if (single) {
    const others = [...new Set(stored.flatMap((l) => (l.form === 'single' ? [] : [l.stream])))].filter((s) => !configured.has(s));
    throw new LeaseTableFormError(
      table,
      `lease table ${table} holds leases in KCL's single-stream form (leaseKey = shard id, such as ${single.item.leaseKey}), which do not say which stream they belong to, ` +
        `so it cannot also hold the leases of ${[...configured, ...others].join(', ')}. ` +
        'Give these streams another table (--leases dynamodb:<table>), or read only the stream those leases belong to with this one.',
    );
  }
  return 'multi';
}

// Every attribute goes through a name placeholder: DynamoDB reserves many plain words.
const NAMES = {
  '#key': 'leaseKey',
  '#owner': 'leaseOwner',
  '#counter': 'leaseCounter',
  '#checkpoint': 'checkpoint',
  '#sub': 'checkpointSubSequenceNumber',
  '#switches': 'ownerSwitchesSinceCheckpoint',
  '#stream': 'streamName',
  '#children': 'childShardIds',
  '#start': 'startingHashKey',
  '#end': 'endingHashKey',
} as const;
type Name = keyof typeof NAMES;

function names(...used: Name[]): Record<string, string> {
  return Object.fromEntries(used.map((n) => [n, NAMES[n]]));
}

export class LeaseTable {
  readonly name: string;
  readonly #client: DynamoDBClient;

  constructor(client: DynamoDBClient, name: string) {
    this.#client = client;
    this.name = name;
  }

  /** Creates the table (hash key leaseKey, on-demand) unless it exists, and waits until it is ACTIVE. */
  async ensureExists(options: { timeoutMs?: number; sleep?: (ms: number) => Promise<void> } = {}): Promise<'created' | 'existed'> {
    const sleep = options.sleep ?? ((ms) => new Promise<void>((r) => setTimeout(r, ms)));
    let outcome: 'created' | 'existed' = 'existed';
    let status = await this.#status();
    if (status === undefined) {
      try {
        await this.#client.send(
          new CreateTableCommand({
            TableName: this.name,
            AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
        outcome = 'created';
      } catch (error) {
        // Another worker created it between our describe and create.
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    }
    const deadline = Date.now() + (options.timeoutMs ?? 120_000);
    for (let delay = 20; (status = await this.#status()) !== 'ACTIVE'; delay = Math.min(delay * 2, 2_000)) {
      if (Date.now() > deadline) throw new Error(`lease table ${this.name} is not ACTIVE (status ${status ?? 'missing'})`);
      await sleep(delay);
    }
    return outcome;
  }

  /** Every lease in the table, of any stream and form, read consistently. */
  async scan(): Promise<StoredLease[]> {
    return (await this.#scan({})).flatMap((raw) => classify(raw) ?? []);
  }

  /** Every lease of one stream, read consistently. */
  async list(scope: LeaseScope): Promise<LeaseItem[]> {
    const filter =
      scope.form === 'single'
        ? { FilterExpression: 'attribute_not_exists(#stream)', ExpressionAttributeNames: names('#stream') }
        : { FilterExpression: '#stream = :stream', ExpressionAttributeNames: names('#stream'), ExpressionAttributeValues: { ':stream': { S: scope.streamIdentifier } } };
    return (await this.#scan(filter)).flatMap((raw) => {
      const lease = classify(raw);
      return lease?.form === scope.form ? [lease.item] : [];
    });
  }

  async get(leaseKey: string): Promise<LeaseItem | undefined> {
    const out = await this.#client.send(new GetItemCommand({ TableName: this.name, Key: { leaseKey: { S: leaseKey } }, ConsistentRead: true }));
    return out.Item ? fromItem(out.Item) : undefined;
  }

  /** Writes a new, unowned lease, as KCL creates one; false when the shard already has one. */
  create(scope: LeaseScope, shard: ShardInfo, initial: InitialPosition): Promise<boolean> {
    return this.putNew(scope, {
      shardId: shard.shardId,
      leaseOwner: null,
      leaseCounter: 0,
      checkpoint: initial,
      checkpointSubSequenceNumber: 0,
      ownerSwitchesSinceCheckpoint: 0,
      parentShardIds: [...shard.parentShardIds],
      childShardIds: [],
      hashKeyRange: shard.hashKeyRange ?? null,
    });
  }

  /** Writes a whole lease under the scope's key, unless an item has that key already (then false). */
  async putNew(scope: LeaseScope, lease: Omit<LeaseItem, 'leaseKey' | 'streamName'>): Promise<boolean> {
    try {
      await this.#client.send(
        new PutItemCommand({
          TableName: this.name,
          Item: toItem(scope, lease),
          ConditionExpression: 'attribute_not_exists(#key)',
          ExpressionAttributeNames: names('#key'),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Adds what KCL records about a lease's shard and the lease lacks: its
   * hash key range, child shards. Leaves the counter alone, as KCL's
   * metadata updates do, so it never races a holder's renewal; answers
   * undefined when the lease is gone.
   */
  async describeShard(lease: LeaseItem, shard: { hashKeyRange?: HashKeyRange | undefined; childShardIds?: readonly string[] }): Promise<LeaseItem | undefined> {
    const set: string[] = [];
    const values: Record<string, AttributeValue> = {};
    const used: Name[] = ['#key'];
    if (shard.hashKeyRange) {
      set.push('#start = :start', '#end = :end');
      values[':start'] = { S: shard.hashKeyRange.startingHashKey };
      values[':end'] = { S: shard.hashKeyRange.endingHashKey };
      used.push('#start', '#end');
    }
    const children = [...new Set(shard.childShardIds ?? [])];
    if (children.length > 0) {
      values[':children'] = { SS: children };
      used.push('#children');
    }
    if (used.length === 1) return lease;
    try {
      const out = await this.#client.send(
        new UpdateItemCommand({
          TableName: this.name,
          Key: { leaseKey: { S: lease.leaseKey } },
          UpdateExpression: [set.length > 0 ? `SET ${set.join(', ')}` : '', children.length > 0 ? 'ADD #children :children' : ''].join(' ').trim(),
          ConditionExpression: 'attribute_exists(#key)',
          ExpressionAttributeNames: names(...used),
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return fromItem(out.Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /** Deletes a lease if its counter is still the one seen; false when it moved or the item is gone. */
  async deleteIfUnchanged(seen: LeaseItem): Promise<boolean> {
    try {
      await this.#client.send(
        new DeleteItemCommand({
          TableName: this.name,
          Key: { leaseKey: { S: seen.leaseKey } },
          ConditionExpression: '#counter = :seen',
          ExpressionAttributeNames: names('#counter'),
          ExpressionAttributeValues: { ':seen': { N: String(seen.leaseCounter) } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Moves a lease's checkpoint to `position` if its counter is still the one seen (a KCL checkpoint update). */
  moveCheckpoint(seen: LeaseItem, position: string, subSequenceNumber: number): Promise<LeaseItem | undefined> {
    return this.#update(seen, {
      UpdateExpression: 'SET #counter = #counter + :one, #checkpoint = :position, #sub = :sub',
      ConditionExpression: '#counter = :seen',
      ExpressionAttributeNames: names('#counter', '#checkpoint', '#sub'),
      ExpressionAttributeValues: { ':one': { N: '1' }, ':seen': { N: String(seen.leaseCounter) }, ':position': { S: position }, ':sub': { N: String(subSequenceNumber) } },
    });
  }

  /**
   * Makes `owner` the holder, if the lease is still as seen (same counter and
   * owner). Only a lease taken from another owner counts an owner switch, as
   * KCL counts them: an unowned one has nobody to switch from.
   */
  take(seen: LeaseItem, owner: string): Promise<LeaseItem | undefined> {
    const switched = seen.leaseOwner !== null && seen.leaseOwner !== owner;
    return this.#update(seen, {
      UpdateExpression: `SET #owner = :owner, #counter = #counter + :one${switched ? ', #switches = if_not_exists(#switches, :zero) + :one' : ''}`,
      ConditionExpression: seen.leaseOwner === null ? '#counter = :seen AND attribute_not_exists(#owner)' : '#counter = :seen AND #owner = :seenOwner',
      ExpressionAttributeNames: names('#owner', '#counter', ...(switched ? (['#switches'] as const) : [])),
      ExpressionAttributeValues: {
        ':owner': { S: owner },
        ':one': { N: '1' },
        ...(switched ? { ':zero': { N: '0' } } : {}),
        ':seen': { N: String(seen.leaseCounter) },
        ...(seen.leaseOwner === null ? {} : { ':seenOwner': { S: seen.leaseOwner } }),
      },
    });
  }

  /** Bumps the counter: the heartbeat other workers watch. */
  renew(held: LeaseItem, owner: string): Promise<LeaseItem | undefined> {
    return this.#update(held, {
      UpdateExpression: 'SET #counter = #counter + :one',
      ...ownedBy(owner, held),
    });
  }

  /**
   * Records a delivered position (and resets the owner switches, as a KCL
   * checkpoint does). SHARD_END also gives the lease up in the same write:
   * nothing is left to read, and a worker dying between two writes would
   * otherwise keep an ended lease in its name forever.
   */
  checkpoint(held: LeaseItem, owner: string, position: string | ShardEnd): Promise<LeaseItem | undefined> {
    const condition = ownedBy(owner, held);
    return this.#update(held, {
      UpdateExpression: `SET #counter = #counter + :one, #checkpoint = :position, #sub = :zero, #switches = :zero${position === SHARD_END ? ' REMOVE #owner' : ''}`,
      ConditionExpression: condition.ConditionExpression,
      ExpressionAttributeNames: { ...condition.ExpressionAttributeNames, ...names('#checkpoint', '#sub', '#switches') },
      ExpressionAttributeValues: { ...condition.ExpressionAttributeValues, ':position': { S: position }, ':zero': { N: '0' } },
    });
  }

  /** Gives the lease up: no owner, so any worker may take it at once. */
  evict(held: LeaseItem, owner: string): Promise<LeaseItem | undefined> {
    const condition = ownedBy(owner, held);
    return this.#update(held, {
      UpdateExpression: 'SET #counter = #counter + :one REMOVE #owner',
      ...condition,
    });
  }

  /** Deletes an ended lease, if it is still as seen and still ended. */
  async deleteEnded(seen: LeaseItem): Promise<boolean> {
    try {
      await this.#client.send(
        new DeleteItemCommand({
          TableName: this.name,
          Key: { leaseKey: { S: seen.leaseKey } },
          ConditionExpression: '#counter = :seen AND #checkpoint = :end',
          ExpressionAttributeNames: names('#counter', '#checkpoint'),
          ExpressionAttributeValues: { ':seen': { N: String(seen.leaseCounter) }, ':end': { S: SHARD_END } },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async #update(
    lease: LeaseItem,
    input: Pick<UpdateItemCommandInput, 'UpdateExpression' | 'ConditionExpression' | 'ExpressionAttributeNames' | 'ExpressionAttributeValues'>,
  ): Promise<LeaseItem | undefined> {
    try {
      const out = await this.#client.send(
        new UpdateItemCommand({ TableName: this.name, Key: { leaseKey: { S: lease.leaseKey } }, ReturnValues: 'ALL_NEW', ...input }),
      );
      return fromItem(out.Attributes ?? {});
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async #scan(filter: { FilterExpression?: string; ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, AttributeValue> }) {
    const out: Record<string, AttributeValue>[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.#client.send(new ScanCommand({ TableName: this.name, ConsistentRead: true, ExclusiveStartKey: start, ...filter }));
      out.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async #status(): Promise<string | undefined> {
    try {
      const out = await this.#client.send(new DescribeTableCommand({ TableName: this.name }));
      return out.Table?.TableStatus;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }
}

function ownedBy(owner: string, held: LeaseItem) {
  return {
    ConditionExpression: '#owner = :owner AND #counter = :seen',
    ExpressionAttributeNames: names('#owner', '#counter'),
    ExpressionAttributeValues: { ':owner': { S: owner }, ':seen': { N: String(held.leaseCounter) }, ':one': { N: '1' } } as Record<string, AttributeValue>,
  };
}

function fromItem(item: Record<string, AttributeValue>): LeaseItem {
  const leaseKey = item.leaseKey?.S ?? '';
  const start = item.startingHashKey?.S;
  const end = item.endingHashKey?.S;
  return {
    leaseKey,
    streamName: item.streamName?.S ?? null,
    shardId: item.shardId?.S ?? leaseKey.slice(leaseKey.lastIndexOf(':') + 1),
    leaseOwner: item.leaseOwner?.S ?? null,
    leaseCounter: Number(item.leaseCounter?.N ?? '0'),
    checkpoint: item.checkpoint?.S ?? 'TRIM_HORIZON',
    checkpointSubSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? '0'),
    ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? '0'),
    parentShardIds: item.parentShardId?.SS ?? [],
    childShardIds: item.childShardIds?.SS ?? [],
    hashKeyRange: start && end ? { startingHashKey: start, endingHashKey: end } : null,
  };
}

/** A lease as KCL's serializers write it; sets left out when empty (DynamoDB has no empty set), the owner when there is none. */
function toItem(scope: LeaseScope, lease: Omit<LeaseItem, 'leaseKey' | 'streamName'>): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = {
    leaseKey: { S: leaseKeyOf(scope, lease.shardId) },
    leaseCounter: { N: String(lease.leaseCounter) },
    checkpoint: { S: lease.checkpoint },
    checkpointSubSequenceNumber: { N: String(lease.checkpointSubSequenceNumber) },
    ownerSwitchesSinceCheckpoint: { N: String(lease.ownerSwitchesSinceCheckpoint) },
  };
  if (scope.form === 'multi') {
    item.streamName = { S: scope.streamIdentifier };
    item.shardId = { S: lease.shardId };
  }
  if (lease.leaseOwner !== null) item.leaseOwner = { S: lease.leaseOwner };
  if (lease.parentShardIds.length > 0) item.parentShardId = { SS: [...new Set(lease.parentShardIds)] };
  if (lease.childShardIds.length > 0) item.childShardIds = { SS: [...new Set(lease.childShardIds)] };
  if (lease.hashKeyRange) {
    item.startingHashKey = { S: lease.hashKeyRange.startingHashKey };
    item.endingHashKey = { S: lease.hashKeyRange.endingHashKey };
  }
  return item;
}
