/**
 * From simulated batches to Kinesis record data, encrypted exactly as AWS
 * does it: one DasRecordFactory per database (its own encryption context,
 * suite and envelope version), each reusing a data key across records.
 */
import { DasRecordFactory } from '../record-factory.ts';
import type { DataKeyGenerator } from '../record-factory.ts';
import type { SimulatedCluster } from './clusters.ts';
import type { TrafficBatch } from './simulator.ts';

/** Kinesis record data (the envelope JSON bytes) for `batch`, made by `factory`, which must be the batch's database's. */
export function encryptBatch(factory: DasRecordFactory, batch: TrafficBatch): Promise<Uint8Array> {
  return factory.record({ clusterId: batch.clusterId, instanceId: batch.instanceId, events: batch.events });
}

export interface EncryptedRecord {
  stream: string;
  /** DAS's partition key is not documented; the instance keeps each instance's records in order on one shard. */
  partitionKey: string;
  data: Uint8Array;
}

/** Holds the record factory of every simulated database and encrypts batches with the right one. */
export class TrafficEncryptor {
  readonly #factories = new Map<string, DasRecordFactory>();

  constructor(options: { dataKeys: DataKeyGenerator; clusters: readonly SimulatedCluster[]; recordsPerDataKey?: number }) {
    for (const cluster of options.clusters) {
      this.#factories.set(
        cluster.resourceId,
        new DasRecordFactory({
          resourceId: cluster.resourceId,
          dataKeys: options.dataKeys,
          profile: cluster.profile,
          ...(options.recordsPerDataKey === undefined ? {} : { recordsPerDataKey: options.recordsPerDataKey }),
        }),
      );
    }
  }

  async encrypt(batch: TrafficBatch): Promise<EncryptedRecord> {
    const factory = this.#factories.get(batch.resourceId);
    if (factory === undefined) throw new Error(`no record factory for ${batch.resourceId} (${batch.cluster}): not one of the clusters given`);
    return { stream: batch.stream, partitionKey: batch.instanceId, data: await encryptBatch(factory, batch) };
  }
}
