/**
 * The `das-exporter` command line: parses flags with commander, turns them
 * into one validated Config, and hands over to a command. Returns the exit
 * code instead of exiting, so commands can be tested in-process.
 *
 * A command's module is imported only when that command runs: `--help` and
 * `--version` load commander and nothing of the AWS SDK, and only `demo`
 * loads the embedded Kinesis and the traffic simulator.
 */
import { Command, CommanderError, Option } from 'commander';
import type { ConfigInput } from '../config/config.ts';
import { isConfigError } from '../config/errors.ts';
import { FIELDS, type CommandName, type FieldSpec } from '../config/fields.ts';
import { isPolicyError } from '../policy/errors.ts';
import { VERSION } from '../version.ts';

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const SPECS = Object.entries(FIELDS as Record<string, FieldSpec>);

/** The configuration flags `command` takes (fields.ts), in the table's order. */
function addConfigOptions(command: Command, name: CommandName): Command {
  for (const [, spec] of SPECS) {
    const flag = spec.flag;
    if (!flag?.commands.includes(name)) continue;
    const option = new Option(flag.spec, flag.helpFor?.[name] ?? flag.help);
    if (flag.choices) option.choices(flag.choices);
    if (flag.repeatable) option.argParser(collect);
    command.addOption(option);
  }
  return command;
}

/** The configuration flags given to `command`, as the fields' input. */
function configFlags(opts: Record<string, unknown>, name: CommandName): ConfigInput {
  const input: Record<string, unknown> = {};
  for (const [field, spec] of SPECS) {
    const flag = spec.flag;
    if (!flag?.commands.includes(name)) continue;
    const value = opts[new Option(flag.spec).attributeName()];
    if (value !== undefined) input[field] = flag.input ? flag.input(value) : value;
  }
  return input as ConfigInput;
}

export async function main(argv: readonly string[], io: CliIo = process): Promise<number> {
  let exitCode = 0;
  const program = new Command('das-exporter')
    .description('Amazon Aurora / RDS Database Activity Streams to OpenTelemetry logs and Prometheus metrics')
    .version(VERSION, '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .showHelpAfterError();

  const run = program
    .command('run')
    .description('consume DAS streams from Kinesis and export every event as OTLP logs and Prometheus metrics');
  addConfigOptions(run, 'run')
    .action(async (opts) => {
      const { runCommand } = await import('./run.ts');
      exitCode = await runCommand(configFlags(opts, 'run'), io);
    });

  const demo = program
    .command('demo')
    .description('run the whole pipeline on this machine: simulated DAS traffic, embedded Kinesis and KMS, events on stdout (or OTLP), metrics');
  addConfigOptions(demo, 'demo')
    .option('--rate <events/s>', 'simulated activity events per second (default 50)')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--seed <n>', 'seed of the traffic simulator (default random)')
    .action(async (opts) => {
      const { demoCommand } = await import('./demo.ts');
      exitCode = await demoCommand(configFlags(opts, 'demo'), { rate: opts.rate, duration: opts.duration, seed: opts.seed }, io);
    });

  const replay = program
    .command('replay')
    .description('decrypt and decode DAS records from files or stdin, one event per line as JSON on stdout')
    .argument('[files...]', 'Firehose/S3 objects, NDJSON envelopes or Kinesis records, Lambda events; gzipped or not; - for stdin');
  addConfigOptions(replay, 'replay')
    .option('--dead-letters <file>', 'also write records that could not be opened to this JSONL file')
    .action(async (files: string[], opts) => {
      const { replayCommand } = await import('./replay.ts');
      exitCode = await replayCommand(files, configFlags(opts, 'replay'), { deadLetterFile: opts.deadLetters }, io);
    });

  const policy = program.command('policy').description('audit policies (docs/policies.md): check a file, generate its Loki ruler rules');
  policy
    .command('check')
    .description('validate an audit policy file: its rules, or every problem with its line and column')
    .argument('<file>', 'the policy (YAML)')
    .action(async (file: string) => {
      const { policyCheckCommand } = await import('./policy.ts');
      exitCode = policyCheckCommand(file, io);
    });
  policy
    .command('loki-rules')
    .description("print Loki ruler rules (LogQL) alerting on the policy's alert rules, for a ruler's rules directory")
    .argument('<file>', 'the policy (YAML)')
    .action(async (file: string) => {
      const { policyLokiRulesCommand } = await import('./policy.ts');
      exitCode = policyLokiRulesCommand(file, io);
    });

  program
    .command('healthcheck')
    .description("exit 0 when the exporter on this host answers /healthz (or --path /readyz) with 200, else 1: the container's HEALTHCHECK")
    .addOption(new Option('--path <path>', 'which endpoint to ask').choices(['/healthz', '/readyz']))
    .option('--metrics-host <host>', 'address of the metrics and health server (default DAS_METRICS_HOST, 0.0.0.0: asked on 127.0.0.1)')
    .option('--metrics-port <port>', 'its port (default DAS_METRICS_PORT, 9464)')
    .action(async (opts) => {
      const { healthcheckCommand } = await import('./healthcheck.ts');
      exitCode = await healthcheckCommand(opts, io);
    });

  try {
    await program.parseAsync(argv);
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (isConfigError(error) || isPolicyError(error)) {
      io.stderr.write(`das-exporter: ${error.message}\n`);
      return 2;
    }
    io.stderr.write(`das-exporter: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return 1;
  }
}
