/**
 * One measurement, in a fresh process so peak RSS and JIT state belong to it
 * alone: reads the corpus of one suite, warms up on its first records (all of
 * them, unless --quick), then
 * runs `mode` over all of it and prints one JSON line. Started by bench/run.ts.
 *
 * Modes:
 * - `limit-1`, `limit-n`: node:crypto + gunzip + JSON.parse only (limit.ts),
 *   serial with synchronous calls, or 8 at a time on the thread pool.
 * - `das-decrypt-1`: das-exporter's decrypt stage alone (NativePayloadDecryptor,
 *   gunzip, JSON.parse), one record at a time as `das-1` opens them (gunzip
 *   and the signature check on the calling thread, as the opener does with
 *   nothing else in flight):
 *   the same work as the limit.
 * - `sdk-decrypt-1`: the same stage with @aws-crypto/client-node in place of
 *   the hand-written decryptor, data keys cached the same way (DataKeyCache):
 *   what the hand-written path gains over the SDK apart from the KMS cache.
 * - `das-1`, `das-n`: das-exporter end to end, wired as src/app.ts wires it:
 *   envelope → DataKeyCache (KMS) → NativePayloadDecryptor → gunzip → decode
 *   → enrich (redact `passwords`, summary, trace context) → OTLP log records
 *   and metric tallies (record/processor.ts) → MetricsSink + OTLP/protobuf
 *   delivery, through the Pipeline, 100-record batches. `das-1`: one core
 *   (no worker threads), one record at a time; `das-n`: a worker thread per
 *   core (`--workers <cores>`), 8 records in flight; `das-main-n`: the
 *   default configuration (no worker threads, crypto and zlib on the thread
 *   pool), 8 records in flight.
 * - `backlog` (`--backlog`): the default configuration (no worker threads;
 *   crypto and zlib on the thread pool, 8 records in flight) over the suite's records replayed until
 *   1 million events have gone through, RSS sampled every 100 ms: the memory
 *   a consumer needs to drain a backlog.
 * `BENCH_PROFILE_MEASURED=<dir>` writes a CPU profile of the main thread over
 * the measured run alone (no start-up, no warm-up) to <dir>/<mode>-<suite>.cpuprofile.
 *
 * - `published-1`: the consumer AWS's sample shows: per record a KMS Decrypt,
 *   a fresh raw AES keyring and @aws-crypto/client-node decrypt, gunzip,
 *   JSON.parse (in decode), the same sinks, one record after another.
 * - `published-decrypt-1`: its decrypt stage alone (KMS Decrypt, keyring,
 *   client-node, gunzip, JSON.parse): what `das-decrypt-1` does, the way the
 *   sample does it.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { buildClient, CommitmentPolicy, RawAesKeyringNode, RawAesWrappingSuiteIdentifier } from '@aws-crypto/client-node';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { contextResolver } from '../src/cli/wiring.ts';
import { DataKeyCache } from '../src/decrypt/data-keys.ts';
import { NativePayloadDecryptor } from '../src/decrypt/fast/native-payload.ts';
import { gunzipCappedSync } from '../src/decrypt/gunzip.ts';
import { EsdkPayloadDecryptor } from '../src/decrypt/payload.ts';
import { decodeRecord } from '../src/events/decode.ts';
import { Pipeline } from '../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../src/sinks/dead-letter.ts';
import { MetricsSink } from '../src/sinks/metrics-sink.ts';
import { OtlpLogSink } from '../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../src/sinks/otlp/resource.ts';
import type { Sink } from '../src/sinks/sink.ts';
import { parseEnvelope } from '../src/source/envelope.ts';
import type { SourceRecord } from '../src/source/record.ts';
import { createMetrics, createMetricsRegistry } from '../src/telemetry/metrics.ts';
import { DasRecordOpener } from '../src/record/opener.ts';
import { PreparePool } from '../src/workers/pool.ts';
import type { PrepareSetup } from '../src/record/processor.ts';
import type { CorpusRecord } from './corpus.ts';
import { limitOpen } from './limit.ts';
import { defaultPolicy, fiftyRulePolicy } from './policies.ts';
import { LOGS_STEP, METRICS_STEP } from '../src/sinks/prepared.ts';

export const MODES = ['limit-1', 'limit-n', 'das-decrypt-1', 'sdk-decrypt-1', 'published-decrypt-1', 'das-1', 'das-main-n', 'das-policy-n', 'das-policy50-n', 'das-n', 'published-1', 'backlog'] as const;
export type Mode = (typeof MODES)[number];

export interface MeasureInput {
  corpusFile: string;
  suiteId: number;
  mode: Mode;
  kmsEndpoint: string;
  otlpEndpoint: string;
  warmupRecords: number;
}

export interface MeasureResult {
  mode: Mode;
  suiteId: number;
  records: number;
  events: number;
  seconds: number;
  recordsPerSecond: number;
  eventsPerSecond: number;
  peakRssMiB: number;
  /** CPU time of every thread of the process over the measured run, per second of it: 2 is both cores busy. */
  cpuCores: number;
  /**
   * CPU per event of each thread of the process over the measured run, in
   * µs, busiest first (Linux, from /proc/self/task; absent elsewhere):
   * `main` is the main thread; `others` holds worker threads, V8's GC and
   * compiler helpers and libuv's thread pool, unnamed (they all call
   * themselves node). Where the cores went, not what each costs alone.
   */
  threadCpu?: { main: number; others: number[] };
  /** CPU of every thread of the process per event over the measured run, in µs (GC and helpers included). */
  cpuUsPerEvent: number;
  /** `das-decrypt-1` and `sdk-decrypt-1`: the CPU JSON.parse took per event, in µs (part of the decrypt stage's cpuUsPerEvent). */
  jsonParseUsPerEvent?: number;
  /** Highest RSS sampled while the measured run went (backlog mode). */
  sampledPeakRssMiB?: number;
  failures: number;
}

export const BACKLOG_EVENTS = 1_000_000;

/** The records replayed, with fresh sequence numbers, until they hold `events` events. */
function replayed(records: SourceRecord[], corpus: CorpusRecord[], events: number): { records: SourceRecord[]; events: number } {
  const out: SourceRecord[] = [];
  let total = 0;
  for (let i = 0; total < events; i++) {
    const at = i % records.length;
    out.push({ ...records[at]!, sequenceNumber: String(i) });
    total += corpus[at]!.events;
  }
  return { records: out, events: total };
}

/** CPU clock ticks (user + system) of each thread of this process by thread id; undefined where /proc is not there. */
function threadTicks(): Map<string, number> | undefined {
  try {
    const ticks = new Map<string, number>();
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        // Fields after the parenthesised name: state is the first, utime the 12th, stime the 13th.
        // After the parenthesised name, which may itself hold ') ': the last one ends it.
        const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks.set(tid, Number(fields[11]) + Number(fields[12]));
      } catch {
        // The thread ended between the listing and the read.
      }
    }
    return ticks;
  } catch {
    return undefined;
  }
}

/** Linux's USER_HZ: ticks per second in /proc (100 on every mainstream architecture). */
const TICKS_PER_SECOND = 100;

function threadCpuPerEvent(before: Map<string, number>, after: Map<string, number>, events: number): { main: number; others: number[] } {
  const perEvent = (tid: string) => (((after.get(tid) ?? 0) - (before.get(tid) ?? 0)) * 1e6) / TICKS_PER_SECOND / events;
  const round = (n: number) => Math.round(n * 100) / 100;
  const main = String(process.pid);
  const others = [...after.keys()].filter((tid) => tid !== main).map(perEvent).filter((n) => n > 0).sort((a, b) => b - a);
  return { main: round(perEvent(main)), others: others.map(round) };
}

/** `BENCH_PROFILE_MEASURED=<dir>`: a CPU profile of the main thread over the measured run only (no start-up, no warm-up). */
async function startProfile(): Promise<{ stop(file: string): Promise<void> }> {
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

const BATCH = 100;
const CONCURRENCY = 8;
const gunzipAsync = promisify(gunzip);

function kmsClient(endpoint: string): KMSClient {
  return new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' }, maxAttempts: 1 });
}

function sourceRecords(corpus: CorpusRecord[]): SourceRecord[] {
  return corpus.map((r, i) => ({ stream: r.stream, shardId: 'shardId-000000000000', sequenceNumber: String(i), data: Buffer.from(r.data, 'base64') }));
}

function sinks(otlpEndpoint: string): Sink[] {
  const metrics = new MetricsSink(createMetrics(createMetricsRegistry()));
  const otlp = new OtlpLogSink({
    config: { endpoint: otlpEndpoint, headers: {}, protocol: 'http/protobuf', compression: 'none', timeoutMs: 30_000 },
    mapper: new LogRecordMapper({ resources: new ResourceCatalog() }),
  });
  return [metrics, otlp];
}

async function inBatches(records: SourceRecord[], each: (batch: SourceRecord[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < records.length; i += BATCH) await each(records.slice(i, i + BATCH));
}

async function pool<T>(items: T[], concurrency: number, each: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) await each(items[next++]!);
  }));
}

/** Builds the runner of one mode; the runner processes the records it is given and returns how many failed. */
async function runnerFor(input: MeasureInput, allRecords: SourceRecord[]): Promise<(records: SourceRecord[]) => Promise<number>> {
  const contextFor = contextResolver({});
  const kms = kmsClient(input.kmsEndpoint);
  const cacheFor = () => new DataKeyCache({ kms });

  if (input.mode === 'limit-1' || input.mode === 'limit-n') {
    // The limit gets its data keys for free: fetched once, before timing.
    const cache = cacheFor();
    const keys = new Map<string, Uint8Array>();
    for (const r of allRecords) {
      const envelope = parseEnvelope(r.data);
      const id = Buffer.from(envelope.key).toString('base64');
      if (!keys.has(id)) keys.set(id, await cache.get(envelope.key, contextFor(r)));
    }
    const open = (r: SourceRecord, mode: 'sync' | 'threadpool') => {
      const envelope = JSON.parse(Buffer.from(r.data).toString('utf8')) as { key: string; databaseActivityEvents: string };
      return limitOpen(Buffer.from(envelope.databaseActivityEvents, 'base64'), keys.get(envelope.key)!, mode);
    };
    if (input.mode === 'limit-1') return async (records) => { for (const r of records) await open(r, 'sync'); return 0; };
    return async (records) => { await pool(records, CONCURRENCY, (r) => open(r, 'threadpool')); return 0; };
  }

  if (input.mode === 'das-decrypt-1' || input.mode === 'sdk-decrypt-1') {
    return async (records) => {
      const cache = cacheFor();
      const decryptor = input.mode === 'das-decrypt-1' ? new NativePayloadDecryptor({ fallback: new EsdkPayloadDecryptor() }) : new EsdkPayloadDecryptor();
      for (const r of records) {
        const envelope = parseEnvelope(r.data);
        const compressed = await decryptor.decrypt(envelope.payload, await cache.get(envelope.key, contextFor(r)), { verify: 'sync' });
        const text = gunzipCappedSync(compressed).toString('utf8');
        const before = process.cpuUsage();
        JSON.parse(text);
        const used = process.cpuUsage(before);
        jsonParseCpuUs += used.user + used.system;
      }
      return 0;
    };
  }

  if (input.mode === 'das-1' || input.mode === 'das-main-n' || input.mode === 'das-policy-n' || input.mode === 'das-policy50-n' || input.mode === 'das-n' || input.mode === 'backlog') {
    // As src/app.ts builds it, with the default --redact mode: `das-1` on one core (no
    // worker threads, one record at a time); `das-n` on every core (--workers <cores>,
    // 8 records in flight); `das-main-n` and `backlog` as configured by default (no worker
    // threads, crypto and zlib on the thread pool, 8 records in flight); `das-policy-n` and
    // `das-policy50-n` as `das-main-n` with --policy: the shipped default policy, 50 rules (bench/policies.ts).
    const one = input.mode === 'das-1';
    const policy = input.mode === 'das-policy-n' ? defaultPolicy() : input.mode === 'das-policy50-n' ? fiftyRulePolicy() : undefined;
    const setup: PrepareSetup = { redact: 'passwords', maxRecordBytes: 64 * 1024 * 1024, resources: {}, steps: [LOGS_STEP, METRICS_STEP], ...(policy ? { policy: { generation: 1, document: policy } } : {}) };
    const workers = input.mode === 'das-n' ? new PreparePool({ size: availableParallelism(), setup }) : undefined;
    return async (records) => {
      const opener = new DasRecordOpener({ dataKeys: cacheFor(), contextFor, setup, ...(workers ? { pool: workers } : {}) });
      const deadLetters = new MemoryDeadLetterSink();
      const pipeline = new Pipeline({ opener, sinks: sinks(input.otlpEndpoint), deadLetters, concurrency: one ? 1 : CONCURRENCY });
      await inBatches(records, async (batch) => {
        const outcome = await pipeline.process(batch);
        if (outcome.status !== 'done') throw new Error(`batch ${outcome.status}`);
      });
      return deadLetters.letters.length;
    };
  }

  // published-1 and published-decrypt-1
  const { decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_ALLOW_DECRYPT);
  const publishedOpen = async (r: SourceRecord): Promise<{ version: string; json: Buffer }> => {
    const envelope = JSON.parse(Buffer.from(r.data).toString('utf8')) as { version: string; key: string; databaseActivityEvents: string };
    const { Plaintext } = await kms.send(new DecryptCommand({ CiphertextBlob: Buffer.from(envelope.key, 'base64'), EncryptionContext: { ...contextFor(r) } }));
    const keyring = new RawAesKeyringNode({
      keyNamespace: 'BC',
      keyName: 'DataKey',
      unencryptedMasterKey: new Uint8Array(Plaintext!),
      wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
    });
    const { plaintext } = await decrypt(keyring, Buffer.from(envelope.databaseActivityEvents, 'base64'));
    return { version: envelope.version, json: await gunzipAsync(plaintext) };
  };
  if (input.mode === 'published-decrypt-1') {
    return async (records) => {
      for (const r of records) JSON.parse((await publishedOpen(r)).json.toString('utf8'));
      return 0;
    };
  }
  return async (records) => {
    const targets = sinks(input.otlpEndpoint);
    await inBatches(records, async (batch) => {
      const events = [];
      const heartbeats = [];
      for (const r of batch) {
        const { version, json } = await publishedOpen(r);
        const decoded = decodeRecord(json, { version });
        events.push(...decoded.events);
        heartbeats.push(...decoded.heartbeats);
      }
      for (const sink of targets) await sink.write({ events, heartbeats });
    });
    return 0;
  };
}

/** CPU JSON.parse took in the decrypt-stage modes, summed over a run (reset before the measured one). */
let jsonParseCpuUs = 0;

async function main(): Promise<void> {
  const input = JSON.parse(process.argv[2]!) as MeasureInput;
  const corpus = (JSON.parse(readFileSync(input.corpusFile, 'utf8')) as Record<string, CorpusRecord[]>)[String(input.suiteId)]!;
  const records = sourceRecords(corpus);
  const run = await runnerFor(input, records);
  await run(records.slice(0, input.warmupRecords));
  process.send?.({ type: 'warm' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));

  const measured = input.mode === 'backlog' ? replayed(records, corpus, BACKLOG_EVENTS) : { records, events: corpus.reduce((n, r) => n + r.events, 0) };
  let sampledPeak = process.memoryUsage.rss();
  const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss())), 100);
  const started = process.hrtime.bigint();
  jsonParseCpuUs = 0;
  const threadsBefore = threadTicks();
  const cpuBefore = process.cpuUsage();
  const profiler = process.env['BENCH_PROFILE_MEASURED'] ? await startProfile() : undefined;
  const failures = await run(measured.records);
  const cpu = process.cpuUsage(cpuBefore);
  const threadsAfter = threadTicks();
  if (profiler) await profiler.stop(`${process.env['BENCH_PROFILE_MEASURED']}/${input.mode}-0x0${input.suiteId.toString(16)}.cpuprofile`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(sampler);
  const events = measured.events;
  const result: MeasureResult = {
    mode: input.mode,
    suiteId: input.suiteId,
    records: measured.records.length,
    events,
    sampledPeakRssMiB: sampledPeak / 1024 / 1024,
    seconds,
    recordsPerSecond: measured.records.length / seconds,
    eventsPerSecond: events / seconds,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    cpuCores: (cpu.user + cpu.system) / 1e6 / seconds,
    cpuUsPerEvent: (cpu.user + cpu.system) / events,
    ...(input.mode === 'das-decrypt-1' || input.mode === 'sdk-decrypt-1' ? { jsonParseUsPerEvent: jsonParseCpuUs / events } : {}),
    ...(threadsBefore && threadsAfter ? { threadCpu: threadCpuPerEvent(threadsBefore, threadsAfter, events) } : {}),
    failures,
  };
  process.send?.({ type: 'result', result });
  process.once('disconnect', () => process.exit(0));
}

await main();
