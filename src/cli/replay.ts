/**
 * `das-exporter replay <file…|->`: opens records from files or stdin and
 * writes one decoded event per line as JSON on stdout. One bad record never
 * stops the others; the exit code is 1 when any record could not be opened,
 * with counts per reason on stderr.
 */
import { createReadStream } from 'node:fs';
import { loadConfig, type ConfigInput } from '../config/config.ts';
import { FileDeadLetterSink, type DeadLetter, type DeadLetterSink } from '../sinks/dead-letter.ts';
import { JsonlSink } from '../sinks/jsonl.ts';
import { buildPipeline, resourceFactsOf, type BuiltPipeline } from '../build-pipeline.ts';
import type { OtlpEnvironment } from '../sinks/otlp/config.ts';
import { silentLogger } from '../source/kinesis/observer.ts';
import { readReplayInput } from '../source/replay-input.ts';
import type { SourceRecord } from '../source/record.ts';
import type { CliIo } from './main.ts';
import { createKmsClient, requireAwsConfig } from './wiring.ts';
import type { PolicyOutcome } from '../events/model.ts';

const BATCH_SIZE = 100;
const FAILURES_SHOWN = 20;

/** Counts failures per reason, shows the first few with their position, and passes them on. */
class ReplayFailures implements DeadLetterSink {
  readonly byReason = new Map<string, number>();
  #shown = 0;

  constructor(
    readonly stderr: NodeJS.WritableStream,
    readonly next?: DeadLetterSink,
  ) {}

  count(reason: string, where: string, message: string): void {
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
    if (this.#shown++ < FAILURES_SHOWN) this.stderr.write(`das-exporter: ${where}: ${reason}: ${message}\n`);
  }

  async put(letter: DeadLetter): Promise<void> {
    this.count(letter.reason, `${letter.stream} ${letter.shardId} ${letter.sequenceNumber}`, letter.message);
    await this.next?.put(letter);
  }

  async close(): Promise<void> {
    await this.next?.close();
  }

  get total(): number {
    let n = 0;
    for (const v of this.byReason.values()) n += v;
    return n;
  }
}

/** What the policy did over the whole replay, per rule. */
class RuleCounts {
  readonly #dropped = new Map<string, number>();
  readonly #matched = new Map<string, number>();
  readonly #kept = new Map<string, number>();

  add(outcome: PolicyOutcome | undefined): void {
    if (!outcome) return;
    for (const { rule, count } of outcome.dropped) this.#dropped.set(rule, (this.#dropped.get(rule) ?? 0) + count);
    for (const { rule, count } of outcome.matched) this.#matched.set(rule, (this.#matched.get(rule) ?? 0) + count);
    for (const { rule, count } of outcome.keptProtected) this.#kept.set(rule, (this.#kept.get(rule) ?? 0) + count);
  }

  /** One line per rule, in the policy's order, rules that never matched included. */
  report(rules: readonly { name: string; action: string }[]): string {
    const lines = rules.map(({ name, action }) => {
      const n = action === 'drop' ? (this.#dropped.get(name) ?? 0) : (this.#matched.get(name) ?? 0);
      const kept = this.#kept.get(name);
      return `das-exporter: policy rule ${name} (${action}): ${n} event(s) ${action === 'drop' ? 'dropped' : 'matched'}${kept ? `, ${kept} failed login(s) or privilege change(s) kept` : ''}\n`;
    });
    return lines.join('');
  }
}

export async function replayCommand(
  files: readonly string[],
  flags: ConfigInput,
  options: { deadLetterFile?: string },
  io: CliIo,
): Promise<number> {
  const config = loadConfig(flags, io.env);
  // Replay prints events: no OTLP endpoint of the environment is used, nor checked.
  const otlp: OtlpEnvironment = { exporter: null, traces: null, resource: { serviceName: null, resourceAttributes: {} } };
  const kms = createKmsClient();
  const ruleCounts = new RuleCounts();
  const failures = new ReplayFailures(io.stderr, options.deadLetterFile ? new FileDeadLetterSink(options.deadLetterFile) : undefined);
  // The pipeline of `run`, printing events as JSON lines; an invalid policy file refuses the replay here, before anything is asked of AWS.
  let built: BuiltPipeline;
  try {
    built = buildPipeline(config, {
      kms,
      otlp,
      resources: resourceFactsOf(config, io.env, otlp),
      deadLetters: failures,
      log: silentLogger,
      logSink: () => new JsonlSink(io.stdout as NodeJS.WritableStream & import('node:stream').Writable, { heartbeats: config.heartbeats }),
      observer: { batchDelivered: (_records, batch) => ruleCounts.add(batch.policy) },
      // The data-key cache has already retried KMS with backoff: a replay reports, it does not wait forever.
      pipeline: { maxOpenAttempts: 1 },
    });
    await requireAwsConfig({ KMS: kms });
  } catch (error) {
    kms.destroy();
    throw error;
  }
  const { pipeline, policy } = built;

  let records = 0;
  let events = 0;
  const inputs = files.length === 0 ? ['-'] : files;
  try {
    for (const file of inputs) {
      const stream = file === '-' ? io.stdin : createReadStream(file);
      let batch: SourceRecord[] = [];
      const flush = async () => {
        if (batch.length === 0) return;
        const outcome = await pipeline.process(batch);
        if (outcome.status === 'done') events += outcome.events;
        else if (outcome.status === 'fatal') for (const r of batch) failures.count(outcome.reason, `${r.stream} ${r.sequenceNumber}`, outcome.message);
        batch = [];
      };
      for await (const item of readReplayInput(stream, file === '-' ? 'stdin' : file)) {
        records++;
        if (!item.ok) {
          failures.count(item.reason, item.where, item.message);
          continue;
        }
        batch.push(item.record);
        if (batch.length >= BATCH_SIZE) await flush();
      }
      await flush();
    }
  } finally {
    await built.close().catch(() => {});
    await failures.close();
    kms.destroy();
  }

  const failed = failures.total;
  const reasons = [...failures.byReason].map(([reason, n]) => `${reason} ${n}`).join(', ');
  io.stderr.write(
    `das-exporter: replay read ${records} record(s), wrote ${events} event(s)` + (failed ? `; ${failed} could not be opened: ${reasons}\n` : '\n'),
  );
  if (policy) io.stderr.write(ruleCounts.report(policy.current.document.rules.map((r) => ({ name: r.name, action: r.action }))));
  return failed > 0 ? 1 : 0;
}
