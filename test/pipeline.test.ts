import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { DasError } from '../src/errors.ts';
import { Pipeline, type RecordOpener } from '../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../src/sinks/dead-letter.ts';
import { DELIVERED, MemorySink, type Sink, type SinkBatch, type SinkResult } from '../src/sinks/sink.ts';
import type { SourceRecord } from '../src/source/record.ts';
import { plainRecordOpener } from './support/kinesalite.ts';

function records(n: number): SourceRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    stream: 'aws-rds-das-cluster-TEST',
    shardId: 'shardId-000000000000',
    sequenceNumber: String(i),
    data: Buffer.from(JSON.stringify({ id: `r${i}`, key: 'k', n: i })),
  }));
}

/** A sink that hands every write to `answer`, after noting how many events it held. */
function scripted(answer: (call: number, batch: SinkBatch) => Promise<SinkResult> | SinkResult): Sink & { sizes: number[] } {
  const sizes: number[] = [];
  return { name: 'scripted', sizes, write: async (batch) => answer(sizes.push(batch.events.length), batch), close: async () => {} };
}

const noSleep = async () => {};

describe('Pipeline: a batch larger than recordsPerPart', () => {
  it('60 records in parts of 25 reach the sinks as 25, 25 and 10 events, and the outcome counts all 60', async () => {
    const sink = scripted(() => DELIVERED);
    const memory = new MemorySink();
    const pipeline = new Pipeline({ opener: plainRecordOpener, sinks: [sink, memory], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: 25 });
    const batch = records(60);
    assert.deepEqual(await pipeline.process(batch), { status: 'done', records: 60, events: 60, deadLettered: 0 });
    assert.deepEqual(sink.sizes, [25, 25, 10]);
    assert.deepEqual(memory.events.map((e) => e.position?.sequenceNumber), batch.map((r) => r.sequenceNumber));
  });

  it('lets go of a delivered part\'s opened records while the batch goes on (memory holds two parts, not the batch)', async () => {
    // A full collection on demand: the flag can be set at run time, and `gc` is then reachable from a new context.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const opened = new Map<string, WeakRef<object>>();
    const opener: RecordOpener = {
      open: async (record) => {
        const decoded = await plainRecordOpener.open(record);
        opened.set(record.sequenceNumber, new WeakRef(decoded));
        return decoded;
      },
    };
    let heldAtLastPart: string[] = [];
    const sink = scripted(async (call) => {
      if (call === 4) {
        await new Promise((resolve) => setImmediate(resolve));
        gc();
        heldAtLastPart = [...opened].filter(([, ref]) => ref.deref() !== undefined).map(([n]) => n);
      }
      return DELIVERED;
    });
    const pipeline = new Pipeline({ opener, sinks: [sink], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: 10, concurrency: 4 });
    assert.equal((await pipeline.process(records(40))).status, 'done');
    assert.equal(opened.size, 40);
    // While the fourth part is delivered, only it (and nothing of the three before) may still be reachable.
    assert.deepEqual(heldAtLastPart.filter((n) => Number(n) < 30), [], `records of delivered parts still held: ${heldAtLastPart.join(', ')}`);
  });

  it('opens the next part while the current one is being delivered', async () => {
    const seen: string[] = [];
    const opener: RecordOpener = { open: (record) => (seen.push(record.sequenceNumber), plainRecordOpener.open(record)) };
    let nextPartOpenedDuringFirstWrite = false;
    const sink = scripted(async (call) => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      if (call === 1) nextPartOpenedDuringFirstWrite = seen.includes('10');
      return DELIVERED;
    });
    const pipeline = new Pipeline({ opener, sinks: [sink], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: 10 });
    assert.equal((await pipeline.process(records(20))).status, 'done');
    assert.ok(nextPartOpenedDuringFirstWrite);
  });

  it('starts the next part\'s records while a slow record of this part still opens, within the concurrency and two parts', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const started: number[] = [];
    const delivered: number[] = [];
    let release!: () => void;
    const slow = new Promise<void>((resolve) => (release = resolve));
    const opener: RecordOpener = {
      open: async (record) => {
        const n = Number(record.sequenceNumber);
        started.push(n);
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Record 0 is a 200-event record: it opens until every other record the window allows has started.
        if (n === 0) await slow;
        else await new Promise((resolve) => setImmediate(resolve));
        inFlight--;
        return plainRecordOpener.open(record);
      },
    };
    const sink = scripted((_call, batch) => {
      delivered.push(batch.events.length);
      return DELIVERED;
    });
    const pipeline = new Pipeline({ opener, sinks: [sink], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: 4, concurrency: 3 });
    const processing = pipeline.process(records(20));
    for (let i = 0; i < 50 && started.length < 8; i++) await new Promise((resolve) => setImmediate(resolve));
    // The first part waits for record 0; records of the second part opened meanwhile, none of the third.
    assert.deepEqual([...started].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(delivered, []);
    release();
    assert.deepEqual(await processing, { status: 'done', records: 20, events: 20, deadLettered: 0 });
    assert.deepEqual(delivered, [4, 4, 4, 4, 4]);
    assert.ok(maxInFlight <= 3, `at most 3 records open at once (saw ${maxInFlight})`);
    assert.deepEqual(started, [...started].sort((a, b) => a - b), 'records start in order');
  });

  it('a poison record in a later part is dead-lettered with its reason and the rest delivered', async () => {
    const opener: RecordOpener = {
      open: (record) => (record.sequenceNumber === '37' ? Promise.reject(new DasError('not_gzip', 'bad gzip')) : plainRecordOpener.open(record)),
    };
    const deadLetters = new MemoryDeadLetterSink();
    const memory = new MemorySink();
    const pipeline = new Pipeline({ opener, sinks: [memory], deadLetters, recordsPerPart: 25 });
    assert.deepEqual(await pipeline.process(records(50)), { status: 'done', records: 50, events: 49, deadLettered: 1 });
    assert.deepEqual(deadLetters.letters.map((l) => [l.sequenceNumber, l.reason]), [['37', 'not_gzip']]);
  });

  it('KMS access denied in the second part makes the batch fatal, though the first part was delivered (it is read again)', async () => {
    const opener: RecordOpener = {
      open: (record) =>
        Number(record.sequenceNumber) >= 25 ? Promise.reject(new DasError('kms_access_denied', 'AccessDeniedException')) : plainRecordOpener.open(record),
    };
    const deadLetters = new MemoryDeadLetterSink();
    const memory = new MemorySink();
    const pipeline = new Pipeline({ opener, sinks: [memory], deadLetters, recordsPerPart: 25 });
    const outcome = await pipeline.process(records(50));
    assert.equal(outcome.status, 'fatal');
    assert.equal((outcome as { reason: string }).reason, 'kms_access_denied');
    assert.equal(memory.events.length, 25);
    assert.equal(deadLetters.letters.length, 0);
  });

  it('shutdown while the second part waits out an outage: aborted, and nothing after it is sent', async () => {
    const controller = new AbortController();
    const sink = scripted((call) => {
      if (call === 1) return DELIVERED;
      controller.abort();
      return { status: 'retryable', reason: 'HTTP 503' };
    });
    const pipeline = new Pipeline({ opener: plainRecordOpener, sinks: [sink], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: 10, sleep: noSleep });
    assert.deepEqual(await pipeline.process(records(30), controller.signal), { status: 'aborted' });
    assert.deepEqual(sink.sizes, [10, 10]);
  });

  it('an outage on the second part is waited out; the batch is done once every part is delivered', async () => {
    const sink = scripted((call) => (call === 2 || call === 3 ? { status: 'retryable', reason: 'HTTP 503' } : DELIVERED));
    const pipeline = new Pipeline({ opener: plainRecordOpener, sinks: [sink], deadLetters: new MemoryDeadLetterSink(), recordsPerPart: 10, sleep: noSleep });
    assert.deepEqual(await pipeline.process(records(30)), { status: 'done', records: 30, events: 30, deadLettered: 0 });
    assert.deepEqual(sink.sizes, [10, 10, 10, 10, 10]);
  });
});

describe('Pipeline: events a sink refused for good', () => {
  it('are dead-lettered with the reason the sink recognised (rejected_too_old), else rejected_by_backend, each counted under it', async () => {
    const tooOld = "HTTP 400: entry for stream '{service_name=\"s\"}' has timestamp too old: 2026-04-01T00:00:00Z, oldest acceptable timestamp is: 2026-04-24T12:00:00Z";
    const sink = scripted((_call, batch) => ({
      status: 'delivered',
      rejected: [
        { eventId: batch.events[1]!.eventId, reason: tooOld, deadLetterReason: 'rejected_too_old' },
        { eventId: batch.events[3]!.eventId, reason: 'HTTP 400: something else' },
      ],
    }));
    const deadLetters = new MemoryDeadLetterSink();
    const counted: string[] = [];
    const pipeline = new Pipeline({ opener: plainRecordOpener, sinks: [sink], deadLetters, observer: { deadLettered: (reason) => void counted.push(reason) } });
    assert.deepEqual(await pipeline.process(records(5)), { status: 'done', records: 5, events: 5, deadLettered: 2 });
    assert.deepEqual(
      deadLetters.letters.map((l) => [l.sequenceNumber, l.reason, l.message]),
      [
        ['1', 'rejected_too_old', tooOld],
        ['3', 'rejected_by_backend', 'HTTP 400: something else'],
      ],
    );
    assert.deepEqual(counted, ['rejected_too_old', 'rejected_by_backend']);
  });
});
