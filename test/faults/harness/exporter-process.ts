/**
 * `das-exporter run` as a child process of `bin/das-exporter.js`, the way an
 * operator runs it: configured only through flags and environment, its
 * Kinesis, KMS and OTLP endpoints pointing at the fault proxies. The harness
 * can SIGKILL it, read its RSS from /proc, and ask its /readyz and /metrics.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../../../bin/das-exporter.js', import.meta.url));
const CWD = path.dirname(path.dirname(BIN));

export interface ExporterOptions {
  stream: string;
  stateDir: string;
  kinesisEndpoint: string;
  kmsEndpoint: string;
  otlpLogsEndpoint: string;
  /** Appended stderr of every run, for a post-mortem. */
  logFile: string;
  env?: Record<string, string>;
  args?: string[];
}

export class ExporterProcess {
  readonly child: ChildProcess;
  readonly exited: Promise<number | NodeJS.Signals | null>;
  readonly startedAt = Date.now();
  #stderr = '';
  #metricsUrl: string | undefined;

  private constructor(child: ChildProcess, logFile: string) {
    this.child = child;
    const log = createWriteStream(logFile, { flags: 'a' });
    child.stderr!.on('data', (chunk: Buffer) => {
      log.write(chunk);
      this.#stderr += chunk.toString('utf8');
      if (this.#stderr.length > 2_000_000) this.#stderr = this.#stderr.slice(-1_000_000);
      this.#metricsUrl ??= /"message":"das-exporter started"[^\n]*"metrics":"([^"]+)"/.exec(this.#stderr)?.[1];
    });
    child.stdout!.resume();
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        log.end();
        resolve(signal ?? code);
      }),
    );
  }

  static start(o: ExporterOptions): ExporterProcess {
    const child = spawn(
      process.execPath,
      [BIN, 'run', '--stream', o.stream, '--state-dir', o.stateDir, '--metrics-host', '127.0.0.1', '--metrics-port', '0', ...(o.args ?? [])],
      {
        cwd: CWD,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDFAULTS',
          AWS_SECRET_ACCESS_KEY: 'fault-secret',
          AWS_EC2_METADATA_DISABLED: 'true',
          AWS_ENDPOINT_URL_KINESIS: o.kinesisEndpoint,
          AWS_ENDPOINT_URL_KMS: o.kmsEndpoint,
          OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: o.otlpLogsEndpoint,
          DAS_DISCOVERY_INTERVAL_SECONDS: '1',
          ...o.env,
        },
      },
    );
    return new ExporterProcess(child, o.logFile);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get stderr(): string {
    return this.#stderr;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** The metrics/health server's URL, once the exporter logged that it started. */
  get metricsUrl(): string | undefined {
    return this.#metricsUrl;
  }

  /** Resident set size in bytes, from /proc/<pid>/status (VmRSS); undefined once gone. */
  rssBytes(): number | undefined {
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'))?.[1];
      return kb === undefined ? undefined : Number(kb) * 1024;
    } catch {
      return undefined;
    }
  }

  async readyz(): Promise<{ status: number; body: { ready: boolean; streams: { stream: string; ready: boolean; reason?: string }[] } }> {
    const response = await fetch(`${this.#metricsUrl}/readyz`);
    return { status: response.status, body: (await response.json()) as never };
  }

  async metrics(): Promise<string> {
    return (await fetch(`${this.#metricsUrl}/metrics`)).text();
  }

  /** The value of one sample in /metrics, e.g. `das_stream_up{stream="…"}`; undefined when absent. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
    return samples(await this.metrics(), name, labels)[0];
  }

  /** The sum of every sample of `name` with these labels (e.g. a counter over all shards); 0 when none. */
  async metricSum(name: string, labels: Record<string, string> = {}): Promise<number> {
    return samples(await this.metrics(), name, labels).reduce((a, b) => a + b, 0);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  async stop(graceMs = 15_000): Promise<number | NodeJS.Signals | null> {
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }
}

/** The values of the samples of `name` in an exposition whose labels include `labels`. */
function samples(text: string, name: string, labels: Record<string, string>): number[] {
  const values: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const have = match[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => have.includes(`${k}="${v}"`))) values.push(Number(match[3]));
  }
  return values;
}
