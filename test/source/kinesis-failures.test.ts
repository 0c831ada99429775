import assert from 'node:assert/strict';
import { AccessDeniedException, ExpiredIteratorException, KinesisServiceException, ProvisionedThroughputExceededException } from '@aws-sdk/client-kinesis';
import { CredentialsProviderError } from '@smithy/core/config';
import { classifyKinesisError, type KinesisFailure } from '../../src/source/kinesis/client.ts';

const kinesis = (name: string, status: number) => new KinesisServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: `${name} (test)` });

describe('Kinesis failures', () => {
  const cases: [string, unknown, KinesisFailure][] = [
    ['an expired iterator', new ExpiredIteratorException({ message: 'Iterator expired (test)', $metadata: { httpStatusCode: 400 } }), { kind: 'expired_iterator' }],
    ['throttled', new ProvisionedThroughputExceededException({ message: 'slow down (test)', $metadata: { httpStatusCode: 400 } }), { kind: 'retryable', reason: 'throttled' }],
    ['access denied', new AccessDeniedException({ message: 'not authorized (test)', $metadata: { httpStatusCode: 400 } }), { kind: 'fatal', reason: 'kinesis_access_denied' }],
    // Credentials that ran out while being refreshed are refreshed again, not a policy that refuses.
    ['a session token that expired mid-refresh', kinesis('ExpiredTokenException', 400), { kind: 'retryable', reason: 'credentials' }],
    ['an expired token, as STS spells it', kinesis('ExpiredToken', 400), { kind: 'retryable', reason: 'credentials' }],
    ['a request signed with credentials that expired', kinesis('RequestExpired', 400), { kind: 'retryable', reason: 'credentials' }],
    ['the SDK provider failing to refresh credentials', new CredentialsProviderError('could not load credentials from the container endpoint (test)', { tryNextLink: false }), { kind: 'retryable', reason: 'credentials' }],
    ['no region configured', new Error('Region is missing'), { kind: 'fatal', reason: 'aws_config_missing' }],
    ['Kinesis 500', Object.assign(kinesis('InternalFailure', 500), { $fault: 'server' }), { kind: 'retryable', reason: 'service_unavailable' }],
  ];
  for (const [name, error, expected] of cases) {
    it(`${name}: ${expected.kind}${'reason' in expected ? ` ${expected.reason}` : ''}`, () => assert.deepEqual(classifyKinesisError(error), expected));
  }
});
