/**
 * The metrics/health server exposes what it must and nothing else: it binds
 * only where configured, answers every other path or method with 404/405 and
 * no stack trace, cannot be walked out of with traversal, and with a bearer
 * token refuses every request without the exact token, never echoing it.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { Registry, type OpenMetricsContentType } from 'prom-client';
import { startMetricsServer, type MetricsServer } from '../../src/telemetry/server.ts';
import { createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';

const TOKEN = 'correct-horse-battery-staple-42';

/** A raw HTTP request (fetch normalises paths, which would hide traversal attempts). */
function raw(port: number, method: string, path: string, headers: Record<string, string> = {}, host = '127.0.0.1'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers, timeout: 2_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

function nonLoopbackAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a): a is NonNullable<typeof a> => a !== undefined && !a.internal && a.family === 'IPv4')
    .map((a) => a.address);
}

const OTHER_PATHS = ['/', '/metrics/', '/metrics/../metrics', '/../../etc/passwd', '/%2e%2e/%2e%2e/etc/passwd', '/..%2f..%2fetc%2fpasswd', '/static/../../package.json',
  '/readyz/x', '/healthz?x=/etc/passwd#', '/debug/pprof', '/.env', '/node_modules/prom-client/package.json', '/src/app.ts', '//metrics', '/METRICS', '/metrics%00',
  '/' + 'a'.repeat(4000)];

function assertNoLeak(body: string): void {
  assert.doesNotMatch(body, /\bat \S+ \(|node:internal|\/work\/|Error:|root:x:0/, `body looks like a stack trace or a file: ${body.slice(0, 200)}`);
  assert.ok(!body.includes(TOKEN));
}

describe('security: metrics and health server', function () {
  let registry: Registry<OpenMetricsContentType>;
  before(() => {
    registry = createMetrics(createMetricsRegistry(), { processMetrics: false }).registry as Registry<OpenMetricsContentType>;
  });

  describe('bound to 127.0.0.1', () => {
    let server: MetricsServer;
    before(async () => {
      server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0 });
    });
    after(() => server.close());

    it('listens on the loopback address it was given and on no other address of this machine', async () => {
      assert.equal(new URL(server.url).hostname, '127.0.0.1');
      assert.equal((await raw(server.port, 'GET', '/healthz')).status, 200);
      const others = nonLoopbackAddresses();
      // Without another address there is nothing more to try; the bound host above is the check.
      for (const address of others) {
        await assert.rejects(raw(server.port, 'GET', '/healthz', {}, address), (error: NodeJS.ErrnoException) => ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'].includes(error.code ?? '') || error.message === 'timeout', `reachable on ${address}`);
      }
    });

    it('serves /metrics, /healthz and /readyz only: every other path is 404, with no stack trace or file', async () => {
      for (const path of OTHER_PATHS) {
        const res = await raw(server.port, 'GET', path);
        if (path === '/healthz?x=/etc/passwd#' || path === '/metrics/../metrics') {
          // A query string does not change the path; dot segments resolve inside the served paths, never outside.
          assert.equal(res.status, 200, `GET ${path} → ${res.status}`);
          assert.ok(!res.body.includes('root:') && !res.body.includes('"name"'));
          continue;
        }
        assert.equal(res.status, 404, `GET ${path} → ${res.status}`);
        assert.equal(res.body, 'not found\n');
        assertNoLeak(res.body);
      }
    });

    it('every method other than GET and HEAD is 405 on the served paths and 404 elsewhere', async () => {
      for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PROPFIND']) {
        for (const path of ['/metrics', '/healthz', '/readyz', '/nothing']) {
          if (method === 'CONNECT') {
            // No 'connect' listener: Node closes the socket, so the server is no proxy.
            await assert.rejects(raw(server.port, method, '127.0.0.1:1'), /socket hang up|ECONNRESET/);
            continue;
          }
          const res = await raw(server.port, method, path);
          assert.equal(res.status, path === '/nothing' ? 404 : 405, `${method} ${path} → ${res.status}`);
          if (res.status === 405) assert.equal(res.headers.allow, 'GET, HEAD');
          assertNoLeak(res.body);
        }
      }
    });

    it('a readiness callback that throws gives a 500 without a stack trace', async () => {
      const failing = await startMetricsServer({
        registry,
        host: '127.0.0.1',
        port: 0,
        readiness: () => {
          throw new Error(`boom at /work/main/src/secret.ts:1 ${TOKEN}`);
        },
      });
      try {
        const res = await raw(failing.port, 'GET', '/readyz');
        assert.equal(res.status, 500);
        assertNoLeak(res.body);
      } finally {
        await failing.close();
      }
    });
  });

  describe('with a bearer token', () => {
    let server: MetricsServer;
    before(async () => {
      server = await startMetricsServer({ registry, host: '127.0.0.1', port: 0, bearerToken: TOKEN, readiness: () => [{ stream: 's', ready: true }] });
    });
    after(() => server.close());

    const wrongSameLength = TOKEN.slice(0, -1) + (TOKEN.endsWith('x') ? 'y' : 'x');

    for (const path of ['/metrics', '/healthz', '/readyz', '/nothing']) {
      it(`${path}: 401 without a token, with a wrong token of the same length, or with another scheme; served with the right one`, async () => {
        const refused: Record<string, string>[] = [
          {},
          { authorization: `Bearer ${wrongSameLength}` },
          { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` },
          { authorization: `Bearer ${TOKEN} ${TOKEN}` },
          { authorization: `Bearer ${TOKEN.toUpperCase()}` },
          { authorization: 'Bearer' },
        ];
        for (const headers of refused) {
          const res = await raw(server.port, 'GET', path, headers);
          assert.equal(res.status, 401, `${JSON.stringify(headers)} → ${res.status}`);
          assert.equal(res.body, 'unauthorized\n');
          assert.ok(!JSON.stringify(res.headers).includes(TOKEN));
        }
        const ok = await raw(server.port, 'GET', path, { authorization: `Bearer ${TOKEN}` });
        assert.equal(ok.status, path === '/nothing' ? 404 : 200);
        assert.ok(!ok.body.includes(TOKEN) && !JSON.stringify(ok.headers).includes(TOKEN), 'the token never appears in a response');
      });
    }
  });
});
