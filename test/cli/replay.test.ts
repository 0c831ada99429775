/**
 * `das-exporter replay` end to end: records encrypted exactly as AWS does
 * (local KMS, Encryption SDK, gzip) go through the real command and come out
 * as decoded events, field by field; bad records are reported per reason
 * without stopping the good ones.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { KMSClient } from '@aws-sdk/client-kms';
import { main } from '../../src/cli/main.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_MYSQL, AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource, type EngineProfile } from '../../src/demo/record-factory.ts';
import { flipCiphertextByte, rewritePayload } from '../support/record-mutations.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import { toJsonLine } from '../../src/sinks/jsonl.ts';
import { withoutAwsConfig } from '../support/aws-env.ts';
import { decryptedExamples, readJsonFixture, realRecordPath } from '../support/fixtures.ts';

const SQL_SERVER: EngineProfile = { ...AURORA_POSTGRESQL, version: '1.4' };

interface Example {
  name: string;
  version: string;
  inner: { clusterId?: string; instanceId: string; databaseActivityEventList: Record<string, unknown>[] };
}

/** PostgreSQL examples keep the documented outer wrapper; the others are the inner record. */
function loadExample(name: string, file: string): Example {
  const json = readJsonFixture(file) as Record<string, unknown>;
  if (json.type === 'DatabaseActivityMonitoringRecords') {
    return { name, version: String(json.version), inner: json.databaseActivityEvents as Example['inner'] };
  }
  const version = name.startsWith('aurora-mysql') ? '1.2' : name.startsWith('rds-sqlserver') ? '1.4' : '1.1';
  return { name, version, inner: json as unknown as Example['inner'] };
}

function profileFor(name: string): EngineProfile {
  if (name.startsWith('aurora-mysql')) return AURORA_MYSQL;
  if (name.startsWith('rds-sqlserver')) return SQL_SERVER;
  return AURORA_POSTGRESQL;
}

async function runCli(args: string[], stdin = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const input = new PassThrough();
  input.end(stdin);
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] };
  stdout.on('data', (c: Buffer) => chunks.out.push(c));
  stderr.on('data', (c: Buffer) => chunks.err.push(c));
  const code = await main(['node', 'das-exporter', ...args], { stdin: input, stdout, stderr, env: process.env });
  return { code, stdout: Buffer.concat(chunks.out).toString(), stderr: Buffer.concat(chunks.err).toString() };
}

/** A Lambda Kinesis event holding `records` for the DAS stream of `resourceId`. */
function lambdaEvent(resourceId: string, records: Uint8Array[], firstSequence = 1): string {
  const stream = `aws-rds-das-${resourceId}`;
  return JSON.stringify({
    Records: records.map((data, i) => ({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'pk',
        sequenceNumber: String(firstSequence + i),
        data: Buffer.from(data).toString('base64'),
        approximateArrivalTimestamp: 1_700_000_000.5,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `shardId-000000000000:${firstSequence + i}`,
      eventName: 'aws:kinesis:record',
      awsRegion: 'us-east-1',
      eventSourceARN: `arn:aws:kinesis:us-east-1:111122223333:stream/${stream}`,
    })),
  });
}

describe('das-exporter replay', function () {
  const kms = new LocalKms();
  const savedEnv = { ...process.env };
  let dir: string;
  let kmsClient: KMSClient;
  let keyId: string;

  before(async () => {
    const { endpoint } = await kms.listen();
    keyId = kms.createKey().keyId;
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_KMS: endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret-example',
    });
    kmsClient = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
    dir = mkdtempSync(path.join(tmpdir(), 'das-replay-'));
  });

  after(async () => {
    kmsClient.destroy();
    await kms.close();
    rmSync(dir, { recursive: true, force: true });
    for (const key of Object.keys(process.env)) if (!(key in savedEnv)) delete process.env[key];
    Object.assign(process.env, savedEnv);
  });

  function factory(resourceId: string, profile: EngineProfile): DasRecordFactory {
    return new DasRecordFactory({ resourceId, dataKeys: kmsDataKeySource(kmsClient, keyId), profile });
  }

  describe('every documented example survives encrypt → replay, field by field', () => {
    for (const { name, file } of decryptedExamples()) {
      it(name, async () => {
        const example = loadExample(name, file);
        const resourceId = example.inner.clusterId || example.inner.instanceId;
        const profile = profileFor(name);
        const data = await factory(resourceId, profile).record({
          clusterId: example.inner.clusterId ?? '',
          instanceId: example.inner.instanceId,
          events: example.inner.databaseActivityEventList,
        });
        const input = path.join(dir, `${name}.lambda.json`);
        writeFileSync(input, lambdaEvent(resourceId, [data]));

        const { code, stdout, stderr } = await runCli(['replay', input]);
        assert.equal(code, 0, stderr);
        const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

        const expected = decodeRecord(JSON.stringify(example.inner), {
          version: profile.version,
          position: { stream: `aws-rds-das-${resourceId}`, shardId: 'shardId-000000000000', sequenceNumber: '1' },
        });
        assert.equal(lines.length, expected.events.length);
        expected.events.forEach((event, i) => {
          const got = { ...lines[i]! };
          delete got.enrichment;
          assert.deepEqual(got, JSON.parse(toJsonLine(event)));
        });
        // The fields an auditor reads first, straight from the documentation's JSON.
        example.inner.databaseActivityEventList.forEach((raw, i) => {
          for (const field of ['command', 'commandText', 'databaseName', 'dbUserName', 'class', 'objectName', 'logTime']) {
            const key = field === 'logTime' ? 'logTimeRaw' : field;
            assert.equal(lines[i]![key], raw[field] ?? null, `${field} of event ${i}`);
          }
        });
      });
    }
  });

  it('reads every input form: Firehose concatenation, NDJSON envelopes, NDJSON Kinesis records, gzip, stdin', async () => {
    const resourceId = 'cluster-REPLAYFORMS0000000000000000';
    const f = factory(resourceId, AURORA_POSTGRESQL);
    const select = loadExample('pg', decryptedExamples().find((e) => e.name === 'aurora-postgresql-select.json')!.file);
    const records = await Promise.all(
      [0, 1, 2].map(() => f.record({ clusterId: resourceId, instanceId: 'db-X', events: select.inner.databaseActivityEventList })),
    );
    const texts = records.map((r) => Buffer.from(r).toString('utf8'));
    const forms: Record<string, string | Buffer> = {
      'firehose.json': texts.join(''),
      'envelopes.ndjson': texts.join('\n') + '\n',
      'kinesis.ndjson': records.map((r, i) => JSON.stringify({ Data: Buffer.from(r).toString('base64'), SequenceNumber: String(i), PartitionKey: 'p' })).join('\n'),
      'firehose.json.gz': gzipSync(texts.join('')),
    };
    for (const [file, content] of Object.entries(forms)) {
      const input = path.join(dir, file);
      writeFileSync(input, content);
      const { code, stdout, stderr } = await runCli(['replay', '--resource-id', resourceId, input]);
      assert.equal(code, 0, `${file}: ${stderr}`);
      assert.equal(stdout.trim().split('\n').length, 3 * select.inner.databaseActivityEventList.length, file);
    }
    const viaStdin = await runCli(['replay', '--resource-id', resourceId, '-'], texts.join('\n'));
    assert.equal(viaStdin.code, 0, viaStdin.stderr);
    assert.equal(viaStdin.stdout.trim().split('\n').length, 3);
  });

  it('one bad record never stops the others: good records are written, bad ones counted per reason, exit 1', async () => {
    const resourceId = 'cluster-MIXEDBAG000000000000000000';
    const f = factory(resourceId, AURORA_MYSQL);
    const main = loadExample('m', decryptedExamples().find((e) => e.name === 'aurora-mysql-select-main.json')!.file);
    const good = () => f.record({ clusterId: resourceId, instanceId: 'db-Y', events: main.inner.databaseActivityEventList });
    const flipped = rewritePayload(await good(), flipCiphertextByte);
    const wrongContext = await factory('cluster-SOMEONEELSE00000000000000', AURORA_MYSQL).record({
      clusterId: resourceId,
      instanceId: 'db-Y',
      events: main.inner.databaseActivityEventList,
    });
    const notJson = Buffer.from('{"type": "DatabaseActivityMonitoringRecords", broken');
    const input = path.join(dir, 'mixed.lambda.json');
    writeFileSync(input, lambdaEvent(resourceId, [await good(), flipped, await good(), wrongContext, notJson, await good()]));
    const deadLetters = path.join(dir, 'dead.jsonl');

    const { code, stdout, stderr } = await runCli(['replay', '--dead-letters', deadLetters, input]);
    assert.equal(code, 1);
    assert.equal(stdout.trim().split('\n').length, 3, 'the three good records are all written');
    assert.match(stderr, /6 record\(s\), wrote 3 event\(s\); 3 could not be opened/);
    assert.match(stderr, /auth_tag_mismatch 1/);
    assert.match(stderr, /kms_invalid_ciphertext 1/);
    assert.match(stderr, /invalid_json 1/);
    const letters = readFileSync(deadLetters, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(letters.map((l) => l.reason).sort(), ['auth_tag_mismatch', 'invalid_json', 'kms_invalid_ciphertext']);
    for (const letter of letters) {
      assert.equal(letter.stream, `aws-rds-das-${resourceId}`);
      assert.ok(letter.sequenceNumber, 'a dead letter keeps its position');
      assert.ok(letter.data, 'a dead letter keeps the record bytes');
    }
  });

  it('the real Aurora MySQL Lambda event opens up to KMS and fails there, as the key is not ours', async () => {
    const { code, stdout, stderr } = await runCli(['replay', realRecordPath('aurora-mysql-lambda-kinesis-event.json')]);
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /aws-rds-das-cluster-B6K6E4422P5KM33ZF7GCJOA44A/);
    assert.match(stderr, /could not be opened: kms_invalid_ciphertext 2/);
  });

  it('a file whose stream name does not tell the resource id asks for --resource-id', async () => {
    const input = path.join(dir, 'anonymous.json');
    writeFileSync(input, readFileSync(realRecordPath('aurora-postgresql-record.json')));
    const { code, stderr } = await runCli(['replay', input]);
    assert.equal(code, 1);
    assert.match(stderr, /unknown_resource: .*--resource-id/);
  });

  it('ends with a report instead of waiting forever when KMS cannot be reached', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_KMS;
    process.env.AWS_ENDPOINT_URL_KMS = 'http://127.0.0.1:9'; // nothing listens on the discard port
    try {
      const { code, stdout, stderr } = await runCli(['replay', realRecordPath('aurora-mysql-lambda-kinesis-event.json')]);
      assert.equal(code, 1);
      assert.equal(stdout, '');
      assert.match(stderr, /could not be opened: kms_unavailable 2/);
    } finally {
      process.env.AWS_ENDPOINT_URL_KMS = saved;
    }
  });

  it('refuses to start without an AWS region, saying which setting is missing', async () => {
    const child = spawn(process.execPath, ['bin/das-exporter.js', 'replay', realRecordPath('aurora-mysql-lambda-kinesis-event.json')], {
      env: withoutAwsConfig(process.env),
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /KMS: no AWS region \(set AWS_REGION\)/);
  });

  it('refuses a bad flag value naming the flag', async () => {
    const { code, stderr } = await runCli(['replay', '--resource-id', 'not-a-resource', '-']);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /--resource-id \/ DAS_RESOURCE_ID: expected cluster-… or db-…/);
  });
});
