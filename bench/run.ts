/**
 * `npm run bench [-- --quick]`: das-exporter against the published way of
 * consuming DAS and against the bare cost of the primitives, on one corpus
 * generated in the same run (bench/corpus.ts). Not a test: it prints a table
 * and writes bench/results/latest.json with the machine it ran on.
 *
 * Processes: this one builds the corpus and starts the rest; bench/world.ts
 * runs LocalKms and the OTLP endpoint; each measurement runs alone in its own
 * process (bench/measure.ts) so peak RSS and warm-up are its own.
 */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { buildCorpus, SUITES } from './corpus.ts';
import type { MeasureInput, MeasureResult, Mode } from './measure.ts';

const quick = process.argv.includes('--quick');
const RECORDS_PER_CELL = quick ? 4 : 34; // × 3 engines × 3 sizes: 36 or 306 records per suite
const MODES: Mode[] = ['limit-1', 'limit-n', 'das-decrypt-1', 'das-1', 'das-n', 'published-1'];
const here = import.meta.dirname;
const resultsDir = path.join(here, 'results');
const childEnv = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

interface WorldReady { kmsEndpoint: string; keyId: string; otlpEndpoint: string }
interface WorldStats { kmsCalls: Record<string, number>; otlpRequests: number; otlpBytes: number }

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
  const child = fork(path.join(here, 'measure.ts'), [JSON.stringify(input)], { execArgv: ['--import', 'tsx'], env: childEnv });
  await nextMessage(child, 'warm');
  const before = await worldStats(world);
  const result = nextMessage<{ result: MeasureResult }>(child, 'result');
  child.send({ type: 'go' });
  const { result: measured } = await result;
  const after = await worldStats(world);
  child.kill();
  return { ...measured, kmsCalls: (after.kmsCalls['Decrypt'] ?? 0) - (before.kmsCalls['Decrypt'] ?? 0), otlpBytes: after.otlpBytes - before.otlpBytes };
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

    const results: (MeasureResult & { kmsCalls: number; otlpBytes: number })[] = [];
    for (const suiteId of SUITES) {
      for (const mode of MODES) {
        const result = await measure(world, { corpusFile, suiteId, mode, kmsEndpoint: ready.kmsEndpoint, otlpEndpoint: ready.otlpEndpoint, warmupRecords: quick ? 9 : 30 });
        results.push(result);
        console.log(`  0x0${suiteId.toString(16)} ${mode.padEnd(14)} ${fmt(result.recordsPerSecond).padStart(7)} records/s ${fmt(result.eventsPerSecond).padStart(9)} events/s  KMS ${String(result.kmsCalls).padStart(4)}  RSS ${fmt(result.peakRssMiB)} MiB`);
      }
    }
    rmSync(corpusFile);

    const table: Record<string, unknown>[] = [];
    const lines: string[] = [];
    for (const suiteId of SUITES) {
      const of = (mode: Mode) => results.find((r) => r.suiteId === suiteId && r.mode === mode)!;
      const published = of('published-1');
      const suite = `0x0${suiteId.toString(16)}`;
      for (const mode of MODES) {
        const r = of(mode);
        const limit = mode.endsWith('-n') ? of('limit-n') : of('limit-1');
        const row = {
          suite,
          mode,
          recordsPerSecond: Math.round(r.recordsPerSecond),
          eventsPerSecond: Math.round(r.eventsPerSecond),
          kmsCalls: r.kmsCalls,
          peakRssMiB: Math.round(r.peakRssMiB),
          vsPublished: r.recordsPerSecond / published.recordsPerSecond,
          vsLimit: r.recordsPerSecond / limit.recordsPerSecond,
          failures: r.failures,
        };
        table.push(row);
        lines.push(
          `| ${suite} | ${mode.padEnd(13)} | ${fmt(row.recordsPerSecond).padStart(7)} | ${fmt(row.eventsPerSecond).padStart(9)} | ${String(row.kmsCalls).padStart(4)} | ${String(row.peakRssMiB).padStart(4)} | ${fmt(row.vsPublished, 2).padStart(6)}× | ${fmt(row.vsLimit, 2).padStart(5)}× |`,
        );
      }
    }
    const records = corpus.get(SUITES[0]!)!.length;
    const machine = { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', node: process.version, platform: `${os.platform()} ${os.release()}`, uvThreadpoolSize: Number(process.env['UV_THREADPOOL_SIZE'] ?? 4) };
    console.log(`\n${records} records per suite (1/20/200 events; PostgreSQL, MySQL MAIN+AUX, SQL Server), ${machine.cpus} cpus, Node ${machine.node}`);
    console.log('"-1" one record at a time; "-n" 8 in flight. vs limit compares -1 with limit-1 and -n with limit-n.');
    console.log('das-1/das-n stop at decode: src/enrich/ has no enrich stage wired into the pipeline yet.\n');
    console.log('| suite | mode          | rec/s   | events/s  | KMS  | RSS  | ÷ published | ÷ limit |');
    console.log('|-------|---------------|---------|-----------|------|------|-------------|---------|');
    for (const line of lines) console.log(line);
    console.log(`\ndistinct data keys: ${JSON.stringify(distinctKeys)}; total ${((Date.now() - started) / 1000).toFixed(0)} s`);

    writeFileSync(
      path.join(resultsDir, 'latest.json'),
      `${JSON.stringify({ at: new Date().toISOString(), quick, machine, recordsPerSuite: records, distinctDataKeys: distinctKeys, enrich: 'not measured: no enrich stage in the pipeline yet', results: table }, null, 2)}\n`,
    );
  } finally {
    world.disconnect();
  }
}

await main();
