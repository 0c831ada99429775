/**
 * The published package, tested as a user gets it: `npm pack` of this
 * checkout, installed from the tarball into an empty prefix with production
 * dependencies only (`npm install -g --prefix … --omit=dev`), then the
 * installed command run from another folder: `--version`, `demo`, `replay`,
 * and the library entries imported by plain Node and type-checked by a
 * TypeScript consumer. A lean install into a project (`--omit=optional`) must run
 * everything but the demo, and say why the demo cannot.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { KMSClient } from '@aws-sdk/client-kms';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { withoutAwsConfig } from '../support/aws-env.ts';
import { DECRYPTED_EXAMPLES, readJsonFixture } from '../support/fixtures.ts';
import { PACKAGE, REPO, mustRun, packTarball } from '../support/package.ts';

/** What the package may hold: the command, the compiled build, and the documents. */
const ALLOWED = [/^bin\/das-exporter\.js$/, /^dist\/.+\.(js|d\.ts|js\.map)$/, /^(package\.json|README\.md|LICENSE|CHANGELOG\.md)$/, /^policies\/(examples\/)?[a-z0-9.-]+\.yaml$/];
/** Packages that only build or test das-exporter: none may be installed for a user. */
const DEV_ONLY = ['tsx', 'typescript', 'mocha', 'esbuild', 'fast-check', 'dynalite', 'js-yaml', 'kubernetes-models'];

/** Every package name under a node_modules tree, nested ones included. */
function installedPackages(nodeModules: string): Set<string> {
  const names = new Set<string>();
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const entry of readdirSync(dir)) {
      if (entry.startsWith('.')) continue;
      if (entry.startsWith('@')) {
        for (const scoped of readdirSync(path.join(dir, entry))) {
          names.add(`${entry}/${scoped}`);
          walk(path.join(dir, entry, scoped, 'node_modules'));
        }
      } else {
        names.add(entry);
        walk(path.join(dir, entry, 'node_modules'));
      }
    }
  };
  walk(nodeModules);
  return names;
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The installed command, run from an empty folder with an environment that reaches no real AWS. */
function runInstalled(bin: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; onStderr?: (all: string) => void; timeoutMs?: number }): Promise<Ran> {
  const child = spawn(bin, args, { cwd: options.cwd, env: options.env ?? withoutAwsConfig(cleanEnv()), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
    options.onStderr?.(stderr);
  });
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    }),
  );
}

/** No OTLP endpoint, no das-exporter settings and no loader flags of this test process leak into the child. */
function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) if (key.startsWith('OTEL_') || key.startsWith('DAS_') || key === 'NODE_OPTIONS') delete env[key];
  return env;
}

describe('the published package, installed from its tarball', function () {
  this.timeout(300_000);
  let work: string;
  let prefix: string;
  let bin: string;
  let installed: string;
  let files: string[];

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'das-installed-'));
    const packed = packTarball();
    files = packed.files;
    prefix = path.join(work, 'prefix');
    mustRun('npm', ['install', '--global', '--prefix', prefix, '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error', packed.tarball], { cwd: work });
    bin = path.join(prefix, 'bin', 'das-exporter');
    installed = path.join(prefix, 'lib', 'node_modules', PACKAGE.name);
  });

  after(() => rmSync(work, { recursive: true, force: true }));

  it('holds the command, the compiled build and its documents, and no tests, benches, fixtures or sources', () => {
    const unexpected = files.filter((f) => !ALLOWED.some((pattern) => pattern.test(f)));
    assert.deepEqual(unexpected, []);
    for (const needed of ['bin/das-exporter.js', 'dist/cli/main.js', 'dist/index.js', 'dist/index.d.ts', 'dist/workers/open-worker.js', 'dist/source/lambda.js', 'LICENSE', 'README.md', 'CHANGELOG.md', 'policies/default.yaml', 'policies/examples/pci-dss-10.2.yaml']) {
      assert.ok(files.includes(needed), `the package lacks ${needed}`);
    }
    assert.ok(!files.some((f) => f.endsWith('.ts') && !f.endsWith('.d.ts')), 'TypeScript sources are not shipped');
  });

  it('declarations import .js paths and source maps carry their sources (src/ is not shipped)', () => {
    for (const file of files.filter((f) => f.endsWith('.d.ts'))) {
      assert.doesNotMatch(readFileSync(path.join(installed, file), 'utf8'), /(from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*\.ts['"]/, file);
    }
    const maps = files.filter((f) => f.endsWith('.js.map'));
    assert.ok(maps.length > 0, 'the build has source maps');
    for (const file of maps) {
      const map = JSON.parse(readFileSync(path.join(installed, file), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      assert.equal(map.sourcesContent?.filter((c) => typeof c === 'string' && c.length > 0).length, map.sources.length, file);
    }
  });

  it('runs no script of its own when installed (npm would ask users to approve one)', () => {
    const manifest = JSON.parse(readFileSync(path.join(installed, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    const atInstall = ['preinstall', 'install', 'postinstall', 'prepare'].filter((name) => manifest.scripts?.[name] !== undefined);
    assert.deepEqual(atInstall, []);
  });

  it('installs no build or test tool, and kinesalite only as the optional demo dependency', () => {
    const names = installedPackages(path.join(installed, 'node_modules'));
    assert.deepEqual(DEV_ONLY.filter((name) => names.has(name)), []);
    assert.ok(names.has('kinesalite'), 'a default install has the demo');
    assert.ok(names.has('@aws-sdk/client-kinesis'));
  });

  it('answers --version with the version in package.json', async () => {
    const { code, stdout } = await runInstalled(bin, ['--version'], { cwd: work });
    assert.equal(code, 0);
    assert.equal(stdout.trim(), PACKAGE.version);
  });

  it('runs `demo --duration 5`: events on stdout, /metrics served while it runs, exit 0', async () => {
    let metrics: Promise<string> | undefined;
    const ran = await runInstalled(bin, ['demo', '--duration', '5', '--metrics-host', '127.0.0.1', '--metrics-port', '0', '--seed', '7'], {
      cwd: work,
      onStderr: (all) => {
        const url = /metrics at (http:\/\/\S+\/metrics)/.exec(all)?.[1];
        if (url && !metrics) metrics = new Promise((resolve) => setTimeout(resolve, 2500)).then(() => fetch(url)).then((r) => r.text());
      },
    });
    assert.equal(ran.code, 0, ran.stderr);
    assert.ok(metrics, `the demo said where its metrics are:\n${ran.stderr}`);
    const scraped = await metrics;
    assert.match(scraped, /^das_events_total\{stream="aws-rds-das-[^"]+",type="record"\} [1-9]/m);
    const events = ran.stdout.trim().split('\n').filter((l) => l.length > 0);
    assert.ok(events.length >= 20, `events on stdout:\n${ran.stdout.slice(0, 500)}`);
    assert.match(ran.stderr, /stopping/);
  });

  describe('`replay` against a KMS', () => {
    const kms = new LocalKms();
    let endpoint: string;
    let input: string;
    const example = readJsonFixture(path.join(DECRYPTED_EXAMPLES, 'aurora-postgresql-select.json')) as {
      databaseActivityEvents: { clusterId: string; instanceId: string; databaseActivityEventList: Record<string, unknown>[] };
    };
    const cluster = example.databaseActivityEvents.clusterId;

    before(async () => {
      ({ endpoint } = await kms.listen(0, '127.0.0.1'));
      const keyId = kms.createKey().keyId;
      const client = new KMSClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
      const factory = new DasRecordFactory({ resourceId: cluster, dataKeys: kmsDataKeySource(client, keyId), profile: AURORA_POSTGRESQL });
      const [documented] = example.databaseActivityEvents.databaseActivityEventList;
      const records: Uint8Array[] = [];
      for (let i = 0; i < 3; i++) {
        const events = [{ ...documented, statementId: i + 1, commandText: `SELECT * FROM orders WHERE id = ${i}` }];
        records.push(await factory.record({ clusterId: cluster, instanceId: example.databaseActivityEvents.instanceId, events }));
      }
      client.destroy();
      input = path.join(work, 'records.ndjson');
      writeFileSync(input, records.map((r) => Buffer.from(r).toString('utf8')).join('\n') + '\n');
    });

    after(() => kms.close());

    it('decrypts a file of records and writes one JSON line per event', async () => {
      const env = { ...withoutAwsConfig(cleanEnv()), AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example', AWS_ENDPOINT_URL_KMS: endpoint };
      const ran = await runInstalled(bin, ['replay', '--resource-id', cluster, input], { cwd: work, env });
      assert.equal(ran.code, 0, ran.stderr);
      const lines = ran.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.equal(lines.length, 3);
      assert.deepEqual(
        lines.map((l) => JSON.stringify(l)).map((l) => /SELECT \* FROM orders WHERE id = (\d)/.exec(l)?.[1]),
        ['0', '1', '2'],
      );
    });

    it('with --policy, writes the events the policy keeps, marked, and a count per rule; the shipped policies pass `policy check`', async () => {
      const env = { ...withoutAwsConfig(cleanEnv()), AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret-example', AWS_ENDPOINT_URL_KMS: endpoint };
      const policy = path.join(work, 'policy.yaml');
      writeFileSync(policy, 'version: 1\nmode: all-match\nrules:\n  - name: orders\n    match: { objects: [orders] }\n    action: alert\n    severity: error\n  - name: never\n    match: { user: nobody }\n    action: drop\n');
      const ran = await runInstalled(bin, ['replay', '--policy', policy, '--resource-id', cluster, input], { cwd: work, env });
      assert.equal(ran.code, 0, ran.stderr);
      const lines = ran.stdout.trim().split('\n').map((l) => JSON.parse(l) as { policy?: unknown });
      assert.deepEqual(lines.map((l) => l.policy), Array(3).fill({ matched: ['orders'], severity: 'error' }));
      assert.match(ran.stderr, /policy rule orders \(alert\): 3 event\(s\) matched\n.*policy rule never \(drop\): 0 event\(s\) dropped/s);
      for (const shipped of ['default.yaml', 'examples/pci-dss-10.2.yaml', 'examples/off-hours-ddl.yaml', 'examples/new-user-or-host.yaml']) {
        const checked = await runInstalled(bin, ['policy', 'check', path.join(installed, 'policies', shipped)], { cwd: work, env: cleanEnv() });
        assert.equal(checked.code, 0, checked.stderr);
      }
      // A drop rule: nothing is written, and stderr says how many it dropped.
      writeFileSync(policy, 'version: 1\nmode: first-match\nrules:\n  - name: admin-reads\n    match: { user: rdsadmin, class: READ }\n    action: drop\n');
      const dropped = await runInstalled(bin, ['replay', '--policy', policy, '--resource-id', cluster, input], { cwd: work, env });
      assert.equal(dropped.code, 0, dropped.stderr);
      assert.equal(dropped.stdout, '');
      assert.match(dropped.stderr, /wrote 0 event\(s\)\n.*policy rule admin-reads \(drop\): 3 event\(s\) dropped/s);
      const bad = await runInstalled(bin, ['replay', '--policy', path.join(work, 'missing.yaml'), input], { cwd: work, env });
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /invalid policy .*missing\.yaml.*cannot be read \(ENOENT\)/s);
    });
  });

  /** A project that depends on the installed package, as `npm install das-exporter` would leave it. */
  function consumerProject(name: string): string {
    const dir = path.join(work, name);
    mkdirSync(path.join(dir, 'node_modules'), { recursive: true });
    symlinkSync(installed, path.join(dir, 'node_modules', PACKAGE.name));
    return dir;
  }

  it('is a library plain Node imports, both entries', () => {
    const dir = consumerProject('js-consumer');
    writeFileSync(
      path.join(dir, 'consumer.mjs'),
      "const m = await import('das-exporter'); const l = await import('das-exporter/lambda');\n" +
        'console.log(typeof m.loadConfig, typeof m.Pipeline, typeof l.createLambdaHandler);\n',
    );
    const { stdout } = mustRun(process.execPath, ['consumer.mjs'], { cwd: dir, env: cleanEnv(), timeoutMs: 60_000 });
    assert.equal(stdout.trim(), 'function function function');
  });

  it("gives a TypeScript consumer the library's types", () => {
    const dir = consumerProject('ts-consumer');
    writeFileSync(
      path.join(dir, 'consumer.ts'),
      [
        "import { loadConfig, type Config, type ActivityEvent } from 'das-exporter';",
        "import type { KinesisStreamEvent } from 'das-exporter/lambda';",
        "const config: Config = loadConfig({ streams: ['aws-rds-das-cluster-ABC'] });",
        'export const port: number = config.metricsPort;',
        'export const engineOf = (e: ActivityEvent): string => e.engine;',
        'export const records = (e: KinesisStreamEvent): number => e.Records.length;',
        // A wrong use must fail: the types are real, not `any`.
        '// @ts-expect-error metricsPort is a number',
        'export const wrong: string = config.metricsPort;',
        '',
      ].join('\n'),
    );
    const tsc = path.join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');
    mustRun(
      process.execPath,
      [tsc, '--noEmit', '--strict', '--module', 'nodenext', '--moduleResolution', 'nodenext', '--target', 'es2022', '--skipLibCheck', '--typeRoots', path.join(REPO, 'node_modules', '@types'), '--types', 'node', 'consumer.ts'],
      { cwd: dir, timeoutMs: 120_000 },
    );
  });

  describe('installed without optional dependencies (--omit=optional)', () => {
    let lean: string;

    before(() => {
      // Into a project, as a lean production install does it (npm applies --omit=optional
      // to a project's tree; a global install keeps the top package's optional dependencies).
      const project = path.join(work, 'lean');
      mkdirSync(project);
      mustRun('npm', ['install', '--prefix', project, '--omit=dev', '--omit=optional', '--no-audit', '--no-fund', '--loglevel=error', packTarball().tarball], { cwd: project });
      lean = path.join(project, 'node_modules', '.bin', 'das-exporter');
      assert.ok(!installedPackages(path.join(project, 'node_modules')).has('kinesalite'), 'kinesalite was left out');
    });

    it('runs `run --help` and `replay` without kinesalite', async () => {
      const help = await runInstalled(lean, ['run', '--help'], { cwd: work });
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--stream/);
      const replay = await runInstalled(lean, ['replay', '-'], { cwd: work, env: { ...withoutAwsConfig(cleanEnv()), AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' } });
      assert.equal(replay.code, 0, replay.stderr);
    });

    it('refuses `demo` saying which dependency is missing, with exit 2', async () => {
      const ran = await runInstalled(lean, ['demo', '--duration', '1', '--metrics-port', '0'], { cwd: work });
      assert.equal(ran.code, 2);
      assert.match(ran.stderr, /the demo needs kinesalite, an optional dependency this installation left out/);
    });
  });
});
