/**
 * Runs the fuzz properties of one test file in a worker thread under a
 * watchdog, so a property that hangs (an endless loop in synchronous parsing
 * code cannot be interrupted from the same thread) or allocates without
 * bound is reported as a failing test instead of stalling or killing mocha.
 *
 * Each job is a fast-check assertion with a fixed seed. `FUZZ_RUNS=<n>` runs
 * every job n times as often as by default (e.g. `FUZZ_RUNS=50` in a nightly
 * job), `FUZZ_SEED=<int>` changes the seed; the watchdog's deadline grows with
 * the run count (`FUZZ_DEADLINE_SECONDS` sets its base, 45 s). A failure message carries fast-check's counterexample, seed
 * and path, so it replays with `FUZZ_SEED`.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import assert from 'node:assert/strict';
import { DasError, FATAL_REASONS, PERMANENT_REASONS, RETRYABLE_REASONS } from '../../src/errors.ts';

export interface FuzzJob {
  /** fast-check numRuns at the default scale. */
  runs: number;
  /** Runs the property with the given numRuns and seed. */
  run(params: { numRuns: number; seed: number }): void | Promise<void>;
}

const SCALE = positiveNumber(process.env.FUZZ_RUNS) ?? 1;
const SEED = Number.isSafeInteger(Number(process.env.FUZZ_SEED)) && process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : 20240601;
/** Longest a job may run at the default scale before it counts as hung. */
const BASE_DEADLINE_MS = (positiveNumber(process.env.FUZZ_DEADLINE_SECONDS) ?? 45) * 1000;

const ALL_REASONS: ReadonlySet<string> = new Set([...PERMANENT_REASONS, ...RETRYABLE_REASONS, ...FATAL_REASONS]);

/** Whatever was thrown is a DasError with a reason from the closed lists; otherwise rethrows it. */
export function assertDasError(thrown: unknown, allowed?: readonly string[]): asserts thrown is DasError {
  if (!(thrown instanceof DasError)) throw thrown;
  assert.ok(ALL_REASONS.has(thrown.reason), `reason ${thrown.reason} is not in src/errors.ts`);
  assert.ok(thrown.message.length > 0, 'a DasError says what went wrong');
  if (allowed) assert.ok(allowed.includes(thrown.reason), `reason ${thrown.reason} not among ${allowed.join(', ')}`);
}

export function isKnownReason(reason: string): boolean {
  return ALL_REASONS.has(reason);
}

/**
 * Declares a mocha suite whose tests are `jobs`, run in a worker. Call it at
 * the top level of a test file with `import.meta.url`; in the worker the same
 * call runs the jobs instead of declaring tests.
 */
export function fuzzSuite(title: string, moduleUrl: string, jobs: Record<string, FuzzJob>): void {
  if (!isMainThread) {
    if ((workerData as WorkerInput | undefined)?.moduleUrl === moduleUrl) void runJobs(jobs, workerData as WorkerInput);
    return;
  }
  const names = Object.keys(jobs);
  describe(title, function () {
    let current: RunningWorker | undefined;
    after(async () => {
      await current?.worker.terminate();
    });

    for (const [index, name] of names.entries()) {
      const deadline = Math.ceil(BASE_DEADLINE_MS * Math.max(1, SCALE));
      it(name, async function () {
        this.timeout(deadline + 30_000);
        if (current === undefined || current.dead) current = startWorker(moduleUrl, names.slice(index));
        const outcome = await current.result(name, deadline);
        if (!outcome.ok) throw new Error(outcome.message);
      });
    }
  });
}

interface WorkerInput {
  moduleUrl: string;
  names: string[];
  scale: number;
  seed: number;
  progress: SharedArrayBuffer;
}

type Outcome = { ok: true } | { ok: false; message: string };
type Message = { name: string; event: 'start' } | ({ name: string; event: 'end' } & Outcome);

interface RunningWorker {
  worker: Worker;
  dead: boolean;
  result(name: string, deadlineMs: number): Promise<Outcome>;
}

function startWorker(moduleUrl: string, names: string[]): RunningWorker {
  const progress = new SharedArrayBuffer(4);
  const cases = new Int32Array(progress);
  const input: WorkerInput = { moduleUrl, names, scale: SCALE, seed: SEED, progress };
  // A worker does not inherit tsx from --import; register it before loading the test file.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(moduleUrl)}); })`;
  const worker = new Worker(boot, { eval: true, workerData: input, resourceLimits: { maxOldGenerationSizeMb: 768 } });
  worker.unref();
  const outcomes = new Map<string, Outcome>();
  const started = new Map<string, number>();
  let waiter: { name: string; wake: () => void } | undefined;
  let exitProblem: string | undefined;
  const running: RunningWorker = {
    worker,
    dead: false,
    async result(name, deadlineMs) {
      for (;;) {
        const done = outcomes.get(name);
        if (done) return done;
        if (exitProblem !== undefined) return { ok: false, message: `${exitProblem} while running "${name}" (fuzz case ${Atomics.load(cases, 0)}, seed ${SEED})` };
        const since = started.get(name);
        const left = since === undefined ? deadlineMs : since + deadlineMs - Date.now();
        if (left <= 0) {
          running.dead = true;
          await worker.terminate();
          return { ok: false, message: `"${name}" did not finish within ${deadlineMs} ms: a hang or runaway case (fuzz case ${Atomics.load(cases, 0)}, seed ${SEED}); the worker was stopped` };
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.min(left, 1_000));
          waiter = { name, wake: () => (clearTimeout(timer), resolve()) };
        });
      }
    },
  };
  worker.on('message', (message: Message) => {
    if (message.event === 'start') started.set(message.name, Date.now());
    else outcomes.set(message.name, message.ok ? { ok: true } : { ok: false, message: message.message });
    waiter?.wake();
  });
  worker.on('error', (error) => {
    exitProblem = `the fuzz worker failed: ${error.message}${(error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? ' (unbounded allocation)' : ''}`;
    running.dead = true;
    waiter?.wake();
  });
  worker.on('exit', (code) => {
    exitProblem ??= `the fuzz worker exited with code ${code}`;
    running.dead = true;
    waiter?.wake();
  });
  return running;
}

/** Counts fuzz cases so a hang report can say how far the job got. */
let progressCounter: Int32Array | undefined;
export function caseStarted(): void {
  if (progressCounter) Atomics.add(progressCounter, 0, 1);
}

async function runJobs(jobs: Record<string, FuzzJob>, input: WorkerInput): Promise<void> {
  progressCounter = new Int32Array(input.progress);
  for (const name of input.names) {
    Atomics.store(progressCounter, 0, 0);
    parentPort!.postMessage({ name, event: 'start' } satisfies Message);
    const job = jobs[name]!;
    try {
      await job.run({ numRuns: Math.max(1, Math.round(job.runs * input.scale)), seed: input.seed });
      parentPort!.postMessage({ name, event: 'end', ok: true } satisfies Message);
    } catch (error) {
      parentPort!.postMessage({ name, event: 'end', ok: false, message: describeFailure(error) } satisfies Message);
    }
  }
}

/** fast-check's report (counterexample, seed, path) and what the property threw, with where. */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `\nCaused by: ${error.cause.stack?.split('\n').slice(0, 8).join('\n')}` : '';
  return `${error.message.slice(0, 4000)}${cause}`;
}

function positiveNumber(text: string | undefined): number | undefined {
  const n = Number(text);
  return text !== undefined && text !== '' && Number.isFinite(n) && n > 0 ? n : undefined;
}
