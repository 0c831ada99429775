/**
 * A das-exporter consumer in its own process, for the crash test: reads the
 * given streams from kinesalite with the plain-record opener and appends each
 * delivered batch to a ledger file, fsynced before the sink answers
 * "delivered". The ledger is the ground truth of what reached a sink.
 *
 *   node --import tsx test/support/consumer-child.ts '{"endpoint":…,"streams":[…],"stateDir":…,"ledger":…,"run":0,"limit":50}'
 *
 * SIGTERM stops it cleanly; the test mostly SIGKILLs it.
 */
import { open, readFile } from 'node:fs/promises';
import { Pipeline } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { DELIVERED, type Sink, type SinkBatch, type SinkResult } from '../../src/sinks/sink.ts';
import { FileCheckpointStore } from '../../src/source/checkpoints/file-store.ts';
import { jsonLogger } from '../../src/source/kinesis/observer.ts';
import { KinesisConsumer } from '../../src/source/kinesis/stream-consumer.ts';
import { payloadOf, plainRecordOpener, testClient } from './kinesalite.ts';

export interface ChildOptions {
  endpoint: string;
  streams: string[];
  stateDir: string;
  ledger: string;
  run: number;
  limit: number;
  pollIntervalMs: number;
}

/** One line per delivered batch: `{"run":…,"shard":…,"ids":[…]}`. */
export interface LedgerLine {
  run: number;
  shard: string;
  ids: string[];
}

const options = JSON.parse(process.argv[2] ?? '{}') as ChildOptions;

// A kill mid-append leaves a torn last line; start ours on a fresh one.
const before = await readFile(options.ledger, 'utf8').catch(() => '');
const ledger = await open(options.ledger, 'a');
if (before.length > 0 && !before.endsWith('\n')) await ledger.write('\n');

const ledgerSink: Sink = {
  name: 'ledger',
  async write(batch: SinkBatch): Promise<SinkResult> {
    if (batch.events.length === 0) return DELIVERED;
    const line: LedgerLine = { run: options.run, shard: batch.events[0]!.position!.shardId, ids: batch.events.map((e) => payloadOf(e).id) };
    await ledger.write(JSON.stringify(line) + '\n');
    await ledger.sync();
    return DELIVERED;
  },
  async close() {},
};

const consumer = new KinesisConsumer({
  client: testClient(options.endpoint),
  streams: options.streams,
  coordinator: new FileCheckpointStore({ dir: options.stateDir }),
  // One sink write per GetRecords batch (no parts): each ledger line is then a batch, the unit the crash test reasons about.
  pipeline: new Pipeline({ opener: plainRecordOpener, sinks: [ledgerSink], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: options.limit }),
  limit: options.limit,
  pollIntervalMs: options.pollIntervalMs,
  discoveryIntervalMs: 500,
  log: jsonLogger(),
});

process.once('SIGTERM', () => {
  void consumer.stop().then(async () => {
    await ledger.close();
    process.exit(0);
  });
});

await consumer.start();
process.stdout.write('started\n');
