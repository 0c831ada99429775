/**
 * `tsx bench/stages.ts [rounds]`: per-event cost of each stage after decryption,
 * in one process, on the bench corpus (0x0178, decrypted once up front):
 * JSON.parse alone (part of the limit), decode (JSON.parse included), enrich, metrics, OTLP mapping + protobuf encoding of mapped records
 * (the JSON and fallback path), and the direct encoding the exporter uses
 * (`LogRecordMapper.encode`). For finding
 * where the time goes; `npm run bench` is the measurement that counts.
 */
import { KMSClient } from '@aws-sdk/client-kms';
import { DataKeyCache } from '../src/decrypt/data-keys.ts';
import { NativePayloadDecryptor } from '../src/decrypt/fast/native-payload.ts';
import { gunzipCappedSync } from '../src/decrypt/gunzip.ts';
import { EsdkPayloadDecryptor } from '../src/decrypt/payload.ts';
import { LocalKms } from '../src/demo/local-kms.ts';
import { enrichRecord } from '../src/enrich/stage.ts';
import { decodeRecord } from '../src/events/decode.ts';
import type { DecodedRecord } from '../src/events/model.ts';
import { MetricsSink } from '../src/sinks/metrics-sink.ts';
import { ProtobufLogsSerializer } from '@opentelemetry/otlp-transformer';
import { encodeLogsRequest } from '../src/sinks/otlp/protobuf.ts';
import { LogRecordMapper } from '../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../src/sinks/otlp/resource.ts';
import { parseEnvelope } from '../src/source/envelope.ts';
import { createMetrics, createMetricsRegistry } from '../src/telemetry/metrics.ts';
import { contextResolver } from '../src/cli/wiring.ts';
import { buildCorpus } from './corpus.ts';

const rounds = Number(process.argv[2] ?? 5);
const kms = new LocalKms();
const key = kms.createKey({ alias: 'das-stages' });
const { endpoint } = await kms.listen();
const client = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
const corpus = (await buildCorpus({ kms: client, keyId: key.keyId, recordsPerCell: 34 })).get(0x0178)!;
const cache = new DataKeyCache({ kms: client });
const decryptor = new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() });
const contextFor = contextResolver({});
const plain: { json: Buffer; version: string; stream: string; seq: string }[] = [];
for (const [i, r] of corpus.entries()) {
  const data = Buffer.from(r.data, 'base64');
  const envelope = parseEnvelope(data);
  const record = { stream: r.stream, shardId: 'shardId-000000000000', sequenceNumber: String(i), data };
  const compressed = await decryptor.decrypt(envelope.payload, await cache.get(envelope.key, contextFor(record)));
  plain.push({ json: gunzipCappedSync(compressed), version: envelope.version, stream: r.stream, seq: String(i) });
}
await kms.close();
const events = corpus.reduce((n, r) => n + r.events, 0);

function time(label: string, run: () => void): void {
  const samples: number[] = [];
  for (let round = 0; round < rounds; round++) {
    // CPU time, not wall time: the machine is shared.
    const started = process.cpuUsage();
    run();
    const used = process.cpuUsage(started);
    samples.push((used.user + used.system) / events);
  }
  samples.sort((a, b) => a - b);
  console.log(`${label.padEnd(12)} ${samples[0]!.toFixed(2).padStart(7)} µs/event (median ${samples[Math.floor(samples.length / 2)]!.toFixed(2)})`);
}

const decodeAll = (): DecodedRecord[] =>
  plain.map((p) => decodeRecord(p.json, { version: p.version, position: { stream: p.stream, shardId: 'shardId-000000000000', sequenceNumber: p.seq } }));
let decoded = decodeAll();
// JSON.parse alone is part of the limit (bench/limit.ts); decode less parse is das-exporter's own.
time('JSON.parse', () => void plain.map((p) => JSON.parse(p.json.toString('utf8')) as unknown));
time('decode', () => void (decoded = decodeAll()));
time('enrich', () => {
  decoded = decodeAll();
  for (const d of decoded) enrichRecord(d, 'passwords');
});
time('(decode)', () => void (decoded = decodeAll()));
for (const d of decoded) enrichRecord(d, 'passwords');
const all = decoded.flatMap((d) => d.events);
const heartbeats = decoded.flatMap((d) => d.heartbeats);
const metrics = new MetricsSink(createMetrics(createMetricsRegistry()));
time('metrics', () => void metrics.write({ events: all, heartbeats }));
const observed = new Date();
const mapper = new LogRecordMapper({ resources: new ResourceCatalog(), clock: () => observed });
let mapped = all.map((e) => mapper.mapFields(e));
time('map', () => void (mapped = all.map((e) => mapper.mapFields(e))));
time('encode', () => {
  for (let i = 0; i < mapped.length; i += 7000) encodeLogsRequest(mapped.slice(i, i + 7000));
});
time('direct', () => {
  for (let i = 0; i < all.length; i += 1000) mapper.encode(all.slice(i, i + 1000));
});
// The one-pass encoder must write what otlp-transformer writes.
const ours = Buffer.from(encodeLogsRequest(mapped));
const theirs = Buffer.from(ProtobufLogsSerializer.serializeRequest(all.map((e) => mapper.map(e)))!);
console.log(`encoder matches otlp-transformer byte for byte: ${ours.equals(theirs)} (${ours.length} bytes)`);
process.exit(0);
