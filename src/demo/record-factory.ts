/**
 * Makes Kinesis record data with the byte structure Database Activity
 * Streams writes, for tests and for the demo traffic simulator: DAS events
 * in the inner record JSON, gzipped, encrypted as an AWS Encryption SDK
 * message under a raw AES keyring (`BC`/`DataKey`) whose wrapping key is the
 * plaintext of a KMS data key, wrapped in the envelope JSON with the spacing
 * real records have. Like a real stream, one data key (and so one `key`
 * field) serves many consecutive records before it is rotated.
 *
 * The tests' mutations of such records (a rewritten payload, a flipped
 * byte) and their KMS-less data keys are in test/support/record-mutations.ts.
 */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  AlgorithmSuiteIdentifier,
  buildClient,
  CommitmentPolicy,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
} from '@aws-crypto/client-node';
import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import type { KMSClient } from '@aws-sdk/client-kms';
import { DAS_SUITES } from '../decrypt/message-header.ts';
import type { DasSuiteId } from '../decrypt/message-header.ts';
import { DAS_KEY_NAME, DAS_KEY_NAMESPACE } from '../decrypt/payload.ts';
import type { EncryptionContext } from '../source/record.ts';
import { encryptionContextFor } from '../source/resource.ts';

const gzipAsync = promisify(gzip);

export interface GeneratedDataKey {
  plaintext: Uint8Array;
  /** What goes, base64-encoded, into the envelope's `key`. */
  ciphertextBlob: Uint8Array;
}

/** Where data keys come from: KMS, the local KMS of the demo, or a test double. */
export interface DataKeyGenerator {
  generateDataKey(context: EncryptionContext): Promise<GeneratedDataKey>;
}

/** A DataKeyGenerator backed by KMS GenerateDataKey (AES_256) under `keyId`. */
export function kmsDataKeySource(kms: KMSClient, keyId: string): DataKeyGenerator {
  return {
    async generateDataKey(context) {
      const response = await kms.send(
        new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
      );
      if (response.Plaintext === undefined || response.CiphertextBlob === undefined) {
        throw new Error(`KMS GenerateDataKey for ${keyId} returned no Plaintext or CiphertextBlob`);
      }
      return { plaintext: response.Plaintext, ciphertextBlob: response.CiphertextBlob };
    },
  };
}

/** How an engine's stream encrypts: algorithm suite, frame length and envelope version. */
export interface EngineProfile {
  suiteId: DasSuiteId;
  frameLength: number;
  version: string;
}

/** As the real Aurora PostgreSQL record in the shared fixtures. */
export const AURORA_POSTGRESQL: EngineProfile = {
  suiteId: DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA256,
  frameLength: 4096,
  version: '1.1',
};

/** As the real Aurora MySQL 2.11 records in the shared fixtures. */
export const AURORA_MYSQL: EngineProfile = {
  suiteId: DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
  frameLength: 262144,
  version: '1.2',
};

export interface DasRecordFactoryOptions {
  /** `cluster-…` (Aurora) or `db-…` (RDS instance); decides the KMS encryption context. */
  resourceId: string;
  dataKeys: DataKeyGenerator;
  /** Default AURORA_POSTGRESQL. */
  profile?: EngineProfile;
  /** Records sharing one data key before a new one is generated. Default 100. */
  recordsPerDataKey?: number;
}

export interface DasRecordContent {
  clusterId: string;
  instanceId: string;
  /** Raw DAS events (`type` `record` or `heartbeat`), as they appear in `databaseActivityEventList`. */
  events: readonly unknown[];
}

const SUITE_IDENTIFIERS: Record<DasSuiteId, AlgorithmSuiteIdentifier> = {
  [DAS_SUITES.AES256_GCM_IV12_TAG16]: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16,
  [DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA256]: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA256,
  [DAS_SUITES.AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384]:
    AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
};

type EsdkEncrypt = ReturnType<typeof buildClient>['encrypt'];

interface DataKeyLease {
  key: Promise<GeneratedDataKey>;
  uses: number;
}

export class DasRecordFactory {
  readonly #context: EncryptionContext;
  readonly #dataKeys: DataKeyGenerator;
  readonly #profile: EngineProfile;
  readonly #recordsPerDataKey: number;
  // Encrypting with a non-committing suite needs the FORBID_ENCRYPT policy.
  readonly #encrypt: EsdkEncrypt = buildClient(CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT).encrypt;
  #lease: DataKeyLease | undefined;

  constructor(options: DasRecordFactoryOptions) {
    this.#context = encryptionContextFor(options.resourceId);
    this.#dataKeys = options.dataKeys;
    this.#profile = options.profile ?? AURORA_POSTGRESQL;
    this.#recordsPerDataKey = options.recordsPerDataKey ?? 100;
    if (!Number.isSafeInteger(this.#recordsPerDataKey) || this.#recordsPerDataKey < 1) {
      throw new RangeError(`recordsPerDataKey must be an integer of at least 1 (actual: ${this.#recordsPerDataKey})`);
    }
  }

  /** Kinesis record data (the envelope JSON bytes) carrying `content`. */
  async record(content: DasRecordContent): Promise<Uint8Array> {
    const inner = JSON.stringify({
      type: 'DatabaseActivityMonitoringRecord',
      clusterId: content.clusterId,
      instanceId: content.instanceId,
      databaseActivityEventList: content.events,
    });
    return this.recordFromPlaintext(await gzipAsync(inner));
  }

  /** Kinesis record data whose encrypted payload is exactly `plaintext` (normally gzip; anything, for fault tests). */
  async recordFromPlaintext(plaintext: Uint8Array): Promise<Uint8Array> {
    const dataKey = await this.#nextDataKey();
    const keyring = new RawAesKeyringNode({
      keyNamespace: DAS_KEY_NAMESPACE,
      keyName: DAS_KEY_NAME,
      // The constructor zeroes its input, and the data key serves further records.
      unencryptedMasterKey: new Uint8Array(dataKey.plaintext),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    const { result } = await this.#encrypt(keyring, plaintext, {
      suiteId: SUITE_IDENTIFIERS[this.#profile.suiteId],
      frameLength: this.#profile.frameLength,
      encryptionContext: {},
    });
    return formatEnvelope({
      version: this.#profile.version,
      databaseActivityEvents: result,
      key: dataKey.ciphertextBlob,
    });
  }

  async #nextDataKey(): Promise<GeneratedDataKey> {
    if (this.#lease === undefined || this.#lease.uses >= this.#recordsPerDataKey) {
      const lease: DataKeyLease = { key: this.#dataKeys.generateDataKey(this.#context), uses: 0 };
      this.#lease = lease;
      // A failed generation must not be reused by the records that follow.
      lease.key.catch(() => {
        if (this.#lease === lease) this.#lease = undefined;
      });
    }
    this.#lease.uses += 1;
    return this.#lease.key;
  }
}

export interface EnvelopeFields {
  version: string;
  /** The Encryption SDK message. */
  databaseActivityEvents: Uint8Array;
  /** The KMS ciphertext blob of the data key. */
  key: Uint8Array;
}

/** The envelope JSON as Aurora writes it, spacing included (`"type": "…"`, `"key" : "…"`). */
export function formatEnvelope(fields: EnvelopeFields): Uint8Array {
  const json =
    `{"type": "DatabaseActivityMonitoringRecords","version": ${JSON.stringify(fields.version)},` +
    `"databaseActivityEvents": "${Buffer.from(fields.databaseActivityEvents).toString('base64')}",` +
    `"key" : "${Buffer.from(fields.key).toString('base64')}"}`;
  return Buffer.from(json, 'utf8');
}
