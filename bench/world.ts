/**
 * The world the benchmark's consumers talk to, in its own process so it does
 * not run on the measured thread: a LocalKms (the KMS-call count comes from
 * here) and an OTLP endpoint that reads each request whole and discards it.
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
const sink = createServer((req, res) => {
  req.on('data', (chunk: Buffer) => (otlpBytes += chunk.length));
  req.on('end', () => {
    otlpRequests++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
    res.end();
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const otlpEndpoint = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/logs`;

process.on('message', (message: { type: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', kmsCalls: kms.calls, otlpRequests, otlpBytes });
});
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready', kmsEndpoint, keyId: key.keyId, otlpEndpoint });
