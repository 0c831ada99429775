/**
 * The Lambda artifact as AWS runs it: `npm run build:lambda`'s bundle, loaded
 * by plain Node (no tsx, no node_modules), handling a Kinesis event of the
 * real fixture's shape whose record was encrypted as AWS does, and naming
 * its version though no package.json is beside it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { buildLambda } from '../../scripts/build-lambda.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_MYSQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { VERSION } from '../../src/version.ts';
import { readJsonFixture, realRecordPath } from '../support/fixtures.ts';

describe('the Lambda bundle', function () {
  this.timeout(120_000);
  const kms = new LocalKms();
  let dir: string;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'das-lambda-bundle-'));
  });
  after(async () => {
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads in plain Node and delivers a real-shaped Kinesis event', async () => {
    const bundle = await buildLambda(path.join(dir, 'lambda.mjs'));
    const { endpoint } = await kms.listen();
    const keyId = kms.createKey().keyId;
    const cluster = 'cluster-B6K6E4422P5KM33ZF7GCJOA44A';
    const client = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    const factory = new DasRecordFactory({ resourceId: cluster, dataKeys: kmsDataKeySource(client, keyId), profile: AURORA_MYSQL });
    const main = readJsonFixture(path.join(path.dirname(realRecordPath('x')), '..', 'decrypted-examples', 'aurora-mysql-select-main.json')) as {
      databaseActivityEventList: unknown[];
    };
    const data = await factory.record({ clusterId: cluster, instanceId: 'db-X', events: main.databaseActivityEventList });
    client.destroy();

    // The real event, its records' data replaced by ours: same stream, shard, sequence numbers and fields.
    const event = readJsonFixture(realRecordPath('aurora-mysql-lambda-kinesis-event.json')) as { Records: { kinesis: { data: string } }[] };
    for (const record of event.Records) record.kinesis.data = Buffer.from(data).toString('base64');
    writeFileSync(path.join(dir, 'event.json'), JSON.stringify(event));
    const invoke = [
      `const { handler } = await import(${JSON.stringify(bundle)});`,
      `const event = JSON.parse((await import('node:fs')).readFileSync(${JSON.stringify(path.join(dir, 'event.json'))}, 'utf8'));`,
      `const result = await handler(event, { getRemainingTimeInMillis: () => 60000 });`,
      `process.stderr.write('RESULT ' + JSON.stringify(result) + '\\n');`,
    ].join('\n');
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--input-type=module', '-e', invoke],
        {
          cwd: dir, // no node_modules within reach: the bundle must carry everything
          env: {
            PATH: process.env.PATH,
            AWS_REGION: 'ap-northeast-2',
            AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
            AWS_SECRET_ACCESS_KEY: 'secret-example',
            AWS_ENDPOINT_URL_KMS: endpoint,
            AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
          },
        },
        (error, out, err) => (error ? reject(new Error(`${error.message}\n${err}`)) : resolve({ stdout: out, stderr: err })),
      ),
    );
    assert.match(stderr, /RESULT \{"batchItemFailures":\[\]\}/);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2, 'one OTLP-shaped JSON line per event of the two records');
    // No package.json is beside the bundle: the version was written in when it was built.
    for (const line of lines) assert.deepEqual(line.scope, { name: 'das-exporter', version: VERSION });
    assert.ok(readFileSync(bundle).length > 100_000);
  });
});
