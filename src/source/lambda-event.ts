/**
 * Reads the Kinesis records AWS hands over as JSON: the event a Lambda
 * function receives (`{"Records":[{"kinesis":{…},"eventID":…,"eventSourceARN":…}]}`)
 * and the records `get-records` prints (`Data`/`SequenceNumber`, or
 * `data`/`sequenceNumber` as the SDKs and the Lambda event spell them).
 * Each entry is judged on its own: a malformed one becomes a failure value
 * beside the others, never an exception that hides them.
 */
import { DasError, type FailureReason } from '../errors.ts';
import { decodeBase64Strict } from './envelope.ts';
import type { SourceRecord } from './record.ts';
import { parseKinesisStreamArn } from './resource.ts';

/** What one JSON Kinesis record says about itself; only `data` is always there. */
export interface KinesisRecordFields {
  /** The record's data, base64-decoded: the envelope JSON bytes. */
  data: Buffer;
  stream?: string;
  shardId?: string;
  sequenceNumber?: string;
  approximateArrivalTimestamp?: Date;
}

export type FieldsResult = { ok: true; fields: KinesisRecordFields } | { ok: false; reason: FailureReason; message: string };

export type LambdaEntryResult =
  | { ok: true; index: number; record: SourceRecord }
  | { ok: false; index: number; reason: FailureReason; message: string; eventId?: string };

/**
 * Every entry of a Lambda Kinesis event (or a single entry), in order. An
 * entry must say its stream, shard and sequence number, as Lambda's always do.
 * Throws DasError(invalid_source_record) only when `event` is no Kinesis event at all.
 */
export function parseLambdaEvent(event: unknown): LambdaEntryResult[] {
  const entries = isObject(event) && Array.isArray(event.Records) ? (event.Records as unknown[]) : isObject(event) && 'kinesis' in event ? [event] : undefined;
  if (entries === undefined) {
    throw new DasError('invalid_source_record', 'not a Lambda Kinesis event: expected {"Records":[…]} or one record with "kinesis"');
  }
  return entries.map((entry, index): LambdaEntryResult => {
    const eventId = isObject(entry) && typeof entry.eventID === 'string' ? entry.eventID : undefined;
    const failed = (reason: FailureReason, message: string): LambdaEntryResult => ({
      ok: false,
      index,
      reason,
      message: `Records[${index}]: ${message}`,
      ...(eventId === undefined ? {} : { eventId }),
    });
    const read = readLambdaEntry(entry);
    if (!read.ok) return failed(read.reason, read.message);
    const { data, stream, shardId, sequenceNumber, approximateArrivalTimestamp } = read.fields;
    if (stream === undefined) return failed('invalid_source_record', 'eventSourceARN is missing or not a Kinesis stream ARN');
    if (shardId === undefined) return failed('invalid_source_record', 'eventID is missing or not "<shard id>:<sequence number>"');
    if (sequenceNumber === undefined) return failed('invalid_source_record', 'kinesis.sequenceNumber is missing');
    const record: SourceRecord = { stream, shardId, sequenceNumber, data };
    if (approximateArrivalTimestamp) record.approximateArrivalTimestamp = approximateArrivalTimestamp;
    return { ok: true, index, record };
  });
}

/** One Lambda event entry; stream and shard come from `eventSourceARN` and `eventID` when they are there. */
export function readLambdaEntry(entry: unknown): FieldsResult {
  if (!isObject(entry)) return invalid('entry is not an object');
  if (typeof entry.eventSource === 'string' && entry.eventSource !== 'aws:kinesis') {
    return invalid('eventSource is not "aws:kinesis"');
  }
  if (!isObject(entry.kinesis)) return invalid('"kinesis" is missing or not an object');
  const read = readKinesisRecord(entry.kinesis, 'kinesis.');
  if (!read.ok) return read;
  const fields = { ...read.fields };
  const stream = typeof entry.eventSourceARN === 'string' ? parseKinesisStreamArn(entry.eventSourceARN)?.streamName : undefined;
  if (stream !== undefined) fields.stream = stream;
  const shardId = typeof entry.eventID === 'string' ? shardOfEventId(entry.eventID) : undefined;
  if (shardId !== undefined) fields.shardId = shardId;
  return { ok: true, fields };
}

/**
 * One record as `aws kinesis get-records` (`Data`, `SequenceNumber`, …) or the
 * SDKs and Lambda (`data`, `sequenceNumber`, …) print it. A stream ARN or name
 * and a shard id, which some tools add, are picked up too.
 */
export function readKinesisRecord(value: Record<string, unknown>, prefix = ''): FieldsResult {
  const [dataName, data] = either(value, 'Data', 'data');
  if (typeof data !== 'string') return invalid(`${prefix}${dataName} is ${data === undefined ? 'missing' : 'not a base64 string'}`);
  let bytes: Buffer;
  try {
    bytes = decodeBase64Strict(data, `${prefix}${dataName}`);
  } catch (error) {
    if (error instanceof DasError) return { ok: false, reason: error.reason, message: error.message };
    throw error;
  }
  const fields: KinesisRecordFields = { data: bytes };

  const [sequenceName, sequence] = either(value, 'SequenceNumber', 'sequenceNumber');
  if (sequence !== undefined) {
    if (typeof sequence !== 'string' || sequence === '') return invalid(`${prefix}${sequenceName} is not a non-empty string`);
    fields.sequenceNumber = sequence;
  }
  const arrival = toDate(either(value, 'ApproximateArrivalTimestamp', 'approximateArrivalTimestamp')[1]);
  if (arrival) fields.approximateArrivalTimestamp = arrival;

  const arn = either(value, 'StreamARN', 'streamARN')[1] ?? value.eventSourceARN;
  const name = either(value, 'StreamName', 'streamName')[1];
  const stream = typeof arn === 'string' ? parseKinesisStreamArn(arn)?.streamName : typeof name === 'string' && name !== '' ? name : undefined;
  if (stream !== undefined) fields.stream = stream;
  const shardId = either(value, 'ShardId', 'shardId')[1];
  if (typeof shardId === 'string' && shardId !== '') fields.shardId = shardId;
  return { ok: true, fields };
}

/** `shardId-000000000001:4964…` → `shardId-000000000001`. */
function shardOfEventId(eventId: string): string | undefined {
  const colon = eventId.indexOf(':');
  return colon > 0 ? eventId.slice(0, colon) : undefined;
}

/**
 * Lambda and AWS CLI v1 give epoch seconds (with a fraction), CLI v2 and
 * JSON.stringify an ISO string. An unreadable timestamp is dropped: it is
 * informational and must not cost a decryptable record.
 */
const MAX_DATE_MS = 8.64e15;

function toDate(value: unknown): Date | undefined {
  const ms =
    typeof value === 'number' ? value * 1000 : typeof value === 'string' ? (/^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : Date.parse(value)) : NaN;
  // Beyond ±8.64e15 ms a Date is Invalid Date, which would throw later in toISOString.
  return Number.isFinite(ms) && Math.abs(Math.round(ms)) <= MAX_DATE_MS ? new Date(Math.round(ms)) : undefined;
}

function either(value: Record<string, unknown>, upper: string, lower: string): [string, unknown] {
  return value[upper] !== undefined ? [upper, value[upper]] : [lower, value[lower]];
}

function invalid(message: string): FieldsResult {
  return { ok: false, reason: 'invalid_source_record', message };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
