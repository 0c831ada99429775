/**
 * `npm run bench [-- --quick]`: das-exporter against the published way of
 * consuming DAS and against the bare cost of the primitives, on one corpus
 * generated in the same run (bench/corpus.ts). Not a test: it prints a table
 * and writes bench/results/latest.json with the machine it ran on.
 *
 * Processes: this one builds the corpus and starts the rest; bench/world.ts
 * runs LocalKms and the OTLP endpoint; each measurement runs alone in its own
 * process (bench/measure.ts) so peak RSS and warm-up are its own; `--latency`
 * runs live traffic through kinesalite and the real consumer in another
 * (bench/latency.ts).
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { measureStartup, startupLine } from './startup.ts';
import { buildCorpus, SUITES } from './corpus.ts';
import type { LatencyInput, LatencyRun } from './latency.ts';
import type { MeasureInput, MeasureResult, Mode } from './measure.ts';

const quick = process.argv.includes('--quick');
const RECORDS_PER_CELL = quick ? 4 : 34; // × 3 engines × 3 sizes: 36 or 306 records per suite
const ALL_MODES: Mode[] = ['limit-1', 'limit-n', 'das-decrypt-1', 'sdk-decrypt-1', 'published-decrypt-1', 'das-1', 'das-main-n', 'das-policy-n', 'das-policy50-n', 'das-n', 'published-1'];
/** Modes that decrypt, gunzip and parse only: their "÷ published" is against the sample's decrypt stage (published-decrypt-1). */
const DECRYPT_STAGES: ReadonlySet<Mode> = new Set(['limit-1', 'limit-n', 'das-decrypt-1', 'sdk-decrypt-1', 'published-decrypt-1']);
/** `--backlog`: also drain 1 million events (the corpus replayed) through das-n and report peak RSS. */
const backlog = process.argv.includes('--backlog');
/** `--latency`: also run bench/latency.ts: live traffic at 2,000 events/s through kinesalite and `startApp`, p50/p99/max from put to the OTLP endpoint. */
const latency = process.argv.includes('--latency');
/** `--latency-rate=N`: events a second of the latency runs (default 2,000). */
const latencyRateArg = process.argv.find((a) => a.startsWith('--latency-rate='));
const LATENCY_RATE = latencyRateArg ? Number(latencyRateArg.slice('--latency-rate='.length)) : 2_000;
if (!(LATENCY_RATE > 0)) throw new Error(`--latency-rate must be a positive number (actual: ${latencyRateArg})`);
/** `--modes=das-1,limit-1` runs only those (for profiling); the table then compares what it has. */
const modesArg = process.argv.find((a) => a.startsWith('--modes='));
const MODES: Mode[] = modesArg ? ALL_MODES.filter((m) => modesArg.slice('--modes='.length).split(',').includes(m)) : ALL_MODES;
/**
 * `--rounds=N` (default 3, 1 with --quick): every mode is measured N times, the rounds interleaved
 * (each round runs every mode once), and the table gives each mode's median round. On a shared
 * machine a mode's speed moves by a third from one minute to the next; a ratio of medians taken
 * across the same span of time is steadier than a ratio of two single runs minutes apart.
 */
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const ROUNDS = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : quick ? 1 : 3;
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds must be a whole number of at least 1 (actual: ${roundsArg})`);
/** `--cpu-prof`: each measurement writes bench/results/profiles/<suite>-<mode>/*.cpuprofile (the largest is the main thread; read it with bench/cpuprofile.ts). */
const cpuProf = process.argv.includes('--cpu-prof');
/**
 * Records each mode runs before it is timed: a whole pass over a suite's
 * corpus, so that every thread (the main one and each worker) has compiled
 * its hot paths. A pass of 30 left the worker threads timing their own JIT.
 */
const WARMUP_RECORDS = Number.MAX_SAFE_INTEGER;
const here = import.meta.dirname;
const resultsDir = path.join(here, 'results');
// The AWS SDK's notice about a future Node 22 requirement, once per client, is not the benchmark's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const childEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

interface WorldReady { kmsEndpoint: string; keyId: string; otlpEndpoint: string }
interface WorldStats { kmsCalls: Record<string, number>; otlpRequests: number; otlpBytes: number; timedRecords: number }
interface LatencyResult {
  mode: 'polling' | 'efo';
  eventsPerSecond: number;
  seconds: number;
  events: number;
  eventsPut: number;
  /** Put to the OTLP endpoint. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  lost: number;
  /** efo: das-exporter's own share, from the SDK handing it the event to the endpoint receiving the log record. */
  own?: { events: number; p50Ms: number; p99Ms: number; maxMs: number };
}

/** p50, p99 and max of a list of milliseconds. */
function percentiles(values: number[]): { p50Ms: number; p99Ms: number; maxMs: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? NaN };
}

function nextMessage<T>(child: ChildProcess, type: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type: string } & T) => {
      if (message.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(message);
    };
    const onExit = (code: number | null) => reject(new Error(`child exited (${code}) before sending ${type}`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function worldStats(world: ChildProcess): Promise<WorldStats> {
  const reply = nextMessage<WorldStats>(world, 'stats');
  world.send({ type: 'stats' });
  return reply;
}

async function measure(world: ChildProcess, input: MeasureInput): Promise<MeasureResult & { kmsCalls: number; otlpBytes: number }> {
  // One directory per measurement: tsx's loader thread writes a profile of its own next to the main thread's.
  const profile = cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(resultsDir, 'profiles', `0x0${input.suiteId.toString(16)}-${input.mode}`)}`] : [];
  const child = fork(path.join(here, 'measure.ts'), [JSON.stringify(input)], { execArgv: ['--import', 'tsx', ...profile], env: childEnv });
  await nextMessage(child, 'warm');
  const before = await worldStats(world);
  const result = nextMessage<{ result: MeasureResult }>(child, 'result');
  child.send({ type: 'go' });
  const { result: measured } = await result;
  const after = await worldStats(world);
  // A clean exit, not a kill, so a --cpu-prof profile gets written.
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.disconnect();
  await exited;
  return { ...measured, kmsCalls: (after.kmsCalls['Decrypt'] ?? 0) - (before.kmsCalls['Decrypt'] ?? 0), otlpBytes: after.otlpBytes - before.otlpBytes };
}

/** Live traffic through kinesalite and the real consumer; the latency of the events put in the measured window. */
async function measureLatency(world: ChildProcess, otlpEndpoint: string, mode: LatencyInput['mode']): Promise<LatencyResult> {
  const input: LatencyInput = { mode, otlpEndpoint: otlpEndpoint.replace(/\/v1\/logs$/, '/latency/v1/logs'), eventsPerSecond: LATENCY_RATE, warmupSeconds: 5, seconds: quick ? 10 : 30 };
  const child = fork(path.join(here, 'latency.ts'), [JSON.stringify(input)], { execArgv: ['--import', 'tsx'], env: childEnv });
  const { run } = await nextMessage<{ run: LatencyRun }>(child, 'produced');
  // Let the consumer catch up with what was put, for at most 20 s.
  for (const deadline = Date.now() + 20_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if ((await worldStats(world)).timedRecords >= run.eventsPut) break;
  }
  const reply = nextMessage<{ atMs: number[]; arrivedMs: number[]; uids: string[] }>(world, 'latency');
  world.send({ type: 'latency' });
  const { atMs, arrivedMs, uids } = await reply;
  const arrivalsSent = nextMessage<{ arrivals: Record<string, number> }>(child, 'arrivals');
  const stopped = nextMessage(child, 'stopped');
  child.send({ type: 'stop' });
  const { arrivals } = await arrivalsSent;
  await stopped;
  child.disconnect();
  const latencies: number[] = [];
  const own: number[] = [];
  for (let i = 0; i < atMs.length; i++) {
    // log.record.uid is <stream>/<shard>/<sequence number>/<index in the record>.
    const record = uids[i]!.slice(0, uids[i]!.lastIndexOf('/'));
    const put = run.puts ? run.puts[record] : atMs[i]!;
    if (put === undefined || put < run.measuredFromMs || put >= run.measuredUntilMs) continue;
    latencies.push(arrivedMs[i]! - put);
    const arrived = arrivals[record];
    if (arrived !== undefined) own.push(arrivedMs[i]! - arrived);
  }
  const seconds = (run.measuredUntilMs - run.measuredFromMs) / 1000;
  return {
    mode,
    eventsPerSecond: latencies.length / seconds,
    seconds,
    events: latencies.length,
    eventsPut: run.eventsPut,
    ...percentiles(latencies),
    lost: Math.max(0, run.eventsPut - atMs.length),
    ...(mode === 'efo' ? { own: { events: own.length, ...percentiles(own) } } : {}),
  };
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function main(): Promise<void> {
  const started = Date.now();
  const world = fork(path.join(here, 'world.ts'), [], { execArgv: ['--import', 'tsx'], env: childEnv });
  try {
    const ready = await nextMessage<WorldReady>(world, 'ready');
    const kms = new KMSClient({ endpoint: ready.kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
    process.stdout.write(`building the corpus (${quick ? 'quick' : 'full'})… `);
    const corpus = await buildCorpus({ kms, keyId: ready.keyId, recordsPerCell: RECORDS_PER_CELL });
    mkdirSync(resultsDir, { recursive: true });
    const corpusFile = path.join(resultsDir, 'corpus.json');
    writeFileSync(corpusFile, JSON.stringify(Object.fromEntries(corpus)));
    const distinctKeys = Object.fromEntries([...corpus].map(([suite, records]) => [suite, new Set(records.map((r) => JSON.parse(Buffer.from(r.data, 'base64').toString()).key)).size]));
    console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    type Measured = MeasureResult & { kmsCalls: number; otlpBytes: number; round?: number };
    const rounds: Measured[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const suiteId of SUITES) {
        for (const mode of MODES) {
          const result = await measure(world, { corpusFile, suiteId, mode, kmsEndpoint: ready.kmsEndpoint, otlpEndpoint: ready.otlpEndpoint, warmupRecords: quick ? 9 : WARMUP_RECORDS });
          rounds.push({ ...result, round });
          console.log(`  ${ROUNDS > 1 ? `round ${round} ` : ''}0x0${suiteId.toString(16)} ${mode.padEnd(14)} ${fmt(result.recordsPerSecond).padStart(7)} records/s ${fmt(result.eventsPerSecond).padStart(9)} events/s  KMS ${String(result.kmsCalls).padStart(4)}  RSS ${fmt(result.peakRssMiB)} MiB  CPU ${fmt(result.cpuCores, 2)} cores${result.threadCpu ? `  (µs/event: main ${fmt(result.threadCpu.main, 1)}, other threads ${result.threadCpu.others.map((n) => fmt(n, 1)).join(' ')})` : ''}`);
        }
      }
    }
    // Per mode, its median round by throughput (RSS: the highest peak of any round).
    const results: (Measured & { spread: [number, number] })[] = [];
    for (const suiteId of SUITES) {
      for (const mode of MODES) {
        const runs = rounds.filter((r) => r.suiteId === suiteId && r.mode === mode).sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
        const median = runs[Math.floor((runs.length - 1) / 2)]!;
        results.push({ ...median, peakRssMiB: Math.max(...runs.map((r) => r.peakRssMiB)), spread: [runs[0]!.eventsPerSecond, runs.at(-1)!.eventsPerSecond] });
      }
    }
    const backlogResults: (MeasureResult & { kmsCalls: number; otlpBytes: number })[] = [];
    if (backlog) {
      for (const suiteId of SUITES) {
        const result = await measure(world, { corpusFile, suiteId, mode: 'backlog', kmsEndpoint: ready.kmsEndpoint, otlpEndpoint: ready.otlpEndpoint, warmupRecords: quick ? 9 : WARMUP_RECORDS });
        backlogResults.push(result);
        console.log(`  0x0${suiteId.toString(16)} backlog: ${fmt(result.events)} events in ${fmt(result.seconds, 1)} s (${fmt(result.eventsPerSecond)} events/s), peak RSS ${fmt(result.peakRssMiB)} MiB (sampled ${fmt(result.sampledPeakRssMiB ?? 0)} MiB), KMS ${result.kmsCalls}, failures ${result.failures}`);
      }
    }
    rmSync(corpusFile);
    const latencyResults: LatencyResult[] = [];
    if (latency) {
      for (const mode of ['polling', 'efo'] as const) {
        const l = await measureLatency(world, ready.otlpEndpoint, mode);
        latencyResults.push(l);
        console.log(`  latency (${mode}): ${fmt(l.events)} events put over ${fmt(l.seconds)} s (${fmt(l.eventsPerSecond)} events/s) to the OTLP endpoint: p50 ${fmt(l.p50Ms)} ms, p99 ${fmt(l.p99Ms)} ms, max ${fmt(l.maxMs)} ms${l.lost ? `; ${l.lost} not received` : ''}${l.eventsPerSecond < 0.95 * LATENCY_RATE ? `; BELOW the asked ${fmt(LATENCY_RATE)} events/s: the producer fell behind, so these figures are not at that rate` : ''}`);
        if (l.own) console.log(`  latency (efo), das-exporter's own share, SubscribeToShardEvent handed over by the SDK → OTLP endpoint (${fmt(l.own.events)} events): p50 ${fmt(l.own.p50Ms)} ms, p99 ${fmt(l.own.p99Ms)} ms, max ${fmt(l.own.maxMs)} ms (kinesis-local pushes once a second, cut by the test front into events 70 ms apart as AWS pushes them; put → endpoint includes that second; the emulator and the producer ran at the lowest CPU priority)`);
      }
    }

    const table: Record<string, unknown>[] = [];
    const lines: string[] = [];
    for (const suiteId of SUITES) {
      const of = (mode: Mode) => results.find((r) => r.suiteId === suiteId && r.mode === mode);
      const suite = `0x0${suiteId.toString(16)}`;
      for (const mode of MODES) {
        const r = of(mode)!;
        // Decrypt stages against the sample's decrypt stage, whole pipelines against the sample's pipeline.
        const published = DECRYPT_STAGES.has(mode) ? of('published-decrypt-1') : of('published-1');
        const limit = mode.endsWith('-n') ? of('limit-n') : of('limit-1');
        const row = {
          suite,
          mode,
          recordsPerSecond: Math.round(r.recordsPerSecond),
          eventsPerSecond: Math.round(r.eventsPerSecond),
          kmsCalls: r.kmsCalls,
          peakRssMiB: Math.round(r.peakRssMiB),
          cpuCores: Math.round(r.cpuCores * 100) / 100,
          vsPublished: published ? r.recordsPerSecond / published.recordsPerSecond : NaN,
          vsLimit: limit ? r.recordsPerSecond / limit.recordsPerSecond : NaN,
          eventsPerSecondRange: r.spread.map(Math.round),
          rounds: ROUNDS,
          failures: r.failures,
          cpuUsPerEvent: Math.round(r.cpuUsPerEvent * 10) / 10,
          ...(r.jsonParseUsPerEvent !== undefined ? { jsonParseUsPerEvent: Math.round(r.jsonParseUsPerEvent * 100) / 100 } : {}),
          ...(r.otlpBytes > 0 ? { otlpBytesPerEvent: Math.round(r.otlpBytes / r.events) } : {}),
          ...(r.threadCpu ? { threadCpuUsPerEvent: r.threadCpu } : {}),
        };
        table.push(row);
        lines.push(
          `| ${suite} | ${mode.padEnd(13)} | ${fmt(row.recordsPerSecond).padStart(7)} | ${fmt(row.eventsPerSecond).padStart(9)} | ${`${fmt(r.spread[0] / 1000)}–${fmt(r.spread[1] / 1000)}k`.padStart(9)} | ${String(row.kmsCalls).padStart(4)} | ${String(row.peakRssMiB).padStart(4)} | ${fmt(row.cpuCores, 2).padStart(4)} | ${fmt(row.cpuUsPerEvent, 1).padStart(5)} | ${(row.otlpBytesPerEvent === undefined ? '' : fmt(row.otlpBytesPerEvent)).padStart(5)} | ${fmt(row.vsPublished, 2).padStart(6)}× | ${fmt(row.vsLimit, 2).padStart(5)}× |`,
        );
      }
    }
    const records = corpus.get(SUITES[0]!)!.length;
    const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}`, uvThreadpoolSize: Number(process.env['UV_THREADPOOL_SIZE'] ?? 4) };
    console.log(`\n${records} records per suite (1/20/200 events; PostgreSQL, MySQL MAIN+AUX, SQL Server), ${machine.cpus} cpus, Node ${machine.node}`);
    console.log('"-1" one record at a time; "-n" 8 in flight. vs limit compares -1 with limit-1 and -n with limit-n.');
    console.log('das-1/das-main-n/das-n run the whole pipeline: decrypt, gunzip, decode, enrich (--redact passwords), metrics and OTLP/protobuf;');
    console.log('das-main-n as configured by default (no worker threads), das-n with --workers <cores>; das-policy-n and das-policy50-n as das-main-n with --policy: the shipped default policy, 50 rules (bench/policies.ts).');
    console.log('limit-*, das-decrypt-1, sdk-decrypt-1 and published-decrypt-1 decrypt, gunzip and JSON.parse only: their "÷ published" is against published-decrypt-1 (one record at a time, also for limit-n), the others\' against published-1.');
    console.log('RSS: peak MiB; CPU: cores busy on average (all threads of the process) while measured; µs/ev: CPU per event, all threads, GC included (the lines above split it by thread, main thread first); B/ev: OTLP request bytes per event.');
    console.log(`Each mode ran ${ROUNDS} time(s), rounds interleaved: rec/s, events/s, CPU and the ratios are its median round, range its slowest and fastest, RSS its highest.\n`);
    console.log('| suite | mode          | rec/s   | events/s  | range     | KMS  | RSS  | CPU  | µs/ev | B/ev  | ÷ published | ÷ limit |');
    console.log('|-------|---------------|---------|-----------|-----------|------|------|------|-------|-------|-------------|---------|');
    for (const line of lines) console.log(line);
    // das-exporter's own work per event after decryption: a pipeline's CPU per event (all threads, GC included)
    // less the decrypt stage's (das-decrypt-1: decrypt, gunzip and JSON.parse), plus JSON.parse back (the issue counts
    // "JSON parse to OTLP bytes and metric updates"). Rounds' medians; the target is at most 8 µs on unsigned records.
    const afterDecrypt = SUITES.map((suiteId) => {
      const of = (mode: Mode) => results.find((r) => r.suiteId === suiteId && r.mode === mode);
      const stage = of('das-decrypt-1');
      const own = (['das-1', 'das-main-n', 'das-n'] as Mode[]).flatMap((mode) => {
        const r = of(mode);
        return r && stage && stage.jsonParseUsPerEvent !== undefined ? [{ mode, usPerEvent: r.cpuUsPerEvent - stage.cpuUsPerEvent + stage.jsonParseUsPerEvent }] : [];
      });
      return { suite: `0x0${suiteId.toString(16)}`, jsonParseUsPerEvent: stage?.jsonParseUsPerEvent ?? null, own };
    });
    if (afterDecrypt.some((a) => a.own.length > 0)) {
      console.log(`
CPU per event after decryption (JSON.parse to OTLP bytes and metric updates, all threads, GC included: the mode's µs/ev less das-decrypt-1's, plus its JSON.parse): ${afterDecrypt.map((a) => `${a.suite} ${a.own.map((o) => `${o.mode} ${fmt(o.usPerEvent, 1)} µs`).join(', ')} (JSON.parse ${fmt(a.jsonParseUsPerEvent ?? NaN, 1)} µs)`).join('; ')}`);
    }
    // The hand-written decryptor earns its keep only against the SDK given the same cached keys.
    const handWritten = SUITES.map((suiteId) => {
      const of = (mode: Mode) => results.find((r) => r.suiteId === suiteId && r.mode === mode);
      const das = of('das-decrypt-1');
      const sdk = of('sdk-decrypt-1');
      return { suite: `0x0${suiteId.toString(16)}`, ratio: das && sdk ? das.recordsPerSecond / sdk.recordsPerSecond : NaN };
    });
    if (handWritten.some((h) => !Number.isNaN(h.ratio))) {
      console.log(`\nhand-written decrypt ÷ @aws-crypto/client-node with cached data keys (das-decrypt-1 ÷ sdk-decrypt-1): ${handWritten.map((h) => `${h.suite} ${fmt(h.ratio, 2)}×`).join(', ')}`);
    }
    // The audit policy's cost: the same default pipeline with --policy against it without, in the same round
    // (one right after the other), so the machine's drift from round to round cancels out: median and range of rounds.
    const policyOverhead = SUITES.map((suiteId) => {
      const ratios = (mode: Mode) => {
        const per: number[] = [];
        for (let round = 1; round <= ROUNDS; round++) {
          const at = (m: Mode) => rounds.find((r) => r.suiteId === suiteId && r.mode === m && r.round === round);
          const none = at('das-main-n');
          const withPolicy = at(mode);
          if (none && withPolicy) per.push(withPolicy.eventsPerSecond / none.eventsPerSecond);
        }
        per.sort((a, b) => a - b);
        return per.length === 0 ? null : { median: per[Math.floor((per.length - 1) / 2)]!, min: per[0]!, max: per.at(-1)! };
      };
      return { suite: `0x0${suiteId.toString(16)}`, defaultPolicy: ratios('das-policy-n'), fiftyRules: ratios('das-policy50-n') };
    });
    const shown = (r: { median: number; min: number; max: number } | null) => (r ? `${fmt(r.median, 2)}× (${fmt(r.min, 2)}–${fmt(r.max, 2)})` : 'not measured');
    if (policyOverhead.some((p) => p.defaultPolicy || p.fiftyRules)) {
      console.log(`audit policy, events/s ÷ das-main-n (no policy) in the same round, median (range of ${ROUNDS} rounds): ${policyOverhead.map((p) => `${p.suite} default policy ${shown(p.defaultPolicy)}, 50 rules ${shown(p.fiftyRules)}`).join('; ')}`);
    }
    const startup = measureStartup(quick ? 7 : 21);
    console.log(`\n${startupLine(startup)}`);
    console.log(`distinct data keys: ${JSON.stringify(distinctKeys)}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);

    writeFileSync(
      path.join(resultsDir, 'latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), quick, machine, recordsPerSuite: records, distinctDataKeys: distinctKeys, backlog: backlogResults, latency: latencyResults.length > 0 ? latencyResults : null, startup, handWrittenDecryptVsSdk: handWritten, policyOverhead, cpuAfterDecryptUsPerEvent: afterDecrypt, enrich: 'das-1/das-n include the enrich stage (redact: passwords)', results: table }, null, 2)}\n`,
    );
  } finally {
    world.disconnect();
  }
}

await main();
