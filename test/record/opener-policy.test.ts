/**
 * `buildOpener`, the one opener the library offers, with an audit policy and
 * no resources of the caller's: a policy rule that names a cluster by its
 * friendly name (`--service-name`) matches, as it does in `run`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { buildOpener, createKmsClient } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { PolicyRuntime } from '../../src/policy/runtime.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';

const CLUSTER = 'cluster-OPENERPOLICY00000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;

describe('buildOpener with an audit policy', () => {
  const kms = new LocalKms();
  const dir = mkdtempSync(path.join(tmpdir(), 'das-opener-policy-'));
  const saved = { ...process.env };

  after(async () => {
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('matches a cluster by its friendly name (--service-name) when the caller passes no resources', async () => {
    const { endpoint } = await kms.listen();
    const keyId = kms.createKey().keyId;
    Object.assign(process.env, { AWS_ENDPOINT_URL_KMS: endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example' });
    const file = path.join(dir, 'policy.yaml');
    writeFileSync(file, 'version: 1\nmode: all-match\nrules:\n  - name: orders-db\n    match:\n      cluster: orders\n    action: tag\n    labels: { db: orders }\n');
    const config = loadConfig({ streams: [STREAM], serviceNames: { [CLUSTER]: 'orders' }, policyFile: file }, {});
    const policy = new PolicyRuntime({ file, names: config.serviceNames });
    const kmsClient = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: kmsDataKeySource(kmsClient, keyId), profile: AURORA_POSTGRESQL });
    const data = await factory.record({ clusterId: CLUSTER, instanceId: 'db-OPENERPOLICYINSTANCE', events: [rawPostgresSelect(1, new Date(), 'SELECT 1')] });
    kmsClient.destroy();
    try {
      const opener = buildOpener(config, createKmsClient(), { policy });
      const opened = await opener.open({ stream: STREAM, shardId: 'shardId-000000000000', sequenceNumber: '1', data });
      assert.equal(opened.events.length, 1);
      assert.deepEqual(opened.events[0]!.policy?.matched, ['orders-db']);
    } finally {
      policy.close();
    }
  });
});
