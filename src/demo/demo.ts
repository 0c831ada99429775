/**
 * The `demo` command's machinery: the whole pipeline on one machine with
 * nothing to install. An embedded Kinesis and the LocalKms (embedded.ts),
 * the traffic simulator writing encrypted DAS records to them in real time,
 * and das-exporter itself (`startApp`) consuming them with the real AWS SDK
 * clients, printing events (or sending OTLP) and serving metrics.
 *
 * Lifecycle: `startDemo` starts everything or, on failure, stops what it had
 * started and throws; `stop` stops the traffic, lets the exporter drain what
 * was written (bounded), stops the exporter, then Kinesis and KMS.
 */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { KMSClient } from '@aws-sdk/client-kms';
import { preflight, startApp, type RunningApp } from '../app.ts';
import { DemoAppSpans } from './app-spans.ts';
import type { Config } from '../config/config.ts';
import type { Logger } from '../source/kinesis/observer.ts';
import { OtlpLogSink } from '../sinks/otlp/exporter.ts';
import { PrettyLogSink } from '../sinks/pretty.ts';
import { startEmbeddedAws, type EmbeddedAws } from './embedded.ts';
import { kmsDataKeySource } from './record-factory.ts';
import { DeliveryTally, readCounters, StatusLine, statusText, tallied, type DemoSummary } from './status.ts';
import { DEMO_CLUSTERS, TrafficEncryptor, TrafficSimulator, type EncryptedRecord, type SimulatedCluster } from './traffic.ts';

export interface DemoOptions {
  /** Activity events per second. */
  rate: number;
  /** Seeds the simulator; default random. */
  seed?: number;
  /** Shards per stream. Default 2. */
  shards?: number;
  /** Real milliseconds between two writes of traffic. Default 250. */
  tickMs?: number;
  /** Longest wait, at stop, for the exporter to deliver what was written. Default 5,000. */
  drainMs?: number;
}

export interface DemoIo {
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Whether stderr is a terminal: a live status line then, else a plain line every 10 s. */
  statusOnTty: boolean;
}

export interface RunningDemo {
  app: RunningApp;
  aws: EmbeddedAws;
  clusters: readonly SimulatedCluster[];
  /** Writes a line of its own to stderr, keeping the live status line out of its way. */
  say(text: string): void;
  /** Stops traffic, drains, stops the exporter and the local services; resolves with the summary. Idempotent. */
  stop(): Promise<DemoSummary>;
}

/** The DAS streams of the simulated databases: what the demo's `config.streams` must be (see cli/demo.ts). */
export const DEMO_STREAMS: readonly string[] = DEMO_CLUSTERS.map((c) => c.stream);

export async function startDemo(config: Config, options: DemoOptions, io: DemoIo): Promise<RunningDemo> {
  const started = Date.now();
  const otlp = preflight(config, io.env, { needStreams: true });
  const clusters = DEMO_CLUSTERS;
  const status = new StatusLine(io.stderr, { tty: io.statusOnTty });
  const tally = new DeliveryTally();
  const log = humanLogger(io.stderr, status);

  const aws = await startEmbeddedAws({ streams: clusters.map((c) => c.stream), shards: options.shards ?? 2 });
  const clients: { destroy(): void }[] = [];
  const client = <T extends { destroy(): void }>(c: T): T => (clients.push(c), c);
  const destroyClients = () => clients.forEach((c) => c.destroy());

  let app: RunningApp;
  try {
    app = await startApp(config, {
      kinesis: client(aws.kinesisClient()),
      kms: client(aws.kmsClient()),
      env: io.env,
      stdout: io.stdout,
      log,
      logSink: (mapper, observer) =>
        tallied(
          otlp.exporter
            ? new OtlpLogSink({ config: otlp.exporter, mapper, observer, log })
            : new PrettyLogSink(io.stdout, mapper, observer, {
                // Only when events and the status share a terminal does the status line have to step aside.
                ...(isTty(io.stdout) ? { around: (write: () => void) => status.around(write) } : {}),
              }),
          tally,
        ),
    });
  } catch (error) {
    destroyClients();
    await aws.close();
    throw error;
  }

  const producerKms: KMSClient = client(aws.kmsClient());
  const pump = new TrafficPump({
    simulator: new TrafficSimulator({
      seed: options.seed ?? Math.floor(Math.random() * 2 ** 31),
      clock: Date.now,
      rate: options.rate,
      clusters,
    }),
    encryptor: new TrafficEncryptor({ dataKeys: kmsDataKeySource(producerKms, aws.keyId), clusters }),
    kinesis: client(aws.kinesisClient()),
    tickMs: options.tickMs ?? 250,
    log,
    ...(otlp.traces ? { appSpans: new DemoAppSpans({ config: otlp.traces, databases: config.serviceNames, log }) } : {}),
  });
  pump.start();

  let lastDelivered = 0;
  let lastAt = Date.now();
  const refresh = async () => {
    const now = Date.now();
    const counters = await readCounters(app.metrics);
    const eventsPerSecond = ((tally.total - lastDelivered) * 1000) / Math.max(1, now - lastAt);
    lastDelivered = tally.total;
    lastAt = now;
    const lagSeconds = tally.newestEventMs === 0 ? null : Math.max(0, (now - tally.newestEventMs) / 1000);
    status.update(statusText({ eventsPerSecond, lagSeconds, delivered: tally.total, counters }), now);
  };
  const statusTimer = setInterval(() => void refresh().catch(() => undefined), 1_000);
  statusTimer.unref();

  let stopping: Promise<DemoSummary> | undefined;
  return {
    app,
    aws,
    clusters,
    say: (text) => status.around(() => io.stderr.write(`${text}\n`)),
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(statusTimer);
        status.close();
        await pump.stop();
        await drain(app, pump.written, options.drainMs ?? 5_000);
        // The local services go down even when the exporter's stop fails, and that failure is still reported.
        const stopped = await app.stop().then(() => undefined, (error: unknown) => ({ error }));
        const counters = await readCounters(app.metrics);
        destroyClients();
        const kmsCalls = aws.kms.calls;
        await aws.close();
        if (stopped) throw stopped.error;
        return { seconds: (Date.now() - started) / 1000, clusters, tally, written: pump.written, counters, kmsCalls };
      })()),
  };
}

/** Waits until the exporter has delivered (or dead-lettered) every record written, or `timeoutMs` passed. */
async function drain(app: RunningApp, written: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { recordsByStream } = await readCounters(app.metrics);
    const done = [...recordsByStream.values()].reduce((a, b) => a + b, 0);
    if (done >= written || Date.now() >= deadline) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface TrafficPumpOptions {
  simulator: TrafficSimulator;
  encryptor: TrafficEncryptor;
  kinesis: KinesisClient;
  tickMs: number;
  log: Logger;
  /** With traces on: the simulated applications' spans of each tick's traced statements. */
  appSpans?: DemoAppSpans;
}

/**
 * Drives the simulator in real time: every tick, the traffic owed for the real
 * time that passed is encrypted and written with PutRecords, one call per
 * stream (at most 500 records each), entries Kinesis refused retried a few
 * times. Ticks never overlap: a slow one is followed by a longer one.
 */
class TrafficPump {
  readonly #o: TrafficPumpOptions;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> = Promise.resolve();
  #last = 0;
  #stopped = false;
  #written = 0;

  constructor(options: TrafficPumpOptions) {
    this.#o = options;
  }

  /** Records Kinesis accepted so far. */
  get written(): number {
    return this.#written;
  }

  start(): void {
    this.#last = Date.now();
    this.#schedule();
  }

  /** No tick starts after this; resolves when the one under way has written its records. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#running = this.#tick().then(
        () => this.#schedule(),
        (error: unknown) => {
          this.#o.log.warn('demo traffic: a write failed; carrying on', { error: error instanceof Error ? error.message : String(error) });
          this.#schedule();
        },
      );
    }, this.#o.tickMs);
  }

  async #tick(): Promise<void> {
    const now = Date.now();
    const batches = this.#o.simulator.tick(now - this.#last);
    this.#last = now;
    this.#o.appSpans?.record(batches);
    const appSpans = this.#o.appSpans?.flush();
    const records = await Promise.all(batches.map((batch) => this.#o.encryptor.encrypt(batch)));
    const byStream = new Map<string, EncryptedRecord[]>();
    for (const record of records) byStream.set(record.stream, [...(byStream.get(record.stream) ?? []), record]);
    await Promise.all([...byStream].map(([stream, list]) => this.#put(stream, list)));
    await appSpans;
  }

  async #put(stream: string, records: EncryptedRecord[]): Promise<void> {
    for (let i = 0; i < records.length; i += 500) {
      let pending = records.slice(i, i + 500);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt === 5) throw new Error(`PutRecords kept refusing ${pending.length} records on ${stream}`);
        const out = await this.#o.kinesis.send(
          new PutRecordsCommand({ StreamName: stream, Records: pending.map((r) => ({ PartitionKey: r.partitionKey, Data: r.data })) }),
        );
        const refused = pending.filter((_, j) => out.Records?.[j]?.ErrorCode);
        this.#written += pending.length - refused.length;
        pending = refused;
      }
    }
  }
}

function isTty(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** Warnings and errors as short lines on stderr, around the status line; routine info stays quiet. */
function humanLogger(err: NodeJS.WritableStream, status: StatusLine): Logger {
  const line = (level: string) => (message: string, fields: Record<string, unknown> = {}) => {
    const details = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    status.around(() => err.write(`das-exporter: ${level}: ${message}${details ? ` (${details})` : ''}\n`));
  };
  return { info() {}, warn: line('warning'), error: line('error') };
}
