/**
 * `--old-events observed-time` with records prepared in two worker threads
 * and on the main thread at once: Loki files each record at its read time and
 * merges entries with the same stream, time and line, so records of the same
 * SQL read in the same millisecond must still get times of their own across
 * every thread of the process. The records are real DAS records (encrypted,
 * gzipped), shaped like a Kinesis batch (increasing 56-digit sequence
 * numbers), and delivered through the pipeline to the Loki stand-in.
 */
import assert from 'node:assert/strict';
import { contextResolver, prepareSetup } from '../../src/cli/wiring.ts';
import { loadConfig } from '../../src/config/config.ts';
import type { DataKeySource } from '../../src/record/opener.ts';
import { DasRecordFactory } from '../../src/demo/record-factory.ts';
import { Pipeline } from '../../src/pipeline.ts';
import { MemoryDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ObservedTimes } from '../../src/sinks/otlp/observed-times.ts';
import { ResourceCatalog, type ResourceFacts } from '../../src/sinks/otlp/resource.ts';
import type { SourceRecord } from '../../src/source/record.ts';
import { DasRecordOpener } from '../../src/record/opener.ts';
import { PreparePool } from '../../src/workers/pool.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';
import { InMemoryDataKeys } from '../support/record-mutations.ts';
import { LOGS_STEP, METRICS_STEP } from '../../src/sinks/prepared.ts';

const CLUSTER = 'cluster-OBSERVEDTIME000000000000000';
const STREAM = `aws-rds-das-${CLUSTER}`;
const NOW = Date.parse('2026-05-01T12:00:00.250Z');
const WEEK_AGO = new Date(NOW - 8 * 86_400_000);

/** `n` sequence numbers shaped like Kinesis's (56 digits, increasing, far apart), the same on every run. */
function kinesisSequenceNumbers(n: number): string[] {
  let state = 0x9e3779b9n;
  let current = 49_590_338_271_490_256_608_559_692_538_361_571_095_921_575_989_136_588_898n;
  return Array.from({ length: n }, () => {
    state = (state * 6_364_136_223_846_793_005n + 1_442_695_040_888_963_407n) % 2n ** 64n;
    current += 1_000_000_000_000_000_000_000n + (state % 10n ** 20n);
    return current.toString();
  });
}

describe('--old-events observed-time across worker threads', function () {
  this.timeout(120_000);
  const keys = new InMemoryDataKeys();
  const dataKeys: DataKeySource = keys;
  const resources: ResourceFacts = { region: 'eu-west-1', accountId: '111122223333' };
  let receiver: LokiReceiver;
  let pool: PreparePool | undefined;

  beforeEach(async () => {
    receiver = await new LokiReceiver({ clock: () => new Date(NOW) }).start();
  });
  afterEach(async () => {
    await pool?.close();
    await receiver.close();
  });

  it('a week-old backlog of one SQL, read in one millisecond by two workers and the main thread: every event a Loki entry of its own', async () => {
    // One record's bytes at 1,500 positions: an application repeating one query, two events a record.
    const factory = new DasRecordFactory({ resourceId: CLUSTER, dataKeys: keys });
    const data = await factory.record({ clusterId: CLUSTER, instanceId: 'db-A', events: [1, 2].map((id) => rawPostgresSelect(id, WEEK_AGO, 'SELECT 1')) });
    const records: SourceRecord[] = kinesisSequenceNumbers(1500).map((sequenceNumber) => ({ stream: STREAM, shardId: 'shardId-000000000000', sequenceNumber, data }));

    const config = loadConfig({ streams: [STREAM], resourceIds: { [STREAM]: CLUSTER }, oldEvents: 'observed-time' }, {});
    // The process's times start at the millisecond's first nanosecond, so one shared counter hands out exactly 0 … 2,999 past it.
    const observedTimes = new ObservedTimes({ offsetNs: 0 });
    const setup = prepareSetup(config, resources, { observedTimes, steps: [LOGS_STEP, METRICS_STEP] });
    pool = new PreparePool({ size: 2, setup });
    const clock = () => NOW;
    const contextFor = contextResolver(config.resourceIds);
    const mapper = new LogRecordMapper({ resources: new ResourceCatalog(resources), clock: () => new Date(NOW), oldEvents: 'observed-time', observedTimes });
    const sink = new OtlpLogSink({ config: loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/otlp` }).exporter!, mapper, clock: () => new Date(NOW) });
    const deadLetters = new MemoryDeadLetterSink();
    const fallbacks: string[] = [];
    const inWorkers = new Pipeline({
      opener: new DasRecordOpener({ dataKeys, contextFor, setup, pool, clock, onLocalFallback: (r) => fallbacks.push(r) }),
      sinks: [sink],
      deadLetters,
      concurrency: 8,
    });
    const onMain = new Pipeline({ opener: new DasRecordOpener({ dataKeys, contextFor, setup, clock }), sinks: [sink], deadLetters, concurrency: 8 });

    const [a, b] = await Promise.all([inWorkers.process(records.slice(0, 1000)), onMain.process(records.slice(1000))]);
    assert.deepEqual(fallbacks, [], 'the first thousand records were prepared in the workers');
    assert.equal(a.status, 'done');
    assert.equal(b.status, 'done');
    assert.equal(deadLetters.letters.length, 0, 'Loki accepted the week-old events');
    assert.equal(receiver.duplicates, 0, 'Loki merged none of them');
    assert.equal(receiver.ledger.length, 3000, 'every event is an entry');
    assert.equal(new Set(receiver.ledger.map((e) => e.timestampNs)).size, 3000);
    const readNs = BigInt(NOW) * 1_000_000n;
    assert.deepEqual(
      receiver.ledger.map((e) => Number(e.timestampNs - readNs)).sort((x, y) => x - y),
      Array.from({ length: 3000 }, (_, i) => i),
      'the workers and the main thread drew from one counter: consecutive nanoseconds of the read millisecond',
    );
  });
});
