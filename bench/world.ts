/**
 * The world the benchmark's consumers talk to, in its own process so it does
 * not run on the measured thread: a LocalKms (the KMS-call count comes from
 * here) and an OTLP endpoint that reads each request whole and discards it.
 * Requests to `/latency/v1/logs` (`--latency`) are read further: each log
 * record's time_unix_nano is kept with the request's arrival time, and
 * `latency` requests are answered with both times of every record since the last.
 * It tells its parent the endpoints over IPC, answers `stats` requests with
 * KMS calls and bytes received, and exits when the parent disconnects.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalKms } from '../src/demo/local-kms.ts';

const kms = new LocalKms();
const key = kms.createKey({ alias: 'das-bench' });
const { endpoint: kmsEndpoint } = await kms.listen();

let otlpRequests = 0;
let otlpBytes = 0;
/** Per log record received at /latency/v1/logs: its timestamp, its arrival (epoch ms) and its log.record.uid. */
const timed: { atMs: number[]; arrivedMs: number[]; uids: string[] } = { atMs: [], arrivedMs: [], uids: [] };
const sink = createServer((req, res) => {
  const timing = req.url === '/latency/v1/logs';
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => {
    otlpBytes += chunk.length;
    if (timing) chunks.push(chunk);
  });
  req.on('end', () => {
    otlpRequests++;
    if (timing) {
      const arrivedMs = Date.now();
      for (const { nanos, uid } of logRecordTimes(Buffer.concat(chunks))) {
        timed.atMs.push(Number(nanos / 1_000_000n));
        timed.arrivedMs.push(arrivedMs);
        timed.uids.push(uid);
      }
    }
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
    res.end();
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const otlpEndpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/logs`;

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', kmsCalls: kms.calls, otlpRequests, otlpBytes, timedRecords: timed.atMs.length });
  if (message.type === 'latency') {
    process.send!({ type: 'latency', ...timed });
    timed.atMs = [];
    timed.arrivedMs = [];
    timed.uids = [];
  }
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', kmsEndpoint, keyId: key.keyId, otlpEndpoint });

/**
 * time_unix_nano (field 1, fixed64) and the `log.record.uid` attribute (field 6: KeyValue key 1, AnyValue 2 →
 * string_value 1) of every LogRecord in an ExportLogsServiceRequest: resource_logs(1) → scope_logs(2) → log_records(2).
 */
function logRecordTimes(request: Buffer): { nanos: bigint; uid: string }[] {
  const times: { nanos: bigint; uid: string }[] = [];
  for (const resourceLogs of fields(request, 1)) {
    for (const scopeLogs of fields(resourceLogs, 2)) {
      for (const record of fields(scopeLogs, 2)) {
        let nanos = 0n;
        let at = 0;
        while (at < record.length) {
          const [tag, next] = varint(record, at);
          at = next;
          const wire = Number(tag & 7n);
          if (tag >> 3n === 1n && wire === 1) nanos = record.readBigUInt64LE(at);
          at = skip(record, at, wire);
        }
        const uid = fields(record, 6).find((kv) => fields(kv, 1)[0]?.toString('utf8') === 'log.record.uid');
        times.push({ nanos, uid: uid ? (fields(fields(uid, 2)[0] ?? Buffer.alloc(0), 1)[0]?.toString('utf8') ?? '') : '' });
      }
    }
  }
  return times;
}

/** The length-delimited values of field `number` in one message. */
function fields(message: Buffer, number: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  while (at < message.length) {
    const [tag, next] = varint(message, at);
    const wire = Number(tag & 7n);
    if (wire === 2 && tag >> 3n === BigInt(number)) {
      const [length, start] = varint(message, next);
      out.push(message.subarray(start, start + Number(length)));
    }
    at = skip(message, next, wire);
  }
  return out;
}

function varint(buffer: Buffer, at: number): [bigint, number] {
  let value = 0n;
  for (let shift = 0n; ; shift += 7n) {
    const byte = buffer[at++]!;
    value |= BigInt(byte & 0x7f) << shift;
    if (byte < 0x80) return [value, at];
  }
}

function skip(buffer: Buffer, at: number, wire: number): number {
  if (wire === 0) return varint(buffer, at)[1];
  if (wire === 1) return at + 8;
  if (wire === 5) return at + 4;
  if (wire === 2) {
    const [length, start] = varint(buffer, at);
    return start + Number(length);
  }
  throw new Error(`unsupported protobuf wire type ${wire}`);
}
