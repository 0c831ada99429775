/**
 * The `das-exporter` command line: parses flags with commander, turns them
 * into one validated Config, and hands over to a command. Returns the exit
 * code instead of exiting, so commands can be tested in-process.
 */
import { Command, CommanderError, Option } from 'commander';
import { ConfigError, REDACT_MODES, parseResourceIds } from '../config/config.ts';
import { replayCommand } from './replay.ts';

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  let exitCode = 0;
  const program = new Command('das-exporter')
    .description('Amazon Aurora / RDS Database Activity Streams to OpenTelemetry logs and Prometheus metrics')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .showHelpAfterError();

  program
    .command('replay')
    .description('decrypt and decode DAS records from files or stdin, one event per line as JSON on stdout')
    .argument('[files...]', 'Firehose/S3 objects, NDJSON envelopes or Kinesis records, Lambda events; gzipped or not; - for stdin')
    .option('--resource-id <[stream=]id>', 'resource id whose KMS encryption context opens the records (repeatable)', collect)
    .option('--heartbeats', 'also write heartbeat events')
    .addOption(new Option('--redact <mode>', 'what to hide in SQL text and parameters').choices(REDACT_MODES))
    .option('--max-record-bytes <n>', 'cap on one record\'s decompressed size')
    .option('--dead-letters <file>', 'also write records that could not be opened to this JSONL file')
    .action(async (files: string[], opts) => {
      exitCode = await replayCommand(
        files,
        {
          resourceIds: opts.resourceId ? parseResourceIds(opts.resourceId) : undefined,
          heartbeats: opts.heartbeats,
          redact: opts.redact,
          maxRecordBytes: opts.maxRecordBytes,
        },
        { deadLetterFile: opts.deadLetters },
        io,
      );
    });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof ConfigError) {
      io.stderr.write(`das-exporter: ${error.message}\n`);
      return 2;
    }
    io.stderr.write(`das-exporter: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
