/**
 * One Kinesis record as the pipeline sees it, whichever source produced it
 * (Kinesis polling, a Lambda event, a replayed file).
 */
export interface SourceRecord {
  /** Stream name (`aws-rds-das-<resource id>`) or, for a replayed file without one, the file name. */
  stream: string;
  shardId: string;
  sequenceNumber: string;
  /** The Kinesis record's data: the envelope JSON bytes. */
  data: Uint8Array;
  approximateArrivalTimestamp?: Date;
}

/** Encryption context KMS needs for a DAS data key: exactly one entry. */
export type EncryptionContext = Readonly<Record<string, string>>;
