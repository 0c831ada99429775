/**
 * The AWS SDK errors the exporter's clients share a meaning for, so KMS,
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

/** The SDK's errors for a client with no region or no credentials. */
export function isMissingAwsConfig(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  return error.name === 'CredentialsProviderError' || /^Region is missing/.test(error.message);
}

/** An SDK error's name and HTTP status, whatever was thrown. */
export function awsErrorOf(error: unknown): { name: string; status: number | undefined; serverFault: boolean } {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number }; $fault?: string } | null | undefined;
  return { name: typeof e?.name === 'string' ? e.name : '', status: e?.$metadata?.httpStatusCode, serverFault: e?.$fault === 'server' };
}
