/**
 * `npm run bench:backlog [-- --events=N]`: `das-exporter run`, the compiled
 * command as users start it, draining a backlog of 1 million events (default)
 * from Kinesis, with its default configuration (no worker threads, 8 records
 * in flight), per suite; it reports the process's peak RSS (VmHWM, Linux) and
 * the drain rate and CPU time per event (all threads, GC included, from the
 * first delivery on). The bench's in-process `--backlog` mode measures the
 * pipeline inside the benchmark's own process (tsx, the corpus, the
 * measuring code: about 190 MiB before any record is read); this measures
 * the process a user runs.
 *
 * `BENCH_BACKLOG_ARGS="--workers 2"` (say) adds flags to the command;
 * `BENCH_NODE_FLAGS="--trace-gc"` (say) gives node flags to the process, and
 * `BENCH_CHILD_OUT=FILE` appends its standard output to FILE (else dropped).
 *
 * Kinesis is kinesalite on 127.0.0.1 (in this process), one stream per
 * engine of the corpus (Aurora PostgreSQL, Aurora MySQL, SQL Server), one
 * shard each, holding the corpus's records written over and over until they
 * hold the backlog; KMS a LocalKms and the OTLP endpoint a receiver that
 * reads and discards, both here too. Progress is read from the process's own
 * `das_log_records_exported_total`.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { KMSClient } from '@aws-sdk/client-kms';
import { LocalKms } from '../src/demo/local-kms.ts';
import { createStream, startKinesalite } from '../test/support/kinesalite.ts';
import { buildCorpus, SUITES, type CorpusRecord } from './corpus.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const eventsArg = process.argv.find((a) => a.startsWith('--events='));
const BACKLOG = eventsArg ? Number(eventsArg.slice('--events='.length)) : 1_000_000;
if (!Number.isInteger(BACKLOG) || BACKLOG < 1) throw new Error(`--events must be a whole number (actual: ${eventsArg})`);
const root = path.resolve(import.meta.dirname, '..');
const NODE_FLAGS = (process.env['BENCH_NODE_FLAGS'] ?? '').split(' ').filter(Boolean);
const CHILD_OUT = process.env['BENCH_CHILD_OUT'] ? openSync(process.env['BENCH_CHILD_OUT'], 'a') : 'ignore';

const kms = new LocalKms();
const key = kms.createKey({ alias: 'das-backlog-bench' });
const { endpoint: kmsEndpoint } = await kms.listen();
const kmsClient = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
const corpus = await buildCorpus({ kms: kmsClient, keyId: key.keyId, recordsPerCell: 34 });
kmsClient.destroy();

let otlpRequests = 0;
const otlp: Server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    otlpRequests++;
    res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
    res.end();
  });
});
await new Promise<void>((resolve) => otlp.listen(0, '127.0.0.1', resolve));
const otlpEndpoint = `http://127.0.0.1:${(otlp.address() as AddressInfo).port}/v1/logs`;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The corpus's records, each to its engine's stream, over and over until they hold `events`. */
function backlogOf(records: readonly CorpusRecord[], events: number): { stream: string; data: Buffer }[] {
  const out: { stream: string; data: Buffer }[] = [];
  for (let held = 0, i = 0; held < events; i++) {
    const r = records[i % records.length]!;
    out.push({ stream: r.stream, data: Buffer.from(r.data, 'base64') });
    held += r.events;
  }
  return out;
}

function vm(pid: number, field: 'VmRSS' | 'VmHWM'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, all threads) the process has used, in seconds: /proc/<pid>/stat's utime and stime, in clock ticks (100 a second on Linux). */
function cpuSeconds(pid: number): number | undefined {
  try {
    // The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Highest heap used, heap total and external memory the process reported (prom-client's process metrics), in MiB. */
const memory = { heapUsed: 0, heapTotal: 0, external: 0 };

async function exported(metricsUrl: string): Promise<number> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)`, 'm').exec(text)?.[1] ?? 0) / 1024 / 1024;
    memory.heapUsed = Math.max(memory.heapUsed, gauge('das_exporter_nodejs_heap_size_used_bytes'));
    memory.heapTotal = Math.max(memory.heapTotal, gauge('das_exporter_nodejs_heap_size_total_bytes'));
    memory.external = Math.max(memory.external, gauge('das_exporter_nodejs_external_memory_bytes'));
    return [...text.matchAll(/^das_log_records_exported_total\{outcome="delivered"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  } catch {
    return 0;
  }
}

try {
  for (const suite of SUITES) {
    const kinesis = await startKinesalite();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'das-backlog-bench-'));
    try {
      const records = backlogOf(corpus.get(suite)!, BACKLOG);
      const events = corpus.get(suite)!.reduce((n, r) => n + r.events, 0);
      const perPass = corpus.get(suite)!.length;
      const total = Math.floor(records.length / perPass) * events + corpus.get(suite)!.slice(0, records.length % perPass).reduce((n, r) => n + r.events, 0);
      const streams = [...new Set(records.map((r) => r.stream))];
      for (const stream of streams) await createStream(kinesis.client, stream, 1);
      for (let i = 0; i < records.length; i += 500) {
        const batch = records.slice(i, i + 500);
        const bytes = batch.reduce((n, r) => n + r.data.length, 0);
        // PutRecords takes one stream; group the slice by stream.
        for (const stream of streams) {
          const mine = batch.filter((r) => r.stream === stream);
          if (mine.length === 0) continue;
          const out = await kinesis.client.send(new PutRecordsCommand({ StreamName: stream, Records: mine.map((r, j) => ({ Data: r.data, PartitionKey: String(i + j) })) }));
          if (out.FailedRecordCount) throw new Error(`${out.FailedRecordCount} records not put (${bytes} bytes in the call)`);
        }
      }
      const port = await freePort();
      const env = {
        ...process.env,
        AWS_REGION: 'us-east-1',
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
        AWS_ENDPOINT_URL_KMS: kmsEndpoint,
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: otlpEndpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      };
      const args = [path.join(root, 'bin', 'das-exporter.js'), 'run', ...streams.flatMap((s) => ['--stream', s]), '--state-dir', dir, '--metrics-host', '127.0.0.1', '--metrics-port', String(port), ...(process.env['BENCH_BACKLOG_ARGS'] ?? '').split(' ').filter(Boolean)];
      const child = spawn(process.execPath, [...NODE_FLAGS, ...args], { env, stdio: ['ignore', CHILD_OUT, 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (c: Buffer) => void (stderr = (stderr + c.toString()).slice(-4000)));
      const started = Date.now();
      Object.assign(memory, { heapUsed: 0, heapTotal: 0, external: 0 });
      let sampled = 0;
      let delivered = 0;
      /** CPU and events delivered at the first sample that saw deliveries: the drain's CPU is counted from there, start-up left out. */
      let first: { cpu: number; delivered: number } | undefined;
      try {
        for (;;) {
          if (child.exitCode !== null) throw new Error(`das-exporter run exited ${child.exitCode}: ${stderr}`);
          sampled = Math.max(sampled, vm(child.pid!, 'VmRSS') ?? 0);
          const cpu = cpuSeconds(child.pid!);
          delivered = await exported(`http://127.0.0.1:${port}/metrics`);
          if (first === undefined && delivered > 0 && cpu !== undefined) first = { cpu, delivered };
          if (delivered >= total) break;
          if (Date.now() - started > 600_000) throw new Error(`not drained after 10 minutes: ${delivered} of ${total} events`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const seconds = (Date.now() - started) / 1000;
        const peak = vm(child.pid!, 'VmHWM');
        const cpu = cpuSeconds(child.pid!);
        const perEvent = first && cpu !== undefined && total > first.delivered ? `${(((cpu - first.cpu) / (total - first.delivered)) * 1e6).toFixed(1)} µs CPU per event after start-up` : 'CPU per event unknown';
        console.log(
          `0x0${suite.toString(16)}: das-exporter run drained ${total.toLocaleString('en-US')} events (${records.length} records, ${streams.length} streams) in ${seconds.toFixed(1)} s, start-up included (${Math.round(total / seconds).toLocaleString('en-US')} events/s, ${perEvent}); peak RSS ${peak?.toFixed(0) ?? '?'} MiB (VmHWM; sampled ${sampled.toFixed(0)} MiB; highest V8 heap used ${memory.heapUsed.toFixed(0)} of ${memory.heapTotal.toFixed(0)} MiB, external ${memory.external.toFixed(0)} MiB); ${otlpRequests} OTLP requests so far`,
        );
      } finally {
        child.kill('SIGTERM');
        await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
      }
    } finally {
      await kinesis.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  }
} finally {
  otlp.closeAllConnections?.();
  await new Promise<void>((resolve) => otlp.close(() => resolve()));
  await kms.close();
  if (typeof CHILD_OUT === 'number') closeSync(CHILD_OUT);
}
