/**
 * What the main thread and the prepare workers send each other, and how
 * their bytes move: transferred, never copied, and never a view on memory
 * that something else uses (a Buffer from Node's shared pool, a record
 * inside a larger response).
 */
import type { FailureReason } from '../errors.ts';
import type { PolicyVersion, PrepareJob, PreparedRecord } from '../record/processor.ts';
import { ownResults } from './steps.ts';

export interface JobMessage {
  id: number;
  job: PrepareJob;
}

/** A new version of the audit policy, sent to every worker before the first job that names it. */
export interface PolicyMessage {
  policy: PolicyVersion;
}

export type ResultMessage =
  | { id: number; prepared: PreparedRecord }
  /** `reason` is there when the failure was a DasError. */
  | { id: number; failure: { reason?: FailureReason; message: string } };

/** A copy of `view` that owns all of its ArrayBuffer, unless it already does. */
export function owned<T extends Uint8Array | Uint16Array | Uint32Array>(view: T): T {
  if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength && view.buffer instanceof ArrayBuffer) return view;
  // Not view.slice(): on a Buffer that is a view on the same memory.
  if (view instanceof Uint8Array) return Uint8Array.prototype.slice.call(view) as T;
  return view.slice() as T;
}

/**
 * The job with copies of its byte arrays, and their buffers to transfer: the
 * caller keeps its own, to prepare the record itself if the worker is lost.
 */
export function ownJob(job: PrepareJob): { job: PrepareJob; transfer: ArrayBuffer[] } {
  const payload = new Uint8Array(job.payload);
  const dataKey = new Uint8Array(job.dataKey);
  return { job: { ...job, payload, dataKey }, transfer: [payload.buffer as ArrayBuffer, dataKey.buffer] };
}

/**
 * Makes the byte arrays of a prepared record that are its alone its own, in
 * place, and lists their buffers to transfer (steps.ts says which they are).
 */
export function transferListOf(prepared: PreparedRecord): ArrayBuffer[] {
  prepared.compressed = owned(prepared.compressed);
  return [prepared.compressed.buffer as ArrayBuffer, ...ownResults(prepared.results, owned)];
}
