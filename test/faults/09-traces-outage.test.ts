/**
 * Fault 9: the traces backend goes away while the logs backend stays up.
 * With spans on (`OTEL_TRACES_EXPORTER=otlp`), half of the statements carry a
 * sqlcommenter traceparent, so each batch goes to both sinks. The traces
 * endpoint then fails in every way fault 2 fails the logs one: 503, 429 with
 * Retry-After, refused connections, requests hanging past the 1 s OTLP
 * timeout. A checkpoint moves only once both sinks took a batch, so:
 * nothing may be lost on either side (every statement in the log ledger,
 * every traced one as exactly one span with its application's trace and
 * parent), the checkpoint is never ahead of what both receivers hold, no span
 * arrives during the outage, memory stays bounded because the source stops
 * reading while a batch waits, and the backlog drains once the traces backend
 * is back. Run in both consumer modes.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { CONSUMER_MODES, FaultLab } from './harness/lab.ts';
import { assertBoundedDuringOutage, kinesisPulls, OutageWatch, outagePhases, runOutage } from './harness/outage.ts';
import type { ProducedEvent } from './harness/producer.ts';
import { FAULT_SEED } from './harness/random.ts';
import { recordRow, verdictColumns } from './harness/results.ts';

const CLUSTER = 'cluster-FAULTTRACES0000000000000';
const SHARDS = 2;
const PHASE_MS = 3_000;
const BEFORE = 400;
const PER_PHASE = 300;

for (const mode of CONSUMER_MODES) describe(`fault 9: traces backend outage, logs backend up (${mode})`, function () {
  let lab: FaultLab;
  before(async () => {
    lab = await FaultLab.start('traces', { mode, traces: true });
  });
  after(async () => lab?.close());

  it('loses no log record and no span, never checkpoints past either receiver, stays bounded in memory, and drains the backlog', async () => {
    const traces = lab.traceReceiver!;
    const stream = await lab.stream(CLUSTER, SHARDS);
    const producer = lab.producer({ stream, clusterId: CLUSTER, tag: 'traces', seed: FAULT_SEED + 9, traced: (n) => n % 2 === 0 });
    const checkpointFile = path.join(lab.stateDir, `${stream}.checkpoints.json`);
    // An event is delivered once its log record is in the ledger and, when traced, its span in the traces receiver.
    const deliveredBoth = (): Set<string> => {
      const logs = lab.delivered();
      const spans = traces.logRecordUids();
      return new Set(producer.produced.filter((p) => logs.has(p.id) && (!p.trace || spans.has(p.eventId))).map((p) => p.id));
    };

    await producer.write(BEFORE);
    const exporter = lab.exporter(stream, { env: { OTEL_EXPORTER_OTLP_TIMEOUT: '1000' }, args: ['--get-records-limit', '200'] });
    await lab.until('the events written before the outage', () => (deliveredBoth().size >= BEFORE ? true : undefined), 60_000);
    const baselineRss = exporter.rssBytes()!;
    const watch = new OutageWatch(exporter, checkpointFile, producer, deliveredBoth);

    const phases = outagePhases({ answerAlways: (a) => traces.answerAlways(a), proxy: lab.tracesProxy! }, { unavailable: 'DoBatch: InstancesCount <= 0', rateLimited: 'RATE_LIMITED: ingestion rate limit exceeded' });
    const outageStart = Date.now();
    const spansAtStart = traces.spans.size;
    const logsAtStart = lab.delivered().size;
    const { pulledDuringOutage, recordsDuringOutage } = await runOutage(phases, producer, kinesisPulls(lab, exporter), { perPhase: PER_PHASE, phaseMs: PHASE_MS });
    const spansDuringOutage = traces.spans.size - spansAtStart;
    const logsDuringOutage = lab.delivered().size - logsAtStart;
    traces.answerAlways(null);
    const outageEnd = Date.now();
    await lab.until('the backlog to drain on both sides', () => (deliveredBoth().size >= producer.produced.length ? true : undefined), 90_000, 100);
    const recoveryMs = Date.now() - outageEnd;
    await watch.stop();
    assert.equal(await exporter.stop(), 0, 'clean stop');

    const v = lab.verdict(producer);
    const traced = producer.produced.filter((p): p is ProducedEvent & { trace: NonNullable<ProducedEvent['trace']> } => p.trace !== undefined);
    const { aheadSeen, checks } = watch;
    assert.equal(traced.length, Math.ceil(v.produced / 2), 'every other statement was written traced');
    assert.deepEqual(v.lost, [], 'no log record lost');
    assert.deepEqual(aheadSeen, [], `the checkpoint was never ahead of the two receivers (${checks} reads)`);
    assert.equal(spansDuringOutage, 0, 'no span reached the traces receiver during the outage');
    assert.equal(v.deadLetters.length, 0, 'an outage dead-letters nothing');
    assert.deepEqual(v.orderViolations, []);
    const wrongSpans = traced.filter((p) => {
      const span = traces.byLogRecordUid(p.eventId);
      return !span || span.traceId !== p.trace.traceId || span.parentSpanId !== p.trace.spanId || span.kind !== 2;
    });
    assert.deepEqual(wrongSpans.map((p) => p.id), [], 'every traced statement is one SERVER span under its application span');
    assert.equal(traces.spans.size, traced.length, 'one span per traced statement, none for the others');
    // Each sink retries only its own part: the log records taken before the traces endpoint failed are not sent again,
    // and no span is sent twice (the receiver keeps spans by id, so it counts repeats apart).
    assert.equal(v.duplicated, 0, 'no log record sent twice');
    assert.equal(traces.duplicates, 0, 'no span sent twice');
    const bounded = assertBoundedDuringOutage(lab, watch, baselineRss, { phases: phases.length, shards: SHARDS, pulledDuringOutage, recordsDuringOutage });

    recordRow({
      scenario: `9 traces backend outage (503 → 429 → refused → hung), logs up, ${lab.modeLabel}`,
      ...verdictColumns(v),
      recoveryMs,
      recoveredWhen: 'traces backend back → backlog drained on both sides',
      notes: `${traced.length} traced statements, ${traces.spans.size} spans (${traces.duplicates} resent and kept once); ${((outageEnd - outageStart) / 1000).toFixed(1)} s outage with ${PER_PHASE * phases.length} events written during it, ${logsDuringOutage} log records and 0 spans delivered during it; ${bounded}, none ahead of either receiver`,
    });
  });
});
