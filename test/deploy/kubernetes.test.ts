/** deploy/kubernetes and deploy/iam: the manifests agree with the rules, and IAM is least privilege. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, sep } from 'node:path';
import { MANIFEST_PATH, RULES_PATH, prometheusRuleManifest } from '../../deploy/kubernetes/prometheus-rule.ts';
import { REPO, readYaml } from './tools.ts';

const K8S = join(REPO, 'deploy/kubernetes');

describe('Kubernetes manifests', () => {
  it('prometheus-rule.yaml is generated from rules.yaml (run `npx tsx deploy/kubernetes/prometheus-rule.ts`)', () => {
    assert.equal(readFileSync(MANIFEST_PATH, 'utf8'), prometheusRuleManifest(readFileSync(RULES_PATH, 'utf8')));
  });

  it('the PrometheusRule\'s rules equal rules.yaml', () => {
    const manifest = readYaml(MANIFEST_PATH) as { kind: string; spec: unknown };
    assert.equal(manifest.kind, 'PrometheusRule');
    assert.deepEqual(manifest.spec, readYaml(RULES_PATH));
  });

  it('the Deployment runs several replicas sharing a DynamoDB lease table', () => {
    const deployment = readYaml(join(K8S, 'deployment.yaml')) as {
      spec: { replicas: number; template: { spec: { serviceAccountName: string; containers: { args: string[]; ports: { containerPort: number }[] }[] } } };
    };
    assert.ok(deployment.spec.replicas > 1);
    const container = deployment.spec.template.spec.containers[0];
    const args = container?.args ?? [];
    assert.equal(args[0], 'run');
    assert.equal(args[args.indexOf('--leases') + 1], 'dynamodb:das-exporter-leases');
    assert.ok(args.includes('--stream'));
    assert.equal(container?.ports[0]?.containerPort, 9464);
    assert.equal(deployment.spec.template.spec.serviceAccountName, 'das-exporter');
  });

  it('the ServiceAccount carries the IRSA role annotation', () => {
    const account = readYaml(join(K8S, 'serviceaccount.yaml')) as { metadata: { annotations: Record<string, string> } };
    assert.match(account.metadata.annotations['eks.amazonaws.com/role-arn'] ?? '', /^arn:aws:iam::\d{12}:role\//);
  });

  it('the ServiceMonitor scrapes the Service\'s metrics port as job das-exporter', () => {
    const service = readYaml(join(K8S, 'service.yaml')) as { metadata: { name: string; labels: Record<string, string> }; spec: { ports: { name: string; port: number }[] } };
    const monitor = readYaml(join(K8S, 'servicemonitor.yaml')) as { spec: { jobLabel: string; endpoints: { port: string }[] } };
    assert.equal(service.spec.ports[0]?.name, monitor.spec.endpoints[0]?.port);
    assert.equal(service.metadata.labels[monitor.spec.jobLabel], 'das-exporter');
  });
});

/** The TypeScript files under `dir`, src/demo left out (the demo talks to its own local emulators). */
function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !f.includes(`${sep}demo${sep}`));
}

describe('IAM policy', () => {
  const policy = JSON.parse(readFileSync(join(REPO, 'deploy/iam/policy.json'), 'utf8')) as {
    Version: string;
    Statement: { Effect: string; Action: string | string[]; Resource: string; Condition?: Record<string, Record<string, string>> }[];
  };
  const actions = (statement: { Action: string | string[] }) => [statement.Action].flat().sort();

  it('is valid JSON of version 2012-10-17 with no wildcard resources but the fan-out consumer\'s creation time', () => {
    assert.equal(policy.Version, '2012-10-17');
    for (const statement of policy.Statement) {
      assert.equal(statement.Effect, 'Allow');
      // A consumer ARN ends in its creation time (…/consumer/<name>:<epoch>), which no policy can know in advance.
      assert.doesNotMatch(statement.Resource.replace(/(\/consumer\/[A-Za-z0-9_.-]+):\*$/, '$1:EPOCH'), /\*/);
    }
  });

  it('subscribes only as the named fan-out consumer of the DAS stream, and registers it only there', () => {
    const register = policy.Statement.find((s) => actions(s).includes('kinesis:RegisterStreamConsumer'));
    assert.deepEqual(actions(register!), ['kinesis:ListStreamConsumers', 'kinesis:RegisterStreamConsumer']);
    assert.match(register!.Resource, /^arn:aws:kinesis:[^:]+:\d{12}:stream\/aws-rds-das-[^/]+$/);
    const subscribe = policy.Statement.find((s) => actions(s).includes('kinesis:SubscribeToShard'));
    assert.deepEqual(actions(subscribe!), ['kinesis:DeregisterStreamConsumer', 'kinesis:DescribeStreamConsumer', 'kinesis:SubscribeToShard']);
    assert.match(subscribe!.Resource, /^arn:aws:kinesis:[^:]+:\d{12}:stream\/aws-rds-das-[^/]+\/consumer\/das-exporter:\*$/);
  });

  it('reads only the DAS stream', () => {
    const kinesis = policy.Statement.find((s) => actions(s).some((a) => a.startsWith('kinesis:')));
    assert.deepEqual(actions(kinesis!), ['kinesis:DescribeStreamSummary', 'kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:ListShards']);
    assert.match(kinesis!.Resource, /^arn:aws:kinesis:[^:]+:\d{12}:stream\/aws-rds-das-/);
  });

  it('decrypts only with the cluster\'s encryption context', () => {
    const kms = policy.Statement.find((s) => actions(s).some((a) => a.startsWith('kms:')));
    assert.deepEqual(actions(kms!), ['kms:Decrypt']);
    const context = kms!.Condition?.StringEquals?.['kms:EncryptionContext:aws:rds:dbc-id'];
    assert.match(context ?? '', /^cluster-/);
  });

  it('uses only the lease table', () => {
    const dynamodb = policy.Statement.find((s) => actions(s).some((a) => a.startsWith('dynamodb:')));
    assert.deepEqual(actions(dynamodb!), ['dynamodb:CreateTable', 'dynamodb:DeleteItem', 'dynamodb:DescribeTable', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Scan', 'dynamodb:UpdateItem']);
    assert.match(dynamodb!.Resource, /:table\/das-exporter-leases$/);
  });

  it('grants exactly the AWS calls the service makes: every command src/ sends (the demo aside), nothing more', () => {
    const sent = new Set<string>();
    for (const file of sourceFiles(join(REPO, 'src'))) {
      const text = readFileSync(file, 'utf8');
      for (const [, names, service] of text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'@aws-sdk\/client-([a-z0-9-]+)'/g)) {
        for (const name of names!.split(',').map((n) => n.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0]!)) {
          if (name.endsWith('Command') && text.includes(`new ${name}(`)) sent.add(`${service}:${name.slice(0, -'Command'.length)}`);
        }
      }
    }
    assert.ok(sent.has('kinesis:GetRecords') && sent.has('kms:Decrypt'), `the scan found the SDK calls (${[...sent].join(', ')})`);
    assert.deepEqual(policy.Statement.flatMap(actions).sort(), [...sent].sort());
  });

  it('main.tf grants the same actions, with the encryption-context condition', () => {
    const terraform = readFileSync(join(REPO, 'deploy/iam/main.tf'), 'utf8');
    for (const statement of policy.Statement) for (const action of actions(statement)) assert.ok(terraform.includes(`"${action}"`), action);
    assert.match(terraform, /variable\s+= "kms:EncryptionContext:\$\{var\.encryption_context_key\}"/);
  });
});
