/**
 * The published approach to reading a Database Activity Stream archive, as
 * AWS's sample does it per record and as a Lambda that prints JSON would:
 * a KMS Decrypt of the record's data key, a fresh raw AES keyring,
 * @aws-crypto/client-node's decrypt, gunzip, JSON.parse, and one line of
 * JSON per activity event (heartbeats skipped). Plain JavaScript, run by
 * `node` alone, so its start-up is what a user's script would pay.
 *
 * `node bench/published-replay.mjs FILE=RESOURCE_ID …`: each FILE a
 * Firehose object (envelopes back to back), opened with the encryption
 * context of RESOURCE_ID. KMS is whatever AWS_ENDPOINT_URL_KMS names.
 */
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/client-node';

const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT);
const kms = new KMSClient({});
const out = [];
for (const arg of process.argv.slice(2)) {
  const at = arg.lastIndexOf('=');
  const [file, resourceId] = [arg.slice(0, at), arg.slice(at + 1)];
  // A Firehose object: envelopes back to back; base64 holds no braces.
  for (const text of readFileSync(file, 'utf8').split(/(?<=\})(?=\{)/)) {
    const envelope = JSON.parse(text);
    const { Plaintext } = await kms.send(
      new DecryptCommand({ CiphertextBlob: Buffer.from(envelope.key, 'base64'), EncryptionContext: { 'aws:rds:dbc-id': resourceId } }),
    );
    const keyring = new RawAesKeyringNode({
      keyNamespace: 'BC',
      keyName: 'DataKey',
      unencryptedMasterKey: new Uint8Array(Plaintext),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    const { plaintext } = await decrypt(keyring, Buffer.from(envelope.databaseActivityEvents, 'base64'));
    const record = JSON.parse(gunzipSync(plaintext).toString('utf8'));
    for (const event of record.databaseActivityEventList) if (event.type !== 'heartbeat') out.push(JSON.stringify(event));
    if (out.length >= 1000) process.stdout.write(out.splice(0).join('\n') + '\n');
  }
}
if (out.length > 0) process.stdout.write(out.join('\n') + '\n');
kms.destroy();
