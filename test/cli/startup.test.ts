/**
 * What the command loads before it answers: `--help` and `--version` need
 * commander and nothing of the AWS SDK, the schema library or the demo, so
 * they answer in about the time Node itself starts (npm run bench:startup
 * measures it). Each command's own modules load only when it runs. Checked
 * on the compiled build, with a loader hook that records every module.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PACKAGE, REPO } from '../support/package.ts';

const HOOK = path.join(REPO, 'test/support/record-imports.mjs');
const HEAVY = [/@aws-sdk\//, /@smithy\//, /@aws-crypto\//, /\/kinesalite\//, /\/zod\//, /\/prom-client\//, /\/@opentelemetry\//, /\/dist\/demo\//, /\/dist\/app\.js/];

function loadedBy(args: string[]): { modules: string[]; stdout: string; status: number | null } {
  const dir = mkdtempSync(path.join(tmpdir(), 'das-imports-'));
  const file = path.join(dir, 'imports.txt');
  try {
    const result = spawnSync(process.execPath, ['--import', HOOK, path.join(REPO, 'bin/das-exporter.js'), ...args], {
      env: { PATH: process.env.PATH, DAS_TEST_IMPORTS_FILE: file },
      encoding: 'utf8',
    });
    return { modules: readFileSync(file, 'utf8').trim().split('\n'), stdout: result.stdout, status: result.status };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('command start-up', function () {
  this.timeout(60_000);

  for (const args of [['--help'], ['--version'], ['run', '--help'], ['demo', '--help']]) {
    it(`\`das-exporter ${args.join(' ')}\` loads commander and none of the AWS SDK, zod, prom-client, OpenTelemetry or the demo`, () => {
      const { modules, status } = loadedBy(args);
      assert.equal(status, 0);
      assert.ok(modules.some((m) => m.includes('/dist/cli/main.js')), 'the compiled build ran');
      assert.ok(modules.some((m) => m.includes('/commander/')));
      assert.deepEqual(modules.filter((m) => HEAVY.some((h) => h.test(m))), []);
    });
  }

  it('`--version` prints the version in package.json', () => {
    assert.equal(loadedBy(['--version']).stdout.trim(), PACKAGE.version);
  });

  it('the hook sees what a command does load: `healthcheck` loads its module and the schema, still no AWS SDK', () => {
    const { modules } = loadedBy(['healthcheck', '--metrics-port', '1']);
    assert.ok(modules.some((m) => m.includes('/dist/cli/healthcheck.js')));
    assert.ok(modules.some((m) => m.includes('/zod/')));
    assert.ok(!modules.some((m) => m.includes('@aws-sdk/')));
  });
});
