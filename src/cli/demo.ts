/**
 * `das-exporter demo`: the pipeline end to end on one machine, with nothing
 * to install (see src/demo/demo.ts). Runs until Ctrl-C, SIGTERM or
 * `--duration`, then stops cleanly, prints a summary and exits 0. A demo that
 * cannot start (a port in use, …) says why and exits 2.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, fromEnvironment, loadConfig, type Config, type ConfigInput } from '../config/config.ts';
import { DEMO_STREAMS, startDemo, type DemoOptions } from '../demo/demo.ts';
import { summaryText } from '../demo/status.ts';
import { DEFAULT_RATE, DEMO_CLUSTERS } from '../demo/traffic.ts';
import type { CliIo } from './main.ts';
import { firstSignal, reloadPolicyOnHangup } from './run.ts';

export interface DemoFlags {
  rate?: string | number;
  duration?: string | number;
  seed?: string | number;
}

export interface DemoCommandOptions {
  /** Resolves when the demo should stop; default: the first SIGTERM or SIGINT. */
  stopSignal?: Promise<unknown>;
}

/** The audit policy the demo runs unless given one: policies/examples/demo.yaml of the installed package. */
export const DEMO_POLICY = fileURLToPath(new URL('../../policies/examples/demo.yaml', import.meta.url));

/** The Config the demo runs with: the user's pipeline flags over the demo's fixed consumer settings, and the demo policy unless another is given. */
export function demoConfig(flags: ConfigInput, env: NodeJS.ProcessEnv, stateDir: string): Config {
  const friendlyNames = Object.fromEntries(DEMO_CLUSTERS.map((c) => [c.resourceId, c.name]));
  const policy = flags.policyFile ?? fromEnvironment(env).policyFile ?? DEMO_POLICY;
  return loadConfig(
    {
      ...flags,
      policyFile: policy,
      streams: [...DEMO_STREAMS],
      stateDir,
      startPosition: 'trim_horizon',
      discoveryIntervalSeconds: 1,
      leases: 'file',
      serviceNames: { ...friendlyNames, ...fromEnvironment(env).serviceNames, ...flags.serviceNames },
    },
    env,
  );
}

/** `--rate`, `--duration`, `--seed`, checked all at once. */
export function parseDemoFlags(flags: DemoFlags): { rate: number; durationSeconds: number | null; seed: number | undefined } {
  const problems: string[] = [];
  const rate = flags.rate === undefined ? DEFAULT_RATE : Number(flags.rate);
  if (!(Number.isFinite(rate) && rate > 0 && rate <= 100_000)) problems.push(`--rate: expected events per second, a number greater than 0 and at most 100000 (actual: ${JSON.stringify(flags.rate)})`);
  const duration = flags.duration === undefined ? null : Number(flags.duration);
  if (duration !== null && !(Number.isFinite(duration) && duration > 0)) problems.push(`--duration: expected seconds, a number greater than 0 (actual: ${JSON.stringify(flags.duration)})`);
  const seed = flags.seed === undefined ? undefined : Number(flags.seed);
  if (seed !== undefined && !Number.isSafeInteger(seed)) problems.push(`--seed: expected an integer (actual: ${JSON.stringify(flags.seed)})`);
  if (problems.length > 0) throw new ConfigError(problems);
  return { rate, durationSeconds: duration, seed };
}

export async function demoCommand(flags: ConfigInput, demoFlags: DemoFlags, io: CliIo, options: DemoCommandOptions = {}): Promise<number> {
  const { rate, durationSeconds, seed } = parseDemoFlags(demoFlags);
  const stateDir = mkdtempSync(path.join(tmpdir(), 'das-exporter-demo-'));
  try {
    const config = demoConfig(flags, io.env, stateDir);
    const stopSignal = options.stopSignal ?? firstSignal();
    const demoOptions: DemoOptions = { rate, ...(seed === undefined ? {} : { seed }) };
    const hangups = reloadPolicyOnHangup(config.policyFile);
    let demo;
    try {
      demo = await startDemo(config, demoOptions, { env: io.env, stdout: io.stdout, stderr: io.stderr, statusOnTty: isTty(io.stderr) });
    } catch (error) {
      hangups.stop();
      if (error instanceof ConfigError) throw error;
      io.stderr.write(`das-exporter demo: cannot start: ${startupProblem(error, config)}\n`);
      return 2;
    }
    const logs = demo.app.otlp.exporter ? `OTLP logs to ${new URL(demo.app.otlp.exporter.endpoint).origin}` : 'one line per event on stdout (set OTEL_EXPORTER_OTLP_ENDPOINT to send OTLP instead)';
    io.stderr.write(
      `das-exporter demo: ${DEMO_CLUSTERS.map((c) => c.name).join(', ')} simulated at ${rate} events/s; ` +
        `${logs}; metrics at ${demo.app.metricsUrl}/metrics; ${durationSeconds === null ? 'Ctrl-C to stop' : `stopping after ${durationSeconds} s`}\n`,
    );

    hangups.attach(demo.app);
    let timer: NodeJS.Timeout | undefined;
    const elapsed = durationSeconds === null ? new Promise<never>(() => {}) : new Promise<string>((resolve) => (timer = setTimeout(() => resolve('duration'), durationSeconds * 1000)));
    const reason = await Promise.race([stopSignal.then((signal) => (typeof signal === 'string' ? signal : 'stop')), elapsed]);
    clearTimeout(timer);
    hangups.stop();
    demo.say(`das-exporter demo: ${reason === 'duration' ? `${durationSeconds} s elapsed` : `${reason} received`}, stopping the traffic and delivering what was written`);
    io.stderr.write(summaryText(await demo.stop()));
    return 0;
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

function isTty(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** A startup failure in words a user can act on. */
function startupProblem(error: unknown, config: Config): string {
  const e = error as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code === 'EADDRINUSE') {
    return `${e.address ?? config.metricsHost}:${e.port ?? config.metricsPort} is already in use (the metrics server); choose another port with --metrics-port, or 0 for any free one`;
  }
  if (e?.code === 'EACCES' || e?.code === 'EADDRNOTAVAIL') {
    return `cannot listen on ${config.metricsHost}:${config.metricsPort} (${e.code}); check --metrics-host and --metrics-port`;
  }
  return error instanceof Error ? error.message : String(error);
}
