/**
 * `das-exporter run` end to end on kinesis-local, the Kinesis emulator with
 * enhanced fan-out, in both consumer modes: every event reaches the OTLP
 * receiver exactly once, a restart re-delivers nothing, the lag gauge is set
 * per shard, and SIGTERM exits 0. With `--consumer efo` the consumer is
 * registered (or reused), every shard is read by SubscribeToShard with the
 * production HTTP/2 client, the metrics show the subscriptions, and
 * `--deregister-on-stop` removes the consumer.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateStreamCommand, ListStreamConsumersCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { startApp } from '../../src/app.ts';
import { createKmsClient } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { jsonLogger, silentLogger } from '../../src/source/kinesis/observer.ts';
import { waitActive, type LocalKinesis } from '../support/kinesalite.ts';
import { startKinesisLocal, streamArnOf, type KinesisLocal } from '../support/kinesis-local.ts';
import type { LokiReceiver } from '../support/loki-receiver.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { RunWorld } from '../support/run-world.ts';
import { until } from '../support/until.ts';

const CONSUMER = 'das-exporter-test';

for (const mode of ['polling', 'efo'] as const) describe(`das-exporter run --consumer ${mode} (kinesis-local)`, function () {
  const CLUSTER = `cluster-RUN${mode.toUpperCase()}ENDTOEND00000000000000`;
  const STREAM = `aws-rds-das-${CLUSTER}`;
  const efoFlags = mode === 'efo' ? ({ consumer: 'efo', consumerName: CONSUMER } as const) : {};
  const efoArgs = mode === 'efo' ? ['--consumer', 'efo', '--consumer-name', CONSUMER] : [];
  this.timeout(120_000);
  let world: RunWorld;
  let kinesis: LocalKinesis;
  let client: KinesisClient;
  let kmsEndpoint: string;
  let receiver: LokiReceiver;
  let stateDir: string;
  let streamArn: string;
  let http2Client: () => KinesisClient;

  before(async () => {
    let local: KinesisLocal | undefined;
    world = await RunWorld.start(async () => (local = await startKinesisLocal()), 'run-kinesis-local');
    ({ kinesis, client, kmsEndpoint, receiver, stateDir } = world);
    http2Client = () => local!.http2Client();
    await client.send(new CreateStreamCommand({ StreamName: STREAM, ShardCount: 2 }));
    await waitActive(client, STREAM);
    streamArn = await streamArnOf(client, STREAM);
  });

  after(async () => world?.close());

  const writeRecords = (count: number, eventsPerRecord: number, first: number): Promise<string[]> =>
    world.writeRecords({ stream: STREAM, cluster: CLUSTER, count, eventsPerRecord, first, event: (n, at) => rawPostgresSelect(n, at, `SELECT ${n}`) });

  const consumers = async () => (await client.send(new ListStreamConsumersCommand({ StreamARN: streamArn }))).Consumers ?? [];

  it(`delivers every event once${mode === 'efo' ? ' by SubscribeToShard as the registered consumer, shows the subscriptions in metrics,' : ','} and re-delivers nothing after a restart`, async () => {
    const written = await writeRecords(20, 4, 0);
    const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint };
    const config = loadConfig({ streams: [STREAM], stateDir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1, ...efoFlags }, env);
    const deps = {
      kinesis: client,
      ...(mode === 'efo' ? { subscriber: http2Client() } : {}),
      kms: createKmsClient(),
      env,
      stdout: process.stdout,
      log: process.env.DEBUG_RUN ? jsonLogger() : silentLogger,
      deadLetters: new MemoryDeadLetterSink(),
      processMetrics: false,
    };
    const app = await startApp(config, deps);
    let consumerArn: string | undefined;
    try {
      await until('every event at the receiver', () => (new Set(receiver.eventIds()).size >= written.length ? true : undefined));
      assert.deepEqual([...new Set(receiver.eventIds())].sort(), [...written].sort());
      assert.equal(receiver.eventIds().length, written.length, 'no event delivered twice in a clean run');

      const metrics = await (await fetch(`${app.metricsUrl}/metrics`)).text();
      for (const shard of ['shardId-000000000000', 'shardId-000000000001']) {
        assert.match(metrics, new RegExp(`das_stream_millis_behind_latest\\{stream="${STREAM}",shard="${shard}"\\} \\d+`), `the lag gauge of ${shard}`);
      }
      if (mode === 'efo') {
        const registered = await consumers();
        assert.deepEqual(registered.map((c) => [c.ConsumerName, c.ConsumerStatus]), [[CONSUMER, 'ACTIVE']]);
        consumerArn = registered[0]!.ConsumerARN!;
        for (const shard of ['shardId-000000000000', 'shardId-000000000001']) {
          assert.match(metrics, new RegExp(`das_efo_subscriptions_total\\{stream="${STREAM}",shard="${shard}"\\} [1-9]`), `a subscription on ${shard}`);
        }
        const received = [...metrics.matchAll(/das_efo_received_records_total\{[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
        assert.equal(received, 20, 'every record received by subscription');
        assert.match(metrics, /das_efo_received_bytes_total\{[^}]*\} [1-9]/);
      } else {
        assert.doesNotMatch(metrics, /das_efo_subscriptions_total\{/, 'polling subscribes to nothing');
        assert.deepEqual(await consumers(), [], 'polling registers no consumer');
      }
      assert.match(metrics, new RegExp(`das_statements_total\\{[^}]*cluster="${CLUSTER}"[^}]*command="SELECT"[^}]*\\} 80`));
      assert.equal((await fetch(`${app.metricsUrl}/readyz`)).status, 200);
    } finally {
      await app.stop();
    }
    assert.equal((await consumers()).length, mode === 'efo' ? 1 : 0, 'a normal stop keeps the consumer');

    const more = await writeRecords(3, 2, 1000);
    const again = await startApp(config, { ...deps, kms: createKmsClient(), ...(mode === 'efo' ? { subscriber: http2Client() } : {}) });
    try {
      await until('the new events', () => (more.every((id) => receiver.eventIds().includes(id)) ? true : undefined));
      // Two more pushes of the emulator (about one a second) would carry anything read again.
      await new Promise((r) => setTimeout(r, 2_500));
      assert.equal(receiver.eventIds().length, written.length + more.length, 'nothing read twice across the restart');
      // The receiver keeps one copy of identical entries, as Loki does: the restarted process's own counts show what it read.
      const metrics = await (await fetch(`${again.metricsUrl}/metrics`)).text();
      const sum = (name: string) => [...metrics.matchAll(new RegExp(`${name}\\{[^}]*\\} (\\d+)`, 'g'))].reduce((n, m) => n + Number(m[1]), 0);
      assert.equal(sum('das_records_total'), 3, 'only the 3 new records were delivered after the restart');
      if (mode === 'efo') {
        assert.equal(sum('das_efo_received_records_total'), 3, 'only the 3 new records were pushed after the restart');
        assert.deepEqual((await consumers()).map((c) => c.ConsumerARN), [consumerArn], 'the same consumer is reused');
      }
    } finally {
      await again.stop();
    }
  });

  it(`as a process: SIGTERM exits 0 with checkpoints written${mode === 'efo' ? ' and the consumer kept; --deregister-on-stop removes it' : ''}`, async () => {
    for (const [run, deregister] of (mode === 'efo' ? [false, true] : [false]).entries()) {
      const written = await writeRecords(3, 2, 5000 + run * 100);
      const dir = mkdtempSync(path.join(tmpdir(), 'das-run-efo-sig-'));
      const args = ['bin/das-exporter.js', 'run', '--stream', STREAM, ...efoArgs, '--state-dir', dir, '--metrics-port', '0', '--metrics-host', '127.0.0.1'];
      const child = spawn(process.execPath, deregister ? [...args, '--deregister-on-stop'] : args, {
        env: { ...process.env, AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint, AWS_ENDPOINT_URL_KMS: kmsEndpoint, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint },
      });
      let stderr = '';
      child.stderr.on('data', (c) => (stderr += c));
      child.stdout.resume();
      try {
        await until('the new events at the receiver', () => (written.every((id) => receiver.eventIds().includes(id)) ? true : undefined)).catch((error: Error) =>
          Promise.reject(new Error(`run ${run}: ${error.message}; stderr: ${stderr}`)),
        );
        await until('a checkpoint file', () => (readdirSync(dir).some((f) => f.endsWith('.checkpoints.json')) ? true : undefined));
        child.kill('SIGTERM');
        const code = await new Promise((resolve) => child.on('exit', resolve));
        assert.equal(code, 0, stderr);
        assert.match(stderr, /SIGTERM received/);
        assert.ok(!readdirSync(dir).some((f) => f.endsWith('.lock')), 'the owner lock is released');
        if (deregister) {
          assert.match(stderr, /deregistered the enhanced fan-out consumer/);
          // Deregistration takes a while on Kinesis: the consumer is DELETING, then gone.
          await until('the consumer to be gone', async () => ((await consumers()).some((c) => c.ConsumerName === CONSUMER && c.ConsumerStatus !== 'DELETING') ? undefined : true));
        } else if (mode === 'efo') {
          assert.deepEqual((await consumers()).map((c) => [c.ConsumerName, c.ConsumerStatus]), [[CONSUMER, 'ACTIVE']], 'a normal stop keeps the consumer');
        }
      } finally {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});
