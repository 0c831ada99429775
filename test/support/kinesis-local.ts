/**
 * A second real Kinesis to test against, the one with enhanced fan-out:
 * kinesis-local (kinesis-mock, the emulator LocalStack uses, compiled to
 * JavaScript) as a child process. It implements RegisterStreamConsumer,
 * SubscribeToShard over HTTP/2, ChildShards on GetRecords, resharding and
 * real MillisBehindLatest, none of which kinesalite has.
 *
 * Two things about the emulator are worked around here, in the test helper
 * only, never in the production client:
 * - it listens on 0.0.0.0 with no setting to change that, so it is started
 *   with `loopback-listen.cjs` preloaded, which binds every listen() to
 *   127.0.0.1;
 * - its HTTP/2 server (http4s ember) mishandles a GOAWAY: the AWS SDK gives a
 *   SubscribeToShard its own HTTP/2 session and sends GOAWAY(NO_ERROR) once
 *   the response headers arrive, which is legal (the open stream goes on, and
 *   Kinesis keeps streaming), but ember cancels the stream and sends an
 *   unsolicited PING ACK, which Node takes for a protocol error. So the
 *   endpoint tests use is a front on 127.0.0.1: HTTP/1.1 connections are
 *   piped to the emulator unchanged, and HTTP/2 ones end at a Node HTTP/2
 *   server (which honours GOAWAY as the protocol says) whose streams go on to
 *   the emulator over one session the front never closes. The SDK's own
 *   HTTP/2 handler, as production runs it, then works unchanged.
 *
 * And one gap is filled: kinesis-local never ends a subscription to a shard
 * closed by a reshard (it sends empty events forever, and no ChildShards), so
 * the front serves such a subscription itself, as AWS documents it, from the
 * emulator's GetRecords (which does name a closed shard's children). Open
 * shards are the emulator's own. It pushes an event about once a second.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
  ListStreamsCommand,
  type Shard,
  type ShardIteratorType,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { freePort } from './prometheus.ts';
import { eventMessage, eventPayload } from './subscription-stand-in.ts';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

export interface KinesisLocal {
  /** The front: HTTP/1.1 and HTTP/2 (h2c) on one port, as AWS_ENDPOINT_URL_KINESIS. */
  endpoint: string;
  /** An HTTP/1.1 client for the test's own calls (create streams, put records). */
  client: KinesisClient;
  /** A client with the SDK's default HTTP/2 handler, as production builds it for SubscribeToShard. */
  http2Client(): KinesisClient;
  stop(): Promise<void>;
}

export interface KinesisLocalOptions {
  /** How long RegisterStreamConsumer leaves a consumer CREATING (default 300 ms). */
  registerConsumerMs?: number;
  /** Extra environment for the emulator. */
  env?: Record<string, string>;
  /**
   * For the benchmark only: the front cuts each event the emulator pushes (a whole second of records) into
   * events released every `paceMs`, as AWS pushes within about 70 ms. Off by default.
   */
  paceMs?: number;
}

const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };

export async function startKinesisLocal(options: KinesisLocalOptions = {}): Promise<KinesisLocal> {
  const packageDir = path.dirname(require.resolve('kinesis-local/package.json'));
  const [plainPort, tlsPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ['--require', path.join(here, 'loopback-listen.cjs'), path.join(packageDir, 'main.js')], {
    env: {
      PATH: process.env.PATH ?? '',
      KINESIS_MOCK_PLAIN_PORT: String(plainPort),
      KINESIS_MOCK_TLS_PORT: String(tlsPort),
      KINESIS_MOCK_CERT_PATH: path.join(packageDir, 'server.json'),
      CREATE_STREAM_DURATION: '0ms',
      DELETE_STREAM_DURATION: '0ms',
      SPLIT_SHARD_DURATION: '0ms',
      MERGE_SHARDS_DURATION: '0ms',
      UPDATE_SHARD_COUNT_DURATION: '0ms',
      REGISTER_STREAM_CONSUMER_DURATION: `${options.registerConsumerMs ?? 300}ms`,
      DEREGISTER_STREAM_CONSUMER_DURATION: '0ms',
      LOG_LEVEL: 'ERROR',
      ...options.env,
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-4000)));
  const front = await startFront(plainPort, options.paceMs);
  const endpoint = `http://127.0.0.1:${front.port}`;
  const clients: KinesisClient[] = [];
  const client = new KinesisClient({ endpoint, region: 'us-east-1', credentials: CREDENTIALS, requestHandler: new NodeHttpHandler(), maxAttempts: 1 });
  clients.push(client);
  try {
    await waitUntilServing(client, child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await front.close();
    throw error;
  }
  return {
    endpoint,
    client,
    http2Client() {
      const c = new KinesisClient({ endpoint, region: 'us-east-1', credentials: CREDENTIALS, maxAttempts: 1 });
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.destroy();
      await front.close();
      // SIGTERM can take ~30 s to end the emulator; nothing of its state is kept.
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** The stream's ARN, which the consumer calls need. */
export async function streamArnOf(client: KinesisClient, stream: string): Promise<string> {
  const { StreamDescriptionSummary: s } = await client.send(new DescribeStreamSummaryCommand({ StreamName: stream }));
  return s!.StreamARN!;
}

async function waitUntilServing(client: KinesisClient, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`kinesis-local exited with ${child.exitCode} before serving: ${stderr()}`);
    try {
      await client.send(new ListStreamsCommand({}));
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`kinesis-local did not answer within 60 s: ${String(error)}; its stderr: ${stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n');

interface SubscribeInput {
  ConsumerARN: string;
  ShardId: string;
  StartingPosition: { Type: ShardIteratorType; SequenceNumber?: string; Timestamp?: number };
}

/**
 * What the emulator leaves out: a subscription to a shard that is (or
 * becomes) closed by a reshard ends, as AWS documents, with the shard's
 * remaining records and a last event that names the ChildShards and has no
 * ContinuationSequenceNumber; kinesis-local sends empty events forever
 * instead. The front forwards the emulator's subscription, reading each
 * event's continuation as it passes; once ListShards shows the shard closed,
 * it ends the emulator's stream and serves the rest itself from the
 * emulator's GetRecords (which does name a closed shard's children), right
 * after the last event forwarded.
 */
class ShardEnds {
  readonly #client: KinesisClient;

  constructor(client: KinesisClient) {
    this.#client = client;
  }

  /** One ListShards per stream every 250 ms at most, whatever the number of subscriptions watching it. */
  readonly #listed = new Map<string, { at: number; shards: Promise<Shard[]> }>();

  /** The shard's starting sequence number when it is closed, else undefined. */
  async closed(input: SubscribeInput): Promise<string | undefined> {
    const StreamARN = streamArnOfConsumer(input.ConsumerARN);
    let listed = this.#listed.get(StreamARN);
    if (!listed || Date.now() - listed.at > 250) {
      listed = { at: Date.now(), shards: this.#client.send(new ListShardsCommand({ StreamARN })).then((out) => out.Shards ?? []) };
      this.#listed.set(StreamARN, listed);
    }
    const range = (await listed.shards).find((s) => s.ShardId === input.ShardId)?.SequenceNumberRange;
    return range?.EndingSequenceNumber ? range.StartingSequenceNumber : undefined;
  }

  /** The closed shard's records from `position` to its end, then its children; the stream is ended. */
  async serve(stream: http2.ServerHttp2Stream, input: SubscribeInput, position: SubscribeInput['StartingPosition'], shardStart: string): Promise<void> {
    const StreamARN = streamArnOfConsumer(input.ConsumerARN);
    let { ShardIterator: iterator } = await this.#client.send(
      new GetShardIteratorCommand({
        StreamARN,
        ShardId: input.ShardId,
        ShardIteratorType: position.Type,
        ...(position.SequenceNumber ? { StartingSequenceNumber: position.SequenceNumber } : {}),
        ...(position.Timestamp !== undefined ? { Timestamp: new Date(position.Timestamp * 1000) } : {}),
      }),
    );
    let continuation = position.SequenceNumber ?? shardStart;
    while (iterator && !stream.closed) {
      const page = await this.#client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const records = (page.Records ?? []).map((r) => ({ SequenceNumber: r.SequenceNumber!, Data: Buffer.from(r.Data ?? []), PartitionKey: r.PartitionKey! }));
      if (records.length > 0) continuation = records.at(-1)!.SequenceNumber;
      iterator = page.NextShardIterator;
      const children = (page.ChildShards ?? []).map((c) => ({ ShardId: c.ShardId!, ParentShards: c.ParentShards ?? [], HashKeyRange: c.HashKeyRange as { StartingHashKey: string; EndingHashKey: string } }));
      const event = { Records: records, MillisBehindLatest: page.MillisBehindLatest ?? 0 };
      stream.write(eventMessage('SubscribeToShardEvent', eventPayload(iterator ? { ...event, ContinuationSequenceNumber: continuation } : { ...event, ChildShards: children })));
    }
    if (!stream.closed) stream.end();
  }
}

function streamArnOfConsumer(consumerArn: string): string {
  return consumerArn.slice(0, consumerArn.indexOf('/consumer/'));
}

/** Cuts an event stream into whole messages (a prelude's total length each), and reads an event's continuation. */
class EventStreamReader {
  #buffered = Buffer.alloc(0);
  continuation: string | undefined;

  push(chunk: Buffer): Buffer[] {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    const messages: Buffer[] = [];
    while (this.#buffered.length >= 4 && this.#buffered.length >= this.#buffered.readUInt32BE(0)) {
      const message = this.#buffered.subarray(0, this.#buffered.readUInt32BE(0));
      this.#buffered = this.#buffered.subarray(message.length);
      const headersLength = message.readUInt32BE(4);
      const headers = stringHeaders(message.subarray(12, 12 + headersLength));
      if (headers[':event-type'] === 'SubscribeToShardEvent') {
        const payload = JSON.parse(message.subarray(12 + headersLength, message.length - 4).toString('utf8')) as { ContinuationSequenceNumber?: string };
        this.continuation = payload.ContinuationSequenceNumber ?? this.continuation;
      }
      messages.push(message);
    }
    return messages;
  }
}

/** An event-stream message's headers (every value type skipped by its size, strings read). */
function stringHeaders(bytes: Buffer): Record<string, string> {
  const headers: Record<string, string> = {};
  const fixed: Record<number, number> = { 0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16 };
  for (let at = 0; at < bytes.length; ) {
    const name = bytes.subarray(at + 1, at + 1 + bytes[at]!).toString('utf8');
    at += 1 + bytes[at]!;
    const type = bytes[at++]!;
    if (type === 6 || type === 7) {
      const length = bytes.readUInt16BE(at);
      if (type === 7) headers[name] = bytes.subarray(at + 2, at + 2 + length).toString('utf8');
      at += 2 + length;
    } else {
      at += fixed[type] ?? bytes.length;
    }
  }
  return headers;
}

/**
 * Sends a request on to the emulator and its answer back. A subscription's
 * events pass through whole, and when its shard closes the rest is served
 * from GetRecords, ending with ChildShards (ShardEnds).
 */
function forward(
  upstream: http2.ClientHttp2Session,
  stream: http2.ServerHttp2Stream,
  headers: http2.OutgoingHttpHeaders,
  watched?: { body: Buffer; subscription: SubscribeInput; shardEnds: ShardEnds; paceMs?: number },
): void {
  const subscription = watched?.subscription;
  const shardEnds = watched?.shardEnds;
  const request = upstream.request(headers);
  let handedOver = false;
  const reset = () => {
    if (!handedOver && !stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  };
  request.on('error', reset);
  request.on('aborted', reset);
  stream.on('close', () => {
    if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
  });
  request.on('response', (responseHeaders) => {
    if (stream.destroyed) return;
    stream.respond(responseHeaders);
    if (!subscription || responseHeaders[':status'] !== 200) return void request.pipe(stream);
    const events = new EventStreamReader();
    const paced = watched?.paceMs ? new PacedWriter(stream, watched.paceMs) : undefined;
    request.on('data', (chunk: Buffer) => {
      if (handedOver) return;
      for (const message of events.push(chunk)) {
        if (paced) paced.push(message);
        else stream.write(message);
      }
    });
    request.on('end', () => {
      if (handedOver || stream.closed) return;
      if (paced) paced.end();
      else stream.end();
    });
    const watch = setInterval(async () => {
      const start = await shardEnds!.closed(subscription).catch(() => undefined);
      if (start === undefined || handedOver || stream.closed) return;
      handedOver = true;
      clearInterval(watch);
      request.close(http2.constants.NGHTTP2_CANCEL);
      paced?.flush();
      const after = events.continuation;
      const position = after ? { Type: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: after } : subscription.StartingPosition;
      await shardEnds!.serve(stream, subscription, position, start).catch(() => stream.destroy());
    }, 300);
    stream.on('close', () => clearInterval(watch));
  });
  if (watched) request.end(watched.body);
  else stream.pipe(request);
}

/**
 * The benchmark's pacing (KinesisLocalOptions.paceMs): each SubscribeToShardEvent is cut into events of an
 * equal share of its records, released one every `paceMs` over the second the emulator takes to push the next;
 * each part's continuation is its last record, the last part keeps the original's.
 */
class PacedWriter {
  readonly #stream: http2.ServerHttp2Stream;
  readonly #paceMs: number;
  readonly #queue: Buffer[] = [];
  #timer: NodeJS.Timeout | undefined;
  #ending = false;

  constructor(stream: http2.ServerHttp2Stream, paceMs: number) {
    this.#stream = stream;
    this.#paceMs = paceMs;
    stream.on('close', () => clearTimeout(this.#timer));
  }

  push(message: Buffer): void {
    const headersLength = message.readUInt32BE(4);
    const headers = stringHeaders(message.subarray(12, 12 + headersLength));
    if (headers[':event-type'] !== 'SubscribeToShardEvent') {
      this.#queue.push(message);
      return this.#schedule();
    }
    const payload = JSON.parse(message.subarray(12 + headersLength, message.length - 4).toString('utf8')) as { Records: { SequenceNumber: string }[]; ContinuationSequenceNumber?: string };
    const parts = Math.max(1, Math.min(payload.Records.length, Math.floor(1000 / this.#paceMs)));
    const size = Math.ceil(payload.Records.length / parts) || 1;
    for (let from = 0; from < Math.max(1, payload.Records.length); from += size) {
      const records = payload.Records.slice(from, from + size);
      const last = from + size >= payload.Records.length;
      const continuation = last ? payload.ContinuationSequenceNumber : records.at(-1)!.SequenceNumber;
      this.#queue.push(eventMessage('SubscribeToShardEvent', { ...payload, Records: records, ...(continuation ? { ContinuationSequenceNumber: continuation } : {}) }));
    }
    this.#schedule();
  }

  end(): void {
    this.#ending = true;
    this.#schedule();
  }

  /** Writes what is queued at once (the shard closed: the rest is served from GetRecords after it). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#queue.length > 0 && !this.#stream.closed) this.#stream.write(this.#queue.shift()!);
  }

  #schedule(): void {
    if (this.#timer) return;
    const release = () => {
      this.#timer = undefined;
      if (this.#stream.closed) return;
      const next = this.#queue.shift();
      if (next) this.#stream.write(next);
      if (this.#queue.length > 0) this.#timer = setTimeout(release, this.#paceMs);
      else if (this.#ending) this.#stream.end();
    };
    release();
  }
}

async function readAll(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** One port for both: HTTP/1.1 piped to the emulator, HTTP/2 ended here and sent on over a session kept open. */
async function startFront(upstreamPort: number, paceMs?: number): Promise<{ port: number; close(): Promise<void> }> {
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const direct = new KinesisClient({ endpoint: upstreamUrl, region: 'us-east-1', credentials: CREDENTIALS, requestHandler: new NodeHttpHandler(), maxAttempts: 3 });
  const shardEnds = new ShardEnds(direct);
  // One emulator connection per client session, never sent a GOAWAY, and closed with the client's session:
  // the emulator ends a subscription when its connection closes, not when its stream is reset.
  const upstreams = new Map<http2.Http2Session, http2.ClientHttp2Session>();
  const h2 = http2.createServer();
  h2.on('session', (downstream) => {
    const upstream = http2.connect(upstreamUrl);
    upstream.on('error', () => {});
    upstreams.set(downstream, upstream);
    downstream.on('close', () => {
      upstreams.delete(downstream);
      upstream.destroy();
    });
  });
  h2.on('stream', async (stream, headers) => {
    const upstream = upstreams.get(stream.session!);
    if (!upstream) return stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    stream.on('error', () => {});
    const forwarded: http2.OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(headers)) {
      if (name === ':authority' || name === ':scheme') continue;
      if (value !== undefined) forwarded[name] = value;
    }
    if (headers['x-amz-target'] !== 'Kinesis_20131202.SubscribeToShard') return void forward(upstream, stream, forwarded);
    const body = await readAll(stream);
    const input = JSON.parse(body.toString('utf8')) as SubscribeInput;
    const start = await shardEnds.closed(input).catch(() => undefined);
    if (start !== undefined) {
      stream.respond({ ':status': 200, 'content-type': 'application/vnd.amazon.eventstream' });
      stream.write(eventMessage('initial-response', {}));
      return void shardEnds.serve(stream, input, input.StartingPosition, start).catch(() => stream.destroy());
    }
    forward(upstream, stream, forwarded, { body, subscription: input, shardEnds, ...(paceMs ? { paceMs } : {}) });
  });
  h2.on('sessionError', () => {});
  const h2Port = await listenOnLoopback(h2);
  const sockets = new Set<net.Socket>();
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  // A connection goes by its first bytes, as a raw TCP pipe: to the HTTP/2 server here, or to the emulator.
  const server = net.createServer((socket) => {
    track(socket);
    socket.once('data', (first: Buffer) => {
      const http2Preface = first.subarray(0, HTTP2_PREFACE.length).equals(HTTP2_PREFACE.subarray(0, Math.min(first.length, HTTP2_PREFACE.length)));
      const pipe = net.connect(http2Preface ? h2Port : upstreamPort, '127.0.0.1');
      track(pipe);
      socket.on('close', () => pipe.destroy());
      pipe.on('close', () => socket.destroy());
      pipe.write(first);
      socket.pipe(pipe);
      pipe.pipe(socket);
    });
  });
  await listenOnLoopback(server);
  return {
    port: (server.address() as AddressInfo).port,
    async close() {
      for (const socket of sockets) socket.destroy();
      for (const upstream of upstreams.values()) upstream.destroy();
      direct.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => h2.close(() => resolve()));
    },
  };
}

async function listenOnLoopback(server: net.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
