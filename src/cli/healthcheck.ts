/**
 * `das-exporter healthcheck`: asks the running exporter's `/healthz` (or
 * `--path /readyz`) on this host and exits 0 when it answers 200, 1 when it
 * does not. It is the container image's HEALTHCHECK, where no curl exists:
 * it reads the same `DAS_METRICS_HOST`, `DAS_METRICS_PORT` and
 * `DAS_METRICS_TOKEN` as the server it checks, so the check follows the
 * configuration instead of repeating it. It loads nothing of the AWS SDK.
 */
import { request } from 'node:http';
import { loadConfig, type ConfigInput } from '../config/config.ts';
import type { CliIo } from './main.ts';

const TIMEOUT_MS = 5000;

export interface HealthcheckFlags {
  path?: string;
  metricsHost?: string;
  metricsPort?: string | number;
}

export async function healthcheckCommand(flags: HealthcheckFlags, io: CliIo): Promise<number> {
  const config = loadConfig({ metricsHost: flags.metricsHost, metricsPort: flags.metricsPort } as ConfigInput, io.env);
  const path = flags.path ?? '/healthz';
  // A server bound to every address is asked on loopback, the address every host has.
  const host = config.metricsHost === '0.0.0.0' ? '127.0.0.1' : config.metricsHost === '::' ? '::1' : config.metricsHost;
  const headers: Record<string, string> = config.metricsToken ? { authorization: `Bearer ${config.metricsToken}` } : {};
  const where = `http://${host.includes(':') ? `[${host}]` : host}:${config.metricsPort}${path}`;
  const answer = await new Promise<{ status: number } | { error: string }>((resolve) => {
    const req = request({ host, port: config.metricsPort, path, headers, timeout: TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end();
  });
  if ('status' in answer && answer.status === 200) return 0;
  io.stderr.write(`das-exporter healthcheck: ${where} ${'status' in answer ? `answered ${answer.status}` : `failed: ${answer.error}`}\n`);
  return 1;
}
