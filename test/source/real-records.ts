/**
 * The two real DAS fixtures in the shapes the source tests need: the Aurora
 * MySQL Lambda event, its two envelopes as the Kinesis data bytes, and the
 * Aurora PostgreSQL envelope file; plus a way to feed bytes to a reader in
 * chunks of a chosen size.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { realRecordPath } from '../support/fixtures.ts';

export const MYSQL_STREAM = 'aws-rds-das-cluster-B6K6E4422P5KM33ZF7GCJOA44A';
export const MYSQL_SHARD = 'shardId-000000000001';

export interface LambdaKinesisEntry {
  kinesis: { data: string; sequenceNumber: string; partitionKey: string; approximateArrivalTimestamp: number; kinesisSchemaVersion: string };
  eventID: string;
  eventSourceARN: string;
  [key: string]: unknown;
}

export function lambdaEventBytes(): Buffer {
  return readFileSync(realRecordPath('aurora-mysql-lambda-kinesis-event.json'));
}

export function lambdaEvent(): { Records: LambdaKinesisEntry[] } {
  return JSON.parse(lambdaEventBytes().toString('utf8')) as { Records: LambdaKinesisEntry[] };
}

/** The two Aurora MySQL envelopes exactly as Kinesis carried them. */
export function mysqlEnvelopes(): Buffer[] {
  return lambdaEvent().Records.map((entry) => Buffer.from(entry.kinesis.data, 'base64'));
}

/** The Aurora PostgreSQL envelope file as stored (pretty-printed, with a trailing newline or not). */
export function postgresEnvelopeFile(): Buffer {
  return readFileSync(realRecordPath('aurora-postgresql-record.json'));
}

/** The PostgreSQL envelope on one line, as Kinesis would carry it. */
export function postgresEnvelope(): Buffer {
  return Buffer.from(JSON.stringify(JSON.parse(postgresEnvelopeFile().toString('utf8'))));
}

export function postgresEnvelopeObject(): Record<string, string> {
  return JSON.parse(postgresEnvelopeFile().toString('utf8')) as Record<string, string>;
}

export function chunked(bytes: Buffer, size: number): Readable {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  return Readable.from(chunks);
}
