/**
 * `run` with OTEL_TRACES_EXPORTER=otlp end to end: kinesalite, the local KMS,
 * the Loki-faithful logs receiver and a traces receiver that decodes spans
 * with its own reader. Every traced statement becomes one span of its
 * application's trace; a batch counts as delivered (and its checkpoint moves)
 * only when both the logs and the traces endpoints took it; an outage of the
 * traces endpoint loses neither logs nor spans.
 */
import assert from 'node:assert/strict';
import { startApp, type RunningApp } from '../../src/app.ts';
import { createKmsClient } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { createStream, startKinesalite, waitActive } from '../support/kinesalite.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { RunWorld } from '../support/run-world.ts';
import { TraceReceiver } from '../support/trace-receiver.ts';
import { until } from '../support/until.ts';

const CLUSTER = 'cluster-RUNTRACES000000000000000000';
const TRACE = '0af7651916cd43dd8448eb211c80319c';

/** Every other statement carries the application's traceparent, its own parent span per statement. */
function event(n: number, at: Date): Record<string, unknown> {
  if (n % 2 === 1) return rawPostgresSelect(n, at, `SELECT * FROM orders WHERE id = ${n}`);
  const parent = (0xb7ad6b7169200000n + BigInt(n)).toString(16).padStart(16, '0');
  return rawPostgresSelect(n, at, `SELECT * FROM orders WHERE id = ${n} /*traceparent='00-${TRACE}-${parent}-01'*/`);
}

async function metric(app: RunningApp, pattern: RegExp): Promise<number> {
  const found = pattern.exec(await (await fetch(`${app.metricsUrl}/metrics`)).text());
  return found ? Number(found[1]) : 0;
}

describe('run with OTEL_TRACES_EXPORTER=otlp', function () {
  let world: RunWorld;
  let traces: TraceReceiver;
  let streams = 0;

  before(async () => {
    world = await RunWorld.start(startKinesalite, 'traces');
    traces = await new TraceReceiver().start();
  });
  after(async () => {
    await traces?.close();
    await world?.close();
  });

  /** `run` on a new one-shard stream, logs to the Loki stand-in and spans to the traces receiver. */
  async function startTraced(workers: number, extraEnv: Record<string, string> = {}): Promise<{ stream: string; app: RunningApp }> {
    const stream = `aws-rds-das-${CLUSTER}-${streams++}`;
    await createStream(world.client, stream, 1);
    await waitActive(world.client, stream);
    const env = {
      ...process.env,
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: world.receiver.logsEndpoint,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: traces.endpoint,
      ...extraEnv,
    };
    const config = loadConfig({ streams: [stream], resourceIds: { [stream]: CLUSTER }, stateDir: world.stateDir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1, workers }, env);
    const app = await startApp(config, { kinesis: world.client, kms: createKmsClient(), env, stdout: process.stdout, log: silentLogger, deadLetters: new MemoryDeadLetterSink(), processMetrics: false });
    return { stream, app };
  }

  for (const workers of [0, 2]) {
    it(`${workers ? 'with two worker threads' : 'on the main thread'}: one span per traced statement; while the traces endpoint is down no batch counts as delivered and the shard waits, and after it nothing is missing`, async () => {
      traces.spans.clear();
      traces.down(503);
      const { stream, app } = await startTraced(workers);
      try {
        const first = workers * 1000;
        const written = await world.writeRecords({ stream, cluster: CLUSTER, count: 6, eventsPerRecord: 4, first, event });
        const tracedIds = written.filter((_, i) => (first + i) % 2 === 0);
        // The first batch's log records go out; the shard then waits for its spans before it reads on.
        await until('the first log records at Loki', () => (written.some((id) => world.receiver.eventIds().includes(id)) ? true : undefined));
        await until('the traces sink retrying', async () => ((await metric(app, /das_export_retries_total\{sink="otlp-traces"\} (\d+)/)) > 0 ? true : undefined));
        assert.equal(await metric(app, /das_records_total\{stream="[^"]+",outcome="delivered"\} (\d+)/), 0, 'no batch is done while the traces endpoint refuses it');
        assert.equal(traces.spans.size, 0);

        assert.ok(world.receiver.eventIds().filter((id) => written.includes(id)).length < written.length, 'the shard waits: not every record was read');

        traces.up();
        await until('every log record at Loki', () => (written.every((id) => world.receiver.eventIds().includes(id)) ? true : undefined));
        await until('every span', () => (tracedIds.every((id) => traces.byLogRecordUid(id)) ? true : undefined), 30_000);
        await until('the batches done', async () => ((await metric(app, /das_records_total\{stream="[^"]+",outcome="delivered"\} (\d+)/)) === 6 ? true : undefined));
        assert.equal(traces.spans.size, tracedIds.length, 'no span for an untraced statement');
        for (const [i, id] of written.entries()) {
          const span = traces.byLogRecordUid(id);
          if ((first + i) % 2 === 1) continue;
          assert.equal(span!.traceId, TRACE);
          assert.equal(span!.parentSpanId, (0xb7ad6b7169200000n + BigInt(first + i)).toString(16).padStart(16, '0'), 'the parent is the statement\'s own traceparent span');
          assert.equal(span!.resource['service.name'], CLUSTER);
          const log = world.receiver.ledger.find((e) => e.eventId === id)!;
          assert.equal(log.metadata.trace_id, span!.traceId, 'the log record and the span share the trace');
        }
        assert.equal(await metric(app, /das_spans_total\{outcome="delivered"\} (\d+)/), tracedIds.length);
        assert.ok((await metric(app, /das_spans_total\{outcome="retryable"\} (\d+)/)) > 0);
      } finally {
        traces.up();
        await app.stop();
      }
    });
  }

  it('with two worker threads and DAS_TRACES_SAMPLE_UNTRACED=1: every untraced statement is also a root span of its own', async () => {
    traces.spans.clear();
    const { stream, app } = await startTraced(2, { DAS_TRACES_SAMPLE_UNTRACED: '1' });
    try {
      const first = 5000;
      const written = await world.writeRecords({ stream, cluster: CLUSTER, count: 3, eventsPerRecord: 4, first, event });
      await until('a span per statement', () => (written.every((id) => traces.byLogRecordUid(id)) ? true : undefined), 30_000);
      for (const [i, id] of written.entries()) {
        const span = traces.byLogRecordUid(id)!;
        if ((first + i) % 2 === 0) assert.equal(span.traceId, TRACE, 'a traced statement stays in its application trace');
        else assert.deepEqual([span.parentSpanId, span.attributes['das.span.sampled']], ['', true], 'an untraced one is a root span');
      }
      assert.equal(traces.spans.size, written.length);
    } finally {
      await app.stop();
    }
  });
});
