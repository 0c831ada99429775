/**
 * The exporter's HTTP server: `/metrics` for Prometheus, `/healthz` (the
 * process is alive) and `/readyz` (every stream is being consumed), and a
 * 404 for anything else.
 *
 * One OpenMetrics registry is the source of truth. A scraper whose Accept
 * header prefers `application/openmetrics-text` (Prometheus does) gets
 * prom-client's OpenMetrics text, exemplars included; any other gets the
 * classic text format, derived from the same text by `toPrometheusText`.
 * Switching one registry's content type per request would race between
 * concurrent scrapes, and registering the metrics in a second, classic
 * registry does not work either: rendering OpenMetrics renames prom-client's
 * counter objects in place (drops `_total`), which the classic registry would
 * then print.
 *
 * With a bearer token configured every path needs it, health checks included
 * (`/readyz` names streams and why they stopped; a Kubernetes probe can send
 * the header with `httpHeaders`).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import type { OpenMetricsContentType, PrometheusContentType } from 'prom-client';

export const DEFAULT_HOST = '0.0.0.0';
export const DEFAULT_PORT = 9464;

/** One stream's state for `/readyz`; `reason` is a closed, low-cardinality word such as `kms_access_denied`. */
export type StreamReadiness = { stream: string; ready: true } | { stream: string; ready: false; reason: string };

export interface MetricsServerOptions {
  registry: Registry<OpenMetricsContentType> | Registry<PrometheusContentType>;
  /** Address to bind. Default 0.0.0.0. */
  host?: string;
  /** Port to bind; 0 picks a free one. Default 9464. */
  port?: number;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  bearerToken?: string;
  /** Every stream's state; ready when all are. Without it the exporter is ready once serving. */
  readiness?: () => readonly StreamReadiness[] | Promise<readonly StreamReadiness[]>;
  /** More for `/readyz` to say that does not decide readiness (the audit policy running and its last reload). */
  details?: () => Record<string, unknown>;
}

export interface MetricsServer {
  /** `http://host:port`, with the port actually bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const CLASSIC_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE;
const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? DEFAULT_HOST;
  const authorized = bearerCheck(options.bearerToken);

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      // The error's text stays inside: it may name files or hold whatever the failing callback had in hand.
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!authorized(req.headers.authorization)) {
      res.setHeader('WWW-Authenticate', 'Bearer realm="das-exporter"');
      return send(res, 401, 'text/plain; charset=utf-8', 'unauthorized\n');
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    const head = req.method === 'HEAD';

    if (path === '/healthz') return send(res, 200, 'text/plain; charset=utf-8', 'ok\n', head);

    if (path === '/readyz') {
      const streams = (await options.readiness?.()) ?? [];
      const notReady = streams.filter((s) => !s.ready);
      const body = JSON.stringify({ ready: notReady.length === 0, streams, ...options.details?.() }) + '\n';
      return send(res, notReady.length === 0 ? 200 : 503, 'application/json', body, head);
    }

    res.setHeader('Vary', 'Accept');
    const wantsOpenMetrics = prefersOpenMetrics(req.headers.accept);
    const text = await options.registry.metrics();
    if (options.registry.contentType === OPENMETRICS_CONTENT_TYPE && !wantsOpenMetrics) {
      return send(res, 200, CLASSIC_CONTENT_TYPE, toPrometheusText(text), head);
    }
    return send(res, 200, options.registry.contentType, text, head);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  // A wildcard bind is reachable on loopback; show an address a person can open.
  const reachable = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const shownHost = reachable.includes(':') ? `[${reachable}]` : reachable;

  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeIdleConnections();
      }),
  };
}

function send(res: ServerResponse, status: number, contentType: string, body: string, head = false): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

/** Compares SHA-256 digests so neither the token nor its length leaks through timing. */
function bearerCheck(token: string | undefined): (header: string | undefined) => boolean {
  if (token === undefined || token === '') return () => true;
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    const match = /^Bearer +(\S+) *$/i.exec(header ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    return timingSafeEqual(given, expected) && match !== null;
  };
}

/**
 * Whether an Accept header asks for OpenMetrics 1.0 at least as much as for
 * the classic text format. No header, or one naming neither, gets classic.
 */
export function prefersOpenMetrics(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') return false;
  let openMetrics = 0;
  let classic = 0;
  for (const range of accept.split(',')) {
    const [type = '', ...params] = range.split(';').map((part) => part.trim().toLowerCase());
    let q = 1;
    let version: string | undefined;
    for (const param of params) {
      const [key, value = ''] = param.split('=').map((s) => s.trim());
      if (key === 'q') q = Number.isFinite(Number(value)) ? Number(value) : 0;
      if (key === 'version') version = value;
    }
    if (type === 'application/openmetrics-text' && (version === undefined || version === '1.0.0')) openMetrics = Math.max(openMetrics, q);
    if (type === 'text/plain' || type === 'text/*' || type === '*/*') classic = Math.max(classic, q);
  }
  return openMetrics > 0 && openMetrics >= classic;
}

/**
 * prom-client's OpenMetrics text as classic Prometheus text: counter families
 * take back their `_total` name, exemplars, `# UNIT`, `_created` samples and
 * `# EOF` go, `unknown` becomes `untyped`.
 */
export function toPrometheusText(openMetrics: string): string {
  const lines = openMetrics.split('\n');
  const counters = new Set<string>();
  for (const line of lines) {
    const match = /^# TYPE (\S+) counter$/.exec(line);
    if (match) counters.add(match[1]!);
  }
  const out: string[] = [];
  for (const line of lines) {
    if (line === '' || line === '# EOF' || line.startsWith('# UNIT ')) continue;
    const meta = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
    if (meta) {
      const [, kind, family, rest = ''] = meta;
      const name = counters.has(family!) ? `${family}_total` : family;
      const text = kind === 'TYPE' && rest === 'unknown' ? 'untyped' : rest;
      out.push(`# ${kind} ${name} ${text}`.trimEnd());
      continue;
    }
    if (line.startsWith('#')) continue;
    const sample = withoutExemplar(line);
    const name = /^[^{ ]+/.exec(sample)?.[0] ?? '';
    if (name.endsWith('_created') && counters.has(name.slice(0, -'_created'.length))) continue;
    out.push(sample);
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** A sample line without its ` # {…} value [timestamp]` exemplar; `#` inside quoted label values is left alone. */
function withoutExemplar(line: string): string {
  let i = line.indexOf('{');
  const firstSpace = line.indexOf(' ');
  if (i !== -1 && (firstSpace === -1 || i < firstSpace)) {
    let quoted = false;
    for (i++; i < line.length; i++) {
      const c = line[i];
      if (quoted && c === '\\') i++;
      else if (c === '"') quoted = !quoted;
      else if (c === '}' && !quoted) break;
    }
  } else {
    i = 0;
  }
  const cut = line.indexOf(' # ', i);
  return cut === -1 ? line : line.slice(0, cut);
}
