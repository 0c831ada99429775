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
 *
 * With `mode: 'efo'` the stream is kinesis-local's and the consumer reads it
 * by enhanced fan-out (`--consumer efo`, the production HTTP/2 client). The
 * emulator pushes an event about once a second (AWS: within about 70 ms), so
 * put-to-endpoint times say more about it than about das-exporter; the test
 * front cuts each push into events about 70 ms apart, so das-exporter gets
 * them at AWS's cadence. What is measured is das-exporter's own share: from the moment the SDK hands
 * a SubscribeToShardEvent to das-exporter (the client's event stream is
 * wrapped here, at the SDK boundary, and each record's arrival noted) to the
 * OTLP endpoint's receipt of its log record (matched by `log.record.uid`).
 * The emulator, its test front and the producer then run in a child process
 * of their own, so das-exporter's event loop is its own (the polling run keeps
 * its single process, to stay comparable with earlier figures). On AWS they
 * are other machines; here they share two cores with das-exporter, and the
 * emulator alone keeps about one of them busy. So that das-exporter's share is
 * its own and not its wait for a core, that child runs at the lowest CPU
 * priority (nice 19, inherited by the emulator it starts) and encrypts all of
 * its traffic before the first put. What it cannot then do in time shows as a
 * rate below the one asked, which bench/run.ts prints.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import path from 'node:path';
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { PutRecordsCommand, SubscribeToShardCommand, type KinesisClient, type SubscribeToShardCommandOutput } from '@aws-sdk/client-kinesis';
import type { KMSClient } from '@aws-sdk/client-kms';
import { createKmsClient } from '../src/cli/wiring.ts';
import { startApp } from '../src/app.ts';
import { loadConfig } from '../src/config/config.ts';
import { createKinesisClient, createSubscriptionClient } from '../src/source/kinesis/client.ts';
import { createStream } from '../test/support/kinesalite.ts';
import { startKinesisLocal } from '../test/support/kinesis-local.ts';
import { startEmbeddedAws } from '../src/demo/embedded.ts';
import { kmsDataKeySource } from '../src/demo/record-factory.ts';
import { DEMO_CLUSTERS, TrafficEncryptor, TrafficSimulator } from '../src/demo/traffic.ts';
import { formatMicros, formatTicks } from '../src/demo/traffic/time.ts';

export interface LatencyInput {
  /** world.ts's `/latency/v1/logs`. */
  otlpEndpoint: string;
  /** `polling` (kinesalite) or `efo` (kinesis-local, enhanced fan-out). */
  mode: 'polling' | 'efo';
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
  /** Encrypted ahead: when each record was put, epoch ms, by `<stream>/<shard>/<sequence number>` (the logTimes are then approximate). */
  puts?: Record<string, number>;
  /** efo: when the SDK handed each record to das-exporter, epoch ms, by `<stream>/<shard>/<sequence number>`. */
  arrivals?: Record<string, number>;
}

/**
 * The production subscription client, its SubscribeToShard event streams
 * wrapped so each record's arrival is noted as the SDK yields its event.
 */
function arrivalsNoted(client: KinesisClient, arrivals: Record<string, number>): KinesisClient {
  const send = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
  (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
    const out = await send(command, options);
    if (!(command instanceof SubscribeToShardCommand)) return out;
    const { ConsumerARN, ShardId } = command.input;
    const stream = /:stream\/([^/]+)\/consumer\//.exec(ConsumerARN ?? '')?.[1];
    const events = (out as SubscribeToShardCommandOutput).EventStream!;
    return {
      ...(out as object),
      EventStream: (async function* () {
        for await (const message of events) {
          const at = Date.now();
          for (const record of message.SubscribeToShardEvent?.Records ?? []) arrivals[`${stream}/${ShardId}/${record.SequenceNumber}`] = at;
          yield message;
        }
      })(),
    };
  };
  return client;
}

const TICK_MS = 50;
/** About how often AWS pushes a subscription's records (the emulator: once a second). */
const AWS_PUSH_MS = 70;
const BENCH_CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' };

/** Records to put at one tick, by stream, and the activity events they carry. */
interface Tick {
  events: number;
  byStream: Map<string, { PartitionKey: string; Data: Uint8Array }[]>;
}

/**
 * The next `ms` of simulated traffic, to be put at `at`, each event's logTime
 * that time (its put time), encrypted.
 */
async function encryptTick(simulator: TrafficSimulator, encryptor: TrafficEncryptor, ms: number, at: number): Promise<Tick> {
  const batches = simulator.tick(ms);
  let events = 0;
  // The put time, in the form each engine writes its logTime.
  for (const batch of batches) {
    for (const event of batch.events) {
      event['logTime'] = batch.engine === 'sqlserver' ? formatTicks(at * 1000, 0) : formatMicros(at * 1000);
      if (event['type'] === 'record') events++;
    }
  }
  const byStream = new Map<string, { PartitionKey: string; Data: Uint8Array }[]>();
  for (const record of await Promise.all(batches.map((batch) => encryptor.encrypt(batch)))) {
    const mine = byStream.get(record.stream) ?? [];
    mine.push({ PartitionKey: record.partitionKey, Data: record.data });
    byStream.set(record.stream, mine);
  }
  return { events, byStream };
}

/** Puts a tick's records; with `puts`, notes each one's put time by `<stream>/<shard>/<sequence number>`. */
async function putTick(kinesis: KinesisClient, tick: Tick, puts?: Record<string, number>): Promise<void> {
  await Promise.all(
    [...tick.byStream].map(async ([stream, records]) => {
      for (let i = 0; i < records.length; i += 500) {
        const at = Date.now();
        const out = await kinesis.send(new PutRecordsCommand({ StreamName: stream, Records: records.slice(i, i + 500) }));
        if (out.FailedRecordCount) throw new Error(`Kinesis refused ${out.FailedRecordCount} records`);
        if (puts) for (const r of out.Records ?? []) puts[`${stream}/${r.ShardId}/${r.SequenceNumber}`] = at;
      }
    }),
  );
}

/**
 * Puts the simulated traffic at the input's rate, a tick every `TICK_MS`,
 * each event's logTime its scheduled put time; the window it measured.
 *
 * `ahead`: every tick is encrypted before the first put, so the producer's
 * encryption (signing included) does not take CPU from das-exporter while it
 * is measured. Its logTimes are then only about the put times, and the put
 * time of each record is noted from PutRecords' answer instead. Without it
 * each tick is encrypted when it is due, as the polling figures were always
 * taken.
 */
async function produce(input: LatencyInput, kinesis: KinesisClient, kms: KMSClient, keyId: string, ahead: boolean): Promise<LatencyRun> {
  const ticks = ((input.warmupSeconds + input.seconds) * 1000) / TICK_MS;
  const simulator = new TrafficSimulator({ seed: 6, clock: Date.now, rate: input.eventsPerSecond, clusters: DEMO_CLUSTERS });
  const encryptor = new TrafficEncryptor({ dataKeys: kmsDataKeySource(kms, keyId), clusters: DEMO_CLUSTERS });
  const planned: Tick[] = [];
  const encryptedAt = Date.now();
  if (ahead) for (let i = 1; i <= ticks; i++) planned.push(await encryptTick(simulator, encryptor, TICK_MS, encryptedAt + i * TICK_MS));
  const puts: Record<string, number> | undefined = ahead ? {} : undefined;
  const started = Date.now();
  const measuredFromMs = started + input.warmupSeconds * 1000;
  const measuredUntilMs = measuredFromMs + input.seconds * 1000;
  let eventsPut = 0;
  if (ahead) {
    // A late tick is put at once, so the schedule is caught up with; the put times come from the answers.
    for (const [i, tick] of planned.entries()) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + (i + 1) * TICK_MS - Date.now())));
      await putTick(kinesis, tick, puts);
      eventsPut += tick.events;
    }
  } else {
    let last = started;
    for (let next = started + TICK_MS; Date.now() < measuredUntilMs; next += TICK_MS) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
      const now = Date.now();
      const tick = await encryptTick(simulator, encryptor, now - last, now);
      last = now;
      await putTick(kinesis, tick);
      eventsPut += tick.events;
    }
  }
  return { measuredFromMs, measuredUntilMs, eventsPut, ...(puts ? { puts } : {}) };
}

const nextMessage = <T>(from: NodeJS.Process | ChildProcess, type: string): Promise<T> =>
  new Promise((resolve) => {
    const on = (message: { type: string } & T) => {
      if (message.type !== type) return;
      from.off('message', on);
      resolve(message);
    };
    from.on('message', on);
  });

/**
 * efo's source, in a process of its own so das-exporter's thread is its own:
 * the LocalKms, kinesis-local with its test front, and the producer.
 */
async function source(input: LatencyInput): Promise<void> {
  // Before the emulator is started, so it inherits the priority.
  setPriority(19);
  const streams = DEMO_CLUSTERS.map((c) => c.stream);
  const aws = await startEmbeddedAws({ streams, shards: 2 });
  // Each second the emulator pushes is cut into events ~70 ms apart, as AWS pushes them.
  const kinesisLocal = await startKinesisLocal({ paceMs: AWS_PUSH_MS });
  for (const stream of streams) await createStream(kinesisLocal.client, stream, 2);
  const [kinesis, kms] = [kinesisLocal.client, aws.kmsClient()];
  process.send!({ type: 'source-ready', kinesisEndpoint: kinesisLocal.endpoint, kmsEndpoint: aws.kmsEndpoint });
  await nextMessage(process, 'go');
  process.send!({ type: 'produced', run: await produce(input, kinesis, kms, aws.keyId, true) });
  await nextMessage(process, 'stop');
  kms.destroy();
  await kinesisLocal.stop();
  await aws.close();
  process.send!({ type: 'stopped' });
  process.once('disconnect', () => process.exit(0));
}

/** The consumer: das-exporter (`startApp`), with the source in this process (polling) or in a child (efo). */
async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]!) as LatencyInput;
  if (process.argv[3] === 'source') return source(input);
  const streams = DEMO_CLUSTERS.map((c) => c.stream);
  const efo = input.mode === 'efo';
  const sourceChild = efo ? fork(fileURLToPath(import.meta.url), [process.argv[2]!, 'source'], { execArgv: process.execArgv }) : undefined;
  const remote = sourceChild ? await nextMessage<{ kinesisEndpoint: string; kmsEndpoint: string }>(sourceChild, 'source-ready') : undefined;
  const aws = remote ? undefined : await startEmbeddedAws({ streams, shards: 2 });
  const stateDir = mkdtempSync(path.join(tmpdir(), 'das-bench-latency-'));
  const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: input.otlpEndpoint };
  const consumer = efo ? ({ consumer: 'efo', consumerName: 'das-bench' } as const) : {};
  const config = loadConfig({ streams, stateDir, metricsHost: '127.0.0.1', metricsPort: 0, ...consumer }, env);
  const remoteClient = { region: 'us-east-1', credentials: BENCH_CREDENTIALS };
  const consumerKinesis = remote ? createKinesisClient({ endpoint: remote.kinesisEndpoint, ...remoteClient }) : aws!.kinesisClient();
  const consumerKms = remote ? createKmsClient({ endpoint: remote.kmsEndpoint, ...remoteClient }) : aws!.kmsClient();
  const arrivals: Record<string, number> = {};
  const subscriber = remote ? arrivalsNoted(createSubscriptionClient({ endpoint: remote.kinesisEndpoint, ...remoteClient }), arrivals) : undefined;
  const quiet = { info() {}, warn() {}, error: (message: string, fields?: object) => console.error(message, fields) };
  const app = await startApp(config, { kinesis: consumerKinesis, kms: consumerKms, env, stdout: process.stdout, log: quiet, processMetrics: false, ...(subscriber ? { subscriber } : {}) });

  let run: LatencyRun;
  const producers = aws ? [aws.kinesisClient(), aws.kmsClient()] : [];
  if (sourceChild) {
    const produced = nextMessage<{ run: LatencyRun }>(sourceChild, 'produced');
    sourceChild.send({ type: 'go' });
    ({ run } = await produced);
  } else {
    run = await produce(input, producers[0] as KinesisClient, producers[1] as KMSClient, aws!.keyId, false);
  }

  process.send!({ type: 'produced', run });
  // The parent says when the endpoint has seen everything (or gave up waiting); then it asks for the arrivals.
  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  process.send!({ type: 'arrivals', arrivals });
  await app.stop();
  for (const client of [consumerKinesis, consumerKms, subscriber, ...producers]) client?.destroy();
  if (sourceChild) {
    const stopped = nextMessage(sourceChild, 'stopped');
    sourceChild.send({ type: 'stop' });
    await stopped;
    sourceChild.disconnect();
  }
  await aws?.close();
  rmSync(stateDir, { recursive: true, force: true });
  process.send!({ type: 'stopped' });
  process.once('disconnect', () => process.exit(0));
}

await main();
