/**
 * The spans prepare step (workers/steps.ts) and the traces sink reading it
 * (sinks/otlp/traces.ts): where records are prepared, a traced statement's
 * span is encoded there, and the sink sends those bytes without decoding the
 * batch's events again; for OTLP/JSON the step only says which events make
 * spans, and a batch without any is never decoded. The spans are the ones the
 * event path makes, as the traces receiver (its own decoder) sees them.
 */
import assert from 'node:assert/strict';
import type { ActivityEvent } from '../../src/events/model.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { OtlpTraceSink } from '../../src/sinks/otlp/traces.ts';
import { SPANS_STEP, type PreparedSpans } from '../../src/sinks/prepared.ts';
import type { SinkBatch } from '../../src/sinks/sink.ts';
import type { OtlpProtocol } from '../../src/sinks/otlp/config.ts';
import { runSteps } from '../../src/workers/steps.ts';
import { documented, variant } from '../support/policy-events.ts';
import { TraceReceiver } from '../support/trace-receiver.ts';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
let sequence = 0;
function statement(traced: boolean): ActivityEvent {
  const base = documented('aurora-postgresql-select.json');
  const n = ++sequence;
  const comment = traced ? ` /*traceparent='00-${TRACE}-${n.toString(16).padStart(16, '0')}-01'*/` : '';
  return { ...variant('aurora-postgresql-select.json', { commandText: `${base.commandText} ${comment}` }), eventId: `aws-rds-das-test/shardId-000000000000/${n}/0` };
}

/** A batch whose events may not be read: the sink must use what was prepared. */
function preparedOnly(records: ActivityEvent[][], encode: boolean, resources: ResourceCatalog): SinkBatch {
  const context = { mapper: new LogRecordMapper({ resources }), resources, spans: { untracedRatio: 0, encode }, observedMs: 0, policy: undefined };
  return {
    heartbeats: [],
    prepared: { eventIds: records.flat().map((e) => e.eventId), results: records.map((events) => runSteps([SPANS_STEP], events, context)) },
    get events(): readonly ActivityEvent[] {
      throw new Error('the batch was decoded again');
    },
  };
}

describe('spans prepared where records are opened', () => {
  let receiver: TraceReceiver;
  before(async () => (receiver = await new TraceReceiver().start()));
  after(() => receiver.close());
  beforeEach(() => receiver.spans.clear());
  const resources = new ResourceCatalog({ serviceNames: {} });
  const sinkFor = (protocol: OtlpProtocol) => new OtlpTraceSink({ config: { endpoint: receiver.endpoint, headers: {}, protocol, compression: 'none', timeoutMs: 5000 }, resources });

  it('protobuf: each traced statement encoded by the step; the sink sends the bytes, one request for the batch, and never decodes the events', async () => {
    const records = [[statement(true), statement(false), statement(true)], [statement(false)], [statement(true)]];
    const prepared = runSteps([SPANS_STEP], records[0]!, { mapper: new LogRecordMapper({ resources }), resources, spans: { untracedRatio: 0, encode: true }, observedMs: 0, policy: undefined })[SPANS_STEP] as PreparedSpans;
    assert.equal(prepared.requests?.length, 2, 'a request per span');
    const sink = sinkFor('http/protobuf');
    const requestsBefore = receiver.requests;
    assert.deepEqual(await sink.write(preparedOnly(records, true, resources)), { status: 'delivered', rejected: [] });
    assert.equal(receiver.requests - requestsBefore, 1, 'the concatenated requests are one request');
    const traced = records.flat().filter((e) => e.commandText?.includes('traceparent'));
    assert.equal(receiver.spans.size, traced.length);

    // The same spans as the event path makes.
    const fromPrepared = [...receiver.spans.values()].map((s) => ({ ...s, startTimeUnixNano: String(s.startTimeUnixNano), endTimeUnixNano: String(s.endTimeUnixNano) }));
    receiver.spans.clear();
    await sink.write({ events: records.flat(), heartbeats: [] });
    const fromEvents = [...receiver.spans.values()].map((s) => ({ ...s, startTimeUnixNano: String(s.startTimeUnixNano), endTimeUnixNano: String(s.endTimeUnixNano) }));
    assert.deepEqual(fromPrepared, fromEvents);
    for (const span of fromPrepared) assert.deepEqual([span.traceId, span.kind], [TRACE, 2]);
    await sink.close();
  });

  it('OTLP/JSON: the step names the traced events; a batch without any is not decoded, one with some is', async () => {
    const sink = sinkFor('http/json');
    assert.deepEqual(await sink.write(preparedOnly([[statement(false)], [statement(false)]], false, resources)), { status: 'delivered', rejected: [] });
    assert.equal(receiver.spans.size, 0);
    await assert.rejects(sink.write(preparedOnly([[statement(true)]], false, resources)), /decoded again/, 'with a traced statement, the events are read');
    await sink.close();
  });
});
