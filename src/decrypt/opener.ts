/**
 * Opens one Kinesis record: envelope → encryption context → data key (KMS,
 * cached) → Encryption SDK payload → gunzip (capped) → decoded events.
 * Each step throws a DasError with its own reason; the pipeline decides what
 * a failure means for the batch.
 */
import type { DecodedRecord } from '../events/model.ts';
import { decodeRecord, type DecodeOptions } from '../events/decode.ts';
import type { RecordOpener } from '../pipeline.ts';
import { parseEnvelope } from '../source/envelope.ts';
import type { EncryptionContext, SourceRecord } from '../source/record.ts';
import { gunzipCapped } from './gunzip.ts';
import type { PayloadDecryptor } from './payload.ts';

export interface DataKeySource {
  get(ciphertext: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

export type { PayloadDecryptor } from './payload.ts';

export interface OpenerOptions {
  dataKeys: DataKeySource;
  decryptor: PayloadDecryptor;
  /** The KMS encryption context for a record's stream (see source/resource.ts). */
  contextFor: (record: SourceRecord) => EncryptionContext;
  maxRecordBytes: number;
  /** Runs on every decoded record before it leaves the opener (see enrich/stage.ts). */
  enrich?: (record: DecodedRecord) => DecodedRecord;
}

export class DasRecordOpener implements RecordOpener {
  readonly #opts: OpenerOptions;

  constructor(options: OpenerOptions) {
    this.#opts = options;
  }

  async open(record: SourceRecord): Promise<DecodedRecord> {
    const { payload, dataKey, decode } = await unlock(record, this.#opts);
    const compressed = await this.#opts.decryptor.decrypt(payload, dataKey);
    const json = await gunzipCapped(compressed, this.#opts.maxRecordBytes);
    const decoded = decodeRecord(json, decode);
    return this.#opts.enrich ? this.#opts.enrich(decoded) : decoded;
  }
}

/** A record's Encryption SDK message with its data key (from KMS or the cache), and how to decode what it holds. */
export interface UnlockedRecord {
  payload: Uint8Array;
  dataKey: Uint8Array;
  decode: Required<DecodeOptions>;
}

/** The steps before decryption: envelope, encryption context, data key. */
export async function unlock(record: SourceRecord, keys: Pick<OpenerOptions, 'dataKeys' | 'contextFor'>): Promise<UnlockedRecord> {
  const envelope = parseEnvelope(record.data);
  const dataKey = await keys.dataKeys.get(envelope.key, keys.contextFor(record));
  return {
    payload: envelope.payload,
    dataKey,
    decode: { version: envelope.version, position: { stream: record.stream, shardId: record.shardId, sequenceNumber: record.sequenceNumber } },
  };
}
