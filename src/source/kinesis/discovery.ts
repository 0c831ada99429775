/**
 * Which shards a stream has, parents included: ListShards, every page. The
 * first call names the stream; later pages carry only the NextToken, as the
 * API requires. And what identifies the stream beyond its name (its ARN and
 * creation time), which KCL's multi-stream lease keys carry.
 */
import { DescribeStreamSummaryCommand, ListShardsCommand, type KinesisClient, type ListShardsCommandInput } from '@aws-sdk/client-kinesis';
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
      const range = shard.HashKeyRange;
      shards.push({
        shardId: shard.ShardId,
        parentShardIds,
        ...(range?.StartingHashKey && range.EndingHashKey ? { hashKeyRange: { startingHashKey: range.StartingHashKey, endingHashKey: range.EndingHashKey } } : {}),
      });
    }
    nextToken = page.NextToken;
  } while (nextToken);
  return shards;
}

/** The stream's ARN and creation time: one DescribeStreamSummary. */
export async function describeStreamIdentity(client: KinesisClient, stream: StreamRef): Promise<{ streamArn: string; createdAt: Date }> {
  const { StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ ...stream.params }));
  if (!summary?.StreamARN || !summary.StreamCreationTimestamp) throw new Error(`DescribeStreamSummary of ${stream.name} gave no StreamARN or StreamCreationTimestamp`);
  return { streamArn: summary.StreamARN, createdAt: summary.StreamCreationTimestamp };
}
