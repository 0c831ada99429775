/**
 * `npm run bench -- --latency`: how long an event takes from PutRecords to
 * the OTLP endpoint when das-exporter keeps up with live traffic, in a fresh
 * process started by bench/run.ts.
 *
 * As the demo does it: kinesalite and a LocalKms in this process
 * (demo/embedded.ts), the demo's traffic simulator encrypting records for its
 * three databases, and the real consumer (`startApp`) reading them and
 * exporting OTLP/protobuf to bench/world.ts's `/latency/v1/logs`, which
 * subtracts each log record's timestamp from its arrival. Every `TICK_MS` the
 * producer takes the events the rate owes, stamps each one's `logTime` with
 * the time now (the record's put time), encrypts and puts them. What shapes
 * the result besides das-exporter: the consumer polls each shard at most every
 * 200 ms, kinesalite answers from this same event loop, and the producer's
 * encryption runs here too.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { startApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { startEmbeddedAws } from '../src/demo/embedded.ts';
import { kmsDataKeySource } from '../src/demo/record-factory.ts';
import { DEMO_CLUSTERS, TrafficEncryptor, TrafficSimulator } from '../src/demo/traffic.ts';
import { formatMicros, formatTicks } from '../src/demo/traffic/time.ts';

export interface LatencyInput {
  /** world.ts's `/latency/v1/logs`. */
  otlpEndpoint: string;
  eventsPerSecond: number;
  /** Traffic before the measured window, for JIT warm-up and shard discovery. */
  warmupSeconds: number;
  seconds: number;
}

export interface LatencyRun {
  /** Put times of the measured window: epoch ms when the window opened and closed. */
  measuredFromMs: number;
  measuredUntilMs: number;
  /** Activity events put in all (warm-up included): what the endpoint should see. */
  eventsPut: number;
}

const TICK_MS = 50;

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]!) as LatencyInput;
  const aws = await startEmbeddedAws({ streams: DEMO_CLUSTERS.map((c) => c.stream), shards: 2 });
  const stateDir = mkdtempSync(path.join(tmpdir(), 'das-bench-latency-'));
  const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: input.otlpEndpoint };
  const config = loadConfig({ streams: DEMO_CLUSTERS.map((c) => c.stream), stateDir, metricsHost: '127.0.0.1', metricsPort: 0 }, env);
  const [consumerKinesis, consumerKms, producerKinesis, producerKms] = [aws.kinesisClient(), aws.kmsClient(), aws.kinesisClient(), aws.kmsClient()];
  const quiet = { info() {}, warn() {}, error: (message: string, fields?: object) => console.error(message, fields) };
  const app = await startApp(config, { kinesis: consumerKinesis, kms: consumerKms, env, stdout: process.stdout, log: quiet, processMetrics: false });

  const simulator = new TrafficSimulator({ seed: 6, clock: Date.now, rate: input.eventsPerSecond, clusters: DEMO_CLUSTERS });
  const encryptor = new TrafficEncryptor({ dataKeys: kmsDataKeySource(producerKms, aws.keyId), clusters: DEMO_CLUSTERS });
  const started = Date.now();
  const measuredFromMs = started + input.warmupSeconds * 1000;
  const measuredUntilMs = measuredFromMs + input.seconds * 1000;
  let eventsPut = 0;
  let last = started;
  for (let next = started + TICK_MS; Date.now() < measuredUntilMs; next += TICK_MS) {
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
    const now = Date.now();
    const batches = simulator.tick(now - last);
    last = now;
    // The put time, in the form each engine writes its logTime.
    for (const batch of batches) {
      for (const event of batch.events) {
        event['logTime'] = batch.engine === 'sqlserver' ? formatTicks(now * 1000, 0) : formatMicros(now * 1000);
        if (event['type'] === 'record') eventsPut++;
      }
    }
    const records = await Promise.all(batches.map((batch) => encryptor.encrypt(batch)));
    await Promise.all(
      DEMO_CLUSTERS.map(async (cluster) => {
        const mine = records.filter((r) => r.stream === cluster.stream);
        for (let i = 0; i < mine.length; i += 500) {
          const chunk = mine.slice(i, i + 500);
          const out = await producerKinesis.send(new PutRecordsCommand({ StreamName: cluster.stream, Records: chunk.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) }));
          if (out.FailedRecordCount) throw new Error(`kinesalite refused ${out.FailedRecordCount} records`);
        }
      }),
    );
  }

  process.send!({ type: 'produced', run: { measuredFromMs, measuredUntilMs, eventsPut } satisfies LatencyRun });
  // The parent says when the endpoint has seen everything (or gave up waiting).
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  await app.stop();
  for (const client of [consumerKinesis, consumerKms, producerKinesis, producerKms]) client.destroy();
  await aws.close();
  rmSync(stateDir, { recursive: true, force: true });
  process.send!({ type: 'stopped' });
  process.once('disconnect', () => process.exit(0));
}

await main();
