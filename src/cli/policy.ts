/**
 * `das-exporter policy check <file>`: validates an audit policy and prints
 * its rules, or every problem with its line and column (exit 2).
 * `das-exporter policy loki-rules <file>`: prints the Loki ruler rules of its
 * alert rules (policy/loki-rules.ts).
 */
import path from 'node:path';
import { readPolicyFile } from '../policy/document.ts';
import { lokiRules } from '../policy/loki-rules.ts';
import type { CliIo } from './main.ts';

export function policyCheckCommand(file: string, io: CliIo): number {
  const policy = readPolicyFile(file);
  io.stdout.write(`${file}: valid, ${policy.mode}, ${policy.rules.length} rule(s)\n`);
  for (const rule of policy.rules) io.stdout.write(`  ${rule.name}: ${rule.action}${rule.severity ? ` (${rule.severity})` : ''}${rule.force ? ', force' : ''}\n`);
  return 0;
}

export function policyLokiRulesCommand(file: string, io: CliIo): number {
  io.stdout.write(lokiRules(readPolicyFile(file), path.basename(file).replace(/\.ya?ml$/, '')));
  return 0;
}
