/**
 * A stand-in for an OTLP/HTTP traces receiver (the Collector's otlphttp
 * receiver, Tempo's distributor): `POST /v1/traces` with an
 * ExportTraceServiceRequest in protobuf (`application/x-protobuf`) or OTLP/JSON
 * (`application/json`), optionally gzip, answered 200 with an empty
 * ExportTraceServiceResponse as the Collector does. Spans are decoded here
 * from the opentelemetry-proto definitions (trace/v1/trace.proto) with the
 * test reader (otlp-proto-reader.ts), never with das-exporter's code, and kept
 * by span id: a span sent twice is kept once, as Tempo does.
 * A backend outage is scripted as with the Loki stand-in: `answerAlways`
 * answers every request with a status (and Retry-After), or leaves it hanging
 * until the client gives up, until `answerAlways(null)`; `down(status)` and
 * `up()` are the short form.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { ScriptedAnswer } from './loki-receiver.ts';
import { readKeyValue, Reader, type AnyValue } from './otlp-proto-reader.ts';

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  /** SPAN_KIND_*: 2 is SERVER, 3 CLIENT. */
  kind: number;
  startTimeUnixNano: bigint;
  endTimeUnixNano: bigint;
  attributes: Record<string, string | number | boolean>;
  /** STATUS_CODE_*: 0 unset, 1 ok, 2 error. */
  status: { code: number; message: string };
  resource: Record<string, string | number | boolean>;
  scope: string;
}

export class TraceReceiver {
  readonly spans = new Map<string, ReceivedSpan>();
  /** Spans received more than once (retries, bisecting): kept once. */
  duplicates = 0;
  requests = 0;
  #server: Server | undefined;
  readonly #sockets = new Set<Socket>();
  #standing: ScriptedAnswer | null = null;

  async start(): Promise<this> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get endpoint(): string {
    return `${this.url}/v1/traces`;
  }

  /** Base URL; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is `${url}/v1/traces`. */
  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  /** Every request gets this answer until `answerAlways(null)`. */
  answerAlways(answer: ScriptedAnswer | null): void {
    this.#standing = answer;
  }

  down(status = 503): void {
    this.answerAlways({ status, message: 'receiver down' });
  }

  up(): void {
    this.answerAlways(null);
  }

  /** Distinct `log.record.uid`s of the spans held. */
  logRecordUids(): Set<string> {
    const uids = new Set<string>();
    for (const span of this.spans.values()) {
      const uid = span.attributes['log.record.uid'];
      if (typeof uid === 'string') uids.add(uid);
    }
    return uids;
  }

  byLogRecordUid(uid: string): ReceivedSpan | undefined {
    for (const span of this.spans.values()) if (span.attributes['log.record.uid'] === uid) return span;
    return undefined;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    this.requests++;
    if (req.method !== 'POST' || req.url !== '/v1/traces') return void res.writeHead(404).end();
    const scripted = this.#standing;
    if (scripted !== null) {
      if ('hang' in scripted) return; // the socket stays open until the client gives up or close()
      if (scripted.retryAfter !== undefined) res.setHeader('Retry-After', scripted.retryAfter);
      return void res.writeHead(scripted.status, { 'content-type': 'text/plain' }).end(scripted.message ?? `scripted ${scripted.status}`);
    }
    let body = Buffer.concat(chunks);
    if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
    const type = req.headers['content-type'];
    let spans: ReceivedSpan[];
    try {
      if (type === 'application/x-protobuf') spans = decodeProtobuf(body);
      else if (type === 'application/json') spans = decodeJson(JSON.parse(body.toString('utf8')));
      else return void res.writeHead(415).end(`unsupported content type ${type}`);
    } catch (error) {
      return void res.writeHead(400, { 'content-type': 'text/plain' }).end(`cannot decode: ${(error as Error).message}`);
    }
    for (const span of spans) {
      if (this.spans.has(span.spanId)) this.duplicates++;
      this.spans.set(span.spanId, span);
    }
    res.writeHead(200, { 'content-type': type }).end(type === 'application/json' ? '{}' : Buffer.alloc(0));
  }
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

function plain(value: AnyValue): string | number | boolean {
  if ('string' in value) return value.string;
  if ('bool' in value) return value.bool;
  if ('int' in value) return Number(value.int);
  if ('double' in value) return value.double;
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}

function attributesOf(r: Reader, into: Record<string, string | number | boolean>): void {
  const kv = readKeyValue(r);
  into[kv.key] = plain(kv.value);
}

function decodeProtobuf(buf: Uint8Array): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  new Reader(buf).each((field, wire, r) => {
    if (field !== 1 || wire !== 2) return false;
    const resource: Record<string, string | number | boolean> = {};
    r.sub().each((f, w, rs) => {
      if (f === 1 && w === 2) {
        rs.sub().each((ff, ww, rr) => (ff === 1 && ww === 2 ? (attributesOf(rr.sub(), resource), true) : false));
      } else if (f === 2 && w === 2) {
        let scope = '';
        rs.sub().each((sf, sw, ss) => {
          if (sf === 1 && sw === 2) ss.sub().each((nf, nw, n) => (nf === 1 && nw === 2 ? ((scope = n.string()), true) : false));
          else if (sf === 2 && sw === 2) out.push(readSpan(ss.sub(), resource, scope));
          else return false;
          return true;
        });
      } else return false;
      return true;
    });
    return true;
  });
  return out;
}

function readSpan(r: Reader, resource: Record<string, string | number | boolean>, scope: string): ReceivedSpan {
  const span: ReceivedSpan = { traceId: '', spanId: '', parentSpanId: '', name: '', kind: 0, startTimeUnixNano: 0n, endTimeUnixNano: 0n, attributes: {}, status: { code: 0, message: '' }, resource, scope };
  r.each((field, wire, s) => {
    if (field === 1 && wire === 2) span.traceId = hex(s.bytes());
    else if (field === 2 && wire === 2) span.spanId = hex(s.bytes());
    else if (field === 4 && wire === 2) span.parentSpanId = hex(s.bytes());
    else if (field === 5 && wire === 2) span.name = s.string();
    else if (field === 6 && wire === 0) span.kind = Number(s.varint());
    else if (field === 7 && wire === 1) span.startTimeUnixNano = s.fixed64();
    else if (field === 8 && wire === 1) span.endTimeUnixNano = s.fixed64();
    else if (field === 9 && wire === 2) attributesOf(s.sub(), span.attributes);
    else if (field === 15 && wire === 2) {
      s.sub().each((f, w, st) => {
        if (f === 2 && w === 2) span.status.message = st.string();
        else if (f === 3 && w === 0) span.status.code = Number(st.varint());
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return span;
}

type Json = Record<string, any>;

/** OTLP/JSON (protojson): ids as hex strings, 64-bit integers as strings, enums as numbers. */
function decodeJson(request: Json): ReceivedSpan[] {
  const values = (list: Json[] | undefined) => Object.fromEntries((list ?? []).map((kv) => [kv.key, jsonValue(kv.value)]));
  return (request.resourceSpans ?? []).flatMap((rs: Json) => {
    const resource = values(rs.resource?.attributes);
    return (rs.scopeSpans ?? []).flatMap((ss: Json) =>
      (ss.spans ?? []).map((s: Json): ReceivedSpan => ({
        traceId: s.traceId,
        spanId: s.spanId,
        parentSpanId: s.parentSpanId ?? '',
        name: s.name,
        kind: s.kind ?? 0,
        startTimeUnixNano: BigInt(s.startTimeUnixNano),
        endTimeUnixNano: BigInt(s.endTimeUnixNano),
        attributes: values(s.attributes),
        status: { code: s.status?.code ?? 0, message: s.status?.message ?? '' },
        resource,
        scope: ss.scope?.name ?? '',
      })),
    );
  });
}

function jsonValue(v: Json): string | number | boolean {
  if ('stringValue' in v) return v.stringValue;
  if ('boolValue' in v) return v.boolValue;
  if ('intValue' in v) return Number(v.intValue);
  if ('doubleValue' in v) return v.doubleValue;
  return JSON.stringify(v);
}
