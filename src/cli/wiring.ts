/**
 * Builds the decoding path from a Config and the AWS clients: shared by
 * `replay`, `run`, `demo` and the Lambda handler, so they open records the
 * same way.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { Config } from '../config/config.ts';
import { DataKeyCache, type DataKeyObserver } from '../decrypt/data-keys.ts';
import { DasRecordOpener } from '../decrypt/opener.ts';
import { NativePayloadDecryptor } from '../decrypt/fast/native-payload.ts';
import { EsdkPayloadDecryptor } from '../decrypt/payload.ts';
import { enrichRecord } from '../enrich/stage.ts';
import { DasError } from '../errors.ts';
import type { EncryptionContext, SourceRecord } from '../source/record.ts';
import { encryptionContextFor, parseStreamRef } from '../source/resource.ts';

/** The KMS client of the standard AWS SDK chain (region, credentials, AWS_ENDPOINT_URL_KMS). */
export function createKmsClient(): KMSClient {
  // DataKeyCache owns retrying, with backoff that knows throttling from bad data.
  // Without throwOnRequestTimeout the handler only warns, and a hung connection stalls a shard forever.
  return new KMSClient({
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 2_000, requestTimeout: 5_000, throwOnRequestTimeout: true }),
  });
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

export function buildOpener(config: Config, kms: KMSClient, observer?: DataKeyObserver): DasRecordOpener {
  return new DasRecordOpener({
    dataKeys: new DataKeyCache({
      kms,
      maxEntries: config.dataKeyCacheSize,
      ttlMs: config.dataKeyTtlSeconds * 1000,
      ...(observer ? { observer } : {}),
    }),
    // Suites 0x0078/0x0178/0x0378 with one BC/DataKey key are opened on node:crypto; anything else by the Encryption SDK.
    decryptor: new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() }),
    contextFor: contextResolver(config.resourceIds),
    maxRecordBytes: config.maxRecordBytes,
    enrich: (record) => enrichRecord(record, config.redact),
  });
}
