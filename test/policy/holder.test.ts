import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PolicyHolder, type ReloadResult } from '../../src/policy/holder.ts';
import { until } from '../support/until.ts';

const policy = (rule: string) => `version: 1\nmode: all-match\nrules:\n  - name: ${rule}\n    match: {}\n    action: tag\n`;

describe('policy reloads (PolicyHolder)', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), 'das-policy-holder-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('a good file replaces the policy and numbers it; a bad one keeps the running policy and says why, with its line', () => {
    const file = path.join(dir, 'p.yaml');
    writeFileSync(file, policy('first'));
    const holder = new PolicyHolder(file);
    const changed: number[] = [];
    holder.onChange((p) => changed.push(p.generation));
    writeFileSync(file, policy('second'));
    assert.equal(holder.reload().ok, true);
    assert.deepEqual([holder.current.generation, holder.current.document.rules[0]!.name, changed], [2, 'second', [2]]);
    writeFileSync(file, 'version: 1\nmode: all-match\nrules:\n  - nme: x\n');
    const refused = holder.reload();
    assert.equal(refused.ok, false);
    assert.match(refused.ok ? '' : refused.error, /p\.yaml:4:5: rules\.0: unknown key "nme"/);
    assert.deepEqual([holder.current.generation, holder.current.document.rules[0]!.name, changed], [2, 'second', [2]]);
    assert.match(holder.status().lastReloadError ?? '', /unknown key "nme"/);
    rmSync(file);
    assert.match((holder.reload() as { error: string }).error, /cannot be read \(ENOENT\)/);
    assert.equal(holder.current.document.rules[0]!.name, 'second');
  });

  it('with a watch: an editor replacing the file and a ConfigMap swapping its ..data link both reload it, once per change of text', async () => {
    // Kubernetes mounts a ConfigMap key as a link through ..data, a link to the current version, which an update swaps.
    writeFileSync(path.join(dir, '..v1.yaml'), policy('from-v1'));
    writeFileSync(path.join(dir, '..v2.yaml'), policy('from-v2'));
    symlinkSync(path.join(dir, '..v1.yaml'), path.join(dir, '..data'));
    const file = path.join(dir, 'p.yaml');
    symlinkSync(path.join(dir, '..data'), file);
    const holder = new PolicyHolder(file);
    const results: ReloadResult[] = [];
    holder.onReload((r) => results.push(r));
    holder.watch(50);
    try {
      assert.equal(holder.current.document.rules[0]!.name, 'from-v1');
      // The ConfigMap update: a new link renamed over ..data.
      symlinkSync(path.join(dir, '..v2.yaml'), path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until('the ConfigMap swap reloaded', () => (holder.current.document.rules[0]!.name === 'from-v2' ? true : undefined), 5_000);
      // An editor: a new file renamed over the old one.
      const plain = path.join(dir, 'plain.yaml');
      writeFileSync(plain, policy('plain-1'));
      const edited = new PolicyHolder(plain);
      edited.watch(50);
      try {
        writeFileSync(path.join(dir, 'plain.yaml.tmp'), policy('plain-2'));
        renameSync(path.join(dir, 'plain.yaml.tmp'), plain);
        await until('the editor save reloaded', () => (edited.current.document.rules[0]!.name === 'plain-2' ? true : undefined), 5_000);
      } finally {
        edited.close();
      }
      assert.equal(results.filter((r) => r.ok).length, 1, 'the editor files in the same directory did not reload the ConfigMap policy: its text did not change');
      // A bad version, then back to the good one: the error goes with the revert.
      writeFileSync(path.join(dir, '..v3.yaml'), 'version: 1\nmode: nonsense\nrules: []\n');
      symlinkSync(path.join(dir, '..v3.yaml'), path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until('the bad version refused', () => (holder.status().lastReloadError ? true : undefined), 5_000);
      symlinkSync(path.join(dir, '..v2.yaml'), path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      await until('the revert reloaded', () => (holder.status().lastReloadError === null ? true : undefined), 5_000);
      assert.equal(holder.current.document.rules[0]!.name, 'from-v2');
    } finally {
      holder.close();
    }
  });
});
