/**
 * `das-exporter run` end to end on one machine: kinesalite for Kinesis, the
 * local KMS, the Loki-faithful OTLP receiver, and the real SDK clients. Every
 * event written to the stream arrives at the receiver with its stable id, the
 * metrics server reports it, checkpoints land on disk, and a restart reads
 * nothing twice.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rename as renameFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { startApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/config.ts';
import { jsonLogger, silentLogger } from '../../src/source/kinesis/observer.ts';
import { createKmsClient } from '../../src/cli/wiring.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { createStream, startKinesalite, waitActive, type LocalKinesis } from '../support/kinesalite.ts';
import type { LokiReceiver } from '../support/loki-receiver.ts';
import { withoutAwsConfig } from '../support/aws-env.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { RunWorld } from '../support/run-world.ts';
import { until } from '../support/until.ts';

const CLUSTER = 'cluster-RUNENDTOEND0000000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;

/** A PostgreSQL SELECT as DAS writes it, carrying an application's traceparent. */
function pgSelect(n: number, at: Date): Record<string, unknown> {
  return rawPostgresSelect(n, at, `SELECT * FROM orders WHERE id = ${n} /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/`);
}

describe('das-exporter run', function () {
  let world: RunWorld;
  let kinesis: LocalKinesis;
  let client: KinesisClient;
  let kmsEndpoint: string;
  let receiver: LokiReceiver;
  let stateDir: string;

  before(async () => {
    world = await RunWorld.start(startKinesalite, 'run');
    ({ kinesis, client, kmsEndpoint, receiver, stateDir } = world);
    await createStream(client, STREAM, 2);
    await waitActive(client, STREAM);
  });

  after(async () => world?.close());

  const writeRecords = (count: number, eventsPerRecord: number, first: number, stream = STREAM, loggedAt: () => Date = () => new Date()): Promise<string[]> =>
    world.writeRecords({ stream, cluster: CLUSTER, count, eventsPerRecord, first, event: pgSelect, loggedAt });

  it('with two worker threads, delivers every event once to the OTLP backend, reports it in metrics, checkpoints, and re-reads nothing after a restart', async () => {
    const written = await writeRecords(30, 5, 0);
    const config = loadConfig(
      { streams: [STREAM], stateDir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1, workers: 2 },
      { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' },
    );
    const deps = {
      kinesis: client,
      kms: createKmsClient(),
      env: { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint },
      stdout: process.stdout,
      log: process.env.DEBUG_RUN ? jsonLogger() : silentLogger,
      deadLetters: new MemoryDeadLetterSink(),
      processMetrics: false,
    };
    const app = await startApp(config, deps);
    try {
      await until('every event at the receiver', () => (new Set(receiver.eventIds()).size >= written.length ? true : undefined));
      assert.deepEqual([...new Set(receiver.eventIds())].sort(), [...written].sort());
      assert.equal(receiver.eventIds().length, written.length, 'no event delivered twice in a clean run');

      const entry = receiver.ledger.find((e) => e.eventId === written[0])!;
      assert.equal(entry.labels.service_name, CLUSTER);
      assert.equal(entry.metadata.trace_id, '0af7651916cd43dd8448eb211c80319c');
      assert.equal(entry.metadata.user_name, 'app');

      const metrics = await (await fetch(`${app.metricsUrl}/metrics`)).text();
      assert.match(metrics, new RegExp(`das_statements_total\\{[^}]*cluster="${CLUSTER}"[^}]*command="SELECT"[^}]*\\} 150`));
      assert.match(metrics, /das_kms_requests_total\{outcome="success"\} 3\b/, 'one KMS call per distinct data key');
      assert.equal((await fetch(`${app.metricsUrl}/readyz`)).status, 200);
    } finally {
      await app.stop();
    }
    const checkpoints = readdirSync(stateDir).filter((f) => f.endsWith('.checkpoints.json'));
    assert.equal(checkpoints.length, 1, 'one checkpoint file for the stream');
    assert.match(readFileSync(path.join(stateDir, checkpoints[0]!), 'utf8'), /shardId-/);

    // A restart continues from the checkpoints: only new records arrive.
    const more = await writeRecords(4, 5, 1000);
    const again = await startApp(config, { ...deps, kms: createKmsClient() });
    try {
      await until('the new events', () => (more.every((id) => receiver.eventIds().includes(id)) ? true : undefined));
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(receiver.eventIds().length, written.length + more.length, 'nothing read twice across the restart');
    } finally {
      await again.stop();
    }
  });

  it('counts a worker thread that dies in das_workers_lost_total, and still delivers every event once', async () => {
    const workers: Worker[] = [];
    const onWorker = (worker: Worker) => workers.push(worker);
    process.on('worker', onWorker);
    const stream = `${STREAM}-lost`;
    await createStream(client, stream, 1);
    await waitActive(client, stream);
    const dir = mkdtempSync(path.join(tmpdir(), 'das-run-lost-'));
    const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
    // Its own stream, holding the same cluster's records: the KMS encryption context names the cluster.
    const config = loadConfig({ streams: [stream], resourceIds: { [stream]: CLUSTER }, stateDir: dir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1, workers: 2 }, env);
    const app = await startApp(config, { kinesis: client, kms: createKmsClient(), env, stdout: process.stdout, log: silentLogger, deadLetters: new MemoryDeadLetterSink(), processMetrics: false });
    try {
      const first = await writeRecords(10, 5, 2000, stream);
      await until('the first events', () => (first.every((id) => receiver.eventIds().includes(id)) ? true : undefined));
      assert.equal(workers.length, 2, 'the app started its two worker threads');
      await workers[0]!.terminate();
      const after = await writeRecords(20, 5, 3000, stream);
      await until('the events after the loss', () => (after.every((id) => receiver.eventIds().includes(id)) ? true : undefined));
      const metrics = await (await fetch(`${app.metricsUrl}/metrics`)).text();
      assert.match(metrics, /^das_workers_lost_total 1$/m);
      const mine = receiver.eventIds().filter((id) => id.startsWith(`${stream}/`));
      assert.deepEqual([...mine].sort(), [...first, ...after].sort(), 'every event once');
    } finally {
      process.off('worker', onWorker);
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a backlog older than Loki keeps (168 h): dead-lettered as rejected_too_old by default, delivered with --old-events observed-time (in worker threads too)', async () => {
    const weekAgo = () => new Date(Date.now() - 8 * 86_400_000);
    const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' };
    const runOn = async (name: string, flags: { oldEvents?: 'event-time' | 'observed-time'; workers?: number }) => {
      const stream = `${STREAM}-${name}`;
      await createStream(client, stream, 1);
      await waitActive(client, stream);
      const dir = mkdtempSync(path.join(tmpdir(), `das-run-${name}-`));
      const config = loadConfig({ streams: [stream], resourceIds: { [stream]: CLUSTER }, stateDir: dir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1, ...flags }, env);
      const deadLetters = new MemoryDeadLetterSink();
      const app = await startApp(config, { kinesis: client, kms: createKmsClient(), env, stdout: process.stdout, log: silentLogger, deadLetters, processMetrics: false });
      return { stream, app, deadLetters, dir };
    };

    const byDefault = await runOn('old-default', {});
    try {
      const written = await writeRecords(2, 3, 5000, byDefault.stream, weekAgo);
      await until('every old event dead-lettered', () => (byDefault.deadLetters.letters.length >= written.length ? true : undefined));
      assert.deepEqual(byDefault.deadLetters.letters.map((l) => l.eventId).sort(), [...written].sort());
      for (const letter of byDefault.deadLetters.letters) {
        assert.equal(letter.reason, 'rejected_too_old');
        assert.match(letter.message, /^HTTP 400: entry for stream '.*' has timestamp too old: /);
      }
      const metrics = await (await fetch(`${byDefault.app.metricsUrl}/metrics`)).text();
      assert.match(metrics, /^das_dead_letters_total\{reason="rejected_too_old"\} 6$/m);
      assert.ok(!receiver.eventIds().some((id) => id.startsWith(`${byDefault.stream}/`)));
    } finally {
      await byDefault.app.stop();
      rmSync(byDefault.dir, { recursive: true, force: true });
    }

    const observed = await runOn('old-observed', { oldEvents: 'observed-time', workers: 1 });
    try {
      const startedAt = BigInt(Date.now()) * 1_000_000n;
      const written = await writeRecords(2, 3, 6000, observed.stream, weekAgo);
      await until('every old event delivered', () => (written.every((id) => receiver.eventIds().includes(id)) ? true : undefined));
      assert.equal(observed.deadLetters.letters.length, 0);
      for (const entry of receiver.ledger.filter((e) => e.eventId?.startsWith(`${observed.stream}/`))) {
        assert.ok(entry.timestampNs >= startedAt, 'filed at the time it was read');
        assert.match(entry.metadata.aws_rds_das_event_time ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
        assert.ok(BigInt(Date.parse(entry.metadata.aws_rds_das_event_time!)) * 1_000_000n < startedAt - 7n * 86_400_000_000_000n, 'the event\'s own time, a week back');
      }
    } finally {
      await observed.app.stop();
      rmSync(observed.dir, { recursive: true, force: true });
    }
  });

  it('a refused OTLP credential: the stream is not ready (otlp_unauthorized), refusals are counted and logged, and every event arrives once it is accepted', async () => {
    const stream = `${STREAM}-auth`;
    await createStream(client, stream, 1);
    await waitActive(client, stream);
    const dir = mkdtempSync(path.join(tmpdir(), 'das-run-auth-'));
    const token = 'Bearer run-test-t0ken-abcdef';
    const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint, OTEL_EXPORTER_OTLP_HEADERS: `Authorization=${encodeURIComponent(token)}` };
    const config = loadConfig({ streams: [stream], resourceIds: { [stream]: CLUSTER }, stateDir: dir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1 }, env);
    const lines: string[] = [];
    receiver.answerAlways({ status: 401, message: 'no org id' });
    const app = await startApp(config, { kinesis: client, kms: createKmsClient(), env, stdout: process.stdout, log: jsonLogger((line) => void lines.push(line)), deadLetters: new MemoryDeadLetterSink(), processMetrics: false });
    try {
      const written = await writeRecords(3, 2, 7000, stream);
      const readiness = await until('otlp_unauthorized on /readyz', async () => {
        const res = await fetch(`${app.metricsUrl}/readyz`);
        const body = (await res.json()) as { streams: { stream: string; ready: boolean; reason?: string }[] };
        return res.status === 503 && body.streams.some((s) => s.reason === 'otlp_unauthorized') ? body : undefined;
      });
      assert.deepEqual(readiness.streams, [{ stream, ready: false, reason: 'otlp_unauthorized' }]);
      const metrics = await (await fetch(`${app.metricsUrl}/metrics`)).text();
      const refused = Number(/^das_export_auth_failures_total\{sink="otlp",status="401"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
      assert.ok(refused >= 2, `das_export_auth_failures_total counts the refusals (${refused})`);
      const logged = lines.map((l) => JSON.parse(l) as { level: string; message: string; endpoint?: string });
      const errors = logged.filter((l) => l.level === 'error' && /refuses das-exporter's credentials/.test(l.message));
      assert.ok(errors.length >= 1);
      for (const error of errors) assert.equal(error.endpoint, receiver.logsEndpoint);
      assert.ok(!lines.join('').includes('run-test-t0ken'), 'the token is never logged');
      assert.ok(!receiver.eventIds().some((id) => id.startsWith(`${stream}/`)), 'nothing was accepted meanwhile');

      receiver.answerAlways(null);
      await until('every event, once accepted', () => (written.every((id) => receiver.eventIds().includes(id)) ? true : undefined));
      await until('ready again', async () => ((await fetch(`${app.metricsUrl}/readyz`)).status === 200 ? true : undefined));
      assert.equal(receiver.eventIds().filter((id) => id.startsWith(`${stream}/`)).length, written.length, 'each once');
    } finally {
      receiver.answerAlways(null);
      await app.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops everything even when the last checkpoint write fails, then says why', async () => {
    const stream = `${STREAM}-stop`;
    await createStream(client, stream, 1);
    await waitActive(client, stream);
    const dir = mkdtempSync(path.join(tmpdir(), 'das-run-stop-'));
    let refuse = false;
    const coordinator = new FileCheckpointStore({
      dir,
      fs: { rename: async (from, to) => (refuse ? Promise.reject(Object.assign(new Error('EROFS: read-only file system (test)'), { code: 'EROFS', path: from })) : renameFile(from, to)) },
    });
    const env = { ...process.env, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint };
    const config = loadConfig({ streams: [stream], resourceIds: { [stream]: CLUSTER }, stateDir: dir, metricsHost: '127.0.0.1', metricsPort: 0, discoveryIntervalSeconds: 1 }, env);
    const app = await startApp(config, { kinesis: client, kms: createKmsClient(), env, stdout: process.stdout, log: silentLogger, deadLetters: new MemoryDeadLetterSink(), processMetrics: false, coordinator });
    try {
      await until('ready', async () => ((await fetch(`${app.metricsUrl}/readyz`)).status === 200 ? true : undefined));
      refuse = true;
      await assert.rejects(app.stop(), /EROFS/);
      await assert.rejects(fetch(`${app.metricsUrl}/healthz`), 'the metrics server was closed all the same');
    } finally {
      refuse = false;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start without a stream, naming the flag', async () => {
    const child = spawn(process.execPath, ['bin/das-exporter.js', 'run'], { env: { ...process.env, DAS_STREAMS: '' } });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /--stream \/ DAS_STREAMS: at least one DAS stream/);
  });

  it('refuses to start without AWS credentials, saying so, instead of retrying forever', async () => {
    const env = { ...withoutAwsConfig(process.env), AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint, AWS_ENDPOINT_URL_KMS: kmsEndpoint };
    const child = spawn(process.execPath, ['bin/das-exporter.js', 'run', '--stream', STREAM, '--metrics-port', '0'], { env });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 2, stderr);
    assert.match(stderr, /Kinesis: no AWS credentials from the standard chain/);
    assert.match(stderr, /KMS: no AWS credentials from the standard chain/);
  });

  it('with --policy: SIGHUP reloads the file, a bad one is refused with its line and the running policy kept; a bad file at start is exit 2', async function () {
    // Two processes of the command, started one after the other: more than the default per-test budget on a loaded machine.
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'das-run-hup-'));
    const policy = path.join(dir, 'policy.yaml');
    writeFileSync(policy, 'version: 1\nmode: all-match\nrules:\n  - name: first\n    match: {}\n    action: tag\n');
    const env = { ...process.env, AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint, AWS_ENDPOINT_URL_KMS: kmsEndpoint, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint };
    const args = ['bin/das-exporter.js', 'run', '--stream', STREAM, '--state-dir', dir, '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--policy', policy];
    const child = spawn(process.execPath, args, { env });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.resume();
    const logged = (message: string) => until(message, () => (stderr.includes(message) ? true : undefined), 30_000).catch((error: Error) => Promise.reject(new Error(`${error.message}; stderr: ${stderr}`)));
    try {
      await logged('das-exporter started');
      writeFileSync(policy, 'version: 1\nmode: first-match\nrules:\n  - name: second\n    match: {}\n    action: tag\n');
      child.kill('SIGHUP');
      await logged('audit policy reloaded');
      assert.match(stderr, /"message":"audit policy reloaded".*"mode":"first-match","generation":2/);
      writeFileSync(policy, 'version: 1\nmode: first-match\nrules:\n  - name: third\n    match: { user: [] }\n    action: tag\n');
      child.kill('SIGHUP');
      await logged('audit policy reload refused');
      assert.match(stderr, /policy\.yaml:5:20: rules\.0\.match\.user: Too small/);
      child.kill('SIGTERM');
      assert.equal(await new Promise((resolve) => child.on('exit', resolve)), 0, stderr);
    } finally {
      child.kill('SIGKILL');
    }
    const refused = spawn(process.execPath, args, { env });
    let said = '';
    refused.stderr.on('data', (c) => (said += c));
    assert.equal(await new Promise((resolve) => refused.on('exit', resolve)), 2, said);
    assert.match(said, /invalid policy .*policy\.yaml:\n {2}- .*policy\.yaml:5:20: rules\.0\.match\.user: Too small/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops cleanly on SIGTERM with worker threads running: exit 0, checkpoints written', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'das-run-sig-'));
    await writeRecords(3, 2, 5000);
    const child = spawn(process.execPath, ['bin/das-exporter.js', 'run', '--stream', STREAM, '--state-dir', dir, '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--workers', '2'], {
      // Worker threads prepare records for an OTLP/protobuf endpoint.
      env: { ...process.env, AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint, AWS_ENDPOINT_URL_KMS: kmsEndpoint, OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: receiver.logsEndpoint },
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.resume();
    try {
      await until('the first checkpoint', () => (readdirSync(dir).some((f) => f.endsWith('.checkpoints.json')) ? true : undefined), 30_000).catch(
        (error: Error) => Promise.reject(new Error(`${error.message}; stderr: ${stderr}`)),
      );
      child.kill('SIGTERM');
      const code = await new Promise((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      assert.match(stderr, /SIGTERM received/);
      assert.ok(!readdirSync(dir).some((f) => f.endsWith('.lock')), 'the owner lock is released');
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
