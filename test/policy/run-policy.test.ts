/**
 * `run --policy` end to end, with and without worker threads: kinesalite,
 * the local KMS, the Loki-faithful receiver and the real clients. Dropped
 * events never reach Loki and are counted by rule; matched ones carry the
 * rule and the raised severity; a reload under load, good or bad, loses no
 * event (every event written is either received or counted as dropped).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startApp, type RunningApp } from '../../src/app.ts';
import { createKmsClient } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { createStream, startKinesalite, waitActive } from '../support/kinesalite.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { RunWorld } from '../support/run-world.ts';
import { until } from '../support/until.ts';

const CLUSTER = 'cluster-RUNPOLICY00000000000000000';

/** Every third statement is the monitoring user's; the others read payments.cards or orders. */
function event(n: number, at: Date): Record<string, unknown> {
  if (n % 3 === 0) return { ...rawPostgresSelect(n, at, 'SELECT 1'), dbUserName: 'monitor', objectName: null };
  const table = n % 3 === 1 ? 'payments.cards' : 'orders';
  return { ...rawPostgresSelect(n, at, `SELECT * FROM ${table} WHERE id = ${n} /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/`), objectName: table };
}

const DROP_MONITOR = `version: 1
mode: all-match
rules:
  - name: drop-monitor
    match: { user: monitor }
    action: drop
  - name: card-data
    match: { objects: ["payments.card*"] }
    action: alert
    severity: critical
    labels: { pci: "10.2.1.1" }
  - name: never
    match: { user: nobody }
    action: tag
`;

const TAG_EVERYTHING = `version: 1
mode: first-match
rules:
  - name: everything
    match: {}
    action: tag
`;

async function metricValue(app: RunningApp, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${app.metricsUrl}/metrics`)).text();
  const found = pattern.exec(text);
  return found ? Number(found[1]) : 0;
}

describe('run --policy', function () {
  let world: RunWorld;
  let streamCount = 0;

  before(async () => {
    world = await RunWorld.start(startKinesalite, 'policy');
  });
  after(async () => world?.close());

  async function start(workers: number, policyFile: string): Promise<{ app: RunningApp; stream: string }> {
    const stream = `aws-rds-das-${CLUSTER}-${streamCount++}`;
    await createStream(world.client, stream, 1);
    await waitActive(world.client, stream);
    const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: world.receiver.logsEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
    const config = loadConfig(
      { streams: [stream], resourceIds: { [stream]: CLUSTER }, stateDir: world.stateDir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1, workers, policyFile },
      env,
    );
    const app = await startApp(config, { kinesis: world.client, kms: createKmsClient(), env, stdout: process.stdout, log: silentLogger, deadLetters: new MemoryDeadLetterSink(), processMetrics: false });
    return { app, stream };
  }

  for (const workers of [0, 2]) {
    it(`${workers ? 'with two worker threads' : 'on the main thread'}: drops, counts, marks and raises severity as the policy says`, async () => {
      const file = path.join(world.stateDir, `policy-${workers}.yaml`);
      writeFileSync(file, DROP_MONITOR);
      const { app, stream } = await start(workers, file);
      try {
        const written = await world.writeRecords({ stream, cluster: CLUSTER, count: 10, eventsPerRecord: 6, first: 0, event });
        const monitor = written.filter((_, i) => i % 3 === 0);
        const kept = written.filter((_, i) => i % 3 !== 0);
        await until('the kept events at the receiver', () => (kept.every((id) => world.receiver.eventIds().includes(id)) ? true : undefined));
        await until('the drops counted', async () => ((await metricValue(app, /das_events_dropped_total\{rule="drop-monitor"\} (\d+)/)) === monitor.length ? true : undefined));
        assert.ok(!world.receiver.eventIds().some((id) => monitor.includes(id)), 'no dropped event reached Loki');

        const card = world.receiver.ledger.find((e) => e.eventId === written[1])!;
        assert.equal(card.metadata.das_policy_rule, 'card-data');
        assert.equal(card.metadata.das_policy_severity, 'critical');
        assert.equal(card.metadata.das_policy_label_pci, '10.2.1.1');
        assert.equal(card.metadata.severity_text, 'FATAL', 'critical raises the record to FATAL');
        const orders = world.receiver.ledger.find((e) => e.eventId === written[2])!;
        assert.equal(orders.metadata.das_policy_rule, undefined);
        assert.equal(orders.metadata.severity_text, 'INFO');

        const text = await (await fetch(`${app.metricsUrl}/metrics`, { headers: { accept: 'application/openmetrics-text' } })).text();
        assert.match(text, new RegExp(`das_policy_matches_total\\{rule="card-data",action="alert",severity="critical"\\} ${written.filter((_, i) => i % 3 === 1).length} # \\{trace_id="0af7651916cd43dd8448eb211c80319c"\\}`));
        assert.match(text, /das_policy_rule_last_match_timestamp_seconds\{rule="never"\} 0\n/, 'a rule that never matched shows 0');
        assert.match(text, /das_policy_rule_last_match_timestamp_seconds\{rule="drop-monitor"\} 1\d{9}/);
        assert.match(text, /das_policy_rules\{mode="all-match"\} 3/);
        const ready = (await (await fetch(`${app.metricsUrl}/readyz`)).json()) as { policy: { file: string; rules: number; lastReloadError: string | null } };
        assert.deepEqual([ready.policy.file, ready.policy.rules, ready.policy.lastReloadError], [file, 3, null]);
      } finally {
        await app.stop();
      }
    });
  }

  it('with two worker threads, a reload under load, then a bad file, loses no event: each is received or counted as dropped', async () => {
    const file = path.join(world.stateDir, 'policy-reload.yaml');
    writeFileSync(file, DROP_MONITOR);
    const { app, stream } = await start(2, file);
    try {
      const written: string[] = [];
      const writing = (async () => {
        for (let batch = 0; batch < 12; batch++) {
          written.push(...(await world.writeRecords({ stream, cluster: CLUSTER, count: 4, eventsPerRecord: 6, first: batch * 24, event })));
          if (batch === 4) {
            writeFileSync(file, TAG_EVERYTHING);
            assert.equal(app.reloadPolicy()!.ok, true);
          }
          if (batch === 8) {
            writeFileSync(file, 'version: 1\nmode: all-match\nrules:\n  - name: broken\n    match: { usr: x }\n    action: drop\n');
            const refused = app.reloadPolicy()!;
            assert.equal(refused.ok, false);
            assert.match(refused.ok ? '' : refused.error, /policy-reload\.yaml:5:14: rules\.0\.match: unknown key "usr"/);
          }
        }
      })();
      await writing;
      const dropped = () => metricValue(app, /das_events_dropped_total\{rule="drop-monitor"\} (\d+)/);
      const received = () => written.filter((id) => world.receiver.eventIds().includes(id)).length;
      await until('every event received or dropped', async () => (received() + (await dropped()) === written.length ? true : undefined));
      assert.ok((await dropped()) > 0, 'the first policy dropped some');
      assert.ok(received() > (written.length * 2) / 3, 'after the reload nothing is dropped');
      // After the refused reload the tagging policy still runs.
      const last = world.receiver.ledger.find((e) => e.eventId === written.at(-1));
      assert.equal(last?.metadata.das_policy_rule, 'everything');
      assert.equal(await metricValue(app, /das_policy_reloads_total\{result="success"\} (\d+)/), 1);
      assert.equal(await metricValue(app, /das_policy_reloads_total\{result="failure"\} (\d+)/), 1);
      const ready = (await (await fetch(`${app.metricsUrl}/readyz`)).json()) as { ready: boolean; policy: { generation: number; lastReloadError: string | null } };
      assert.equal(ready.policy.generation, 2);
      assert.match(ready.policy.lastReloadError ?? '', /unknown key "usr"/);
      assert.match(await (await fetch(`${app.metricsUrl}/metrics`)).text(), /das_policy_rule_last_match_timestamp_seconds\{rule="everything"\}/);
      assert.doesNotMatch(await (await fetch(`${app.metricsUrl}/metrics`)).text(), /das_policy_rule_last_match_timestamp_seconds\{rule="never"\}/, 'rules gone with the old policy are gone from /metrics');
    } finally {
      await app.stop();
    }
  });
});
