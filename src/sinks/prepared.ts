/**
 * Per-sink work done where a record is opened (a worker thread, or the main
 * thread when there is none): each sink that can use it names a prepare step
 * (workers/steps.ts runs them on the record's events), and the step's result
 * travels with the record to that sink, opaque to everything else. The
 * pipeline and the executor know only step names; a sink finds its own
 * results with `preparedBy`, and reads the events (decoded again) when a
 * batch holds none.
 */

/** The steps there are, by the sink that reads each. */
export const LOGS_STEP = 'otlp-logs';
export const METRICS_STEP = 'metrics';
export const SPANS_STEP = 'otlp-traces';
export type PrepareStepName = typeof LOGS_STEP | typeof METRICS_STEP | typeof SPANS_STEP;

/** One record's step results, by step name (structured-cloneable). */
export type PreparedResults = Readonly<Partial<Record<PrepareStepName, unknown>>>;

/**
 * The spans step's result: the events of the record that make spans, and,
 * when the traces sink sends protobuf, each span as an ExportTraceServiceRequest
 * of its own. Protobuf reads the concatenation of messages as one message
 * with their repeated fields joined, so any run of them is one request: the
 * sink sends them together and can still split a batch span by span.
 */
export interface PreparedSpans {
  eventIds: string[];
  requests?: Uint8Array[];
}

/** What the records of a batch were prepared into, in the order of `SinkBatch.events`. */
export interface PreparedBatch {
  readonly eventIds: readonly string[];
  /** Per record, its step results. */
  readonly results: readonly PreparedResults[];
}

/** Every record's result of `step`, or undefined when a record of the batch has none (the sink then reads the events). */
export function preparedBy<T>(prepared: PreparedBatch | undefined, step: PrepareStepName): T[] | undefined {
  if (prepared === undefined || prepared.results.length === 0) return undefined;
  const out: T[] = [];
  for (const results of prepared.results) {
    if (!(step in results)) return undefined;
    out.push(results[step] as T);
  }
  return out;
}
