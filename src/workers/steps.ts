/**
 * The prepare steps (sinks/prepared.ts), run on a record's events where the
 * record is opened: the OTLP/protobuf log records of the log sink, the
 * metric tallies of the metrics sink, and the spans of the traces sink
 * (encoded when it sends protobuf; else which events make them). Only the steps the configured sinks read run
 * (PrepareSetup.steps).
 */
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { ActivityEvent, PolicyOutcome } from '../events/model.ts';
import { tallyEvents } from '../sinks/metrics-tally.ts';
import type { LogRecordMapper } from '../sinks/otlp/mapping.ts';
import type { EncodedLogRecords } from '../sinks/otlp/protobuf.ts';
import type { ResourceCatalog } from '../sinks/otlp/resource.ts';
import { hasSpan, spanOf } from '../sinks/otlp/spans.ts';
import { LOGS_STEP, METRICS_STEP, SPANS_STEP, type PrepareStepName, type PreparedResults, type PreparedSpans } from '../sinks/prepared.ts';

export interface StepContext {
  mapper: LogRecordMapper;
  resources: ResourceCatalog;
  /** With the spans step: the share of untraced statements sampled, and whether the sink sends protobuf (then spans are encoded here). */
  spans: { untracedRatio: number; encode: boolean } | undefined;
  observedMs: number;
  policy: PolicyOutcome | undefined;
}

export function runSteps(steps: readonly PrepareStepName[], events: readonly ActivityEvent[], context: StepContext): PreparedResults {
  const results: Partial<Record<PrepareStepName, unknown>> = {};
  for (const step of steps) {
    if (step === LOGS_STEP) results[step] = context.mapper.encodeEach(events, context.observedMs);
    else if (step === METRICS_STEP) results[step] = tallyEvents(events, context.policy);
    else if (step === SPANS_STEP) results[step] = preparedSpans(events, context);
  }
  return results;
}

function preparedSpans(events: readonly ActivityEvent[], context: StepContext): PreparedSpans {
  const { untracedRatio = 0, encode = false } = context.spans ?? {};
  const eventIds: string[] = [];
  const requests: Uint8Array[] = [];
  for (const event of events) {
    if (!encode) {
      if (hasSpan(event, untracedRatio)) eventIds.push(event.eventId);
      continue;
    }
    const span = spanOf(event, context.resources, untracedRatio);
    if (span === null) continue;
    eventIds.push(event.eventId);
    requests.push(ProtobufTraceSerializer.serializeRequest([span])!);
  }
  return encode ? { eventIds, requests } : { eventIds };
}

/** The buffers of a record's results that are its alone, made its own in place (`owned`), to transfer rather than copy. */
export function ownResults(results: PreparedResults, owned: <T extends Uint8Array | Uint16Array | Uint32Array>(view: T) => T): ArrayBuffer[] {
  const transfer: ArrayBuffer[] = [];
  const logs = (results as Record<string, unknown>)[LOGS_STEP] as EncodedLogRecords | undefined;
  if (logs) {
    // Resource and scope fields are shared by every record of a cluster (protobuf.ts keeps them): copied, never transferred.
    logs.bytes = owned(logs.bytes);
    logs.ends = owned(logs.ends);
    logs.resourceOf = owned(logs.resourceOf);
    transfer.push(logs.bytes.buffer as ArrayBuffer, logs.ends.buffer as ArrayBuffer, logs.resourceOf.buffer as ArrayBuffer);
  }
  const spans = (results as Record<string, unknown>)[SPANS_STEP] as PreparedSpans | undefined;
  if (spans?.requests) {
    spans.requests = spans.requests.map((r) => owned(r));
    transfer.push(...spans.requests.map((r) => r.buffer as ArrayBuffer));
  }
  return transfer;
}
