/**
 * Opens one Kinesis record: envelope → encryption context → data key (KMS,
 * cached) → Encryption SDK payload → gunzip (capped) → decoded events.
 * Each step throws a DasError with its own reason; the pipeline decides what
 * a failure means for the batch.
 */
import type { DecodedRecord } from '../events/model.ts';
import { decodeRecord } from '../events/decode.ts';
import type { RecordOpener } from '../pipeline.ts';
import { parseEnvelope } from '../source/envelope.ts';
import type { EncryptionContext, SourceRecord } from '../source/record.ts';
import { gunzipCapped } from './gunzip.ts';

export interface DataKeySource {
  get(ciphertext: Uint8Array, context: EncryptionContext): Promise<Uint8Array>;
}

export interface PayloadDecryptor {
  decrypt(message: Uint8Array, dataKey: Uint8Array): Promise<Uint8Array>;
}

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
    const envelope = parseEnvelope(record.data);
    const dataKey = await this.#opts.dataKeys.get(envelope.key, this.#opts.contextFor(record));
    const compressed = await this.#opts.decryptor.decrypt(envelope.payload, dataKey);
    const json = await gunzipCapped(compressed, this.#opts.maxRecordBytes);
    const decoded = decodeRecord(json, {
      version: envelope.version,
      position: { stream: record.stream, shardId: record.shardId, sequenceNumber: record.sequenceNumber },
    });
    return this.#opts.enrich ? this.#opts.enrich(decoded) : decoded;
  }
}
