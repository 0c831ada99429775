/**
 * Which shards a stream has, parents included: ListShards, every page. The
 * first call names the stream; later pages carry only the NextToken, as the
 * API requires.
 */
import { ListShardsCommand, type KinesisClient, type ListShardsCommandInput } from '@aws-sdk/client-kinesis';
import type { ShardInfo } from '../checkpoints/store.ts';
import type { StreamRef } from './client.ts';

export async function listAllShards(client: KinesisClient, stream: StreamRef, signal?: AbortSignal): Promise<ShardInfo[]> {
  const shards: ShardInfo[] = [];
  let nextToken: string | undefined;
  do {
    const input: ListShardsCommandInput = nextToken ? { NextToken: nextToken } : { ...stream.params };
    const page = await client.send(new ListShardsCommand(input), signal ? { abortSignal: signal } : {});
    for (const shard of page.Shards ?? []) {
      if (!shard.ShardId) continue;
      const parentShardIds = [shard.ParentShardId, shard.AdjacentParentShardId].filter((p): p is string => !!p);
      shards.push({ shardId: shard.ShardId, parentShardIds });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}
