/**
 * The AWS SDK error names the consumer's clients share a meaning for, so
 * Kinesis and the lease table (DynamoDB) read a failure the same way.
 */

/** The caller is not allowed, or not who it says: a policy or credential problem that waiting does not fix. */
export const ACCESS_DENIED_ERRORS: ReadonlySet<string> = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'ExpiredTokenException']);

/** Too many requests: back off and try again. */
export const THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/** An SDK error's name and HTTP status, whatever was thrown. */
export function awsErrorOf(error: unknown): { name: string; status: number | undefined; serverFault: boolean } {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number }; $fault?: string } | null | undefined;
  return { name: typeof e?.name === 'string' ? e.name : '', status: e?.$metadata?.httpStatusCode, serverFault: e?.$fault === 'server' };
}
