/**
 * The audit policies `npm run bench` measures (modes das-policy-n and
 * das-policy50-n): the shipped default policy, and a 50-rule policy in
 * all-match mode, so every rule is tried on every event, built from the
 * kinds of rule people write: users and databases by glob and regex, table
 * patterns, CIDRs, error codes, time windows in named zones, `unless`.
 * Most rules match nothing of the corpus; a few tag or alert on much of it.
 */
import { fileURLToPath } from 'node:url';
import { readPolicyFile, type PolicyDocument } from '../src/policy/document.ts';
import { parsePolicy } from '../src/policy/document.ts';

export function defaultPolicy(): PolicyDocument {
  return readPolicyFile(fileURLToPath(new URL('../policies/default.yaml', import.meta.url)));
}

export function fiftyRulePolicy(): PolicyDocument {
  const rules: string[] = [];
  const rule = (name: string, match: string, action: string, extra = '') => rules.push(`  - name: ${name}\n    match: ${match}\n    action: ${action}\n${extra}`);
  for (let i = 0; i < 10; i++) rule(`team-${i}-tables`, `{ objects: ["team${i}.*", "*.t${i}_audit*"] }`, 'tag', `    labels: { team: "t${i}" }\n`);
  for (let i = 0; i < 10; i++) rule(`svc-${i}-outside`, `{ user: "svc_${i}_*" }`, 'alert', `    unless: { remote_host: ["10.${i}.0.0/16", "192.168.${i}.0/24"] }\n    severity: warning\n`);
  for (let i = 0; i < 5; i++) rule(`db-${i}-regex`, `{ database: "/^(prod|stage)_${i}[a-z]*$/", class: [READ, WRITE] }`, 'tag');
  for (let i = 0; i < 5; i++) rule(`errors-${i}`, `{ outcome: failure, error_code: [${1040 + i}, ${42500 + i}, "${i}8456"] }`, 'alert', '    severity: error\n');
  for (let i = 0; i < 5; i++) rule(`night-ddl-${i}`, `{ class: DDL, time: { days: [sat, sun], hours: "0${i}:00-0${i + 1}:00", tz: Europe/Paris } }`, 'alert', '    severity: critical\n');
  for (let i = 0; i < 5; i++) rule(`apps-${i}`, `{ client_application: ["app-${i}*", "/worker-${i}$/i"], traced: true }`, 'tag');
  for (let i = 0; i < 5; i++) rule(`hosts-${i}`, `{ remote_host: ["172.${16 + i}.0.0/12", "fd${i}0::/16"], engine: [mysql, postgresql] }`, 'tag');
  // Three that match much of the demo traffic: reads, writes and logins.
  rule('all-reads', '{ class: READ }', 'tag', '    severity: info\n');
  rule('all-writes', '{ class: WRITE }', 'alert', '    severity: info\n');
  rule('logins', '{ class: LOGIN }', 'tag');
  rule('cards', '{ objects: ["*card*"] }', 'alert', '    severity: warning\n');
  rule('rds-noise', '{ user: rdsadmin, class: [READ, MISC], remote_host: [localhost, 127.0.0.0/8] }', 'drop');
  if (rules.length !== 50) throw new Error(`the bench policy has ${rules.length} rules, not 50`);
  return parsePolicy(`version: 1\nmode: all-match\nrules:\n${rules.join('')}`, 'bench 50-rule policy');
}
