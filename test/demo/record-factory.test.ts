import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { gunzipCappedSync } from '../../src/decrypt/gunzip.ts';
import { parseMessageHeader } from '../../src/decrypt/message-header.ts';
import type { MessageHeader } from '../../src/decrypt/message-header.ts';
import { EsdkPayloadDecryptor } from '../../src/decrypt/payload.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_MYSQL, AURORA_POSTGRESQL, DasRecordFactory, formatEnvelope, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { flipByte, flipCiphertextByte, InMemoryDataKeys, rewritePayload } from '../support/record-mutations.ts';
import type { DataKeyGenerator, GeneratedDataKey } from '../../src/demo/record-factory.ts';
import type { EncryptionContext } from '../../src/source/record.ts';
import { decryptedExamples, readJsonFixture, realRecordPath } from '../support/fixtures.ts';

const CLUSTER = 'cluster-B6K6E4422P5KM33ZF7GCJOA44A';
const CLUSTER_CONTEXT = { 'aws:rds:dbc-id': CLUSTER };

function envelopeOf(data: Uint8Array): { text: string; fields: Record<string, string> } {
  const text = Buffer.from(data).toString('utf8');
  return { text, fields: JSON.parse(text) };
}

function realMysqlEnvelopeTexts(): string[] {
  const event = JSON.parse(readFileSync(realRecordPath('aurora-mysql-lambda-kinesis-event.json'), 'utf8'));
  return event.Records.map((record: { kinesis: { data: string } }) => Buffer.from(record.kinesis.data, 'base64').toString('utf8'));
}

function realPostgresMessage(): Buffer {
  const envelope = JSON.parse(readFileSync(realRecordPath('aurora-postgresql-record.json'), 'utf8'));
  return Buffer.from(envelope.databaseActivityEvents, 'base64');
}

/** Documented events from the shared fixtures: the inner record's event list. */
function documentedEvents(name: string): unknown[] {
  const example = decryptedExamples().find((entry) => entry.name === name);
  assert.ok(example, `missing decrypted example ${name}`);
  const json = readJsonFixture(example.file) as { databaseActivityEventList?: unknown[]; databaseActivityEvents?: { databaseActivityEventList: unknown[] } };
  const events = json.databaseActivityEventList ?? json.databaseActivityEvents?.databaseActivityEventList;
  assert.ok(Array.isArray(events));
  return events;
}

async function open(data: Uint8Array, keys: InMemoryDataKeys, context: EncryptionContext = CLUSTER_CONTEXT): Promise<unknown> {
  const { fields } = envelopeOf(data);
  const dataKey = keys.plaintextOf(Buffer.from(fields['key']!, 'base64'), context);
  assert.ok(dataKey, 'the envelope key must open with the resource context');
  const gzip = await new EsdkPayloadDecryptor().decrypt(Buffer.from(fields['databaseActivityEvents']!, 'base64'), dataKey);
  return JSON.parse((gunzipCappedSync(gzip)).toString('utf8'));
}

/** The header fields that describe structure, with random values (ids, IVs, tags, key bytes) reduced to their sizes. */
function structureOf(header: MessageHeader): unknown {
  return {
    version: header.version,
    type: header.type,
    suiteId: header.suiteId,
    messageIdLength: header.messageId.length,
    encryptionContext: Object.fromEntries(
      Object.entries(header.encryptionContext).map(([key, value]) => [key, Buffer.from(value, 'base64').length]),
    ),
    encryptedDataKeys: header.encryptedDataKeys.map((edk) => ({
      providerId: edk.providerId,
      providerInfoName: edk.providerInfo.slice(0, 7),
      // Raw AES provider info: key name, tag length in bits (u32), IV length (u32), IV.
      providerInfoTagAndIvLengths: [...edk.providerInfoBytes.subarray(7, 15)],
      providerInfoLength: edk.providerInfoBytes.length,
      ciphertextLength: edk.ciphertext.length,
    })),
    contentType: header.contentType,
    ivLength: header.ivLength,
    frameLength: header.frameLength,
    headerAuthTagLength: header.headerAuthTag.length,
    headerLength: header.headerLength,
  };
}

describe('DasRecordFactory', () => {
  describe('byte structure of real records', () => {
    it('the envelope has the exact spacing and field order of the real Aurora MySQL records', async () => {
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: new InMemoryDataKeys(), profile: AURORA_MYSQL });
      const { text } = envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] }));
      const skeleton = (json: string) => json.replace(/"[A-Za-z0-9+/=]{40,}"/g, '"<base64>"');
      for (const real of realMysqlEnvelopeTexts()) assert.equal(skeleton(text), skeleton(real));
    });

    it('an Aurora PostgreSQL profile record has the header structure of the real PostgreSQL record', async () => {
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: new InMemoryDataKeys(), profile: AURORA_POSTGRESQL });
      const { fields } = envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: documentedEvents('aurora-postgresql-select.json') }));
      const generated = parseMessageHeader(Buffer.from(fields['databaseActivityEvents']!, 'base64'));
      assert.deepEqual(structureOf(generated), structureOf(parseMessageHeader(realPostgresMessage())));
    });

    it('an Aurora MySQL profile record has the header structure of the real MySQL records', async () => {
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: new InMemoryDataKeys(), profile: AURORA_MYSQL });
      const { fields } = envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: documentedEvents('aurora-mysql-select-main.json') }));
      const generated = structureOf(parseMessageHeader(Buffer.from(fields['databaseActivityEvents']!, 'base64')));
      for (const real of realMysqlEnvelopeTexts()) {
        const message = Buffer.from(JSON.parse(real).databaseActivityEvents, 'base64');
        assert.deepEqual(generated, structureOf(parseMessageHeader(message)));
      }
    });

    it('the envelope key is the generated data key’s ciphertext blob and the version is the profile’s', async () => {
      const blobs: Uint8Array[] = [];
      const keys = new InMemoryDataKeys();
      const recording: DataKeyGenerator = {
        async generateDataKey(context) {
          const key = await keys.generateDataKey(context);
          blobs.push(key.ciphertextBlob);
          return key;
        },
      };
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: recording, profile: AURORA_POSTGRESQL });
      const { fields } = envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] }));
      assert.equal(fields['type'], 'DatabaseActivityMonitoringRecords');
      assert.equal(fields['version'], '1.1');
      assert.equal(fields['key'], Buffer.from(blobs[0]!).toString('base64'));
    });
  });

  describe('content', () => {
    it('the decrypted payload is the gzip of the inner record JSON, fields in AWS order', async () => {
      const keys = new InMemoryDataKeys();
      const events = documentedEvents('aurora-postgresql-connect.json');
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys });
      const data = await factory.record({ clusterId: CLUSTER, instanceId: 'db-FZJTMYKCXQBUUZ6VLU7NW3ITCM', events });
      const { fields } = envelopeOf(data);
      const dataKey = keys.plaintextOf(Buffer.from(fields['key']!, 'base64'), CLUSTER_CONTEXT)!;
      const gzip = await new EsdkPayloadDecryptor().decrypt(Buffer.from(fields['databaseActivityEvents']!, 'base64'), dataKey);
      assert.deepEqual([...gzip.subarray(0, 2)], [0x1f, 0x8b]);
      const json = (gunzipCappedSync(gzip)).toString('utf8');
      assert.ok(json.startsWith('{"type":"DatabaseActivityMonitoringRecord","clusterId":"cluster-B6K6E4422P5KM33ZF7GCJOA44A","instanceId":"db-FZJTMYKCXQBUUZ6VLU7NW3ITCM","databaseActivityEventList":['));
      assert.deepEqual(JSON.parse(json).databaseActivityEventList, events);
    });

    it('recordFromPlaintext encrypts arbitrary bytes, for payloads that are not gzip', async () => {
      const keys = new InMemoryDataKeys();
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys, profile: AURORA_MYSQL });
      const { fields } = envelopeOf(await factory.recordFromPlaintext(Buffer.from('plain, not gzip')));
      const dataKey = keys.plaintextOf(Buffer.from(fields['key']!, 'base64'), CLUSTER_CONTEXT)!;
      const plaintext = await new EsdkPayloadDecryptor().decrypt(Buffer.from(fields['databaseActivityEvents']!, 'base64'), dataKey);
      assert.equal(Buffer.from(plaintext).toString(), 'plain, not gzip');
    });

    it('an RDS instance (db-…) record opens with the aws:rds:db-id context', async () => {
      const keys = new InMemoryDataKeys();
      const factory = new DasRecordFactory({ resourceId: 'db-ABCDEFGHIJKL', dataKeys: keys });
      const events = documentedEvents('rds-sqlserver-select.json');
      const record = await open(await factory.record({ clusterId: '', instanceId: 'db-ABCDEFGHIJKL', events }), keys, { 'aws:rds:db-id': 'db-ABCDEFGHIJKL' });
      assert.deepEqual((record as { databaseActivityEventList: unknown[] }).databaseActivityEventList, events);
    });
  });

  describe('data key reuse', () => {
    it('reuses one data key for recordsPerDataKey records, then rotates', async () => {
      const keys = new InMemoryDataKeys();
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys, recordsPerDataKey: 3 });
      const keyFields: string[] = [];
      for (let i = 0; i < 7; i++) {
        keyFields.push(envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] })).fields['key']!);
      }
      assert.equal(keys.generated, 3);
      assert.deepEqual(keyFields.map((key) => keyFields.indexOf(key)), [0, 0, 0, 3, 3, 3, 6]);
    });

    it('records made concurrently share the data key instead of each generating one', async () => {
      const keys = new InMemoryDataKeys();
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys, recordsPerDataKey: 5 });
      const records = await Promise.all(Array.from({ length: 5 }, () => factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] })));
      assert.equal(keys.generated, 1);
      for (const data of records) await open(data, keys);
    });

    it('asks for data keys with the resource’s encryption context', async () => {
      const contexts: EncryptionContext[] = [];
      const keys = new InMemoryDataKeys();
      const factory = new DasRecordFactory({
        resourceId: CLUSTER,
        dataKeys: { generateDataKey: (context) => (contexts.push(context), keys.generateDataKey(context)) },
      });
      await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] });
      assert.deepEqual(contexts, [CLUSTER_CONTEXT]);
    });

    it('a failed data key generation is not reused by the next record', async () => {
      const keys = new InMemoryDataKeys();
      let calls = 0;
      const flaky: DataKeyGenerator = {
        generateDataKey(context): Promise<GeneratedDataKey> {
          calls += 1;
          return calls === 1 ? Promise.reject(new Error('KMS unavailable')) : keys.generateDataKey(context);
        },
      };
      const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: flaky, recordsPerDataKey: 10 });
      await assert.rejects(factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] }), /KMS unavailable/);
      await open(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] }), keys);
    });

    it('the data key the generator returned is not zeroed by encryption', async () => {
      const keys = new InMemoryDataKeys();
      const returned: Uint8Array[] = [];
      const factory = new DasRecordFactory({
        resourceId: CLUSTER,
        dataKeys: { generateDataKey: async (context) => { const key = await keys.generateDataKey(context); returned.push(key.plaintext); return key; } },
      });
      await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] });
      assert.ok(returned[0]!.some((byte) => byte !== 0));
    });
  });

  describe('options', () => {
    it('refuses a resource id that is neither cluster-… nor db-…', () => {
      assert.throws(() => new DasRecordFactory({ resourceId: 'aws-rds-das-cluster-X', dataKeys: new InMemoryDataKeys() }), /resource id/);
    });

    it('refuses recordsPerDataKey below one', () => {
      assert.throws(() => new DasRecordFactory({ resourceId: CLUSTER, dataKeys: new InMemoryDataKeys(), recordsPerDataKey: 0 }), RangeError);
    });
  });
});

describe('kmsDataKeySource against the local KMS', () => {
  const kms = new LocalKms();
  let client: KMSClient;
  let keyId: string;

  before(async () => {
    keyId = kms.createKey({ alias: 'das-record-factory-test' }).keyId;
    const { endpoint } = await kms.listen();
    client = new KMSClient({
      endpoint,
      region: kms.region,
      credentials: { accessKeyId: 'AKIDLOCALTEST', secretAccessKey: 'local-secret' },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({ requestTimeout: 5_000 }),
    });
  });

  after(async () => {
    client.destroy();
    await kms.close();
  });

  it('makes records whose key KMS Decrypt opens with the cluster context, and whose payload that key opens', async () => {
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: kmsDataKeySource(client, keyId), profile: AURORA_MYSQL });
    const events = documentedEvents('aurora-mysql-select-aux.json');
    const { fields } = envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events }));
    const { Plaintext } = await client.send(
      new DecryptCommand({ CiphertextBlob: Buffer.from(fields['key']!, 'base64'), EncryptionContext: CLUSTER_CONTEXT }),
    );
    assert.equal(Plaintext?.length, 32);
    const gzip = await new EsdkPayloadDecryptor().decrypt(Buffer.from(fields['databaseActivityEvents']!, 'base64'), Plaintext!);
    assert.deepEqual(JSON.parse((gunzipCappedSync(gzip)).toString('utf8')).databaseActivityEventList, events);
    assert.equal(kms.calls.GenerateDataKey, 1);
  });
});

describe('corruption helpers', () => {
  it('rewritePayload keeps the envelope and its key, replacing only the message', async () => {
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: new InMemoryDataKeys(), profile: AURORA_MYSQL });
    const data = await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] });
    const before = envelopeOf(data).fields;
    const after = envelopeOf(rewritePayload(data, (message) => message.subarray(0, 10))).fields;
    assert.equal(after['key'], before['key']);
    assert.equal(after['version'], before['version']);
    assert.deepEqual(Buffer.from(after['databaseActivityEvents']!, 'base64'), Buffer.from(before['databaseActivityEvents']!, 'base64').subarray(0, 10));
  });

  it('flipByte inverts one byte of a copy, counting from the end for negative offsets', () => {
    const message = new Uint8Array([1, 2, 3, 4]);
    assert.deepEqual([...flipByte(message, 1)], [1, 0xfd, 3, 4]);
    assert.deepEqual([...flipByte(message, -1)], [1, 2, 3, 0xfb]);
    assert.deepEqual([...message], [1, 2, 3, 4]);
    assert.throws(() => flipByte(message, 4), RangeError);
  });

  it('flipCiphertextByte changes exactly one byte, after the header', async () => {
    const keys = new InMemoryDataKeys();
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys });
    const message = Buffer.from(envelopeOf(await factory.record({ clusterId: CLUSTER, instanceId: 'db-X', events: [] })).fields['databaseActivityEvents']!, 'base64');
    const flipped = flipCiphertextByte(message);
    const changed = [...flipped].flatMap((byte, index) => (byte === message[index] ? [] : [index]));
    assert.equal(changed.length, 1);
    assert.ok(changed[0]! >= parseMessageHeader(message).headerLength);
  });

  it('formatEnvelope writes base64 of the message and key', () => {
    const text = Buffer.from(formatEnvelope({ version: '1.2', databaseActivityEvents: Buffer.from([1, 2, 3]), key: Buffer.from([4, 5]) })).toString();
    assert.equal(text, '{"type": "DatabaseActivityMonitoringRecords","version": "1.2","databaseActivityEvents": "AQID","key" : "BAU="}');
  });
});
