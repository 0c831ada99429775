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
import { Pipeline } from '../pipeline.ts';
import { readReplayInput } from '../source/replay-input.ts';
import type { SourceRecord } from '../source/record.ts';
import type { CliIo } from './main.ts';
import { buildOpener, createKmsClient, requireAwsConfig } from './wiring.ts';

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

export async function replayCommand(
  files: readonly string[],
  flags: ConfigInput,
  options: { deadLetterFile?: string },
  io: CliIo,
): Promise<number> {
  const config = loadConfig(flags, io.env);
  const kms = createKmsClient();
  await requireAwsConfig({ KMS: kms }).catch((error) => {
    kms.destroy();
    throw error;
  });
  const failures = new ReplayFailures(io.stderr, options.deadLetterFile ? new FileDeadLetterSink(options.deadLetterFile) : undefined);
  const pipeline = new Pipeline({
    opener: buildOpener(config, kms),
    sinks: [new JsonlSink(io.stdout as NodeJS.WritableStream & import('node:stream').Writable, { heartbeats: config.heartbeats })],
    deadLetters: failures,
    concurrency: config.concurrency,
    // The data-key cache has already retried KMS with backoff: a replay reports, it does not wait forever.
    maxOpenAttempts: 1,
  });

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
    await failures.close();
    kms.destroy();
  }

  const failed = failures.total;
  const reasons = [...failures.byReason].map(([reason, n]) => `${reason} ${n}`).join(', ');
  io.stderr.write(
    `das-exporter: replay read ${records} record(s), wrote ${events} event(s)` + (failed ? `; ${failed} could not be opened: ${reasons}\n` : '\n'),
  );
  return failed > 0 ? 1 : 0;
}
