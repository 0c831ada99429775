/**
 * The demo with OTEL_TRACES_EXPORTER=otlp: a traces receiver (its own
 * decoder) gets, for each traced statement of the simulated services, the
 * request span and the database call of the application (the demo's
 * stand-in) and das-exporter's database span under the call: a whole
 * waterfall, and the client/server pair Tempo's service graph turns into an
 * edge from the service to the database (checked with the stand-in of
 * Tempo's service-graph processor, test/support/tempo-service-graph.ts).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { demoConfig } from '../../src/cli/demo.ts';
import { TRACED_SERVICES } from '../../src/demo/app-spans.ts';
import { startDemo } from '../../src/demo/demo.ts';
import { DEMO_CLUSTERS } from '../../src/demo/traffic.ts';
import { serviceGraph, type TempoVersion } from '../support/tempo-service-graph.ts';
import { TraceReceiver, type ReceivedSpan } from '../support/trace-receiver.ts';
import { until } from '../support/until.ts';

const discard = new Writable({ write: (_chunk, _encoding, done) => done() });

describe('demo with database spans', function () {
  it("sends each traced statement's request, database call and database span, the last a child of the call", async () => {
    const receiver = await new TraceReceiver().start();
    const stateDir = await mkdtemp(path.join(tmpdir(), 'das-demo-traces-'));
    const env: NodeJS.ProcessEnv = { ...process.env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: receiver.endpoint };
    delete env.OTEL_EXPORTER_OTLP_ENDPOINT;
    const config = demoConfig({ metricsHost: '127.0.0.1', metricsPort: 0 }, env, stateDir);
    const demo = await startDemo(config, { rate: 200, seed: 11 }, { env, stdout: discard, stderr: discard, statusOnTty: false });
    try {
      const database = () => [...receiver.spans.values()].filter((s) => s.scope === 'das-exporter');
      await until('database spans of every traced engine', () => (new Set(database().map((s) => s.attributes['db.system.name'])).size === 3 ? true : undefined), 60_000);
    } finally {
      await demo.stop();
      await rm(stateDir, { recursive: true, force: true });
    }
    const spans = [...receiver.spans.values()];
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const dbSpans = spans.filter((s) => s.scope === 'das-exporter');
    assert.ok(dbSpans.length > 0);
    const clusterNames = new Set(DEMO_CLUSTERS.map((c) => c.name));
    let complete = 0;
    for (const db of dbSpans) {
      const call: ReceivedSpan | undefined = byId.get(db.parentSpanId);
      // Spans of statements written in the last tick may miss their app side: the demo stopped in between.
      if (call === undefined) continue;
      complete++;
      assert.equal(db.kind, 2, 'the database serves');
      assert.ok(clusterNames.has(String(db.resource['service.name'])), `the database span's service is a cluster: ${db.resource['service.name']}`);
      assert.equal(call.kind, 3, 'the application calls');
      assert.equal(call.traceId, db.traceId);
      assert.ok(Object.values(TRACED_SERVICES).includes(String(call.resource['service.name'])), String(call.resource['service.name']));
      assert.equal(call.attributes['peer.service'], db.resource['service.name'], 'peer.service names the database service');
      assert.ok(call.startTimeUnixNano <= db.startTimeUnixNano && call.endTimeUnixNano >= db.endTimeUnixNano, 'the call encloses the database span');
      const request = byId.get(call.parentSpanId)!;
      assert.ok(request, 'the call has its request');
      assert.deepEqual([request.kind, request.parentSpanId, request.resource['service.name']], [2, '', call.resource['service.name']]);
      assert.match(request.name, /^\w+#\w+$/, 'controller#action from the sqlcommenter tags');
    }
    assert.ok(complete >= dbSpans.length / 2, `most database spans have their application side (${complete} of ${dbSpans.length})`);

    // Tempo's service graph: an edge from each traced service to the database's service, whatever order the spans
    // arrive in and whichever Tempo reads them (2.7.2 pairs the client and server spans; newer ones see a database call).
    const services = new Set(Object.values(TRACED_SERVICES));
    const databaseEdges = (order: readonly ReceivedSpan[], version: TempoVersion) =>
      [...serviceGraph(order, version).values()]
        .filter((e) => services.has(e.client))
        .map((e) => `${e.client} → ${e.server}`)
        .sort()
        .filter((edge, i, all) => all.indexOf(edge) === i);
    const expected = databaseEdges(spans, '2.7.2');
    assert.ok(expected.length >= 3, `an edge per traced service: ${expected.join(', ')}`);
    for (const edge of expected) assert.ok(clusterNames.has(edge.split(' → ')[1]!), `the server node is the database's service name: ${edge}`);
    assert.deepEqual(new Set(expected.map((e) => e.split(' → ')[0])), services);
    for (const version of ['2.7.2', 'main'] as const) {
      assert.deepEqual(databaseEdges([...spans].reverse(), version), expected, `Tempo ${version}, spans in reverse order`);
      assert.deepEqual(databaseEdges(spans, version), expected, `Tempo ${version}`);
    }
    const paired = [...serviceGraph(spans, '2.7.2').values()].filter((e) => services.has(e.client) && e.connectionType === '');
    assert.ok(paired.reduce((n, e) => n + e.requests, 0) >= complete, 'Tempo 2.7.2 draws each complete pair as a client → server edge');
    await receiver.close();
  });
});
