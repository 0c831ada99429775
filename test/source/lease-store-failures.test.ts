import assert from 'node:assert/strict';
import { DynamoDBServiceException, ProvisionedThroughputExceededException, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { CredentialsProviderError } from '@smithy/core/config';
import { classifyLeaseStoreError, KinesisCallError, leaseStoreCall, LeaseStoreError } from '../../src/source/checkpoints/failures.ts';
import { StreamOwnedError } from '../../src/source/checkpoints/store.ts';
import { LeaseTableFormError } from '../../src/source/leases/lease-table.ts';

const dynamo = (name: string, status: number, fault: 'client' | 'server' = 'client') =>
  new DynamoDBServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: `${name} (test)` });
const fsError = (code: string) => Object.assign(new Error(`${code} (test)`), { code, syscall: 'rename', path: '/state/x.checkpoints.json.tmp' });

describe('lease store failures', () => {
  const cases: [string, unknown, ReturnType<typeof classifyLeaseStoreError>][] = [
    ['DynamoDB access denied', dynamo('AccessDeniedException', 400), { kind: 'fatal', reason: 'lease_table_access_denied' }],
    // Credentials that ran out while being refreshed are refreshed again, not a policy that refuses.
    ['a session token that expired mid-refresh', dynamo('ExpiredTokenException', 400), { kind: 'retryable', reason: 'credentials' }],
    ['a request signed with credentials that expired', dynamo('RequestExpired', 400), { kind: 'retryable', reason: 'credentials' }],
    ['the SDK provider failing to refresh credentials', new CredentialsProviderError('could not load credentials from the container endpoint (test)', { tryNextLink: false }), { kind: 'retryable', reason: 'credentials' }],
    ['no region configured', new Error('Region is missing'), { kind: 'fatal', reason: 'aws_config_missing' }],
    ['the table is gone', new ResourceNotFoundException({ message: 'no table (test)', $metadata: { httpStatusCode: 400 } }), { kind: 'fatal', reason: 'lease_table_not_found' }],
    ['a table of another schema', dynamo('ValidationException', 400), { kind: 'fatal', reason: 'lease_table_invalid' }],
    ['single-stream leases in a table several streams would share', new LeaseTableFormError('t', "lease table t holds leases in KCL's single-stream form (test)"), { kind: 'fatal', reason: 'lease_table_invalid' }],
    ['throttled', new ProvisionedThroughputExceededException({ message: 'slow down (test)', $metadata: { httpStatusCode: 400 } }), { kind: 'retryable', reason: 'throttled' }],
    ['DynamoDB 500', dynamo('InternalServerError', 500, 'server'), { kind: 'retryable', reason: 'service_unavailable' }],
    ['a read-only state directory', fsError('EROFS'), { kind: 'fatal', reason: 'checkpoint_dir_denied' }],
    ['a state directory of another owner', fsError('EACCES'), { kind: 'fatal', reason: 'checkpoint_dir_denied' }],
    ['the checkpoint lock taken over by another process', new StreamOwnedError('aws-rds-das-x', 'held by pid 1 on elsewhere (test)'), { kind: 'fatal', reason: 'checkpoint_lock_taken' }],
    ['a full disk', fsError('ENOSPC'), { kind: 'retryable', reason: 'unexpected' }],
    // A firewall refusing the connection to DynamoDB is no file-system refusal: keep trying.
    ['a socket refused with EPERM', Object.assign(new Error('connect EPERM 10.0.0.1:443 (test)'), { code: 'EPERM', syscall: 'connect', address: '10.0.0.1', port: 443 }), { kind: 'retryable', reason: 'unexpected' }],
    ['a connection reset', Object.assign(new Error('read ECONNRESET (test)'), { code: 'ECONNRESET', syscall: 'read' }), { kind: 'retryable', reason: 'unexpected' }],
    ['something else thrown', 'a string', { kind: 'retryable', reason: 'unexpected' }],
  ];
  for (const [name, error, expected] of cases) {
    it(`${name}: ${expected.kind} ${expected.reason}`, () => assert.deepEqual(classifyLeaseStoreError(error), expected));
  }

  it("a Kinesis call the coordinator made for itself fails as Kinesis's error, not the lease table's", async () => {
    const kinesis = Object.assign(new Error('Stream aws-rds-das-x under account 123456789012 not found (test)'), { name: 'ResourceNotFoundException' });
    await assert.rejects(leaseStoreCall(() => Promise.reject(new KinesisCallError('the identity of stream aws-rds-das-x', kinesis))), (e) => e === kinesis);
    await assert.rejects(leaseStoreCall(() => Promise.reject(kinesis)), LeaseStoreError);
  });
});
