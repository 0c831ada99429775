/**
 * A fault-injecting HTTP proxy (node:http, 127.0.0.1) in front of one AWS
 * JSON service (Kinesis, KMS, DynamoDB for leases) or the OTLP receiver. The exporter under
 * test is pointed at the proxy; the producer talks to the real component
 * directly, so only the consumer's path sees faults.
 *
 * What it can do, each answered the way the real service does:
 * - throttle a seeded share of calls: Kinesis answers 400
 *   `ProvisionedThroughputExceededException` (GetRecords, GetShardIterator) or
 *   `LimitExceededException` (control plane), KMS answers 400
 *   `ThrottlingException`, both as `application/x-amz-json-1.1` with `__type`;
 *   DynamoDB answers 400 `ProvisionedThroughputExceededException` as
 *   `application/x-amz-json-1.0`;
 * - expire shard iterators after `iteratorExpiryMs` instead of Kinesis's
 *   5 minutes: the proxy notes when each iterator was handed out
 *   (GetShardIterator, NextShardIterator) and answers GetRecords on an older
 *   one with `ExpiredIteratorException`, exactly what Kinesis does;
 * - delay requests, reset connections, refuse connections (the listener is
 *   closed and later reopened on the same port), and refuse request bodies
 *   over a size with 413, as a gateway's body limit does;
 * - count requests per operation and per wall-clock second.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { randomUUID } from 'node:crypto';
import { seeded } from './random.ts';

export type ProxiedService = 'kinesis' | 'kms' | 'dynamodb' | 'otlp';

export interface ProxyStats {
  /** Requests that reached the proxy, per operation (X-Amz-Target's operation, or the path). */
  byOperation: Record<string, number>;
  /** Faults injected, per kind. */
  injected: Record<string, number>;
  /** Most requests seen in one wall-clock second. */
  maxPerSecond: number;
  total: number;
}

interface Throttle {
  fraction: number;
  next: () => number;
  operations: Set<string> | null;
}

export class FaultProxy {
  readonly service: ProxiedService;
  readonly #upstream: URL;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #listening = false;
  #throttle: Throttle | null = null;
  #delayMs = 0;
  #maxBodyBytes: number | null = null;
  #iteratorExpiryMs: number | null = null;
  readonly #iteratorIssuedAt = new Map<string, number>();
  readonly #perSecond = new Map<number, number>();
  readonly #byOperation: Record<string, number> = {};
  readonly #injected: Record<string, number> = {};
  #total = 0;
  /** GetShardIterator request bodies, in order, for checking where a resumed read starts. */
  readonly iteratorRequests: { at: number; body: Record<string, unknown> }[] = [];

  constructor(service: ProxiedService, upstream: string) {
    this.service = service;
    this.#upstream = new URL(upstream);
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.keepAliveTimeout = 1_000;
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
  }

  async start(): Promise<this> {
    await this.#listen(0);
    return this;
  }

  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** A seeded `fraction` of requests (of `operations`, or all) gets the service's throttling error. */
  throttle(fraction: number, seed: number, operations?: readonly string[]): void {
    this.#throttle = fraction > 0 ? { fraction, next: seeded(seed), operations: operations ? new Set(operations) : null } : null;
  }

  delay(ms: number): void {
    this.#delayMs = ms;
  }

  /** Request bodies larger than this get 413 (null: no limit). */
  maxBodyBytes(bytes: number | null): void {
    this.#maxBodyBytes = bytes;
  }

  /** Shard iterators older than this are expired (null: never, as far as the proxy is concerned). */
  iteratorExpiry(ms: number | null): void {
    this.#iteratorExpiryMs = ms;
  }

  /** Closes the listener and every open connection: new connections are refused (ECONNREFUSED). */
  async refuseConnections(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Listens again on the same port. */
  async acceptConnections(): Promise<void> {
    if (!this.#listening) await this.#listen(this.#port);
  }

  stats(): ProxyStats {
    return {
      byOperation: { ...this.#byOperation },
      injected: { ...this.#injected },
      maxPerSecond: Math.max(0, ...this.#perSecond.values()),
      total: this.#total,
    };
  }

  /** Most requests in one second among requests seen since `sinceMs` (epoch ms). */
  maxPerSecondSince(sinceMs: number): number {
    let max = 0;
    for (const [second, n] of this.#perSecond) if (second * 1000 >= sinceMs - 999) max = Math.max(max, n);
    return max;
  }

  async close(): Promise<void> {
    await this.refuseConnections();
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#listening = true;
  }

  #count(operation: string): void {
    this.#total++;
    this.#byOperation[operation] = (this.#byOperation[operation] ?? 0) + 1;
    const second = Math.floor(Date.now() / 1000);
    this.#perSecond.set(second, (this.#perSecond.get(second) ?? 0) + 1);
  }

  #inject(kind: string): void {
    this.#injected[kind] = (this.#injected[kind] ?? 0) + 1;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return;
    }
    const body = Buffer.concat(chunks);
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' ? target.slice(target.indexOf('.') + 1) : (req.url ?? '/');
    this.#count(operation);

    if (this.#delayMs > 0) await new Promise((r) => setTimeout(r, this.#delayMs));
    if (this.#maxBodyBytes !== null && body.length > this.#maxBodyBytes) {
      this.#inject('413');
      res.writeHead(413, { 'content-type': 'text/html' });
      return void res.end('<html><head><title>413 Request Entity Too Large</title></head><body>413 Request Entity Too Large</body></html>');
    }
    const throttle = this.#throttle;
    if (throttle && (throttle.operations === null || throttle.operations.has(operation)) && throttle.next() < throttle.fraction) {
      this.#inject('throttled');
      return this.#awsError(res, throttleError(this.service, operation));
    }
    let parsed: Record<string, unknown> | undefined;
    if (this.service === 'kinesis' && (operation === 'GetRecords' || operation === 'GetShardIterator')) {
      parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      if (operation === 'GetShardIterator') this.iteratorRequests.push({ at: Date.now(), body: parsed });
      if (operation === 'GetRecords' && this.#iteratorExpiryMs !== null) {
        const issued = this.#iteratorIssuedAt.get(String(parsed.ShardIterator));
        if (issued !== undefined && Date.now() - issued > this.#iteratorExpiryMs) {
          this.#inject('expired_iterator');
          return this.#awsError(res, {
            type: 'ExpiredIteratorException',
            message: `Iterator expired. The iterator was created at time ${new Date(issued).toUTCString()} while right now it is ${new Date().toUTCString()} which is further in the future than the tolerated delay of ${this.#iteratorExpiryMs} milliseconds.`,
          });
        }
      }
    }
    await this.#forward(req, res, body, parsed ? operation : undefined);
  }

  async #forward(req: IncomingMessage, res: ServerResponse, body: Buffer, track: string | undefined): Promise<void> {
    const headers = { ...req.headers, host: this.#upstream.host };
    await new Promise<void>((resolve) => {
      const upstream = httpRequest(
        { host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers },
        (up) => {
          if (!track) {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
            up.on('end', resolve);
            up.on('error', () => resolve());
            return;
          }
          const parts: Buffer[] = [];
          up.on('data', (c: Buffer) => parts.push(c));
          up.on('error', () => resolve());
          up.on('end', () => {
            const out = Buffer.concat(parts);
            if ((up.statusCode ?? 0) === 200) this.#noteIterators(out);
            res.writeHead(up.statusCode ?? 502, up.headers);
            res.end(out);
            resolve();
          });
        },
      );
      upstream.on('error', () => {
        // The component behind the proxy went away: the client sees the connection drop.
        req.socket.destroy();
        resolve();
      });
      upstream.end(body);
    });
  }

  #noteIterators(body: Buffer): void {
    if (this.#iteratorExpiryMs === null) return;
    const answer = JSON.parse(body.toString('utf8')) as { ShardIterator?: string; NextShardIterator?: string };
    const iterator = answer.ShardIterator ?? answer.NextShardIterator;
    if (iterator) this.#iteratorIssuedAt.set(iterator, Date.now());
  }

  #awsError(res: ServerResponse, error: { type: string; message: string }): void {
    const json = JSON.stringify({ __type: error.type, message: error.message });
    res.writeHead(400, {
      'content-type': this.service === 'dynamodb' ? 'application/x-amz-json-1.0' : 'application/x-amz-json-1.1',
      'content-length': Buffer.byteLength(json),
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(json);
  }
}

function throttleError(service: ProxiedService, operation: string): { type: string; message: string } {
  if (service === 'kms') return { type: 'ThrottlingException', message: 'Rate exceeded' };
  if (service === 'dynamodb') {
    return { type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'The level of configured provisioned throughput for the table was exceeded.' };
  }
  if (operation === 'GetRecords' || operation === 'GetShardIterator') {
    return { type: 'ProvisionedThroughputExceededException', message: 'Rate exceeded for shard in stream under account 111122223333.' };
  }
  return { type: 'LimitExceededException', message: `Rate exceeded for ${operation}.` };
}
