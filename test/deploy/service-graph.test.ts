/**
 * The compose stack's service graph: Tempo's metrics generator runs the
 * service-graphs processor and remote-writes its edges to the stack's
 * Prometheus, which accepts remote writes, and Grafana's Tempo datasource
 * reads the graph from that Prometheus.
 *
 * There is no Tempo here: its configuration is checked by the stand-in of
 * its strict loader (test/support/tempo-config.ts), and what the processor
 * makes of das-exporter's spans by the stand-in of the processor
 * (test/support/tempo-service-graph.ts, exercised on the demo's spans in
 * test/demo/demo-traces.test.ts). The Prometheus side is real: the Debian
 * binary, started with the compose service's own flags, takes the edges the
 * way Tempo sends them (remote write at the path Tempo's config names) and
 * answers the service-graph query of Tempo's documentation.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SPAN_SAMPLE_RATIO_ATTRIBUTE } from '../../src/sinks/otlp/spans.ts';
import { remoteWrite } from '../support/remote-write.ts';
import { startPrometheus, stopPrometheus, type RunningPrometheus } from '../support/prometheus.ts';
import { serviceGraph } from '../support/tempo-service-graph.ts';
import { checkTempoConfig } from '../support/tempo-config.ts';
import type { ReceivedSpan } from '../support/trace-receiver.ts';
import { REPO, readYaml } from './tools.ts';

const DEPLOY = join(REPO, 'deploy');

interface TempoConfig {
  metrics_generator: { storage: { remote_write: { url: string }[] }; processor: { service_graphs: { dimensions?: string[] } } };
  overrides: { defaults: { metrics_generator: { processors: string[] } } };
}
const tempo = readYaml(join(DEPLOY, 'tempo/config.yaml')) as TempoConfig;
const compose = readYaml(join(DEPLOY, 'compose.yaml')) as { services: Record<string, { command?: string[]; ports?: string[] }> };

/** A span as the traces receiver decodes it. */
function span(fields: Partial<ReceivedSpan> & Pick<ReceivedSpan, 'spanId' | 'kind' | 'resource'>): ReceivedSpan {
  return { traceId: 'a'.repeat(32), parentSpanId: '', name: 'SELECT orders', startTimeUnixNano: 0n, endTimeUnixNano: 1_000_000n, attributes: {}, status: { code: 0, message: '' }, scope: '', ...fields };
}

describe("compose stack: Tempo's service graph", () => {
  it("Tempo's config passes the stand-in of its strict loader, which refuses unknown keys and values of the wrong shape as Tempo 2.7.2 does", () => {
    assert.deepEqual(checkTempoConfig(tempo), []);
    // The checker can fail: a misspelt key, a scalar for a list, and (stricter than Tempo) the legacy overrides and a misspelt processor.
    assert.deepEqual(checkTempoConfig({ metrics_generator: { processors: { service_graphs: {} } } }), [
      'metrics_generator.processors: field processors not found in type (unknown to Tempo 2.7.2)',
    ]);
    assert.deepEqual(checkTempoConfig({ metrics_generator: { storage: { remote_write: { url: 'x' } } } }), ['metrics_generator.storage.remote_write: a list is due']);
    assert.match(checkTempoConfig({ overrides: { metrics_generator_processors: ['service-graphs'] } })[0]!, /legacy overrides form, refused here on purpose/);
    assert.match(checkTempoConfig({ overrides: { defaults: { metrics_generator: { processors: ['service-graph'] } } } })[0]!, /unknown processor service-graph \(Tempo would start, log/);
  });

  it("keeps das-exporter's later spans in the graph and counts a sampled statement 1/ratio times", () => {
    const generator = tempo.metrics_generator as TempoConfig['metrics_generator'] & { metrics_ingestion_time_range_slack: string };
    // DAS delivers a statement seconds after it ran; Tempo's defaults are 30 s of slack and a 10 s wait for the pair.
    assert.equal(generator.metrics_ingestion_time_range_slack, '5m');
    const graphs = generator.processor.service_graphs as { wait: string; span_multiplier_key: string };
    assert.equal(graphs.wait, '60s');
    assert.equal(graphs.span_multiplier_key, SPAN_SAMPLE_RATIO_ATTRIBUTE);
    assert.equal((generator.processor as unknown as { span_metrics: { span_multiplier_key: string } }).span_metrics.span_multiplier_key, SPAN_SAMPLE_RATIO_ATTRIBUTE);
  });

  it('runs the service-graphs processor and remote-writes to the Prometheus of the stack, which accepts remote writes', () => {
    assert.ok(tempo.overrides.defaults.metrics_generator.processors.includes('service-graphs'));
    const [target] = tempo.metrics_generator.storage.remote_write;
    const url = new URL(target!.url);
    assert.equal(url.hostname, 'prometheus', 'the compose service name');
    assert.ok(compose.services.prometheus, 'a prometheus service');
    assert.equal(url.port, '9090');
    assert.equal(url.pathname, '/api/v1/write');
    assert.ok(compose.services.prometheus!.command?.includes('--web.enable-remote-write-receiver'), 'Prometheus takes remote writes');
  });

  it("Grafana's Tempo datasource draws the service map from that Prometheus", () => {
    const { datasources } = readYaml(join(DEPLOY, 'grafana/provisioning/datasources/datasources.yaml')) as {
      datasources: { uid: string; type: string; url: string; jsonData: { serviceMap?: { datasourceUid: string }; nodeGraph?: { enabled: boolean } } }[];
    };
    const tempoDs = datasources.find((d) => d.type === 'tempo')!;
    const prometheus = datasources.find((d) => d.uid === tempoDs.jsonData.serviceMap?.datasourceUid);
    assert.equal(prometheus?.type, 'prometheus');
    assert.equal(new URL(prometheus!.url).host, new URL(tempo.metrics_generator.storage.remote_write[0]!.url).host, 'the Prometheus Tempo writes to');
    assert.equal(tempoDs.jsonData.nodeGraph?.enabled, true);
  });

  describe('the real Prometheus with the compose flags', function () {
    let prometheus: RunningPrometheus;
    before(async () => {
      const flags = (compose.services.prometheus!.command ?? []).filter((f) => !/^--(config\.file|storage\.tsdb\.path)=/.test(f));
      prometheus = await startPrometheus({ flags });
    });
    after(async () => prometheus && stopPrometheus(prometheus));

    it("takes the service graph's edges as Tempo remote-writes them, and the service-graph query finds the edge service → database", async () => {
      // An application's database call and das-exporter's span of the statement, as the demo sends them.
      const spans = [
        span({ spanId: '1'.repeat(16), parentSpanId: '2'.repeat(16), kind: 3, resource: { 'service.name': 'orders-api' }, attributes: { 'db.system.name': 'postgresql', 'peer.service': 'orders-db' } }),
        span({ spanId: '3'.repeat(16), parentSpanId: '1'.repeat(16), kind: 2, resource: { 'service.name': 'orders-db' }, attributes: { 'db.system.name': 'postgresql' } }),
      ];
      const edges = [...serviceGraph(spans).values()];
      assert.deepEqual(edges.map((e) => [e.client, e.server]), [['orders-api', 'orders-db']]);
      const now = Date.now();
      const response = await remoteWrite(`${prometheus.api}${new URL(tempo.metrics_generator.storage.remote_write[0]!.url).pathname}`,
        edges.map((e) => ({
          labels: { __name__: 'traces_service_graph_request_total', client: e.client, server: e.server, connection_type: e.connectionType, source: 'tempo' },
          samples: [{ value: 0, timestampMs: now - 30_000 }, { value: 30 * e.requests, timestampMs: now - 1_000 }],
        })));
      assert.equal(response.status, 204, await response.text());
      const query = 'sum(increase(traces_service_graph_request_total{}[5m])) by (server, client) > 0';
      const answer = (await (await fetch(`${prometheus.api}/api/v1/query?query=${encodeURIComponent(query)}&time=${now / 1000}`)).json()) as {
        data: { result: { metric: Record<string, string> }[] };
      };
      assert.deepEqual(answer.data.result.map((r) => [r.metric.client, r.metric.server]), [['orders-api', 'orders-db']]);
    });
  });
});
