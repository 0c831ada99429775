/**
 * The DynamoDB lease table, item by item, in KCL's vocabulary: one item per
 * shard, keyed `leaseKey`, with `leaseOwner`, `leaseCounter`, `checkpoint`,
 * `checkpointSubSequenceNumber`, `ownerSwitchesSinceCheckpoint` and
 * `parentShardId` meaning what they mean in a KCL table (KCL's
 * LeaseRefresher/LeaseSerializer). `streamName` and `shardId` are stored
 * beside the key, as KCL 2.x multi-stream leases do, so one table can hold
 * several DAS streams and a scan can be filtered by stream.
 *
 * The key is `<stream name>:<shard id>`. KCL 2.x multi-stream mode uses
 * `<account>:<stream>:<creation epoch>:<shard id>`; that needs a
 * DescribeStreamSummary per stream only to build the key, and a stream name is
 * already unique within the account and region the exporter reads. A KCL
 * operator reads the items the same way; the table must not be shared with a
 * KCL application (its own keys would look like foreign shards).
 *
 * Every write is conditional on the `leaseCounter` last seen (and the owner
 * where it matters) and answers `undefined` when the condition failed: the
 * caller decides whether that means a lost race or a lost lease.
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
import { SHARD_END, type ShardEnd } from '../checkpoints/store.ts';

/** Where a lease that never delivered anything starts, as KCL writes it in `checkpoint`. */
export type InitialPosition = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
export const INITIAL_POSITIONS: readonly string[] = ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'];

export interface LeaseItem {
  leaseKey: string;
  streamName: string;
  shardId: string;
  /** null when nobody holds it (released, or never taken). */
  leaseOwner: string | null;
  leaseCounter: number;
  /** A sequence number, an InitialPosition, or SHARD_END. */
  checkpoint: string;
  checkpointSubSequenceNumber: number;
  ownerSwitchesSinceCheckpoint: number;
  parentShardIds: string[];
}

export function leaseKeyOf(stream: string, shardId: string): string {
  return `${stream}:${shardId}`;
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

  /** Every lease of a stream, read consistently. */
  async list(stream: string): Promise<LeaseItem[]> {
    const out: LeaseItem[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.#client.send(
        new ScanCommand({
          TableName: this.name,
          ConsistentRead: true,
          FilterExpression: '#stream = :stream',
          ExpressionAttributeNames: names('#stream'),
          ExpressionAttributeValues: { ':stream': { S: stream } },
          ExclusiveStartKey: start,
        }),
      );
      for (const item of page.Items ?? []) out.push(fromItem(item));
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async get(leaseKey: string): Promise<LeaseItem | undefined> {
    const out = await this.#client.send(new GetItemCommand({ TableName: this.name, Key: { leaseKey: { S: leaseKey } }, ConsistentRead: true }));
    return out.Item ? fromItem(out.Item) : undefined;
  }

  /** Writes a new, unowned lease; false when the shard already has one. */
  async create(stream: string, shardId: string, parentShardIds: readonly string[], initial: InitialPosition): Promise<boolean> {
    const item: Record<string, AttributeValue> = {
      leaseKey: { S: leaseKeyOf(stream, shardId) },
      streamName: { S: stream },
      shardId: { S: shardId },
      leaseCounter: { N: '0' },
      checkpoint: { S: initial },
      checkpointSubSequenceNumber: { N: '0' },
      ownerSwitchesSinceCheckpoint: { N: '0' },
    };
    // A string set cannot be empty: a shard without parents has no parentShardId, as in KCL.
    if (parentShardIds.length > 0) item.parentShardId = { SS: [...new Set(parentShardIds)] };
    try {
      await this.#client.send(
        new PutItemCommand({ TableName: this.name, Item: item, ConditionExpression: 'attribute_not_exists(#key)', ExpressionAttributeNames: names('#key') }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Makes `owner` the holder, if the lease is still as seen (same counter and owner). */
  take(seen: LeaseItem, owner: string): Promise<LeaseItem | undefined> {
    const switched = seen.leaseOwner !== owner;
    return this.#update(seen, {
      UpdateExpression: `SET #owner = :owner, #counter = #counter + :one${switched ? ', #switches = #switches + :one' : ''}`,
      ConditionExpression: seen.leaseOwner === null ? '#counter = :seen AND attribute_not_exists(#owner)' : '#counter = :seen AND #owner = :seenOwner',
      ExpressionAttributeNames: names('#owner', '#counter', ...(switched ? (['#switches'] as const) : [])),
      ExpressionAttributeValues: {
        ':owner': { S: owner },
        ':one': { N: '1' },
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
  const colon = leaseKey.lastIndexOf(':');
  return {
    leaseKey,
    streamName: item.streamName?.S ?? leaseKey.slice(0, Math.max(colon, 0)),
    shardId: item.shardId?.S ?? leaseKey.slice(colon + 1),
    leaseOwner: item.leaseOwner?.S ?? null,
    leaseCounter: Number(item.leaseCounter?.N ?? '0'),
    checkpoint: item.checkpoint?.S ?? 'TRIM_HORIZON',
    checkpointSubSequenceNumber: Number(item.checkpointSubSequenceNumber?.N ?? '0'),
    ownerSwitchesSinceCheckpoint: Number(item.ownerSwitchesSinceCheckpoint?.N ?? '0'),
    parentShardIds: item.parentShardId?.SS ?? [],
  };
}
