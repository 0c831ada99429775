/**
 * The AWS SDK errors the exporter's clients share a meaning for, so KMS,
 * Kinesis and the lease table (DynamoDB) read a failure the same way.
 */

/** The caller is not allowed, or not who it says: a policy or credential problem that waiting does not fix. */
export const ACCESS_DENIED_ERRORS: ReadonlySet<string> = new Set(['AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException']);

/** A service saw credentials that ran out, typically a session token expiring while it was being refreshed. */
export const EXPIRED_CREDENTIALS_ERRORS: ReadonlySet<string> = new Set(['ExpiredTokenException', 'ExpiredToken', 'RequestExpired']);

/**
 * Credential failures in a row one call path waits out, with its ordinary
 * backoff, before it reports `credentials_unavailable` (the stream stops, and
 * is re-checked with backoff): about 6–13 s with the default backoff of
 * Kinesis, the lease table and KMS. A blip (one refresh that failed) costs one
 * short retry; a provider that keeps failing is named on /readyz.
 */
export const CREDENTIALS_ATTEMPTS = 8;

/** Too many requests: back off and try again. */
export const THROTTLING_ERRORS: ReadonlySet<string> = new Set([
  'ProvisionedThroughputExceededException',
  'LimitExceededException',
  'ThrottlingException',
  'KMSThrottlingException',
  'TooManyRequestsException',
  'RequestLimitExceeded',
]);

/**
 * Credentials that could not be had just now: the provider chain failed
 * (CredentialsProviderError: STS, the instance or container endpoint, a web
 * identity token file being rotated, or no credentials configured at all) or
 * the service saw them expire. Retried a few times, never read as access
 * denied: the next refresh usually works.
 */
export function isCredentialsFailure(error: unknown): boolean {
  const { name } = awsErrorOf(error);
  return name === 'CredentialsProviderError' || EXPIRED_CREDENTIALS_ERRORS.has(name);
}

/** The SDK's error for a client with no region: nothing changes until someone configures one. */
export function isMissingRegion(error: unknown): boolean {
  return error instanceof Error && /^Region is missing/.test(error.message);
}

/** An SDK error's name and HTTP status, whatever was thrown. */
export function awsErrorOf(error: unknown): { name: string; status: number | undefined; serverFault: boolean } {
  const e = error as { name?: unknown; $metadata?: { httpStatusCode?: number }; $fault?: string } | null | undefined;
  return { name: typeof e?.name === 'string' ? e.name : '', status: e?.$metadata?.httpStatusCode, serverFault: e?.$fault === 'server' };
}
