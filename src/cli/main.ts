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
import { parsePairs, parseResourceIds } from '../config/pairs.ts';
import { isPolicyError } from '../policy/errors.ts';
import { REDACTION_MODES } from '../enrich/redaction-modes.ts';
import { OLD_EVENTS_MODES } from '../sinks/otlp/old-events.ts';
import { CONSUMER_MODES } from '../source/kinesis/consumer-modes.ts';
import { VERSION } from '../version.ts';

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** Flags shared by every command that runs the pipeline. */
function addPipelineOptions(command: Command): Command {
  return command
    .option('--resource-id <[stream=]id>', 'resource id whose KMS encryption context opens a stream (repeatable)', collect)
    .addOption(new Option('--redact <mode>', 'what to hide in SQL text and parameters (default passwords)').choices(REDACTION_MODES))
    .addOption(
      new Option('--old-events <mode>', "a log record's timestamp: event-time (default) or observed-time (when it was read; for replays older than Loki's 168 h)").choices(
        OLD_EVENTS_MODES,
      ),
    )
    .option('--metrics-host <host>', 'address of the metrics and health server')
    .option('--metrics-port <port>', 'port of the metrics and health server (default 9464)')
    .option('--label-top-n <n>', 'user/database/code label values kept before folding into __other__')
    .option('--series-expiry <seconds>', 'seconds an instance may go unseen before its series are removed (default 86400)')
    .option('--service-name <id=name>', 'friendly service.name for a resource id (repeatable)', collect)
    .option('--max-record-bytes <n>', "cap on one record's decompressed size")
    .option('--concurrency <n>', 'records opened at once per batch')
    .option('--workers <n>', 'worker threads that decrypt, decode and encode records (default 0; one per core is fastest)')
    .option('--policy <file>', 'audit policy (YAML) whose rules drop, tag and alert on events; SIGHUP reloads it')
    .option('--policy-watch', 'also reload the policy when its file changes');
}

function pipelineFlags(opts: Record<string, any>): ConfigInput {
  return {
    resourceIds: opts.resourceId ? parseResourceIds(opts.resourceId) : undefined,
    redact: opts.redact,
    oldEvents: opts.oldEvents,
    metricsHost: opts.metricsHost,
    metricsPort: opts.metricsPort,
    labelTopN: opts.labelTopN,
    seriesExpirySeconds: opts.seriesExpiry,
    serviceNames: opts.serviceName ? parsePairs(opts.serviceName) : undefined,
    maxRecordBytes: opts.maxRecordBytes,
    concurrency: opts.concurrency,
    workers: opts.workers,
    policyFile: opts.policy,
    policyWatch: opts.policyWatch,
  } as ConfigInput;
}

function consumerFlags(opts: Record<string, any>): ConfigInput {
  return {
    streams: opts.stream,
    startPosition: opts.startPosition,
    getRecordsLimit: opts.getRecordsLimit,
    consumer: opts.consumer,
    consumerName: opts.consumerName,
    deregisterOnStop: opts.deregisterOnStop,
    discoveryIntervalSeconds: opts.discoveryInterval,
    leases: opts.leases,
    leaseFailoverSeconds: opts.leaseFailover,
    lockTimeoutSeconds: opts.lockTimeout,
    stateDir: opts.stateDir,
  } as ConfigInput;
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
  addPipelineOptions(run)
    .option('--stream <name|arn>', 'DAS stream name or ARN (repeatable; env DAS_STREAMS, comma separated)', collect)
    .option('--start-position <pos>', 'where a shard without checkpoint starts: trim_horizon, latest, at_timestamp:<ISO>')
    .option('--get-records-limit <n>', 'records per GetRecords call (with --consumer efo: per batch of a subscription event)')
    .addOption(new Option('--consumer <mode>', 'how shards are read: polling (default, GetRecords) or efo (enhanced fan-out, SubscribeToShard)').choices(CONSUMER_MODES))
    .option('--consumer-name <name>', 'with --consumer efo: the registered stream consumer to read as (registered if missing)')
    .option('--deregister-on-stop', 'with --consumer efo: deregister the consumer on stop (for ephemeral runs)')
    .option('--discovery-interval <seconds>', 'seconds between shard discoveries')
    .option('--leases <kind>', 'file (checkpoints in --state-dir) or dynamodb:<table>')
    .option('--lease-failover <seconds>', 'with dynamodb leases: seconds without renewal before another worker takes a lease')
    .option('--lock-timeout <seconds>', 'with file leases: seconds without a heartbeat before another process takes a stream\'s lock (default 30)')
    .option('--state-dir <dir>', 'checkpoints and dead letters')
    .action(async (opts) => {
      const { runCommand } = await import('./run.ts');
      exitCode = await runCommand({ ...pipelineFlags(opts), ...consumerFlags(opts) }, io);
    });

  const demo = program
    .command('demo')
    .description('run the whole pipeline on this machine: simulated DAS traffic, embedded Kinesis and KMS, events on stdout (or OTLP), metrics');
  addPipelineOptions(demo)
    .option('--rate <events/s>', 'simulated activity events per second (default 50)')
    .option('--duration <seconds>', 'stop after this many seconds (default: until Ctrl-C)')
    .option('--seed <n>', 'seed of the traffic simulator (default random)')
    .action(async (opts) => {
      const { demoCommand } = await import('./demo.ts');
      exitCode = await demoCommand(pipelineFlags(opts), { rate: opts.rate, duration: opts.duration, seed: opts.seed }, io);
    });

  program
    .command('replay')
    .description('decrypt and decode DAS records from files or stdin, one event per line as JSON on stdout')
    .argument('[files...]', 'Firehose/S3 objects, NDJSON envelopes or Kinesis records, Lambda events; gzipped or not; - for stdin')
    .option('--resource-id <[stream=]id>', 'resource id whose KMS encryption context opens the records (repeatable)', collect)
    .option('--heartbeats', 'also write heartbeat events')
    .addOption(new Option('--redact <mode>', 'what to hide in SQL text and parameters').choices(REDACTION_MODES))
    .option('--max-record-bytes <n>', 'cap on one record\'s decompressed size')
    .option('--dead-letters <file>', 'also write records that could not be opened to this JSONL file')
    .option('--policy <file>', 'apply this audit policy: dropped events are not written, matched ones carry "policy"; a count per rule ends stderr')
    .action(async (files: string[], opts) => {
      const { replayCommand } = await import('./replay.ts');
      exitCode = await replayCommand(
        files,
        {
          resourceIds: opts.resourceId ? parseResourceIds(opts.resourceId) : undefined,
          heartbeats: opts.heartbeats,
          redact: opts.redact,
          maxRecordBytes: opts.maxRecordBytes,
          policyFile: opts.policy,
        },
        { deadLetterFile: opts.deadLetters },
        io,
      );
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
