/**
 * das-exporter names itself in every request it makes: `das-exporter/<version>`
 * from package.json, in the User-Agent of the AWS SDK clients `run` builds
 * (seen by kinesalite, the local KMS and dynalite through a recording proxy)
 * and of OTLP requests (test/sinks/otlp-exporter.test.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { GenerateDataKeyCommand } from '@aws-sdk/client-kms';
import { createKmsClient } from '../src/cli/wiring.ts';
import { LocalKms } from '../src/demo/local-kms.ts';
import { createKinesisClient } from '../src/source/kinesis/client.ts';
import { createDynamoDbClient } from '../src/source/leases/dynamodb-coordinator.ts';
import { PACKAGE_NAME, USER_AGENT, VERSION } from '../src/version.ts';
import { startDynalite, type LocalDynamoDb } from './support/dynalite.ts';
import { startKinesalite, type LocalKinesis } from './support/kinesalite.ts';

const PACKAGE = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
const LOCAL = { region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } };

/** Forwards every request to `target` and keeps its headers. */
async function recordingProxy(target: string): Promise<{ endpoint: string; headers: IncomingHttpHeaders[]; close(): Promise<void> }> {
  const upstream = new URL(target);
  const headers: IncomingHttpHeaders[] = [];
  const server: Server = createServer((req, res) => {
    headers.push(req.headers);
    const forwarded = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forwarded.on('error', () => res.destroy());
    req.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('das-exporter version and User-Agent', () => {
  it('is package.json\'s name and version', () => {
    assert.equal(PACKAGE_NAME, PACKAGE.name);
    assert.equal(VERSION, PACKAGE.version);
    assert.equal(USER_AGENT, `das-exporter/${PACKAGE.version}`);
  });

  describe('the AWS SDK clients run builds send customUserAgent', () => {
    let kinesis: LocalKinesis;
    let dynamo: LocalDynamoDb;
    const kms = new LocalKms();
    before(async () => {
      kinesis = await startKinesalite();
      dynamo = await startDynalite();
    });
    after(async () => {
      await kinesis.stop();
      await dynamo.stop();
      await kms.close();
    });

    /** The SDK puts custom agents in both User-Agent and x-amz-user-agent. */
    function assertNamesExporter(headers: IncomingHttpHeaders[]): void {
      assert.ok(headers.length >= 1, 'the request went through the proxy');
      for (const h of headers) {
        assert.ok(String(h['user-agent']).split(' ').includes(USER_AGENT), `user-agent: ${h['user-agent']}`);
        assert.ok(String(h['x-amz-user-agent']).split(' ').includes(USER_AGENT), `x-amz-user-agent: ${h['x-amz-user-agent']}`);
      }
    }

    it('Kinesis (kinesalite)', async () => {
      const proxy = await recordingProxy(kinesis.endpoint);
      const client = createKinesisClient({ endpoint: proxy.endpoint, ...LOCAL });
      try {
        await client.send(new ListStreamsCommand({}));
      } finally {
        client.destroy();
        await proxy.close();
      }
      assertNamesExporter(proxy.headers);
    });

    it('KMS (the local KMS)', async () => {
      const { endpoint } = await kms.listen();
      const keyId = kms.createKey().keyId;
      const proxy = await recordingProxy(endpoint);
      const client = createKmsClient({ endpoint: proxy.endpoint, ...LOCAL });
      try {
        const answer = await client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256' }));
        assert.ok(answer.CiphertextBlob);
      } finally {
        client.destroy();
        await proxy.close();
      }
      assertNamesExporter(proxy.headers);
    });

    it('DynamoDB (dynalite), for the lease table', async () => {
      const proxy = await recordingProxy(dynamo.endpoint);
      const client = createDynamoDbClient({ endpoint: proxy.endpoint, ...LOCAL });
      try {
        await client.send(new ListTablesCommand({}));
      } finally {
        client.destroy();
        await proxy.close();
      }
      assertNamesExporter(proxy.headers);
    });
  });
});
