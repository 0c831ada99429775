/**
 * The Kinesis consumer in both modes on kinesis-local, the emulator with
 * enhanced fan-out: resharding under load (parents first, every record once),
 * two replicas sharing DynamoDB leases and one consumer name, a replica
 * leaving (its shards' subscriptions move to the other), and the modes that
 * cannot work said on the stream's status (access denied, 20 consumers).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AccessDeniedException, CreateStreamCommand, LimitExceededException, RegisterStreamConsumerCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { ActivityEvent } from '../../src/events/model.ts';
import { Pipeline } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { MemorySink, type Sink } from '../../src/sinks/sink.ts';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';
import { KinesisConsumer, type KinesisConsumerOptions } from '../../src/source/kinesis/stream-consumer.ts';
import { DynamoDbLeaseCoordinator } from '../../src/source/leases/dynamodb-coordinator.ts';
import { startDynalite, type LocalDynamoDb } from '../support/dynalite.ts';
import { payloadOf, plainRecordOpener, produce, testRecords, waitActive } from '../support/kinesalite.ts';
import { startKinesisLocal, streamArnOf, type KinesisLocal } from '../support/kinesis-local.ts';
import { reshardUnderLoad } from '../support/reshard-scenario.ts';
import { CapturingLogger } from '../support/capturing-logger.ts';

const CONSUMER = 'das-exporter-efo-test';

async function waitFor(condition: () => boolean, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pipelineFor = (sink: Sink) => new Pipeline({ opener: plainRecordOpener, sinks: [sink], deadLetters: new MemoryDeadLetterSink(), retry: { baseDelayMs: 5, maxDelayMs: 50 } });
const ids = (events: readonly ActivityEvent[]) => events.map((e) => payloadOf(e).id);
/** The events delivered more than once, counted by shard and by who delivered each copy (replica, and whether before or after `atStop`, the sinks' lengths when one replica was stopped). */
function twice(sinks: readonly { events: readonly ActivityEvent[] }[], atStop: readonly number[]): string {
  const by = new Map<string, { shard: string | undefined; copies: string[] }>();
  sinks.forEach((sink, replica) =>
    sink.events.forEach((e, i) => {
      const id = payloadOf(e).id;
      const seen = by.get(id) ?? { shard: e.position?.shardId, copies: [] };
      seen.copies.push(`${replica}${i < atStop[replica]! ? ' before' : ' after'}`);
      by.set(id, seen);
    }),
  );
  const counts = new Map<string, number>();
  for (const [id, { shard, copies }] of by) {
    if (copies.length < 2) continue;
    const key = `${id.replace(/\d+$/, '')} on ${shard} by ${copies.join(' + ')}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return JSON.stringify(Object.fromEntries(counts));
}

describe('Kinesis consumer on kinesis-local, polling and enhanced fan-out', function () {
  this.timeout(120_000);
  let kinesis: KinesisLocal;
  let dynamo: LocalDynamoDb;
  let stateDir: string;
  let streamCounter = 0;
  const running: KinesisConsumer[] = [];

  before(async () => {
    [kinesis, dynamo] = await Promise.all([startKinesisLocal(), startDynalite()]);
  });
  after(async () => {
    await kinesis?.stop();
    await dynamo?.stop();
  });
  beforeEach(async () => {
    stateDir = await mkdtemp(path.join(os.tmpdir(), 'das-efo-'));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop()));
    await rm(stateDir, { recursive: true, force: true });
  });

  const newStream = async (shards: number) => {
    const name = `aws-rds-das-cluster-efo${++streamCounter}`;
    await kinesis.client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
    await waitActive(kinesis.client, name);
    return name;
  };

  type Mode = 'polling' | 'efo';
  const consumer = (mode: Mode, options: Partial<KinesisConsumerOptions> & { streams: string[]; pipeline: KinesisConsumerOptions['pipeline'] }) => {
    const c = new KinesisConsumer({
      client: kinesis.client,
      coordinator: new FileCheckpointStore({ dir: stateDir }),
      limit: 100,
      pollIntervalMs: 20,
      discoveryIntervalMs: 200,
      retry: { baseDelayMs: 5, maxDelayMs: 50 },
      reprobe: { baseDelayMs: 50, maxDelayMs: 200 },
      log: new CapturingLogger(),
      ...(mode === 'efo' ? { efo: { client: kinesis.http2Client(), consumerName: CONSUMER, registrationPollMs: 50 } } : {}),
      ...options,
    });
    running.push(c);
    return c;
  };

  for (const mode of ['polling', 'efo'] as const) {
    it(`${mode}: reads parents to their end before their children when a shard is split and two are merged under load`, async () => {
      const stream = await newStream(2);
      const log = new CapturingLogger();
      await reshardUnderLoad({
        client: kinesis.client,
        stream,
        start: (sink) => consumer(mode, { streams: [stream], pipeline: pipelineFor(sink), log }),
        checkpoints: async () => JSON.parse(await readFile(new FileCheckpointStore({ dir: stateDir }).fileFor(stream), 'utf8')).shards,
        timeoutMs: 30_000,
      });
      // A closed parent's subscription ends with its ChildShards event, not with an error and a resubscription.
      const cut = log.lines.filter((l) => l.message === 'subscription ended; subscribing again' && l.fields.reason !== 'completed');
      assert.deepEqual(cut.map((l) => `${String(l.fields.shardId)}: ${String(l.fields.reason)} ${String(l.fields.error)}`), []);
    });

    it(`${mode}: two replicas sharing DynamoDB leases deliver every record once, and the one left takes over when the other stops`, async () => {
      const stream = await newStream(4);
      const table = `das-efo-leases-${streamCounter}`;
      // Leases taken after the two have shared the shards: only an expiry (a renewal late by the failover time, on a loaded machine) or the stop.
      const taken: string[] = [];
      let balanced = false;
      const observer = { leaseTaken: (_stream: string, shardId: string, from: string | null) => void (balanced && taken.push(`${shardId} from ${from}`)) };
      // Renewals every second; a lease expires after three missed in a row, not after one slow turn of a busy event loop.
      const leased = (workerId: string) =>
        new DynamoDbLeaseCoordinator({ client: dynamo.client(), table, workerId, failoverTimeMs: 3_000, log: silentLogger, destroyClient: true, observer });
      const sinks = [new MemorySink(), new MemorySink()];
      const coordinators = [leased('worker-0'), leased('worker-1')];
      const [a, b] = sinks.map((sink, i) => consumer(mode, { streams: [stream], pipeline: pipelineFor(sink), coordinator: coordinators[i]! }));
      await Promise.all([a!.start(), b!.start()]);
      // Records are written once the two have shared the shards: written before, the first to start could read them all.
      await waitFor(() => coordinators.every((c) => c.heldShards(stream).length === 2), 40_000, () => `the two replicas to hold two shards each (${coordinators.map((c) => c.heldShards(stream).length).join(', ')})`);
      balanced = true;
      const first = testRecords(400, 40, 'first');
      await produce(kinesis.client, stream, first);
      const all = () => [...sinks[0]!.events, ...sinks[1]!.events];
      await waitFor(() => all().length >= first.length, 40_000, () => `${first.length} events (have ${all().length})`);
      assert.ok(sinks.every((s) => s.events.length > 0), 'both replicas read shards');

      const atStop = sinks.map((sink) => sink.events.length);
      await b!.stop();
      const second = testRecords(200, 40, 'second');
      await produce(kinesis.client, stream, second);
      await waitFor(() => second.every((r) => ids(sinks[0]!.events).includes(r.id)), 40_000, () => 'the replica left to read every new record');
      const delivered = ids(all());
      assert.equal(new Set(delivered).size, first.length + second.length, 'every record delivered');
      assert.equal(delivered.length, first.length + second.length, `none twice: a clean stop hands its leases over at their checkpoints; twice: ${twice(sinks, atStop)}; leases taken after balancing: ${taken.join(', ')}`);
    });
  }

  /** An HTTP/2 client whose RegisterStreamConsumer throws what `refusal` returns, while it returns one. */
  function refusingRegistration(refusal: () => Error | undefined): KinesisClient {
    const client = kinesis.http2Client();
    const send = client.send.bind(client) as (command: unknown, options?: unknown) => Promise<unknown>;
    (client as { send: unknown }).send = async (command: unknown, options?: unknown) => {
      const error = command instanceof RegisterStreamConsumerCommand ? refusal() : undefined;
      if (error) throw error;
      return send(command, options);
    };
    return client;
  }

  it('efo: a role that may not register the consumer stops the stream as efo_access_denied, naming the action, and resumes once allowed', async () => {
    const stream = await newStream(1);
    await produce(kinesis.client, stream, testRecords(10, 2, 'denied'));
    let denied = true;
    const client = refusingRegistration(() =>
      denied ? new AccessDeniedException({ message: 'User is not authorized to perform: kinesis:RegisterStreamConsumer', $metadata: { httpStatusCode: 400 } }) : undefined,
    );
    const log = new CapturingLogger();
    const sink = new MemorySink();
    const c = consumer('efo', { client, streams: [stream], pipeline: pipelineFor(sink), log, efo: { client: kinesis.http2Client(), consumerName: `${CONSUMER}-denied`, registrationPollMs: 50 } });
    await c.start();
    await waitFor(() => c.status()[0]!.reason === 'efo_access_denied', 10_000, () => `efo_access_denied (${JSON.stringify(c.status())})`);
    const said = log.lines.find((l) => l.level === 'error');
    assert.match(said?.message ?? '', /stopped: efo_access_denied/);
    assert.match(String(said?.fields.detail), /kinesis:RegisterStreamConsumer on arn:aws:kinesis:.*was denied/);
    denied = false;
    await waitFor(() => sink.events.length >= 10, 20_000, () => `the records once allowed (have ${sink.events.length})`);
    await waitFor(() => c.status()[0]!.up, 10_000, () => 'the stream up again');
  });

  it('efo: registration refused for the moment (5 consumers being created) is retried, and the log names RegisterStreamConsumer, not ListShards', async () => {
    const stream = await newStream(1);
    await produce(kinesis.client, stream, testRecords(10, 2, 'busy'));
    let refusals = 2;
    const client = refusingRegistration(() =>
      refusals-- > 0 ? new LimitExceededException({ message: 'Only 5 consumers can be created or deleted simultaneously', $metadata: { httpStatusCode: 400 } }) : undefined,
    );
    const log = new CapturingLogger();
    const sink = new MemorySink();
    const c = consumer('efo', { client, streams: [stream], pipeline: pipelineFor(sink), log, efo: { client: kinesis.http2Client(), consumerName: `${CONSUMER}-busy`, registrationPollMs: 50 } });
    await c.start();
    await waitFor(() => sink.events.length >= 10, 20_000, () => `the records once registered (have ${sink.events.length}; ${JSON.stringify(log.lines)})`);
    assert.ok(refusals < 0, 'both refusals were met');
    const retried = log.lines.filter((l) => l.message.startsWith('shard discovery failed'));
    assert.equal(retried.length, 2, JSON.stringify(log.lines));
    for (const line of retried) assert.equal(line.message, 'shard discovery failed (Kinesis RegisterStreamConsumer); retrying');
    assert.ok(!log.lines.some((l) => l.level === 'error'), 'not stopped');
  });

  it('efo: a stream with 20 registered consumers stops as efo_consumer_limit', async () => {
    const stream = await newStream(1);
    const arn = await streamArnOf(kinesis.client, stream);
    for (let i = 0; i < 20; i++) {
      // Kinesis creates at most 5 consumers at a time (LimitExceededException beyond): wait for a slot.
      for (;;) {
        try {
          await kinesis.client.send(new RegisterStreamConsumerCommand({ StreamARN: arn, ConsumerName: `other-${i}` }));
          break;
        } catch (error) {
          if ((error as Error).name !== 'LimitExceededException') throw error;
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    }
    const log = new CapturingLogger();
    const c = consumer('efo', { streams: [stream], pipeline: pipelineFor(new MemorySink()), log });
    await c.start();
    await waitFor(() => c.status()[0]!.reason === 'efo_consumer_limit', 10_000, () => `efo_consumer_limit (${JSON.stringify(c.status())}; ${JSON.stringify(log.lines)})`);
    assert.match(String(log.lines.find((l) => l.level === 'error')?.fields.detail), /already has 20 registered consumers/);
  });
});
