import assert from 'node:assert/strict';
import { DasError } from '../../src/errors.ts';
import { parseEnvelope } from '../../src/source/envelope.ts';
import { parseLambdaEvent, readKinesisRecord, type LambdaEntryResult } from '../../src/source/lambda-event.ts';
import { encryptionContextFor, parseStreamRef } from '../../src/source/resource.ts';
import { lambdaEvent, MYSQL_SHARD, MYSQL_STREAM, mysqlEnvelopes } from './real-records.ts';

function okRecords(results: LambdaEntryResult[]) {
  return results.map((result) => {
    assert.ok(result.ok, `entry ${result.index} failed: ${result.ok ? '' : result.message}`);
    return result.record;
  });
}

describe('parseLambdaEvent', () => {
  it('the real Aurora MySQL event gives two records with stream, shard, sequence and arrival time', () => {
    const event = lambdaEvent();
    const records = okRecords(parseLambdaEvent(event));
    assert.equal(records.length, 2);
    records.forEach((record, i) => {
      const entry = event.Records[i]!;
      assert.equal(record.stream, MYSQL_STREAM);
      assert.equal(record.shardId, MYSQL_SHARD);
      assert.equal(record.sequenceNumber, entry.kinesis.sequenceNumber);
      assert.equal(record.approximateArrivalTimestamp?.getTime(), Math.round(entry.kinesis.approximateArrivalTimestamp * 1000));
      assert.deepEqual(Buffer.from(record.data), mysqlEnvelopes()[i]);
    });
  });

  it('the records open as envelopes (version 1.2, one shared key) and their stream gives the KMS context', () => {
    const [first, second] = okRecords(parseLambdaEvent(lambdaEvent())).map((record) => ({ record, envelope: parseEnvelope(record.data) }));
    assert.equal(first!.envelope.version, '1.2');
    assert.ok(first!.envelope.key.equals(second!.envelope.key));
    assert.deepEqual(encryptionContextFor(parseStreamRef(first!.record.stream).resourceId), {
      'aws:rds:dbc-id': 'cluster-B6K6E4422P5KM33ZF7GCJOA44A',
    });
  });

  it('accepts a single entry instead of an event', () => {
    const [result] = parseLambdaEvent(lambdaEvent().Records[1]);
    assert.ok(result?.ok);
    assert.equal(result.record.sequenceNumber, lambdaEvent().Records[1]!.kinesis.sequenceNumber);
  });

  it('an empty event is no records', () => {
    assert.deepEqual(parseLambdaEvent({ Records: [] }), []);
  });

  it('judges each entry on its own: bad ones fail in place, good ones still come through', () => {
    const [good, other] = lambdaEvent().Records;
    const bad: [unknown, string, RegExp][] = [
      [{ ...good, kinesis: { ...good!.kinesis, data: good!.kinesis.data.slice(0, -1) } }, 'bad_base64', /kinesis\.data is not valid base64/],
      [{ ...good, kinesis: { ...good!.kinesis, data: `-${good!.kinesis.data.slice(1)}` } }, 'bad_base64', /URL-safe/],
      [{ ...good, kinesis: undefined }, 'invalid_source_record', /"kinesis" is missing/],
      [{ ...good, kinesis: { ...good!.kinesis, data: undefined } }, 'invalid_source_record', /kinesis\.data is missing/],
      [{ ...good, eventID: undefined }, 'invalid_source_record', /eventID/],
      [{ ...good, eventID: 'no-colon-here' }, 'invalid_source_record', /eventID/],
      [{ ...good, eventSourceARN: 'arn:aws:sqs:us-east-1:123456789012:queue' }, 'invalid_source_record', /eventSourceARN/],
      [{ ...good, kinesis: { ...good!.kinesis, sequenceNumber: 12 } }, 'invalid_source_record', /sequenceNumber/],
      [{ ...good, eventSource: 'aws:sqs' }, 'invalid_source_record', /eventSource/],
      ['a string', 'invalid_source_record', /not an object/],
    ];
    for (const [entry, reason, message] of bad) {
      const results = parseLambdaEvent({ Records: [good, entry, other] });
      assert.equal(results.length, 3);
      assert.ok(results[0]!.ok && results[2]!.ok, 'the good entries around the bad one are read');
      const failed = results[1]!;
      assert.ok(!failed.ok, `expected ${String(message)} to fail`);
      assert.equal(failed.index, 1);
      assert.equal(failed.reason, reason);
      assert.match(failed.message, /^Records\[1\]: /);
      assert.match(failed.message, message);
    }
  });

  it('a failed entry keeps its eventID so it can be reported to Lambda as a batch item failure', () => {
    const good = lambdaEvent().Records[0]!;
    const [result] = parseLambdaEvent({ Records: [{ ...good, kinesis: { ...good.kinesis, data: '' } }] });
    assert.ok(result && !result.ok);
    assert.equal(result.eventId, good.eventID);
  });

  it('something that is not a Kinesis event is a DasError, not an empty batch', () => {
    for (const event of [null, 'text', { Records: 'x' }, { detail: {} }, [lambdaEvent().Records[0]]]) {
      assert.throws(
        () => parseLambdaEvent(event),
        (error: unknown) => error instanceof DasError && error.reason === 'invalid_source_record',
      );
    }
  });
});

describe('readKinesisRecord', () => {
  const entry = lambdaEvent().Records[0]!;

  it('reads the get-records spelling (Data, SequenceNumber, ISO timestamp)', () => {
    const read = readKinesisRecord({
      Data: entry.kinesis.data,
      SequenceNumber: entry.kinesis.sequenceNumber,
      PartitionKey: entry.kinesis.partitionKey,
      ApproximateArrivalTimestamp: '2023-07-22T14:04:13.976000+00:00',
    });
    assert.ok(read.ok);
    assert.deepEqual(read.fields.data, mysqlEnvelopes()[0]);
    assert.equal(read.fields.sequenceNumber, entry.kinesis.sequenceNumber);
    assert.equal(read.fields.approximateArrivalTimestamp?.toISOString(), '2023-07-22T14:04:13.976Z');
    assert.equal(read.fields.stream, undefined);
  });

  it('reads the SDK spelling and a stream ARN or shard id when a tool added them', () => {
    const read = readKinesisRecord({ ...entry.kinesis, StreamARN: entry.eventSourceARN, ShardId: MYSQL_SHARD });
    assert.ok(read.ok);
    assert.equal(read.fields.stream, MYSQL_STREAM);
    assert.equal(read.fields.shardId, MYSQL_SHARD);
    assert.equal(read.fields.approximateArrivalTimestamp?.getTime(), 1690034653976);
  });

  it('an unreadable arrival time is dropped, not a failure', () => {
    const read = readKinesisRecord({ ...entry.kinesis, approximateArrivalTimestamp: 'yesterday' });
    assert.ok(read.ok);
    assert.equal(read.fields.approximateArrivalTimestamp, undefined);
  });
});
