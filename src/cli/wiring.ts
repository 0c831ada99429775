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
import { DasRecordOpener } from '../decrypt/opener.ts';
import { NativePayloadDecryptor } from '../decrypt/fast/native-payload.ts';
import { EsdkPayloadDecryptor } from '../decrypt/payload.ts';
import { enrichRecord } from '../enrich/stage.ts';
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
import { PreparingOpener } from '../workers/opener.ts';
import type { PreparePool } from '../workers/pool.ts';
import type { PolicyVersion, PrepareSetup } from '../workers/prepare.ts';
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

/**
 * The opener of `run` and `demo`: records prepared for the sinks (decrypted,
 * decoded, enriched, encoded, counted) in `pool` when there is one. The
 * resources, and the read times of `--old-events observed-time`, must be
 * those the log sink's mapper uses.
 */
export function buildPreparingOpener(
  config: Config,
  kms: KMSClient,
  options: {
    resources: ResourceFacts;
    observedTimes?: ObservedTimes;
    pool?: PreparePool;
    observer?: DataKeyObserver;
    onLocalFallback?: (reason: string) => void;
    policy?: PolicyRuntime;
    /** The sinks' prepare steps (sinks/prepared.ts), and the spans step's settings. */
    steps: readonly PrepareStepName[];
    spans?: PrepareSetup['spans'];
  },
): PreparingOpener {
  return new PreparingOpener({
    dataKeys: buildDataKeys(config, kms, options.observer),
    contextFor: contextResolver(config.resourceIds),
    setup: prepareSetup(config, options.resources, options),
    ...(options.pool ? { pool: options.pool } : {}),
    ...(options.onLocalFallback ? { onLocalFallback: options.onLocalFallback } : {}),
  });
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

/** `policy`: applied after enrichment, the policy running when each record is opened. */
export function buildOpener(config: Config, kms: KMSClient, observer?: DataKeyObserver, policy?: PolicyRuntime): DasRecordOpener {
  return new DasRecordOpener({
    dataKeys: buildDataKeys(config, kms, observer),
    // Suites 0x0078/0x0178/0x0378 with one BC/DataKey key are opened on node:crypto; anything else by the Encryption SDK.
    decryptor: new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() }),
    contextFor: contextResolver(config.resourceIds),
    maxRecordBytes: config.maxRecordBytes,
    enrich: policy ? (record) => applyPolicy(enrichRecord(record, config.redact), policy.current.compiled) : (record) => enrichRecord(record, config.redact),
  });
}
