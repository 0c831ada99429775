/**
 * Writes deploy/kubernetes/prometheus-rule.yaml, the Prometheus Operator
 * PrometheusRule carrying deploy/prometheus/rules.yaml unchanged (comments
 * included), so Kubernetes and the compose stack run the same rules.
 *
 *   npx tsx deploy/kubernetes/prometheus-rule.ts
 *
 * test/deploy checks that the committed manifest is this function's output.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RULES_PATH = fileURLToPath(new URL('../prometheus/rules.yaml', import.meta.url));
export const MANIFEST_PATH = fileURLToPath(new URL('./prometheus-rule.yaml', import.meta.url));

const HEADER = `# Generated from deploy/prometheus/rules.yaml by deploy/kubernetes/prometheus-rule.ts: do not edit.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: das-exporter
  namespace: das-exporter
  labels:
    app.kubernetes.io/name: das-exporter
spec:
`;

/** The manifest for a rules file: its text under \`spec:\`, indented one level. */
export function prometheusRuleManifest(rulesYaml: string): string {
  const body = rulesYaml
    .replace(/\n+$/, '')
    .split('\n')
    .map((line) => (line === '' ? '' : `  ${line}`))
    .join('\n');
  return `${HEADER}${body}\n`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(MANIFEST_PATH, prometheusRuleManifest(readFileSync(RULES_PATH, 'utf8')));
  console.log(`wrote ${MANIFEST_PATH}`);
}
