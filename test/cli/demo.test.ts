/**
 * `das-exporter demo` as a user runs it: a child process with nothing but
 * this checkout. It must deliver events of every engine and class the
 * simulator produces, print them as compact lines (never JSON) with
 * passwords redacted, end with a summary, and stop cleanly on its duration
 * or on Ctrl-C.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { DEMO_CLUSTERS, SIMULATED_CLASSES } from '../../src/demo/traffic.ts';

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Started {
  child: ReturnType<typeof spawn>;
  output: () => { stdout: string; stderr: string };
  finished: Promise<Finished>;
}

function startDemo(args: string[]): Started {
  const env = { ...process.env };
  // The demo must not need, nor be steered by, an OTLP endpoint or real AWS settings.
  for (const key of Object.keys(env)) if (key.startsWith('OTEL_') || key.startsWith('DAS_')) delete env[key];
  const child = spawn(process.execPath, ['bin/das-exporter.js', 'demo', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const finished = new Promise<Finished>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, output: () => ({ stdout, stderr }), finished };
}

/** Resolves with `promise`, or kills the child and fails after `ms` (a bound, not a speed requirement). */
async function within<T>(ms: number, what: string, started: Started, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      started.child.kill('SIGKILL');
      reject(new Error(`${what} did not happen within ${ms} ms; stderr:\n${started.output().stderr}`));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** `  orders-postgres (aurora-postgresql): 612 events; READ 400, WRITE 150` → classes and counts per cluster. */
function summaryClasses(stderr: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  for (const cluster of DEMO_CLUSTERS) {
    const line = stderr.split('\n').find((l) => l.startsWith(`  ${cluster.name} (${cluster.engine}): `));
    assert.ok(line, `the summary has a line for ${cluster.name}:\n${stderr}`);
    const classes = new Map<string, number>();
    for (const part of line.slice(line.indexOf('; ') + 2).split(', ')) {
      const match = /^(.+) (\d+)$/.exec(part);
      if (match) classes.set(match[1]!, Number(match[2]));
    }
    out.set(cluster.engine, classes);
  }
  return out;
}

const EVENT_LINE = new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} (${DEMO_CLUSTERS.map((c) => c.name).join('|')}) \\S+ \\S`);
/** What the simulator's generated passwords look like (src/demo/traffic/rng.ts), as a quoted SQL literal. */
const PASSWORD_LITERAL = /'[A-HJ-NP-Za-km-z2-9]{7}[!#%*+\-_=?@][A-HJ-NP-Za-km-z2-9]{7}'/;
const PASSWORD_CLAUSE = /PASSWORD\s*(=\s*|\(\s*)?'|IDENTIFIED BY '/;

describe('das-exporter demo', function () {
  it('runs for --duration, delivers every engine and class it simulates as compact lines with passwords redacted, and exits 0', async () => {
    // At the default 50 events/s the rarest classes (SQL Server logins, users, schemas come
    // from DBA activity, well under 1% of the mix) need minutes; 1500/s shows them all in a few seconds.
    const demo = startDemo(['--duration', '20', '--metrics-port', '0', '--metrics-host', '127.0.0.1', '--rate', '1500', '--seed', '20240501']);
    const { code, stdout, stderr } = await within(120_000, 'the demo ending after its duration', demo, demo.finished);
    assert.equal(code, 0, stderr);

    const classes = summaryClasses(stderr);
    for (const cluster of DEMO_CLUSTERS) {
      const seen = classes.get(cluster.engine)!;
      for (const expected of SIMULATED_CLASSES[cluster.engine]) {
        assert.ok((seen.get(expected) ?? 0) > 0, `${cluster.engine}: no ${expected} event delivered; summary:\n${stderr}`);
      }
    }
    assert.match(stderr, /^ {2}dead letters: 0$/m);
    assert.match(stderr, /^ {2}KMS calls: [1-9]\d* Decrypt by the exporter/m);

    const lines = stdout.split('\n').filter((l) => l !== '');
    const delivered = Number(/^das-exporter demo: (\d+) events/m.exec(stderr)?.[1]);
    assert.equal(lines.length, delivered, 'one stdout line per delivered event');
    for (const line of lines) assert.match(line, EVENT_LINE, 'a compact event line, never JSON');
    assert.ok(lines.some((l) => / FAIL\b/.test(l)), 'failed events are marked FAIL');
    assert.ok(lines.some((l) => / trace=[0-9a-f]{8}…$/.test(l)), 'sqlcommenter trace ids are shown');

    const passwordStatements = lines.filter((l) => PASSWORD_CLAUSE.test(l));
    assert.ok(passwordStatements.length > 0, 'the simulator changed some passwords during the run');
    for (const line of passwordStatements) assert.match(line, /'\*\*\*'/, `redacted: ${line}`);
    const leaked = lines.find((l) => PASSWORD_LITERAL.test(l));
    assert.equal(leaked, undefined, 'no generated password on stdout');

    assert.doesNotMatch(stderr, /\(node:\d+\)|Warning:|NodeVersionSupport|\{"time"/, 'no runtime warnings or JSON logs for the user');
  });

  it('stops cleanly on Ctrl-C (SIGINT) mid-run: exit 0 with a summary', async () => {
    const demo = startDemo(['--metrics-port', '0', '--metrics-host', '127.0.0.1']);
    // Mid-run: the first events are out.
    await within(60_000, 'the first event on stdout', demo, (async () => {
      while (!demo.output().stdout.includes('\n')) await new Promise((r) => setTimeout(r, 50));
    })());
    demo.child.kill('SIGINT');
    const { code, signal, stderr } = await within(20_000, 'the exit after SIGINT', demo, demo.finished);
    assert.equal(signal, null, stderr);
    assert.equal(code, 0, stderr);
    assert.match(stderr, /SIGINT received/);
    assert.match(stderr, /^das-exporter demo: [1-9]\d* events from \d+ of \d+ records delivered/m);
  });

  it('refuses a port in use with a clear message and exit 2', async () => {
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      const demo = startDemo(['--duration', '5', '--metrics-port', String(port), '--metrics-host', '127.0.0.1']);
      const { code, stderr, stdout } = await within(60_000, 'the refusal', demo, demo.finished);
      assert.equal(code, 2, stderr);
      assert.match(stderr, new RegExp(`cannot start: 127\\.0\\.0\\.1:${port} is already in use .*--metrics-port`));
      assert.equal(stdout, '');
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('refuses a bad --rate, naming the flag, with exit 2', async () => {
    const demo = startDemo(['--rate', 'fast', '--duration', '1']);
    const { code, stderr } = await within(60_000, 'the refusal', demo, demo.finished);
    assert.equal(code, 2);
    assert.match(stderr, /--rate: expected events per second/);
  });
});
