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

/** With --policy: SIGHUP reloads it (the app logs what the reload did) until the returned function is called. */
export function reloadPolicyOnHangup(app: Pick<RunningApp, 'reloadPolicy'>, policyFile: string | undefined): () => void {
  if (!policyFile) return () => {};
  const reload = () => void app.reloadPolicy();
  process.on('SIGHUP', reload);
  return () => process.off('SIGHUP', reload);
}

export async function runCommand(flags: ConfigInput, io: CliIo, options: RunOptions = {}): Promise<number> {
  const config = loadConfig(flags, io.env);
  const kinesis = options.deps?.kinesis ?? createKinesisClient();
  const kms = options.deps?.kms ?? createKmsClient();
  // Enhanced fan-out subscribes over HTTP/2; every other call stays on the HTTP/1.1 client.
  const subscriber = config.consumer === 'efo' ? (options.deps?.subscriber ?? createSubscriptionClient()) : undefined;
  const destroy = () => [kinesis, kms, subscriber].forEach((client) => client?.destroy());
  const stopSignal = options.stopSignal ?? firstSignal();
  try {
    await requireAwsConfig({ Kinesis: kinesis, KMS: kms });
  } catch (error) {
    destroy();
    throw error;
  }
  const app = await startApp(config, { kinesis, kms, env: io.env, stdout: io.stdout, ...options.deps, ...(subscriber ? { subscriber } : {}) });
  const stopReloading = reloadPolicyOnHangup(app, config.policyFile);
  const signal = await stopSignal;
  stopReloading();
  io.stderr.write(`das-exporter: ${typeof signal === 'string' ? signal : 'stop'} received, finishing in-flight batches and writing checkpoints\n`);
  await app.stop();
  destroy();
  return 0;
}
