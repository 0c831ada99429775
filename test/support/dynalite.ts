/**
 * A real DynamoDB to test lease coordination against: dynalite in this
 * process, in memory, bound to 127.0.0.1, with tables created and deleted at
 * once. dynalite checks expressions as DynamoDB does (reserved words such as
 * `owner` are refused), so what passes here passes there.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';

const require = createRequire(import.meta.url);

export interface LocalDynamoDb {
  endpoint: string;
  /** A client for tests; each coordinator under test should get its own from `client()`. */
  client(): DynamoDBClient;
  stop(): Promise<void>;
}

export async function startDynalite(): Promise<LocalDynamoDb> {
  const dynalite = require('dynalite') as (options: object) => Server;
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: DynamoDBClient[] = [];
  return {
    endpoint,
    client() {
      const client = new DynamoDBClient({
        endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
        requestHandler: new NodeHttpHandler(),
      });
      clients.push(client);
      return client;
    },
    async stop() {
      for (const client of clients) client.destroy();
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
