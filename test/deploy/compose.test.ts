/**
 * deploy/compose.yaml: valid for docker-compose, everything it mounts or
 * builds from exists, and the mounted configurations pass their checks.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { parser as logqlParser } from '@grafana/lezer-logql';
import { readPolicyFile } from '../../src/policy/document.ts';
import { lokiRules, ruleListRegex } from '../../src/policy/loki-rules.ts';
import { loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { REPO, mustPass, readYaml } from './tools.ts';

const DEPLOY = join(REPO, 'deploy');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
}
const compose = readYaml(join(DEPLOY, 'compose.yaml')) as { services: Record<string, Service>; volumes?: Record<string, unknown> };

/** Bind mounts (host path, container path) of every service, host paths resolved against deploy/. */
function bindMounts(): { service: string; host: string; container: string }[] {
  return Object.entries(compose.services).flatMap(([service, spec]) =>
    (spec.volumes ?? []).flatMap((volume) => {
      const [source = '', target = ''] = volume.split(':');
      if (!source.startsWith('.') && !isAbsolute(source)) return []; // a named volume
      return [{ service, host: resolve(DEPLOY, source), container: target }];
    }),
  );
}

describe('compose stack', () => {
  it('docker-compose -f deploy/compose.yaml config passes', () => {
    mustPass('docker-compose', ['-f', 'deploy/compose.yaml', 'config', '--quiet']);
  });

  it('runs Grafana, Loki, Prometheus, Alertmanager, Tempo and das-exporter', () => {
    for (const service of ['grafana', 'loki', 'prometheus', 'alertmanager', 'tempo', 'das-exporter']) assert.ok(compose.services[service], service);
  });

  it('every bind-mounted file or folder exists', () => {
    const mounts = bindMounts();
    assert.ok(mounts.length >= 6);
    for (const { service, host } of mounts) assert.ok(existsSync(host), `${service} mounts ${host}, which does not exist`);
  });

  it("das-exporter runs the demo target of the repository's Dockerfile and sends logs to Loki over OTLP", () => {
    const exporter = compose.services['das-exporter'];
    assert.deepEqual(exporter?.command, ['demo']);
    assert.equal(exporter?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://loki:3100/otlp');
    const context = resolve(DEPLOY, exporter?.build?.context ?? '');
    assert.equal(context, resolve(REPO));
    const dockerfile = readFileSync(join(context, exporter?.build?.dockerfile ?? ''), 'utf8');
    // test/deploy/image.test.ts assembles and runs what that target holds.
    assert.match(dockerfile, new RegExp(`^FROM \\S+ AS ${exporter?.build?.target}$`, 'm'));
  });

  it('pins every image to a version tag, never latest', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.build) continue;
      assert.match(service.image ?? '', /^[\w./-]+:v?\d+\.\d+\.\d+$/, `${name}: ${service.image}`);
    }
  });

  it('Prometheus keeps exemplars and loads the mounted config and rules', () => {
    const prometheus = compose.services.prometheus;
    assert.ok(prometheus?.command?.includes('--enable-feature=exemplar-storage'));
    const mounted = bindMounts().filter((m) => m.service === 'prometheus').map((m) => m.container);
    assert.ok(mounted.includes('/etc/prometheus/prometheus.yml') && mounted.includes('/etc/prometheus/rules.yaml'));
  });

  it('the mounted Prometheus and Alertmanager files pass promtool and amtool', () => {
    for (const { host } of bindMounts()) {
      if (host.endsWith('prometheus.yml')) mustPass('promtool', ['check', 'config', host], dirname(host));
      if (host.endsWith('rules.yaml')) mustPass('promtool', ['check', 'rules', host]);
      if (host.endsWith('alertmanager.yml')) mustPass('amtool', ['check-config', host]);
    }
  });

  it('the Loki config promotes the DAS resource ids to index labels and allows structured metadata', () => {
    const loki = readYaml(join(DEPLOY, 'loki/config.yaml')) as {
      limits_config: { allow_structured_metadata: boolean; otlp_config: { resource_attributes: { attributes_config: { action: string; attributes: string[] }[] } } };
    };
    assert.equal(loki.limits_config.allow_structured_metadata, true);
    const promoted = loki.limits_config.otlp_config.resource_attributes.attributes_config.filter((c) => c.action === 'index_label').flatMap((c) => c.attributes);
    // The resource attribute names src/sinks/otlp/resource.ts sets; Loki turns the dots into underscores.
    assert.deepEqual(promoted.sort(), ['aws.rds.cluster_resource_id', 'aws.rds.instance_resource_id']);
  });

  it('the Tempo config parses and receives OTLP/HTTP, where das-exporter sends its database spans', () => {
    const tempo = readYaml(join(DEPLOY, 'tempo/config.yaml')) as { distributor: { receivers: { otlp: { protocols: { http: { endpoint: string } } } } } };
    const port = tempo.distributor.receivers.otlp.protocols.http.endpoint.split(':').at(-1);
    const env = compose.services['das-exporter']!.environment as Record<string, string>;
    assert.equal(env.OTEL_TRACES_EXPORTER, 'otlp');
    assert.equal(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, `http://tempo:${port}/v1/traces`);
    // The variables the exporter reads give that endpoint.
    assert.equal(loadOtlpEnvironment(env).traces?.endpoint, `http://tempo:${port}/v1/traces`);
  });
});

describe('Grafana provisioning', () => {
  const PROVISIONING = join(DEPLOY, 'grafana/provisioning');
  interface Datasource { name: string; uid: string; type: string; jsonData: Record<string, unknown> }
  const { datasources } = readYaml(join(PROVISIONING, 'datasources/datasources.yaml')) as { datasources: Datasource[] };
  const byUid = new Map(datasources.map((ds) => [ds.uid, ds]));

  it('provisions Prometheus, Loki and Tempo with the uids the dashboards use', () => {
    assert.equal(byUid.get('prometheus')?.type, 'prometheus');
    assert.equal(byUid.get('loki')?.type, 'loki');
    assert.equal(byUid.get('tempo')?.type, 'tempo');
  });

  it('links Loki trace_id to Tempo, Prometheus exemplars to Tempo, Tempo traces to Loki', () => {
    const derived = byUid.get('loki')?.jsonData.derivedFields as { matcherType: string; matcherRegex: string; datasourceUid: string }[];
    assert.ok(derived.some((f) => f.matcherType === 'label' && f.matcherRegex === 'trace_id' && f.datasourceUid === 'tempo'));
    const exemplars = byUid.get('prometheus')?.jsonData.exemplarTraceIdDestinations as { name: string; datasourceUid: string }[];
    assert.ok(exemplars.some((e) => e.name === 'trace_id' && e.datasourceUid === 'tempo'));
    const toLogs = byUid.get('tempo')?.jsonData.tracesToLogsV2 as { datasourceUid: string; query: string };
    assert.equal(toLogs.datasourceUid, 'loki');
    assert.match(toLogs.query, /trace_id="\$\$\{__trace\.traceId\}"/);
  });

  it("Tempo → Loki: a database span's trace id, put in the provisioned query, is valid LogQL filtering on the trace_id structured metadata", () => {
    const toLogs = byUid.get('tempo')?.jsonData.tracesToLogsV2 as { query: string; filterByTraceID: boolean };
    // `$$` is compose's escape of `$`; Grafana interpolates ${__trace.traceId} with the span's trace id.
    const query = toLogs.query.replaceAll('$${__trace.traceId}', '4bf92f3577b34da6a3ce929d0e0e4736');
    const errors: string[] = [];
    logqlParser.parse(query).iterate({ enter: (node) => void (node.type.isError && errors.push(`at ${node.from}`)) });
    assert.deepEqual(errors, [], query);
    // Loki keeps an OTLP log record's TraceId as the structured metadata trace_id (test/support/loki-receiver.ts, as
    // Loki's otlp.go does); test/cli/run-traces.test.ts checks each span's trace id is its audit record's trace_id.
    assert.match(query, /\| trace_id="4bf92f3577b34da6a3ce929d0e0e4736"$/);
  });

  it('the dashboards provider reads the folder compose mounts the dashboards into', () => {
    const { providers } = readYaml(join(PROVISIONING, 'dashboards/dashboards.yaml')) as { providers: { options: { path: string } }[] };
    const path = providers[0]?.options.path;
    const mount = bindMounts().find((m) => m.service === 'grafana' && m.container === path);
    assert.ok(mount, `nothing is mounted at ${path}`);
    assert.equal(mount.host, join(REPO, 'dashboards'));
    assert.ok(statSync(mount.host).isDirectory());
  });
});

describe('Loki ruler rules of the shipped policies (deploy/loki/rules)', () => {
  const RULES = join(DEPLOY, 'loki/rules/fake');
  const POLICIES = join(DEPLOY, '..', 'policies', 'examples');

  it('are what `das-exporter policy loki-rules` makes of each example policy, one alert per alert rule', () => {
    const examples = readdirSync(POLICIES).filter((f) => f.endsWith('.yaml')).sort();
    assert.deepEqual(readdirSync(RULES).sort(), examples);
    for (const file of examples) {
      const policy = readPolicyFile(join(POLICIES, file));
      const expected = lokiRules(policy, file.replace(/\.yaml$/, ''));
      assert.equal(readFileSync(join(RULES, file), 'utf8'), expected, `${file}: regenerate with das-exporter policy loki-rules`);
      const { groups } = readYaml(join(RULES, file)) as { groups: { rules: { alert: string; labels: Record<string, string> }[] }[] };
      assert.deepEqual(groups[0]!.rules.map((r) => r.labels.rule), policy.rules.filter((r) => r.action === 'alert').map((r) => r.name));
    }
  });

  it("parse with Loki's LogQL grammar (@grafana/lezer-logql), filter on das_policy_rule, and match a rule only as a whole list item", () => {
    for (const file of readdirSync(RULES)) {
      const { groups } = readYaml(join(RULES, file)) as { groups: { rules: { expr: string; labels: Record<string, string> }[] }[] };
      for (const rule of groups.flatMap((g) => g.rules)) {
        const errors: string[] = [];
        logqlParser.parse(rule.expr).iterate({ enter: (node) => void (node.type.isError && errors.push(`at ${node.from}`)) });
        assert.deepEqual(errors, [], `${file}: ${rule.expr}`);
        assert.match(rule.expr, /\| das_policy_rule=~"/);
      }
    }
    // RE2 in a LogQL string: the rule is an item of the comma-separated list, not a prefix of another name.
    const regex = new RegExp(`^${ruleListRegex('card-data').replace(/\\\\/g, '\\')}$`);
    assert.ok(regex.test('card-data') && regex.test('tag-a,card-data') && regex.test('card-data,other'));
    assert.ok(!regex.test('card-data-2') && !regex.test('old-card-data'));
  });

  it('are mounted where the Loki config puts the ruler, which sends to the Alertmanager of the stack', () => {
    const loki = readYaml(join(DEPLOY, 'loki/config.yaml')) as { common: { storage: { filesystem: { rules_directory: string } } }; ruler: { alertmanager_url: string } };
    assert.equal(loki.common.storage.filesystem.rules_directory, '/etc/loki/rules');
    assert.ok(bindMounts().some(({ host, container }) => host.endsWith('loki/rules') && container === '/etc/loki/rules'));
    assert.equal(loki.ruler.alertmanager_url, 'http://alertmanager:9093');
  });
});
