/**
 * `das-exporter run`: consumes the configured DAS streams until SIGTERM or
 * SIGINT, then stops polling, lets in-flight batches finish or abandons them
 * without checkpointing past them, flushes the sinks, writes checkpoints and
 * exits 0.
 */
import { startApp, type AppDependencies, type RunningApp } from '../app.ts';
import { loadConfig, type ConfigInput } from '../config/config.ts';
import { createKinesisClient, createSubscriptionClient } from '../source/kinesis/client.ts';
import type { CliIo } from './main.ts';
import { createKmsClient, requireAwsConfig } from './wiring.ts';

export interface RunOptions {
  /** Resolves when the command should stop; default: the first SIGTERM or SIGINT. */
  stopSignal?: Promise<unknown>;
  /** Overrides for tests and the demo (clients, sinks, coordinator). */
  deps?: Partial<AppDependencies>;
}

export function firstSignal(signals: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT']): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const handlers = signals.map((signal) => {
      const handler = () => {
        signals.forEach((s, i) => process.off(s, handlers[i]!));
        resolve(signal);
      };
      process.on(signal, handler);
      return handler;
    });
  });
}

/**
 * With --policy: SIGHUP reloads it (the app logs what the reload did), from
 * the moment this is called until `stop`. It is called before the app
 * starts, so a SIGHUP sent as soon as the process says it started (or
 * before) neither kills the process, Node's default, nor is lost: one that
 * comes before `attach` reloads once the app is there.
 */
export function reloadPolicyOnHangup(policyFile: string | undefined): { attach(app: Pick<RunningApp, 'reloadPolicy'>): void; stop(): void } {
  if (!policyFile) return { attach: () => {}, stop: () => {} };
  let app: Pick<RunningApp, 'reloadPolicy'> | undefined;
  let missed = false;
  const reload = () => {
    if (app) void app.reloadPolicy();
    else missed = true;
  };
  process.on('SIGHUP', reload);
  return {
    attach: (running) => {
      app = running;
      if (missed) void app.reloadPolicy();
    },
    stop: () => void process.off('SIGHUP', reload),
  };
}

export async function runCommand(flags: ConfigInput, io: CliIo, options: RunOptions = {}): Promise<number> {
  const config = loadConfig(flags, io.env);
  const kinesis = options.deps?.kinesis ?? createKinesisClient();
  const kms = options.deps?.kms ?? createKmsClient();
  // Enhanced fan-out subscribes over HTTP/2; every other call stays on the HTTP/1.1 client.
  const subscriber = config.consumer === 'efo' ? (options.deps?.subscriber ?? createSubscriptionClient()) : undefined;
  const destroy = () => [kinesis, kms, subscriber].forEach((client) => client?.destroy());
  const stopSignal = options.stopSignal ?? firstSignal();
  const hangups = reloadPolicyOnHangup(config.policyFile);
  let app: RunningApp;
  try {
    await requireAwsConfig({ Kinesis: kinesis, KMS: kms });
    app = await startApp(config, { kinesis, kms, env: io.env, stdout: io.stdout, ...options.deps, ...(subscriber ? { subscriber } : {}) });
  } catch (error) {
    hangups.stop();
    destroy();
    throw error;
  }
  hangups.attach(app);
  const signal = await stopSignal;
  hangups.stop();
  io.stderr.write(`das-exporter: ${typeof signal === 'string' ? signal : 'stop'} received, finishing in-flight batches and writing checkpoints\n`);
  await app.stop();
  destroy();
  return 0;
}
