import assert from 'node:assert/strict';
import { MetricsSink } from '../../src/sinks/metrics-sink.ts';
import { createMetrics, createMetricsRegistry, type DasMetrics } from '../../src/telemetry/metrics.ts';
import { prefersOpenMetrics, startMetricsServer, toPrometheusText, type MetricsServer, type StreamReadiness } from '../../src/telemetry/server.ts';
import { postgresSelect, withTrace } from '../support/events.ts';

/** The Accept header Prometheus 2.x sends when it scrapes. */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';

describe('metrics HTTP server', () => {
  let metrics: DasMetrics;
  let server: MetricsServer | undefined;
  let readiness: StreamReadiness[];

  async function start(options: { bearerToken?: string } = {}): Promise<MetricsServer> {
    server = await startMetricsServer({ registry: metrics.registry, host: '127.0.0.1', port: 0, readiness: () => readiness, ...options });
    return server;
  }

  beforeEach(async () => {
    metrics = createMetrics(createMetricsRegistry());
    readiness = [];
    await new MetricsSink(metrics).write({ events: [withTrace(postgresSelect(), TRACE_ID)], heartbeats: [] });
  });

  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  describe('/metrics content negotiation', () => {
    it('answers Prometheus with OpenMetrics, exemplars included', async () => {
      const { url } = await start();
      const res = await fetch(`${url}/metrics`, { headers: { Accept: PROMETHEUS_ACCEPT } });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
      const body = await res.text();
      assert.match(body, /^# TYPE das_statements counter$/m);
      assert.match(body, new RegExp(`^das_statements_total\\{.*command="SELECT".*\\} 1 # \\{trace_id="${TRACE_ID}"\\} 1 `, 'm'));
      assert.ok(body.endsWith('# EOF\n'));
    });

    it('answers a scraper without an Accept header with the classic text format, without exemplars', async () => {
      const { url } = await start();
      const res = await fetch(`${url}/metrics`, { headers: { Accept: '' } });
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      const body = await res.text();
      assert.match(body, /^# TYPE das_statements_total counter$/m);
      assert.match(body, /^# HELP das_statements_total /m);
      assert.match(body, /^das_statements_total\{.*command="SELECT".*\} 1$/m);
      assert.doesNotMatch(body, /trace_id|# EOF/);
    });

    it('answers classic text when text/plain is preferred over OpenMetrics', async () => {
      const { url } = await start();
      const res = await fetch(`${url}/metrics`, { headers: { Accept: 'application/openmetrics-text;q=0.2, text/plain' } });
      assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
      assert.equal(res.headers.get('vary'), 'Accept');
    });

    it('reads Accept headers the way the scrapers send them', () => {
      assert.equal(prefersOpenMetrics(PROMETHEUS_ACCEPT), true);
      assert.equal(prefersOpenMetrics('application/openmetrics-text'), true);
      assert.equal(prefersOpenMetrics('text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), false);
      assert.equal(prefersOpenMetrics('application/openmetrics-text;version=0.0.1'), false);
      assert.equal(prefersOpenMetrics('application/openmetrics-text;q=0'), false);
      assert.equal(prefersOpenMetrics(undefined), false);
    });
  });

  describe('classic text derived from OpenMetrics', () => {
    it('renames counter families, drops exemplars, _created and # EOF, and leaves label values alone', () => {
      const openMetrics = [
        '# HELP das_dead_letters Records set aside.',
        '# TYPE das_dead_letters counter',
        'das_dead_letters_total{reason="a # {b}\\" }"} 3 # {trace_id="abc"} 1 1700000000.5',
        'das_dead_letters_created{reason="x"} 1700000000',
        '# HELP das_stream_up 1 while consuming.',
        '# TYPE das_stream_up gauge',
        'das_stream_up{stream="s"} 1',
        '# TYPE das_mystery unknown',
        'das_mystery 2',
        '# EOF',
        '',
      ].join('\n');
      assert.equal(
        toPrometheusText(openMetrics),
        [
          '# HELP das_dead_letters_total Records set aside.',
          '# TYPE das_dead_letters_total counter',
          'das_dead_letters_total{reason="a # {b}\\" }"} 3',
          '# HELP das_stream_up 1 while consuming.',
          '# TYPE das_stream_up gauge',
          'das_stream_up{stream="s"} 1',
          '# TYPE das_mystery untyped',
          'das_mystery 2',
          '',
        ].join('\n'),
      );
    });

    it('serves the same samples in both formats after either was scraped first', async () => {
      const { url } = await start();
      const classicFirst = await (await fetch(`${url}/metrics`)).text();
      await fetch(`${url}/metrics`, { headers: { Accept: PROMETHEUS_ACCEPT } });
      const classicAfter = await (await fetch(`${url}/metrics`)).text();
      assert.equal(classicAfter, classicFirst);
    });
  });

  describe('health', () => {
    it('/healthz answers 200 while the process serves', async () => {
      const { url } = await start();
      const res = await fetch(`${url}/healthz`);
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'ok\n');
    });

    it('/readyz answers 503 naming the stream that is not consuming and why', async () => {
      readiness = [
        { stream: 'aws-rds-das-cluster-A', ready: true },
        { stream: 'aws-rds-das-cluster-B', ready: false, reason: 'kms_access_denied' },
      ];
      const { url } = await start();
      const res = await fetch(`${url}/readyz`);
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('content-type'), 'application/json');
      assert.deepEqual(await res.json(), { ready: false, streams: readiness });
    });

    it('/readyz answers 200 once every stream is consuming', async () => {
      readiness = [{ stream: 'aws-rds-das-cluster-A', ready: true }];
      const { url } = await start();
      const res = await fetch(`${url}/readyz`);
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), { ready: true, streams: readiness });
    });
  });

  describe('routing', () => {
    for (const path of ['/', '/metrics/extra', '/favicon.ico', '/debug/pprof', '/healthz/']) {
      it(`answers 404 for ${path}`, async () => {
        const { url } = await start();
        const res = await fetch(`${url}${path}`);
        assert.equal(res.status, 404);
        assert.equal(await res.text(), 'not found\n');
      });
    }

    it('answers 405 to a POST on /metrics', async () => {
      const { url } = await start();
      const res = await fetch(`${url}/metrics`, { method: 'POST', body: 'x' });
      assert.equal(res.status, 405);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
    });

    it('ignores the query string', async () => {
      const { url } = await start();
      assert.equal((await fetch(`${url}/metrics?name[]=das_statements_total`)).status, 200);
    });
  });

  describe('bearer token', () => {
    const TOKEN = 's3cret-token-for-scrapes';

    it('answers 401 without the token, on every path', async () => {
      const { url } = await start({ bearerToken: TOKEN });
      for (const path of ['/metrics', '/healthz', '/readyz', '/nowhere']) {
        const res = await fetch(`${url}${path}`);
        assert.equal(res.status, 401, path);
        assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="das-exporter"');
      }
    });

    it('answers 401 to a wrong token, a prefix of it, or another scheme', async () => {
      const { url } = await start({ bearerToken: TOKEN });
      for (const authorization of [`Bearer wrong`, `Bearer ${TOKEN.slice(0, -1)}`, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, 'Bearer ']) {
        const res = await fetch(`${url}/metrics`, { headers: { Authorization: authorization } });
        assert.equal(res.status, 401, authorization);
      }
    });

    it('serves with the right token', async () => {
      const { url } = await start({ bearerToken: TOKEN });
      const headers = { Authorization: `Bearer ${TOKEN}` };
      assert.equal((await fetch(`${url}/metrics`, { headers })).status, 200);
      assert.equal((await fetch(`${url}/healthz`, { headers })).status, 200);
      assert.equal((await fetch(`${url}/other`, { headers })).status, 404);
    });
  });

  it('binds the configured host and an ephemeral port, and releases it on close', async () => {
    const started = await start();
    assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(started.port, 0);
    await started.close();
    server = undefined;
    await assert.rejects(fetch(`${started.url}/healthz`));
  });
});

describe('the address the server reports', () => {
  it('is one a person can open when it binds every interface', async () => {
    const { createMetrics, createMetricsRegistry } = await import('../../src/telemetry/metrics.ts');
    const { startMetricsServer } = await import('../../src/telemetry/server.ts');
    const server = await startMetricsServer({ registry: createMetrics(createMetricsRegistry()).registry, host: '0.0.0.0', port: 0 });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      await server.close();
    }
  });
});
