import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/config.ts';
import { encryptionContextFor, parseKinesisStreamArn, parseStreamRef, resourceKindOf } from '../../src/source/resource.ts';
import { lambdaEvent, MYSQL_STREAM } from './real-records.ts';

const CLUSTER_ID = 'cluster-B6K6E4422P5KM33ZF7GCJOA44A';
const INSTANCE_ID = 'db-ABCDEFGHIJKLMNOPQRSTUVWXY2';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('parseStreamRef', () => {
  it('the real Aurora MySQL stream name gives its cluster and the dbc-id context', () => {
    const ref = parseStreamRef(MYSQL_STREAM);
    assert.deepEqual(ref, { streamName: MYSQL_STREAM, resourceId: CLUSTER_ID, kind: 'cluster', resourceIdFrom: 'stream-name' });
    assert.deepEqual(encryptionContextFor(ref.resourceId), { 'aws:rds:dbc-id': CLUSTER_ID });
  });

  it('the real Lambda eventSourceARN gives stream, region and account', () => {
    const arn = lambdaEvent().Records[0]!.eventSourceARN;
    assert.deepEqual(parseStreamRef(arn), {
      streamName: MYSQL_STREAM,
      resourceId: CLUSTER_ID,
      kind: 'cluster',
      resourceIdFrom: 'stream-name',
      region: 'ap-northeast-2',
      accountId: '000000000000',
      partition: 'aws',
    });
  });

  for (const [partition, region] of [
    ['aws', 'us-east-1'],
    ['aws-cn', 'cn-north-1'],
    ['aws-us-gov', 'us-gov-west-1'],
    ['aws-iso-b', 'us-isob-east-1'],
  ] as const) {
    it(`an ARN in the ${partition} partition`, () => {
      const ref = parseStreamRef(`arn:${partition}:kinesis:${region}:123456789012:stream/aws-rds-das-${INSTANCE_ID}`);
      assert.equal(ref.partition, partition);
      assert.equal(ref.region, region);
      assert.equal(ref.accountId, '123456789012');
      assert.equal(ref.streamName, `aws-rds-das-${INSTANCE_ID}`);
      assert.equal(ref.resourceId, INSTANCE_ID);
    });
  }

  it('an enhanced fan-out consumer ARN names its stream', () => {
    const ref = parseStreamRef(`arn:aws:kinesis:eu-west-1:123456789012:stream/${MYSQL_STREAM}/consumer/das-exporter:1690034653`);
    assert.equal(ref.streamName, MYSQL_STREAM);
    assert.equal(ref.resourceId, CLUSTER_ID);
  });

  it('db-… is an RDS instance (Oracle, SQL Server) with the db-id context', () => {
    const ref = parseStreamRef(`aws-rds-das-${INSTANCE_ID}`);
    assert.equal(ref.kind, 'instance');
    assert.deepEqual(encryptionContextFor(ref.resourceId), { 'aws:rds:db-id': INSTANCE_ID });
  });

  describe('streams not named aws-rds-das-<resource id>', () => {
    for (const name of ['my-copy-of-das', 'aws-rds-das-', 'aws-rds-das-instance-ABC', 'aws-rds-das-cluster-', 'AWS-RDS-DAS-cluster-ABC']) {
      it(`"${name}" asks for the resource id to be set explicitly`, () => {
        const error = configError(() => parseStreamRef(name));
        assert.match(error.message, /--resource-id \/ DAS_RESOURCE_ID/);
        assert.match(error.message, new RegExp(`stream "${name}"`));
      });
    }

    it('an explicit resource id opens any stream name, and wins over the name', () => {
      assert.deepEqual(parseStreamRef('my-copy-of-das', { resourceId: INSTANCE_ID }), {
        streamName: 'my-copy-of-das',
        resourceId: INSTANCE_ID,
        kind: 'instance',
        resourceIdFrom: 'explicit',
      });
      const ref = parseStreamRef(`arn:aws-cn:kinesis:cn-north-1:123456789012:stream/${MYSQL_STREAM}`, { resourceId: INSTANCE_ID });
      assert.equal(ref.resourceId, INSTANCE_ID);
      assert.equal(ref.resourceIdFrom, 'explicit');
      assert.equal(ref.region, 'cn-north-1');
    });

    it('an explicit resource id that is not cluster-… or db-… is refused', () => {
      const error = configError(() => parseStreamRef('my-copy-of-das', { resourceId: 'my-cluster' }));
      assert.match(error.message, /"my-cluster" is not a resource id/);
    });
  });

  it('an ARN of another service, or a malformed one, is refused', () => {
    for (const arn of [
      'arn:aws:sqs:us-east-1:123456789012:aws-rds-das-cluster-ABC',
      'arn:aws:kinesis:us-east-1:123456789012:stream/',
      'arn:aws:kinesis:us-east-1:1234:stream/aws-rds-das-cluster-ABC',
    ]) {
      assert.match(configError(() => parseStreamRef(arn)).message, /not a Kinesis stream ARN/, arn);
    }
  });

  it('a value that is not a stream name is refused', () => {
    assert.match(configError(() => parseStreamRef('aws-rds-das-cluster-ABC/extra')).message, /not a Kinesis stream name/);
    assert.match(configError(() => parseStreamRef('')).message, /not a Kinesis stream name/);
  });
});

describe('parseKinesisStreamArn', () => {
  it('reads every part, and nothing from non-ARNs', () => {
    assert.deepEqual(parseKinesisStreamArn('arn:aws-us-gov:kinesis:us-gov-east-1:111122223333:stream/x'), {
      partition: 'aws-us-gov',
      region: 'us-gov-east-1',
      accountId: '111122223333',
      streamName: 'x',
    });
    assert.equal(parseKinesisStreamArn(MYSQL_STREAM), undefined);
  });
});

describe('encryptionContextFor', () => {
  it('has exactly one entry and cannot be changed', () => {
    const context = encryptionContextFor(CLUSTER_ID);
    assert.deepEqual(Object.keys(context), ['aws:rds:dbc-id']);
    assert.ok(Object.isFrozen(context));
  });

  it('refuses an id that is neither cluster-… nor db-…', () => {
    configError(() => encryptionContextFor('B6K6E4422P5KM33ZF7GCJOA44A'));
    assert.equal(resourceKindOf('db-X'), 'instance');
    assert.equal(resourceKindOf('cluster-X'), 'cluster');
  });
});
