/**
 * deploy/Dockerfile, as far as this machine can build it. No container
 * engine here can pull a base image, so the test reads the Dockerfile's
 * stages, then assembles the image's filesystem the way they do: the same
 * `npm pack` tarball, the same install command (deploy/image/install.sh)
 * with the same arguments, into a staging folder standing for `/`. It then
 * runs the image's ENTRYPOINT, CMD and HEALTHCHECK from there as the image
 * would: as an unprivileged user (uid 1000, the node image's `node`) on a
 * tree it cannot write, with only the state volume writable, against
 * kinesalite and the local KMS.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import { KMSClient } from '@aws-sdk/client-kms';
import { LocalKms } from '../../src/demo/local-kms.ts';
import { AURORA_POSTGRESQL, DasRecordFactory, kmsDataKeySource } from '../../src/demo/record-factory.ts';
import { withoutAwsConfig } from '../support/aws-env.ts';
import { createStream, startKinesalite, waitActive, type LocalKinesis } from '../support/kinesalite.ts';
import { PACKAGE, REPO, mustRun, packTarball } from '../support/package.ts';
import { rawPostgresSelect } from '../support/raw-events.ts';

interface Instruction {
  keyword: string;
  args: string;
}

interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** The Dockerfile's stages in order, continuation lines joined, comments dropped. */
function parseDockerfile(text: string): { args: Map<string, string>; stages: Stage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  for (const line of lines) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const instruction = { keyword: keyword.toUpperCase(), args: rest.join(' ') };
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      assert.ok(match, `FROM ${instruction.args}`);
      stages.push({ from: match[1]!, name: match[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [name = '', value = ''] = instruction.args.split('=');
      args.set(name, value);
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile(readFileSync(path.join(REPO, 'deploy/Dockerfile'), 'utf8'));
const stage = (name: string): Stage => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `the Dockerfile has a stage ${name}`);
  return found;
};
const all = (s: Stage, keyword: string) => s.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
const one = (s: Stage, keyword: string): string => {
  const found = all(s, keyword);
  assert.equal(found.length, 1, `${s.name} has one ${keyword}`);
  return found[0]!;
};
const execForm = (args: string): string[] => JSON.parse(args) as string[];

/** The stages the runtime and demo images are made of: a final stage and the base it extends. */
function imageInstructions(name: string): Instruction[] {
  const final = stage(name);
  return [...stage(final.from).instructions, ...final.instructions];
}

/** A free TCP port on 127.0.0.1 (the exporter's metrics port must be known to the healthcheck). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('container image (deploy/Dockerfile)', function () {
  this.timeout(300_000);

  describe('as written', () => {
    it('packs the repository in one stage and installs that tarball with deploy/image/install.sh in the next', () => {
      const pack = all(stage('package'), 'RUN').join(' && ');
      assert.match(pack, /npm run build && .*npm pack --ignore-scripts --pack-destination \/pkg/);
      assert.ok(all(stage('install'), 'COPY').some((c) => c === 'deploy/image/install.sh /usr/local/bin/das-exporter-install'));
      assert.ok(all(stage('install'), 'COPY').some((c) => c === '--from=package /pkg/*.tgz /pkg/'));
    });

    it('the package stage builds and packs from exactly what it copies, within the .dockerignore', () => {
      // The context BuildKit sends: the repository's files the .dockerignore lets through.
      const rules = readFileSync(path.join(REPO, 'deploy/Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      assert.equal(rules[0], '**', 'the .dockerignore starts by excluding everything');
      const allowed = rules.slice(1).map((r) => { assert.ok(r.startsWith('!'), r); return r.slice(1); });
      const inContext = (file: string) => allowed.some((a) => (a.endsWith('/**') ? file.startsWith(a.slice(0, -2)) : file === a));
      const work = mkdtempSync(path.join(tmpdir(), 'das-package-stage-'));
      try {
        for (const args of all(stage('package'), 'COPY')) {
          const parts = args.split(/\s+/);
          const destination = parts.pop()!;
          for (const source of parts) {
            assert.ok(existsSync(path.join(REPO, source)), `COPY ${source}: no such file in the repository`);
            const files = statSync(path.join(REPO, source)).isDirectory() ? readdirSync(path.join(REPO, source), { recursive: true }).map((f) => path.join(source, String(f))).filter((f) => statSync(path.join(REPO, f)).isFile()) : [source];
            for (const file of files) {
              assert.ok(inContext(file), `COPY ${file}: the .dockerignore leaves it out of the build context`);
              const target = destination.endsWith('/') || parts.length > 1 || files.length > 1 || statSync(path.join(REPO, source)).isDirectory()
                ? path.join(work, destination, path.relative(statSync(path.join(REPO, source)).isDirectory() ? source : path.dirname(source), file))
                : path.join(work, destination);
              mkdirSync(path.dirname(target), { recursive: true });
              copyFileSync(path.join(REPO, file), target);
            }
          }
        }
        // `npm ci` as the stage runs it, from the repository's own install (no network in the test).
        symlinkSync(path.join(REPO, 'node_modules'), path.join(work, 'node_modules'));
        mustRun('npm', ['run', 'build'], { cwd: work });
        const { stdout } = mustRun('npm', ['pack', '--ignore-scripts', '--dry-run', '--json'], { cwd: work });
        const files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
        assert.ok(files.includes('dist/cli/main.js') && files.includes('bin/das-exporter.js'), files.join(', '));
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    });

    it('is on a slim Node.js 20 or later base', () => {
      const base = dockerfile.args.get('NODE_IMAGE') ?? '';
      const match = /^node:(\d+)-(?:bookworm-)?slim$/.exec(base);
      assert.ok(match, `NODE_IMAGE ${base}`);
      assert.ok(Number(match[1]) >= 20);
      for (const s of dockerfile.stages) assert.ok(s.from === '${NODE_IMAGE}' || dockerfile.stages.some((o) => o.name === s.from), `stage ${s.name} is FROM ${s.from}`);
    });

    it('runs as the unprivileged node user, state in a volume, port 9464, a HEALTHCHECK on /healthz, OCI labels', () => {
      const base = stage('base');
      assert.equal(one(base, 'USER'), 'node');
      assert.equal(one(base, 'EXPOSE'), '9464');
      assert.deepEqual(execForm(one(base, 'VOLUME')), ['/var/lib/das-exporter']);
      assert.match(one(base, 'ENV'), /DAS_STATE_DIR=\/var\/lib\/das-exporter/);
      assert.match(one(base, 'HEALTHCHECK'), /CMD \["node", "\/opt\/das-exporter\/bin\/das-exporter\.js", "healthcheck"\]$/);
      const labels = one(base, 'LABEL');
      for (const key of ['title', 'description', 'licenses', 'source', 'version', 'revision', 'created']) assert.match(labels, new RegExp(`org\\.opencontainers\\.image\\.${key}=`), key);
      assert.match(labels, /org\.opencontainers\.image\.licenses="Apache-2\.0"/);
    });

    it('builds the runtime (no demo dependencies) by default, the demo on --target demo', () => {
      assert.equal(dockerfile.stages.at(-1)?.name, 'runtime', 'the last stage is the default target');
      assert.equal(stage('runtime').from, 'base');
      assert.equal(stage('demo').from, 'base');
      assert.deepEqual(execForm(one(stage('demo'), 'CMD')), ['demo']);
      assert.match(all(stage('install'), 'RUN').join(' '), /das-exporter-install --omit-optional \S+ \S+ \/opt\/das-exporter(\s|$)/);
    });
  });

  describe('its filesystem, assembled as the stages do', () => {
    let root: string;
    let stateDir: string;
    const asImageUser = process.getuid?.() === 0;

    before(() => {
      root = mkdtempSync(path.join(tmpdir(), 'das-image-'));
      chmodSync(root, 0o755);
      const { tarball } = packTarball();
      // The install stage's RUN, argument for argument: /pkg/… are the tarball and the lockfile it copies in.
      const run = all(stage('install'), 'RUN').join(' && ');
      const commands = run.split('&&').map((c) => c.trim().split(/\s+/));
      assert.ok(commands.length >= 2);
      for (const [command, ...args] of commands) {
        assert.equal(command, 'das-exporter-install');
        const mapped = args.map((a) => (a === '/pkg/das-exporter-*.tgz' ? tarball : a === '/pkg/package-lock.json' ? path.join(REPO, 'package-lock.json') : a.startsWith('/') ? path.join(root, a) : a));
        mustRun(path.join(REPO, 'deploy/image/install.sh'), mapped, { cwd: root });
      }
      // The base stage's volume, owned by the image's user; everything else read-only to it.
      stateDir = path.join(root, 'var/lib/das-exporter');
      mkdirSync(stateDir, { recursive: true });
      if (asImageUser) {
        chownSync(stateDir, 1000, 1000);
        mustRun('chmod', ['-R', 'go-w', path.join(root, 'opt')]);
      }
    });

    after(() => rmSync(root, { recursive: true, force: true }));

    /** A command of the image (exec form, paths inside the image) as the image runs it. */
    function imageCommand(argv: string[], image: 'runtime' | 'demo'): { command: string; args: string[] } {
      const copy = all(stage(image), 'COPY').find((c) => c.startsWith('--from=install '));
      assert.ok(copy, `${image} copies the installed tree`);
      const [, from = '', to = ''] = copy.split(/\s+/);
      const mapped = argv.map((a) => (a.startsWith(to) ? path.join(root, from, a.slice(to.length)) : a));
      const [node = '', ...rest] = mapped;
      assert.equal(node, 'node');
      const command = asImageUser ? 'setpriv' : process.execPath;
      const args = asImageUser ? ['--reuid=1000', '--regid=1000', '--clear-groups', process.execPath, ...rest] : rest;
      return { command, args };
    }

    function imageEnv(image: 'runtime' | 'demo', extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
      const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: '/nonexistent', ...extra };
      for (const env1 of imageInstructions(image).filter((i) => i.keyword === 'ENV').map((i) => i.args)) {
        for (const [, key, value] of env1.matchAll(/(\w+)=(\S+)/g)) env[key!] = key === 'DAS_STATE_DIR' ? stateDir : value;
      }
      return env;
    }

    function start(image: 'runtime' | 'demo', args: string[] | undefined, env: NodeJS.ProcessEnv) {
      const entrypoint = execForm(one(stage('base'), 'ENTRYPOINT'));
      const cmd = args ?? execForm(all(stage(image), 'CMD')[0] ?? one(stage('base'), 'CMD'));
      const { command, args: argv } = imageCommand([...entrypoint, ...cmd], image);
      const child = spawn(command, argv, { cwd: stateDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      return { child, exited, output: () => ({ stdout, stderr }) };
    }

    function healthcheck(env: NodeJS.ProcessEnv): number | null {
      const cmd = execForm(/CMD (\[.*\])$/.exec(one(stage('base'), 'HEALTHCHECK'))![1]!);
      const { command, args } = imageCommand(cmd, 'runtime');
      return spawnSync(command, args, { cwd: stateDir, env, encoding: 'utf8', timeout: 30_000 }).status;
    }

    it('ships the audit policies, which the runtime image validates where they are installed', async () => {
      const { child, exited, output } = start('runtime', ['policy', 'check', '/opt/das-exporter/policies/default.yaml'], imageEnv('runtime'));
      assert.equal(await exited, 0, output().stderr);
      assert.match(output().stdout, /default\.yaml: valid, all-match, 4 rule\(s\)/);
      child.kill();
      assert.ok(readdirSync(path.join(root, 'opt/das-exporter/policies/examples')).includes('pci-dss-10.2.yaml'));
    });

    it('the runtime holds no demo dependency, no build or test tool', () => {
      const modules = readdirSync(path.join(root, 'opt/das-exporter/node_modules'));
      for (const name of ['kinesalite', 'tsx', 'typescript', 'mocha', 'esbuild']) assert.ok(!modules.includes(name), name);
      assert.ok(readdirSync(path.join(root, 'opt/das-exporter-demo/node_modules')).includes('kinesalite'), 'the demo tree has kinesalite');
      const installed = JSON.parse(readFileSync(path.join(root, 'opt/das-exporter/package.json'), 'utf8')) as { version: string };
      assert.equal(installed.version, PACKAGE.version);
    });

    it('its default command prints the help and exits 0', async () => {
      const run = start('runtime', undefined, imageEnv('runtime'));
      assert.equal(await run.exited, 0, run.output().stderr);
      assert.match(run.output().stdout, /Usage: das-exporter/);
    });

    describe('`run` against kinesalite and the local KMS', () => {
      const cluster = 'cluster-IMAGERUNTIME00000000000000';
      const stream = `aws-rds-das-${cluster}`;
      let kinesis: LocalKinesis;
      const kms = new LocalKms();
      let kmsEndpoint: string;

      before(async () => {
        kinesis = await startKinesalite();
        ({ endpoint: kmsEndpoint } = await kms.listen(0, '127.0.0.1'));
        const keyId = kms.createKey().keyId;
        await createStream(kinesis.client, stream, 1);
        await waitActive(kinesis.client, stream);
        const kmsClient = new KMSClient({ endpoint: kmsEndpoint, region: 'us-east-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
        const factory = new DasRecordFactory({ resourceId: cluster, dataKeys: kmsDataKeySource(kmsClient, keyId), profile: AURORA_POSTGRESQL });
        for (let n = 0; n < 5; n++) {
          const data = await factory.record({ clusterId: cluster, instanceId: 'db-IMAGEINSTANCE', events: [rawPostgresSelect(n, new Date(), `SELECT * FROM orders WHERE id = ${n}`)] });
          await kinesis.client.send(new PutRecordCommand({ StreamName: stream, PartitionKey: `p${n}`, Data: data }));
        }
        kmsClient.destroy();
      });

      after(async () => {
        await kinesis.stop();
        await kms.close();
      });

      it('delivers every event, is healthy by its HEALTHCHECK, writes only its volume, and stops on SIGTERM with exit 0', async () => {
        const port = await freePort();
        const env = imageEnv('runtime', {
          ...withoutAwsConfig({}),
          AWS_REGION: 'us-east-1',
          AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
          AWS_SECRET_ACCESS_KEY: 'secret-example',
          AWS_ENDPOINT_URL_KINESIS: kinesis.endpoint,
          AWS_ENDPOINT_URL_KMS: kmsEndpoint,
          DAS_METRICS_HOST: '127.0.0.1',
          DAS_METRICS_PORT: String(port),
          // A read-only root has no writable /tmp: a temp file the exporter wrote would fail the run.
          TMPDIR: '/nonexistent/tmp',
        });
        assert.equal(healthcheck(env), 1, 'unhealthy before the exporter runs');
        const run = start('runtime', ['run', '--stream', stream], env);
        try {
          const deadline = Date.now() + 60_000;
          while ((run.output().stdout.match(/SELECT \* FROM orders/g) ?? []).length < 5) {
            assert.ok(Date.now() < deadline, `five events on stdout; stderr:\n${run.output().stderr}`);
            await new Promise((r) => setTimeout(r, 100));
          }
          assert.equal(healthcheck(env), 0, 'healthy while it runs');
          run.child.kill('SIGTERM');
          assert.equal(await run.exited, 0, run.output().stderr);
          assert.ok(readdirSync(stateDir).some((f) => f.endsWith('.checkpoints.json')), 'checkpoints in the state volume');
        } finally {
          run.child.kill('SIGKILL');
        }
      });
    });

    it('the demo target runs `demo` as the image user', async () => {
      const demo = start('demo', ['demo', '--duration', '3', '--metrics-host', '127.0.0.1', '--metrics-port', '0'], imageEnv('demo', { TMPDIR: tmpdir() }));
      assert.equal(await demo.exited, 0, demo.output().stderr);
      assert.ok(demo.output().stdout.split('\n').length > 5, 'events on stdout');
    });
  });
});
