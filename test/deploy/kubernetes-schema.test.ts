/**
 * deploy/kubernetes as a cluster would take it: the kustomization rendered
 * by the real kustomize, and every object it renders checked two ways
 * against the official Kubernetes OpenAPI schemas (and the Prometheus
 * Operator's CRD schemas), as packaged by the kubernetes-models family:
 * - the JSON-schema validators each model class carries (types, required
 *   fields, enums, formats), as the API server validates;
 * - the TypeScript interfaces generated from the same schemas, with the
 *   object as a literal, so that a field the schema does not have is an
 *   error, as kubectl's default strict field validation makes it.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadAll } from 'js-yaml';
import { Deployment } from 'kubernetes-models/apps/v1';
import { Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import ts from 'typescript';
import { REPO, mustPass, readYaml } from './tools.ts';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec?: Record<string, any>;
}

/** Each kind the manifests use: its validating model and the module and interface of its generated type. */
const KINDS: Record<string, { model: { new (data: any): { validate(): void } }; module: string; type: string }> = {
  'apps/v1 Deployment': { model: Deployment, module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'v1 Namespace': { model: Namespace, module: 'kubernetes-models/v1/Namespace', type: 'INamespace' },
  'v1 Service': { model: Service, module: 'kubernetes-models/v1/Service', type: 'IService' },
  'v1 ServiceAccount': { model: ServiceAccount, module: 'kubernetes-models/v1/ServiceAccount', type: 'IServiceAccount' },
  'monitoring.coreos.com/v1 ServiceMonitor': { model: ServiceMonitor, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', type: 'IServiceMonitor' },
  'monitoring.coreos.com/v1 PrometheusRule': { model: PrometheusRule, module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', type: 'IPrometheusRule' },
};

const K8S = path.join(REPO, 'deploy/kubernetes');

function render(): KubeObject[] {
  const out = mustPass('kustomize', ['build', K8S]);
  return (loadAll(out) as KubeObject[]).filter((o) => o !== null);
}

/** TypeScript's diagnostics for `objects` assigned, as literals, to their generated interfaces. */
function typeErrors(objects: KubeObject[]): string[] {
  const file = path.join(REPO, 'test/deploy/__rendered-manifests__.ts');
  const imports = new Map<string, string>();
  const lines: string[] = [];
  objects.forEach((object, i) => {
    const kind = KINDS[`${object.apiVersion} ${object.kind}`]!;
    imports.set(kind.module, kind.type);
    lines.push(`// ${object.kind}/${object.metadata.name}\nexport const object${i}: ${kind.type} = ${JSON.stringify(object, null, 2)};`);
  });
  const source = [...[...imports].map(([module, type]) => `import type { ${type} } from '${module}';`), ...lines].join('\n');
  const options: ts.CompilerOptions = { strict: true, noEmit: true, module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] };
  const host = ts.createCompilerHost(options);
  const read = host.readFile.bind(host);
  const getSourceFile = host.getSourceFile.bind(host);
  host.readFile = (name) => (name === file ? source : read(name));
  host.fileExists = ((exists) => (name: string) => name === file || exists(name))(host.fileExists.bind(host));
  host.getSourceFile = (name, version, ...rest) => (name === file ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest));
  const program = ts.createProgram([file], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : undefined;
    const context = where ? source.split('\n').slice(0, where.line + 1).reverse().find((l) => l.startsWith('// ')) : undefined;
    return `${context ?? ''} line ${(where?.line ?? 0) + 1}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
}

describe('Kubernetes manifests against the official schemas', function () {
  this.timeout(120_000);
  let objects: KubeObject[];

  before(() => {
    objects = render();
  });

  it('the kustomization renders every manifest it lists, in the das-exporter namespace, which it creates', () => {
    const listed = (readYaml(path.join(K8S, 'kustomization.yaml')) as { resources: string[] }).resources;
    assert.equal(objects.length, listed.length);
    assert.deepEqual(objects.map((o) => o.kind).sort(), ['Deployment', 'Namespace', 'PrometheusRule', 'Service', 'ServiceAccount', 'ServiceMonitor']);
    // A fresh cluster refuses namespaced objects whose namespace does not exist: the apply creates it.
    const namespace = objects.find((o) => o.kind === 'Namespace')!;
    assert.equal(namespace.metadata.name, 'das-exporter');
    for (const object of objects.filter((o) => o.kind !== 'Namespace')) assert.equal(object.metadata.namespace, 'das-exporter', `${object.kind}/${object.metadata.name}`);
  });

  it('every rendered object passes its schema validator', () => {
    for (const object of objects) {
      const kind = KINDS[`${object.apiVersion} ${object.kind}`];
      assert.ok(kind, `no schema known for ${object.apiVersion} ${object.kind}`);
      assert.doesNotThrow(() => new kind.model(object).validate(), `${object.kind}/${object.metadata.name}`);
    }
  });

  it('no rendered object has a field its schema does not define (strict field validation)', () => {
    assert.deepEqual(typeErrors(objects), []);
  });

  it('the checks catch what a cluster would refuse: a misspelt field, a string replica count', () => {
    const deployment = structuredClone(objects.find((o) => o.kind === 'Deployment')!);
    deployment.spec!.template.spec.containers[0].readinesProbe = deployment.spec!.template.spec.containers[0].readinessProbe;
    assert.match(typeErrors([deployment]).join('\n'), /readinesProbe/);
    deployment.spec!.replicas = 'three';
    assert.throws(() => new Deployment(deployment as any).validate(), /replicas must be integer/);
  });

  it('the Deployment runs the image of this version on a read-only root, with the state volume mounted', () => {
    const version = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    const pod = objects.find((o) => o.kind === 'Deployment')!.spec!.template.spec;
    const container = pod.containers[0];
    assert.equal(container.image, `ghcr.io/das-exporter/das-exporter:${version}`);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.deepEqual(container.volumeMounts.map((m: { mountPath: string }) => m.mountPath), ['/var/lib/das-exporter']);
  });
});
