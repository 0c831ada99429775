#!/usr/bin/env node
// `npm test`: build, type check, then every test and the fault suite, as CI
// runs them. `npm test -- <file…>` builds, type checks and runs only those
// files (test/faults/… files with the fault suite's settings), so one file
// can be run alone without the configs' spec globs pulling in the rest.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);

function run(command, args) {
  const result = spawnSync(command, args, { stdio: 'inherit', shell: false });
  if (result.error) throw result.error;
  if (result.status !== 0) process.exit(result.status ?? 1);
}

const npx = (...args) => run('npx', ['--no-install', ...args]);

/** A mocha config file's options as flags, without its spec and ignore globs. */
function configFlags(file) {
  const config = JSON.parse(readFileSync(file, 'utf8'));
  const flags = ['--no-config'];
  for (const [key, value] of Object.entries(config)) {
    if (key === 'spec' || key === 'ignore') continue;
    for (const v of [value].flat()) flags.push(`--${key}`, ...(v === true ? [] : [String(v)]));
  }
  return flags;
}

run('npm', ['run', '--silent', 'build']);
npx('tsc', '--noEmit', '-p', '.');
if (files.length === 0) {
  npx('mocha');
  npx('mocha', '--config', '.mocharc.faults.json');
} else {
  const faults = files.filter((f) => f.replace(/^\.\//, '').startsWith('test/faults/'));
  const others = files.filter((f) => !faults.includes(f));
  if (others.length > 0) npx('mocha', ...configFlags('.mocharc.json'), ...others);
  if (faults.length > 0) npx('mocha', ...configFlags('.mocharc.faults.json'), ...faults);
}
