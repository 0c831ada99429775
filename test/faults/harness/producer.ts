/**
 * Writes uniquely numbered DAS events to a stream, through the record
 * factory (records byte-for-byte like AWS's: gzip, Encryption SDK, a KMS data
 * key shared by consecutive records), and remembers where each landed.
 *
 * Every event carries its number in its SQL: `… /* fault:<tag>:<n> *\/`, so
 * the receiver's ledger says which events arrived whatever their position.
 * Events per record vary (seeded), partition keys rotate, and each event's
 * expected `log.record.uid` (`<stream>/<shard>/<sequence>/<index>`) is kept.
 */
import { createHash } from 'node:crypto';
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KMSClient } from '@aws-sdk/client-kms';
import {
  AURORA_POSTGRESQL,
  DasRecordFactory,
  kmsDataKeySource,
  type DataKeyGenerator,
  type GeneratedDataKey,
} from '../../../src/demo/record-factory.ts';
import type { EncryptionContext } from '../../../src/source/record.ts';
import { seeded } from './random.ts';
import { rawPostgresSelect } from '../../support/raw-events.ts';

export interface ProducedEvent {
  /** `fault:<tag>:<n>`: the id the ledger is checked against. */
  id: string;
  n: number;
  partitionKey: string;
  shardId: string;
  sequenceNumber: string;
  index: number;
  /** What the exporter sends as `log.record.uid`. */
  eventId: string;
  /** The sqlcommenter traceparent the event's SQL carries, for a traced event. */
  trace?: { traceId: string; spanId: string };
}

/** A record written on purpose to be refused, and what should become of it. */
export interface BadRecord {
  kind: string;
  expectedReason: string;
  shardId: string;
  sequenceNumber: string;
}

export const ID_PATTERN = /fault:[A-Za-z0-9]+:\d+/;

/** A PostgreSQL statement as DAS writes it, carrying the producer's id in its text (and, for a traced one, a sqlcommenter comment after it). */
export function pgEvent(id: string, n: number, at: Date, sqlPadding = '', trace?: { traceId: string; spanId: string }): Record<string, unknown> {
  const commenter = trace ? ` /*traceparent='00-${trace.traceId}-${trace.spanId}-01'*/` : '';
  return rawPostgresSelect(n, at, `SELECT * FROM orders WHERE id = ${n}${sqlPadding} /* ${id} */${commenter}`);
}

/** A trace context for event `id`, the same on every run: an application's database-call span. */
export function traceOf(id: string): { traceId: string; spanId: string } {
  const hash = createHash('sha256').update(id).digest('hex');
  return { traceId: hash.slice(0, 32), spanId: hash.slice(32, 48) };
}

/** Data keys made by KMS ahead of time, served in order: lets records be written while KMS refuses everyone. */
export class PrefetchedDataKeys implements DataKeyGenerator {
  readonly #keys: GeneratedDataKey[] = [];

  static async fetch(kms: KMSClient, keyId: string, context: EncryptionContext, count: number): Promise<PrefetchedDataKeys> {
    const pool = new PrefetchedDataKeys();
    const source = kmsDataKeySource(kms, keyId);
    for (let i = 0; i < count; i++) pool.#keys.push(await source.generateDataKey(context));
    return pool;
  }

  async generateDataKey(): Promise<GeneratedDataKey> {
    const key = this.#keys.shift();
    if (!key) throw new Error('the prefetched data keys are used up');
    return key;
  }
}

export interface ProducerOptions {
  kinesis: KinesisClient;
  stream: string;
  clusterId: string;
  dataKeys: DataKeyGenerator;
  /** Short tag in every id, so ids never collide across scenarios. */
  tag: string;
  seed: number;
  /** Events per record: uniform in [min, max]. Default 1–8. */
  eventsPerRecord?: [number, number];
  partitionKeys?: number;
  recordsPerDataKey?: number;
  /** Which events carry a sqlcommenter traceparent (`traceOf(id)`); default none. */
  traced?: (n: number) => boolean;
}

export class EventProducer {
  readonly produced: ProducedEvent[] = [];
  readonly bad: BadRecord[] = [];
  readonly factory: DasRecordFactory;
  readonly #o: ProducerOptions;
  readonly #random: () => number;
  #next = 0;
  #records = 0;

  constructor(options: ProducerOptions) {
    this.#o = options;
    this.#random = seeded(options.seed);
    this.factory = new DasRecordFactory({
      resourceId: options.clusterId,
      dataKeys: options.dataKeys,
      profile: AURORA_POSTGRESQL,
      recordsPerDataKey: options.recordsPerDataKey ?? 20,
    });
  }

  /** Records written so far, bad ones included. */
  get recordsWritten(): number {
    return this.#records;
  }

  /** Writes `count` events in records of varied size; resolves once Kinesis holds them all. */
  async write(count: number, options: { sqlPadding?: (n: number) => string } = {}): Promise<ProducedEvent[]> {
    const [min, max] = this.#o.eventsPerRecord ?? [1, 8];
    const pending: { partitionKey: string; data: Uint8Array; events: { id: string; n: number; trace?: { traceId: string; spanId: string } }[] }[] = [];
    for (let left = count; left > 0; ) {
      const size = Math.min(left, min + Math.floor(this.#random() * (max - min + 1)));
      left -= size;
      const events = Array.from({ length: size }, () => {
        const n = this.#next++;
        const id = `fault:${this.#o.tag}:${n}`;
        return this.#o.traced?.(n) ? { id, n, trace: traceOf(id) } : { id, n };
      });
      const data = await this.factory.record({
        clusterId: this.#o.clusterId,
        instanceId: 'db-FAULTINSTANCE',
        events: events.map((e) => pgEvent(e.id, e.n, new Date(), options.sqlPadding?.(e.n) ?? '', e.trace)),
      });
      pending.push({ partitionKey: `pk-${this.#records++ % (this.#o.partitionKeys ?? 16)}`, data, events });
    }
    const out: ProducedEvent[] = [];
    // Small PutRecords calls keep each under the 5 MiB request limit whatever the padding.
    for (let i = 0; i < pending.length; i += 25) {
      const slice = pending.slice(i, i + 25);
      const results = await this.#put(slice.map((p) => ({ partitionKey: p.partitionKey, data: p.data })));
      slice.forEach((p, j) => {
        const { shardId, sequenceNumber } = results[j]!;
        p.events.forEach((e, index) => {
          const event: ProducedEvent = {
            ...e,
            partitionKey: p.partitionKey,
            shardId,
            sequenceNumber,
            index,
            eventId: `${this.#o.stream}/${shardId}/${sequenceNumber}/${index}`,
          };
          out.push(event);
          this.produced.push(event);
        });
      });
    }
    return out;
  }

  /** Writes one record as given (a bad one, on purpose) and remembers what the exporter should do with it. */
  async writeBad(kind: string, expectedReason: string, data: Uint8Array): Promise<BadRecord> {
    const [result] = await this.#put([{ partitionKey: `pk-${this.#records++ % (this.#o.partitionKeys ?? 16)}`, data }]);
    const bad: BadRecord = { kind, expectedReason, ...result! };
    this.bad.push(bad);
    return bad;
  }

  /** PutRecords straight to kinesalite (no proxy, no throttling): a refused record fails the scenario. */
  async #put(records: { partitionKey: string; data: Uint8Array }[]): Promise<{ shardId: string; sequenceNumber: string }[]> {
    const out = await this.#o.kinesis.send(
      new PutRecordsCommand({ StreamName: this.#o.stream, Records: records.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) }),
    );
    return records.map((_, i) => {
      const r = out.Records?.[i];
      if (!r?.ShardId || !r.SequenceNumber) throw new Error(`PutRecords refused record ${i}: ${r?.ErrorCode} ${r?.ErrorMessage}`);
      return { shardId: r.ShardId, sequenceNumber: r.SequenceNumber };
    });
  }
}
