/**
 * The AWS side of the `demo` command, on this machine: kinesalite (an
 * in-memory Kinesis) in this process with one DAS stream per simulated
 * database, and the LocalKms with one key. Both listen on 127.0.0.1 only, on
 * free ports. Clients built here point at them with fake static credentials
 * and region us-east-1, so nothing is read from the environment or ~/.aws.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CreateStreamCommand, DescribeStreamSummaryCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KMSClient } from '@aws-sdk/client-kms';
import { createKmsClient } from '../cli/wiring.ts';
import { createKinesisClient } from '../source/kinesis/client.ts';
import { LocalKms } from './local-kms.ts';

const require = createRequire(import.meta.url);

export const LOCAL_REGION = 'us-east-1';
/** Not secrets: the local services check that requests are signed, not by whom. */
// A fresh object per client: the SDK marks where credentials came from on the object itself.
const localCredentials = () => ({ accessKeyId: 'AKIDDASDEMOLOCAL', secretAccessKey: 'das-demo-local-not-a-secret' });
const LOOPBACK = '127.0.0.1';

export interface EmbeddedAwsOptions {
  streams: readonly string[];
  /** Shards per stream. */
  shards: number;
}

export interface EmbeddedAws {
  kinesisEndpoint: string;
  kmsEndpoint: string;
  kms: LocalKms;
  /** The key the simulator's data keys are generated under. */
  keyId: string;
  /** A Kinesis client for the embedded Kinesis; the caller destroys it. */
  kinesisClient(): KinesisClient;
  /** A KMS client as `createKmsClient()` builds it, pointed at the LocalKms; the caller destroys it. */
  kmsClient(): KMSClient;
  /** Closes Kinesis and KMS; idempotent. */
  close(): Promise<void>;
}

type Kinesalite = (options: object) => Server;

/** The demo's one optional dependency, loaded only when a demo starts: `run` and `replay` need no kinesalite installed. */
function loadKinesalite(): Kinesalite {
  try {
    return require('kinesalite') as Kinesalite;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw error;
    throw new DemoUnavailableError(
      'the demo needs kinesalite, an optional dependency this installation left out (--omit=optional): ' +
        'install das-exporter without --omit=optional, or add kinesalite beside it',
    );
  }
}

/** `demo` cannot start on this installation; `run` and `replay` are not affected. */
export class DemoUnavailableError extends Error {
  override readonly name = 'DemoUnavailableError';
}

/** Starts both services and creates the streams, ACTIVE when this resolves; on failure nothing is left running. */
export async function startEmbeddedAws(options: EmbeddedAwsOptions): Promise<EmbeddedAws> {
  const kms = new LocalKms({ region: LOCAL_REGION });
  const kinesalite = loadKinesalite()({ createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  const closeKinesis = () =>
    new Promise<void>((resolve) => {
      kinesalite.closeAllConnections?.();
      kinesalite.close(() => resolve());
    });
  try {
    await listen(kinesalite);
    const kinesisEndpoint = `http://${LOOPBACK}:${(kinesalite.address() as AddressInfo).port}`;
    const { endpoint: kmsEndpoint } = await kms.listen(0, LOOPBACK);
    const keyId = kms.createKey({ alias: 'das-demo' }).keyId;
    const kinesisClient = () => createKinesisClient({ endpoint: kinesisEndpoint, region: LOCAL_REGION, credentials: localCredentials() });
    const admin = kinesisClient();
    try {
      for (const stream of options.streams) await createStream(admin, stream, options.shards);
    } finally {
      admin.destroy();
    }
    let closed: Promise<void> | undefined;
    return {
      kinesisEndpoint,
      kmsEndpoint,
      kms,
      keyId,
      kinesisClient,
      kmsClient: () => localKmsClient(kmsEndpoint),
      close: () => (closed ??= Promise.all([kms.close(), closeKinesis()]).then(() => undefined)),
    };
  } catch (error) {
    await Promise.all([kms.close(), kinesalite.listening ? closeKinesis() : undefined]);
    throw error;
  }
}

/** `createKmsClient()` (one attempt, timeouts that throw), with the local endpoint and fake credentials. */
function localKmsClient(endpoint: string): KMSClient {
  return createKmsClient({ endpoint, region: LOCAL_REGION, credentials: localCredentials() });
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function createStream(client: KinesisClient, name: string, shards: number): Promise<void> {
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (let attempt = 0; ; attempt++) {
    const { StreamDescriptionSummary: summary } = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (summary?.StreamStatus === 'ACTIVE') return;
    if (attempt >= 500) throw new Error(`embedded Kinesis: stream ${name} not ACTIVE (status ${summary?.StreamStatus})`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
