/**
 * A stand-in for Kinesis's SubscribeToShard, for what no emulator here does:
 * end a subscription with ChildShards when its shard is closed (kinesis-local
 * never does), fail mid-stream with each documented exception, reset the
 * connection, refuse a subscription (ResourceInUse, LimitExceeded, ...), and
 * show HTTP/2 flow control holding the server back.
 *
 * It speaks the real protocol, so the AWS SDK's own client reads it
 * unchanged: HTTP/2 (h2c), the awsJson1_1 request
 * (`X-Amz-Target: Kinesis_20131202.SubscribeToShard`), errors before the
 * stream as a 400 with `__type`, and the stream as
 * `application/vnd.amazon.eventstream` messages, encoded here independently of
 * the SDK (prelude, headers, payload, both CRC32s): an `initial-response`
 * event, then `SubscribeToShardEvent`s, or an `exception` message. What each
 * subscription does is the test's script.
 */
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';

export interface StandInRecord {
  SequenceNumber: string;
  Data: Buffer;
  PartitionKey?: string;
}

export interface StandInEvent {
  Records: StandInRecord[];
  ContinuationSequenceNumber?: string;
  MillisBehindLatest?: number;
  ChildShards?: { ShardId: string; ParentShards: string[]; HashKeyRange?: { StartingHashKey: string; EndingHashKey: string } }[];
}

/** What a subscription does, step by step, after its request is read. */
export type Step =
  | { refuse: string; status?: number }
  | { event: StandInEvent }
  | { exception: string }
  | { reset: true }
  | { end: true }
  | { hold: true };

export interface SubscribeRequest {
  ConsumerARN: string;
  ShardId: string;
  StartingPosition: { Type: string; SequenceNumber?: string; Timestamp?: number };
}

export interface Subscription {
  request: SubscribeRequest;
  /** Set once the server's stream has closed (the client ended it, or the script did). */
  closed: boolean;
  /** Event writes the HTTP/2 stream did not take at once: the client stopped reading (flow control). */
  blockedWrites: number;
  /** Events written so far. */
  written: number;
}

export class SubscriptionStandIn {
  readonly subscriptions: Subscription[] = [];
  /** Script mistakes, which the tests check are none. */
  readonly errors: unknown[] = [];
  readonly #server = http2.createServer();
  readonly #script: (request: SubscribeRequest, index: number) => Step[] | AsyncIterable<Step>;

  constructor(script: (request: SubscribeRequest, index: number) => Step[] | AsyncIterable<Step>) {
    this.#script = script;
    this.#server.on('stream', (stream, headers) => {
      this.#serve(stream, headers).catch((error: unknown) => {
        this.errors.push(error);
        stream.destroy();
      });
    });
    this.#server.on('sessionError', () => {});
    this.#server.on('session', (session) => {
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
    });
  }

  readonly #sessions = new Set<http2.ServerHttp2Session>();

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    for (const session of this.#sessions) session.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): Promise<void> {
    stream.on('error', () => {});
    const body = await readBody(stream);
    const target = String(headers['x-amz-target'] ?? '');
    if (target !== 'Kinesis_20131202.SubscribeToShard') {
      stream.respond({ ':status': 400, 'content-type': 'application/x-amz-json-1.1' });
      stream.end(JSON.stringify({ __type: 'UnknownOperationException', message: `the stand-in serves SubscribeToShard only, not ${target}` }));
      return;
    }
    const request = JSON.parse(body.toString('utf8')) as SubscribeRequest;
    const subscription: Subscription = { request, closed: false, blockedWrites: 0, written: 0 };
    this.subscriptions.push(subscription);
    stream.on('close', () => (subscription.closed = true));
    let responded = false;
    for await (const step of this.#script(request, this.subscriptions.length - 1)) {
      if (stream.destroyed || stream.closed) return;
      if ('refuse' in step) {
        if (responded) throw new Error('the stand-in can refuse a subscription only before its stream starts');
        stream.respond({ ':status': step.status ?? 400, 'content-type': 'application/x-amz-json-1.1' });
        stream.end(JSON.stringify({ __type: step.refuse, message: `${step.refuse} (stand-in)` }));
        return;
      }
      if (!responded) {
        responded = true;
        stream.respond({ ':status': 200, 'content-type': 'application/vnd.amazon.eventstream' });
        stream.write(eventMessage('initial-response', {}));
      }
      if ('event' in step) {
        const ok = stream.write(eventMessage('SubscribeToShardEvent', eventPayload(step.event)));
        subscription.written++;
        if (!ok) {
          subscription.blockedWrites++;
          await new Promise<void>((resolve) => {
            const done = () => {
              stream.off('drain', done);
              stream.off('close', done);
              resolve();
            };
            stream.on('drain', done);
            stream.on('close', done);
          });
        }
      } else if ('exception' in step) {
        stream.end(exceptionMessage(step.exception, `${step.exception} (stand-in)`));
        return;
      } else if ('reset' in step) {
        stream.session?.destroy();
        return;
      } else if ('end' in step) {
        stream.end();
        return;
      } else if ('hold' in step) {
        await new Promise<void>((resolve) => stream.once('close', resolve));
        return;
      }
    }
    if (!stream.destroyed && !stream.closed) stream.end();
  }
}

export function eventPayload(event: StandInEvent): Record<string, unknown> {
  return {
    Records: event.Records.map((r) => ({
      SequenceNumber: r.SequenceNumber,
      ApproximateArrivalTimestamp: Date.now() / 1000,
      Data: r.Data.toString('base64'),
      PartitionKey: r.PartitionKey ?? 'k',
    })),
    ...(event.ContinuationSequenceNumber !== undefined ? { ContinuationSequenceNumber: event.ContinuationSequenceNumber } : {}),
    MillisBehindLatest: event.MillisBehindLatest ?? 0,
    ...(event.ChildShards ? { ChildShards: event.ChildShards.map((c) => ({ HashKeyRange: { StartingHashKey: '0', EndingHashKey: '1' }, ...c })) } : {}),
  };
}

/** An `exception` message: how Kinesis fails a subscription mid-stream. */
export function exceptionMessage(type: string, text: string): Buffer {
  return message({ ':message-type': 'exception', ':exception-type': type, ':content-type': 'application/json' }, { message: text });
}

export function eventMessage(type: string, payload: unknown): Buffer {
  return message({ ':message-type': 'event', ':event-type': type, ':content-type': 'application/json' }, payload);
}

/** One event-stream message: total length, headers length, prelude CRC, string headers, JSON payload, message CRC. */
export function message(headers: Record<string, string>, payload: unknown): Buffer {
  const head = Buffer.concat(
    Object.entries(headers).map(([name, value]) => {
      const n = Buffer.from(name, 'utf8');
      const v = Buffer.from(value, 'utf8');
      const length = Buffer.alloc(2);
      length.writeUInt16BE(v.length);
      return Buffer.concat([Buffer.from([n.length]), n, Buffer.from([7]), length, v]);
    }),
  );
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  const total = 12 + head.length + body.length + 4;
  const prelude = Buffer.alloc(8);
  prelude.writeUInt32BE(total, 0);
  prelude.writeUInt32BE(head.length, 4);
  const preludeCrc = Buffer.alloc(4);
  preludeCrc.writeUInt32BE(crc32(prelude));
  const withoutCrc = Buffer.concat([prelude, preludeCrc, head, body]);
  const messageCrc = Buffer.alloc(4);
  messageCrc.writeUInt32BE(crc32(withoutCrc));
  return Buffer.concat([withoutCrc, messageCrc]);
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Buffer): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

async function readBody(stream: http2.ServerHttp2Stream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
