/**
 * Builds the decoding path from a Config and the AWS clients, for
 * build-pipeline.ts (the one assembly point); shared by
 * `replay`, `run`, `demo` and the Lambda handler, so they open records the
 * same way.
 */
import { KMSClient, type KMSClientConfig } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Config } from '../config/config.ts';
import { DataKeyCache, type DataKeyObserver } from '../decrypt/data-keys.ts';
import { DasRecordOpener } from '../record/opener.ts';
import { NativePayloadDecryptor } from '../decrypt/fast/native-payload.ts';
import { EsdkPayloadDecryptor } from '../decrypt/payload.ts';
import { applyPolicy } from '../policy/apply.ts';
import type { LoadedPolicy } from '../policy/holder.ts';
import type { PolicyRuntime } from '../policy/runtime.ts';
import { DasError, describeError } from '../errors.ts';
import { ConfigError } from '../config/config.ts';
import type { EncryptionContext, SourceRecord } from '../source/record.ts';
import { encryptionContextFor, parseStreamRef } from '../source/resource.ts';
import type { ObservedTimes } from '../sinks/otlp/observed-times.ts';
import type { ResourceFacts } from '../sinks/otlp/resource.ts';
import type { PrepareStepName } from '../sinks/prepared.ts';
import type { PreparePool } from '../workers/pool.ts';
import type { PolicyVersion, PrepareSetup } from '../record/processor.ts';
import { USER_AGENT } from '../version.ts';

/** The KMS client of the standard AWS SDK chain (region, credentials, AWS_ENDPOINT_URL_KMS), `config` over it; its User-Agent names das-exporter. */
export function createKmsClient(config: KMSClientConfig = {}): KMSClient {
  // DataKeyCache owns retrying, with backoff that knows throttling from bad data.
  // Without throwOnRequestTimeout the handler only warns, and a hung connection stalls a shard forever.
  return new KMSClient({
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true }),
    customUserAgent: USER_AGENT,
    ...config,
  });
}

interface AwsClient {
  config: { region: () => Promise<string>; credentials: () => Promise<unknown> };
}

/**
 * Resolves each client's region and credentials once, before any work: a
 * missing one is a configuration error to report at start-up, not a
 * failure to retry on every record.
 */
export async function requireAwsConfig(clients: Readonly<Record<string, AwsClient>>): Promise<void> {
  const problems: string[] = [];
  for (const [service, client] of Object.entries(clients)) {
    try {
      await client.config.region();
    } catch (error) {
      problems.push(`${service}: no AWS region (set AWS_REGION): ${describeError(error)}`);
      continue;
    }
    try {
      await client.config.credentials();
    } catch (error) {
      problems.push(`${service}: no AWS credentials from the standard chain (environment, profile, web identity, container or instance role): ${describeError(error)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Encryption context per record: an explicit resource id for its stream, else one read off the stream name. */
export function contextResolver(resourceIds: Config['resourceIds']): (record: SourceRecord) => EncryptionContext {
  const cache = new Map<string, EncryptionContext>();
  return (record) => {
    let context = cache.get(record.stream);
    if (context) return context;
    const explicit = resourceIds[record.stream] ?? resourceIds['*'];
    if (explicit) context = encryptionContextFor(explicit);
    else {
      try {
        context = encryptionContextFor(parseStreamRef(record.stream).resourceId);
      } catch {
        throw new DasError(
          'unknown_resource',
          `cannot tell the resource id of stream "${record.stream}": name it aws-rds-das-<resource id> or pass --resource-id`,
        );
      }
    }
    cache.set(record.stream, context);
    return context;
  };
}

function buildDataKeys(config: Config, kms: KMSClient, observer?: DataKeyObserver): DataKeyCache {
  return new DataKeyCache({
    kms,
    maxEntries: config.dataKeyCacheSize,
    ttlMs: config.dataKeyTtlSeconds * 1000,
    ...(observer ? { observer } : {}),
  });
}

/** How `buildOpener` opens records, beyond the config: everything is optional (records then are opened for their events, on this thread). */
export interface OpenerChoices {
  /** The resources of the log records and spans that prepare steps make: those the log sink's mapper uses. */
  resources?: ResourceFacts;
  /** The log sink mapper's read times (`--old-events observed-time`), which prepared records then draw from too. */
  observedTimes?: ObservedTimes;
  /** The sinks' prepare steps (sinks/prepared.ts), and the spans step's settings; none: records are opened for their events. */
  steps?: readonly PrepareStepName[];
  spans?: PrepareSetup['spans'];
  /** Worker threads that run the prepare steps (only with steps). */
  pool?: PreparePool;
  observer?: DataKeyObserver;
  onLocalFallback?: (reason: string) => void;
  /** The audit policy: records are opened with its current version, and with each reload's (`setPolicy`) from then on. */
  policy?: PolicyRuntime;
}

/**
 * The one opener (record/opener.ts) as a Config says: data keys cached,
 * records decrypted (node:crypto for suites 0x0078/0x0178/0x0378 with one
 * BC/DataKey key, the Encryption SDK otherwise), decoded, enriched, the
 * policy applied, and prepared for the sinks' steps in `pool` when there is
 * one.
 */
export function buildOpener(config: Config, kms: KMSClient, choices: OpenerChoices = {}): DasRecordOpener {
  const opener = new DasRecordOpener({
    dataKeys: buildDataKeys(config, kms, choices.observer),
    contextFor: contextResolver(config.resourceIds),
    // Without resources, the config's friendly names still name clusters for the policy's `cluster:` rules.
    setup: prepareSetup(config, choices.resources ?? { serviceNames: config.serviceNames }, { ...choices, steps: choices.steps ?? [] }),
    ...(choices.pool ? { pool: choices.pool } : {}),
    ...(choices.onLocalFallback ? { onLocalFallback: choices.onLocalFallback } : {}),
  });
  const policy = choices.policy;
  // A reloaded policy reaches the workers before any record that names it.
  if (policy) policy.onChange((loaded) => opener.setPolicy(policyVersion(loaded)));
  return opener;
}

/** `observedTimes`: the log sink mapper's, which the prepared records then draw from too (`--old-events observed-time`). */
export function prepareSetup(
  config: Config,
  resources: ResourceFacts,
  options: { observedTimes?: ObservedTimes; policy?: PolicyRuntime; steps: readonly PrepareStepName[]; spans?: PrepareSetup['spans'] },
): PrepareSetup {
  const setup: PrepareSetup = { redact: config.redact, maxRecordBytes: config.maxRecordBytes, resources, oldEvents: config.oldEvents, steps: options.steps };
  if (config.oldEvents === 'observed-time' && options.observedTimes) setup.observedTimes = options.observedTimes.shared;
  if (options.policy) setup.policy = policyVersion(options.policy.current);
  if (options.spans) setup.spans = options.spans;
  return setup;
}

/** The plain-data form of a loaded policy that workers are sent. */
export function policyVersion(policy: LoadedPolicy): PolicyVersion {
  return { generation: policy.generation, document: policy.document };
}
