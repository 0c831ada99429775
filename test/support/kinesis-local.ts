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
 *
 * And one difference is made up for: the emulator keeps a subscription whose
 * client is gone until its 5 minutes are up (its lease ends with its stream of
 * events), and refuses the next with ResourceInUse, where Kinesis frees it
 * with its stream. The front knows which client streams are open; when the
 * emulator refuses a subscription that no open stream holds, the front serves
 * it from GetRecords instead (FromGetRecords). Each subscription goes to the
 * emulator over a connection of its own, closed when it ends.
 *
 * The front is also where the tests inject Kinesis-side faults into
 * subscriptions (`faults`, `subscription-faults.ts`): refusals, exceptions
 * and resets mid-stream, as Kinesis and the network deliver them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
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
import { eventMessage, eventPayload, exceptionMessage } from './subscription-stand-in.ts';
import { SubscriptionFaults, type FaultPlan } from './subscription-faults.ts';

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));

export interface KinesisLocal {
  /** The front: HTTP/1.1 and HTTP/2 (h2c) on one port, as AWS_ENDPOINT_URL_KINESIS. */
  endpoint: string;
  /** An HTTP/1.1 client for the test's own calls (create streams, put records). */
  client: KinesisClient;
  /** A client with the SDK's default HTTP/2 handler, as production builds it for SubscribeToShard. */
  http2Client(): KinesisClient;
  /** Faults the front injects into subscriptions; none unless a test schedules them. */
  faults: SubscriptionFaults;
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
  const faults = new SubscriptionFaults();
  const front = await startFront(plainPort, faults, options.paceMs);
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
    faults,
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

/** One whole event-stream message: its type (`:event-type`, or `:exception-type` for an exception) and its records. */
interface Message {
  bytes: Buffer;
  exception: boolean;
  type: string;
  records: number;
}

/**
 * What one subscription's client is sent, in order; a subscription given a
 * fault (`subscription-faults.ts`) is cut by it once enough events with
 * records have passed, at the next message, which is then not sent whole.
 */
class SubscriptionOut {
  readonly stream: http2.ServerHttp2Stream;
  readonly #cut: Extract<FaultPlan, { afterEvents: number }> | undefined;
  readonly #faults: SubscriptionFaults;
  readonly #resetConnection: () => void;
  readonly #paced: PacedWriter | undefined;
  #withRecords = 0;
  #struck = false;
  started = false;

  constructor(stream: http2.ServerHttp2Stream, faults: SubscriptionFaults, plan: FaultPlan | undefined, resetConnection: () => void, paceMs?: number) {
    this.stream = stream;
    this.#faults = faults;
    this.#cut = plan && 'afterEvents' in plan ? plan : undefined;
    this.#resetConnection = resetConnection;
    this.#paced = paceMs ? new PacedWriter(stream, paceMs) : undefined;
    // A subscription that ended before its fault struck (say the emulator refused it): the next one gets the fault.
    stream.on('close', () => {
      if (this.#cut && !this.#struck) faults.putBack(this.#cut);
    });
  }

  /** Closed by the client, or cut by its fault: nothing more is sent. */
  get closed(): boolean {
    return this.#struck || this.stream.closed || this.stream.destroyed;
  }

  /** Answers 200 with an initial response, as Kinesis begins a subscription, unless the emulator's answer already began it. */
  start(): void {
    if (this.started || this.stream.headersSent) return;
    this.started = true;
    this.stream.respond({ ':status': 200, 'content-type': 'application/vnd.amazon.eventstream' });
    this.stream.write(eventMessage('initial-response', {}));
  }

  /** Sends one message; false once the subscription is closed or its fault cut it instead. */
  send(message: Buffer, records: number): boolean {
    if (this.closed) return false;
    if (this.#cut && this.#withRecords >= this.#cut.afterEvents) {
      this.#strike(message);
      return false;
    }
    if (this.#paced) this.#paced.push(message);
    else this.stream.write(message);
    if (records > 0) this.#withRecords++;
    return true;
  }

  end(): void {
    if (this.closed) return;
    if (this.#paced) this.#paced.end();
    else this.stream.end();
  }

  /** Writes what pacing holds back at once (the rest is served from GetRecords after it). */
  flush(): void {
    this.#paced?.flush();
  }

  #strike(next: Buffer): void {
    this.#struck = true;
    const fault = this.#cut!.fault;
    this.#faults.struck(fault);
    const half = next.subarray(0, next.length >> 1);
    switch (fault) {
      case 'internal_failure':
        this.stream.end(exceptionMessage('InternalFailureException', 'Internal service failure. (injected by the test front)'));
        return;
      case 'stream_reset':
        this.stream.write(half, () => this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
        return;
      case 'connection_reset':
        this.stream.write(half, () => this.#resetConnection());
        return;
      case 'ended_early':
        this.stream.end();
        return;
    }
  }
}

/**
 * Subscriptions the front serves itself from the emulator's GetRecords, as
 * AWS would push them, where the emulator cannot:
 * - a shard that is (or becomes) closed by a reshard: AWS ends the
 *   subscription with the shard's remaining records and a last event that
 *   names the ChildShards and has no ContinuationSequenceNumber;
 *   kinesis-local sends empty events forever instead (GetRecords does name a
 *   closed shard's children);
 * - an open shard whose last subscription the emulator still holds after the
 *   client's stream and connection are gone: kinesis-local frees a
 *   subscription only when its stream of events ends (after 5 minutes), where
 *   Kinesis frees it once the stream is closed, so it would refuse every
 *   resubscription after a reset with ResourceInUse for minutes.
 * An open shard gets an event a second, as the emulator pushes them.
 */
class FromGetRecords {
  readonly #client: KinesisClient;

  constructor(client: KinesisClient) {
    this.#client = client;
  }

  /** One ListShards per stream every 250 ms at most, whatever the number of subscriptions watching it. */
  readonly #listed = new Map<string, { at: number; shards: Promise<Shard[]> }>();

  /** The shard's starting sequence number, and whether it is closed. */
  async shard(input: SubscribeInput): Promise<{ start: string; closed: boolean } | undefined> {
    const StreamARN = streamArnOfConsumer(input.ConsumerARN);
    let listed = this.#listed.get(StreamARN);
    if (!listed || Date.now() - listed.at > 250) {
      listed = { at: Date.now(), shards: this.#client.send(new ListShardsCommand({ StreamARN })).then((out) => out.Shards ?? []) };
      this.#listed.set(StreamARN, listed);
    }
    const range = (await listed.shards).find((s) => s.ShardId === input.ShardId)?.SequenceNumberRange;
    return range ? { start: range.StartingSequenceNumber!, closed: range.EndingSequenceNumber !== undefined } : undefined;
  }

  /** The shard's starting sequence number when it is closed, else undefined. */
  async closed(input: SubscribeInput): Promise<string | undefined> {
    const shard = await this.shard(input);
    return shard?.closed ? shard.start : undefined;
  }

  /** The shard's records from `position` on, an event per page; a closed shard's end names its children and ends the stream. */
  async serve(out: SubscriptionOut, input: SubscribeInput, position: SubscribeInput['StartingPosition'], shardStart: string): Promise<void> {
    const StreamARN = streamArnOfConsumer(input.ConsumerARN);
    out.start();
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
    while (iterator && !out.closed) {
      const page = await this.#client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
      const records = (page.Records ?? []).map((r) => ({ SequenceNumber: r.SequenceNumber!, Data: Buffer.from(r.Data ?? []), PartitionKey: r.PartitionKey! }));
      if (records.length > 0) continuation = records.at(-1)!.SequenceNumber;
      iterator = page.NextShardIterator;
      const children = (page.ChildShards ?? []).map((c) => ({ ShardId: c.ShardId!, ParentShards: c.ParentShards ?? [], HashKeyRange: c.HashKeyRange as { StartingHashKey: string; EndingHashKey: string } }));
      const event = { Records: records, MillisBehindLatest: page.MillisBehindLatest ?? 0 };
      const last = !iterator || children.length > 0;
      if (!out.send(eventMessage('SubscribeToShardEvent', eventPayload(last ? { ...event, ChildShards: children } : { ...event, ContinuationSequenceNumber: continuation })), records.length)) return;
      if (last) break;
      // An open shard's pushes come a second apart, as the emulator's; a closed shard's rest as fast as it is read.
      if (!(await this.shard(input))?.closed) await new Promise((r) => setTimeout(r, 1_000));
    }
    out.end();
  }
}

function streamArnOfConsumer(consumerArn: string): string {
  return consumerArn.slice(0, consumerArn.indexOf('/consumer/'));
}

/** Cuts an event stream into whole messages (a prelude's total length each), and reads an event's continuation. */
class EventStreamReader {
  #buffered = Buffer.alloc(0);
  continuation: string | undefined;

  push(chunk: Buffer): Message[] {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    const messages: Message[] = [];
    while (this.#buffered.length >= 4 && this.#buffered.length >= this.#buffered.readUInt32BE(0)) {
      const message = this.#buffered.subarray(0, this.#buffered.readUInt32BE(0));
      this.#buffered = this.#buffered.subarray(message.length);
      const headersLength = message.readUInt32BE(4);
      const headers = stringHeaders(message.subarray(12, 12 + headersLength));
      let records = 0;
      if (headers[':event-type'] === 'SubscribeToShardEvent') {
        const payload = JSON.parse(message.subarray(12 + headersLength, message.length - 4).toString('utf8')) as { ContinuationSequenceNumber?: string; Records?: unknown[] };
        this.continuation = payload.ContinuationSequenceNumber ?? this.continuation;
        records = payload.Records?.length ?? 0;
      }
      const exception = headers[':message-type'] === 'exception';
      messages.push({ bytes: message, exception, type: (exception ? headers[':exception-type'] : headers[':event-type']) ?? '', records });
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

/** Sends a request on to the emulator and its answer back, whole. */
function forward(upstream: http2.ClientHttp2Session, stream: http2.ServerHttp2Stream, headers: http2.OutgoingHttpHeaders): void {
  const request = upstream.request(headers);
  const reset = () => {
    if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  };
  request.on('error', reset);
  request.on('aborted', reset);
  stream.on('close', () => {
    if (!request.closed) request.close(http2.constants.NGHTTP2_CANCEL);
  });
  request.on('response', (responseHeaders) => {
    if (stream.destroyed) return;
    stream.respond(responseHeaders);
    request.pipe(stream);
  });
  stream.pipe(request);
}

/**
 * A subscription, over a connection of its own to the emulator (`own`,
 * closed with it). Its events pass through whole, reading each event's
 * continuation as it passes; when its shard closes, or when the emulator
 * refuses it for a subscription only the emulator still holds (see
 * FromGetRecords), the rest is served from GetRecords, right after the last
 * event forwarded.
 */
function subscribe(own: http2.ClientHttp2Session, out: SubscriptionOut, headers: http2.OutgoingHttpHeaders, body: Buffer, input: SubscribeInput, fromGetRecords: FromGetRecords, heldElsewhere: () => boolean): void {
  const { stream } = out;
  const request = own.request(headers);
  // Set once the emulator's stream is no longer what the client reads: the rest is served here, or a fault cut it.
  let handedOver = false;
  let watch: NodeJS.Timeout | undefined;
  const reset = () => {
    if (!handedOver && !stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  };
  // The emulator stops pushing when its connection closes (its lease stays until the 5 minutes are up: FromGetRecords).
  const takeOver = () => {
    handedOver = true;
    clearInterval(watch);
    own.destroy();
  };
  const serveFromGetRecords = (shardStart: string) => {
    takeOver();
    out.flush();
    const after = events.continuation;
    const position = after ? { Type: 'AFTER_SEQUENCE_NUMBER' as const, SequenceNumber: after } : input.StartingPosition;
    fromGetRecords.serve(out, input, position, shardStart).catch(() => stream.destroy());
  };
  const events = new EventStreamReader();
  request.on('error', reset);
  request.on('aborted', reset);
  stream.on('close', () => {
    clearInterval(watch);
    own.destroy();
  });
  request.on('response', (responseHeaders) => {
    if (stream.destroyed) return;
    if (responseHeaders[':status'] !== 200) {
      stream.respond(responseHeaders);
      return void request.pipe(stream);
    }
    request.on('data', (chunk: Buffer) => {
      if (handedOver) return;
      for (const message of events.push(chunk)) {
        if (message.exception && message.type === 'ResourceInUseException' && !out.started && !heldElsewhere()) {
          void fromGetRecords.shard(input).then((shard) => (shard ? serveFromGetRecords(shard.start) : stream.destroy()), () => stream.destroy());
          handedOver = true;
          return;
        }
        // The emulator's answer begins the client's stream (kinesis-mock sends no initial-response of its own).
        if (!stream.headersSent) stream.respond(responseHeaders);
        out.started = true;
        if (message.type === 'initial-response') {
          stream.write(message.bytes);
          continue;
        }
        if (!out.send(message.bytes, message.records)) return takeOver();
      }
    });
    request.on('end', () => {
      if (!handedOver) out.end();
    });
    watch = setInterval(async () => {
      const start = await fromGetRecords.closed(input).catch(() => undefined);
      if (start !== undefined && !handedOver && !out.closed) serveFromGetRecords(start);
    }, 300);
  });
  request.end(body);
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
async function startFront(upstreamPort: number, faults: SubscriptionFaults, paceMs?: number): Promise<{ port: number; close(): Promise<void> }> {
  const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;
  const direct = new KinesisClient({ endpoint: upstreamUrl, region: 'us-east-1', credentials: CREDENTIALS, requestHandler: new NodeHttpHandler(), maxAttempts: 3 });
  const fromGetRecords = new FromGetRecords(direct);
  // Subscriptions whose client stream is open, per consumer and shard: what Kinesis's ResourceInUse is about.
  const live = new Map<string, number>();
  // Each subscription's own connection to the emulator.
  const owns = new Set<http2.ClientHttp2Session>();
  // One emulator connection per client session for the other calls, never sent a GOAWAY, closed with the client's session.
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
  h2.on('stream', (stream, headers) => {
    serveStream(stream, headers).catch(() => stream.destroy());
  });
  const serveStream = async (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> => {
    const arrivedAt = Date.now();
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
    if (stream.closed || stream.destroyed) return;
    const input = JSON.parse(body.toString('utf8')) as SubscribeInput;
    const plan = faults.take(input, arrivedAt);
    if (plan && 'refuse' in plan) {
      stream.respond({ ':status': 400, 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': randomUUID() });
      return void stream.end(JSON.stringify({ __type: plan.refuse, message: `${plan.refuse} (injected by the test front)` }));
    }
    const port = stream.session!.socket.remotePort!;
    const out = new SubscriptionOut(stream, faults, plan, () => clients.get(port)?.resetAndDestroy(), paceMs);
    const key = `${input.ConsumerARN} ${input.ShardId}`;
    live.set(key, (live.get(key) ?? 0) + 1);
    stream.on('close', () => live.set(key, live.get(key)! - 1));
    const start = await fromGetRecords.closed(input).catch(() => undefined);
    if (start !== undefined) return void fromGetRecords.serve(out, input, input.StartingPosition, start).catch(() => stream.destroy());
    if (out.closed) return;
    const own = http2.connect(upstreamUrl);
    own.on('error', () => {});
    owns.add(own);
    own.on('close', () => owns.delete(own));
    subscribe(own, out, forwarded, body, input, fromGetRecords, () => live.get(key)! > 1);
  };
  h2.on('sessionError', () => {});
  const h2Port = await listenOnLoopback(h2);
  const sockets = new Set<net.Socket>();
  // The client's socket by the local port of its pipe to the HTTP/2 server (that session's remote port): what a connection reset resets.
  const clients = new Map<number, net.Socket>();
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
      if (http2Preface) {
        pipe.once('connect', () => {
          const port = pipe.localPort!;
          clients.set(port, socket);
          socket.once('close', () => clients.delete(port));
        });
      }
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
      for (const own of owns) own.destroy();
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
