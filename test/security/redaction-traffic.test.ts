/**
 * The default redaction (`passwords`) on every engine's password syntax the
 * demo's traffic simulator writes: PostgreSQL `CREATE ROLE … PASSWORD '…'`,
 * `ALTER USER … WITH PASSWORD`, MySQL `IDENTIFIED BY \'…\'` and
 * `SET PASSWORD … = PASSWORD(\'…\')`, SQL Server `WITH PASSWORD = '…'
 * OLD_PASSWORD = '…'`. Every password literal the simulator draws is
 * collected (from its random source, so none is missed), the events go
 * through decode and the enrich stage with the default mode, then through the
 * OTLP mapping, its stdout form, JSONL and the metrics sink: no password
 * literal appears anywhere.
 */
import assert from 'node:assert/strict';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TrafficSimulator } from '../../src/demo/traffic.ts';
import { Rng } from '../../src/demo/traffic/rng.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import { DEFAULT_REDACTION_MODE } from '../../src/enrich/redact.ts';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { toJsonLine } from '../../src/sinks/jsonl.ts';
import { MetricsSink } from '../../src/sinks/metrics-sink.ts';
import { mapEvent } from '../../src/sinks/otlp/mapping.ts';
import { toJsonLogLine } from '../../src/sinks/otlp/stdout.ts';
import { createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';

describe('security: default redaction on the demo traffic', function () {
  this.timeout(60_000);

  it('no password the simulator writes, in any engine syntax, survives decode + enrich into OTLP, stdout, JSONL or metrics', async () => {
    assert.equal(DEFAULT_REDACTION_MODE, 'passwords');
    // Collect every password at its source: the simulator's random generator.
    const passwords: string[] = [];
    const original = Object.getOwnPropertyDescriptor(Rng.prototype, 'password')!;
    Object.defineProperty(Rng.prototype, 'password', {
      ...original,
      value: function (this: Rng) {
        const password = (original.value as () => string).call(this);
        passwords.push(password);
        return password;
      },
    });
    let batches;
    try {
      const simulator = new TrafficSimulator({ seed: 7, clock: () => Date.UTC(2024, 4, 1), rate: 500 });
      batches = simulator.next(20_000);
    } finally {
      Object.defineProperty(Rng.prototype, 'password', original);
    }

    // Which syntax each password came in, from the raw SQL it sits in.
    const syntaxes = new Map<string, Set<string>>();
    for (const batch of batches) {
      for (const raw of batch.events as Record<string, unknown>[]) {
        const text = typeof raw.commandText === 'string' ? raw.commandText : '';
        for (const password of passwords) {
          if (!text.includes(password)) continue;
          const syntax = `${batch.engine}: ${text.replace(password, '<pw>').replace(/\d+/g, 'n').slice(0, 80)}`;
          syntaxes.set(syntax, (syntaxes.get(syntax) ?? new Set()).add(password));
        }
      }
    }
    const engines = new Set([...syntaxes.keys()].map((s) => s.split(':')[0]));
    assert.deepEqual([...engines].sort(), ['aurora-mysql', 'aurora-postgresql', 'sqlserver'], `password syntaxes seen: ${[...syntaxes.keys()].join('\n')}`);
    assert.ok(syntaxes.size >= 7, `every password statement of the simulator occurs: ${[...syntaxes.keys()].join('\n')}`);
    assert.ok(passwords.length > 0 && new Set(passwords).size === passwords.length);

    const metrics = createMetrics(createMetricsRegistry(), { processMetrics: false });
    const metricsSink = new MetricsSink(metrics);
    const resource = resourceFromAttributes({ 'service.name': 'demo' });
    const outputs: string[] = [];
    let events = 0;
    for (const [i, batch] of batches.entries()) {
      const json = JSON.stringify({ type: 'DatabaseActivityMonitoringRecord', clusterId: batch.clusterId, instanceId: batch.instanceId, databaseActivityEventList: batch.events });
      const decoded = enrichRecord(decodeRecord(json, { version: batch.profile.version, position: { stream: batch.stream, shardId: 'shardId-0', sequenceNumber: String(i) } }), DEFAULT_REDACTION_MODE);
      for (const event of decoded.events) {
        events++;
        outputs.push(toJsonLine(event), toJsonLogLine(mapEvent(event, { resource, observed: new Date(0) })));
      }
      await metricsSink.write({ events: decoded.events, heartbeats: decoded.heartbeats });
    }
    outputs.push(await metrics.registry.metrics());
    assert.ok(events >= 12_000);

    // One scan for all of them (an includes() per password over megabytes of output is slow).
    const any = new RegExp(passwords.map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'g');
    const all = outputs.join('\n');
    const leaked = [...new Set([...all.matchAll(any)].map((m) => m[0]))];
    assert.deepEqual(leaked, [], `passwords found in the output; their statements: ${[...syntaxes].filter(([, ps]) => leaked.some((p) => ps.has(p))).map(([s]) => s).join('\n')}`);
    assert.ok(all.includes("'***'"), 'passwords are masked, not dropped with their statements');
  });
});
