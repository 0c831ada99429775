import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/config.ts';
import { loadConfig } from '../../src/config/config.ts';
import { preflight } from '../../src/app.ts';
import { loadOtlpEnvironment, parseKeyValueList } from '../../src/sinks/otlp/config.ts';
import { lambdaDependenciesFromEnvironment } from '../../src/source/lambda.ts';
import { silentLogger } from '../../src/source/kinesis/observer.ts';

function problemsOf(env: NodeJS.ProcessEnv): readonly string[] {
  try {
    loadOtlpEnvironment(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems;
  }
  assert.fail('expected a ConfigError');
}

describe('OTLP exporter configuration from OTEL_* variables', () => {
  it('no endpoint: no exporter (log records go to stdout), defaults elsewhere', () => {
    const env = loadOtlpEnvironment({});
    assert.equal(env.exporter, null);
    assert.deepEqual(env.resource, { serviceName: null, resourceAttributes: {} });
  });

  it('OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/logs appended; defaults are http/protobuf, no compression, 10 s', () => {
    assert.deepEqual(loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://loki:3100/otlp/' }).exporter, {
      endpoint: 'http://loki:3100/otlp/v1/logs',
      headers: {},
      protocol: 'http/protobuf',
      compression: 'none',
      timeoutMs: 10000,
    });
    assert.equal(loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'https://collector:4318' }).exporter?.endpoint, 'https://collector:4318/v1/logs');
  });

  it('OTEL_EXPORTER_OTLP_LOGS_ENDPOINT is used as is, and signal-specific settings win', () => {
    const exporter = loadOtlpEnvironment({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://ignored:4318',
      OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: 'http://loki:3100/otlp/v1/logs',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_LOGS_TIMEOUT: '2500',
    }).exporter;
    assert.equal(exporter?.endpoint, 'http://loki:3100/otlp/v1/logs');
    assert.equal(exporter?.protocol, 'http/json');
    assert.equal(exporter?.compression, 'gzip');
    assert.equal(exporter?.timeoutMs, 2500);
  });

  it('headers are percent-decoded; logs headers override generic ones key by key', () => {
    const exporter = loadOtlpEnvironment({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://loki:3100/otlp',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20abc%3D%3D, X-Scope-OrgID=a',
      OTEL_EXPORTER_OTLP_LOGS_HEADERS: 'X-Scope-OrgID=b',
    }).exporter;
    assert.deepEqual(exporter?.headers, { Authorization: 'Basic abc==', 'X-Scope-OrgID': 'b' });
  });

  it('grpc is refused at start-up with a message naming the variable', () => {
    const problems = problemsOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' });
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported/);
    assert.match(problemsOf({ OTEL_EXPORTER_OTLP_LOGS_PROTOCOL: 'grpc' })[0]!, /^OTEL_EXPORTER_OTLP_LOGS_PROTOCOL/);
  });

  it('reports every bad value at once, naming each variable', () => {
    const problems = problemsOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'loki:3100',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd',
      OTEL_EXPORTER_OTLP_TIMEOUT: '-5',
      OTEL_RESOURCE_ATTRIBUTES: 'novalue',
    });
    assert.equal(problems.length, 4);
    assert.match(problems.join('\n'), /OTEL_EXPORTER_OTLP_ENDPOINT: expected an http/);
    assert.match(problems.join('\n'), /OTEL_EXPORTER_OTLP_COMPRESSION: expected gzip or none \(actual: "zstd"\)/);
    assert.match(problems.join('\n'), /OTEL_EXPORTER_OTLP_TIMEOUT: expected a whole number/);
    assert.match(problems.join('\n'), /OTEL_RESOURCE_ATTRIBUTES: entry 1 is not key=value/);
  });

  it('a malformed header is refused without quoting its value, nor URL credentials', () => {
    const problems = problemsOf({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'ftp://user:hunter2@host',
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Bearer%ZZsecret-token',
    });
    const text = problems.join('\n');
    assert.match(text, /OTEL_EXPORTER_OTLP_HEADERS: entry 1 has a malformed percent-encoding/);
    assert.ok(!text.includes('secret-token'));
    assert.ok(!text.includes('hunter2'));
  });

  it('OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME are read for the resource', () => {
    const env = loadOtlpEnvironment({ OTEL_SERVICE_NAME: 'das', OTEL_RESOURCE_ATTRIBUTES: 'a=1,b=x%2Cy' });
    assert.deepEqual(env.resource, { serviceName: 'das', resourceAttributes: { a: '1', b: 'x,y' } });
    assert.deepEqual(parseKeyValueList(' k = v , ,x=%3D'), { ok: true, value: { k: 'v', x: '=' } });
  });

  describe('traces (OTEL_TRACES_EXPORTER)', () => {
    it('are off by default and with none, whatever endpoint is set', () => {
      assert.equal(loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).traces, null);
      assert.equal(loadOtlpEnvironment({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/v1/traces' }).traces, null);
    });

    it('otlp: OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/traces, a traces endpoint is used as is, else the spec default; TRACES_* settings win', () => {
      assert.equal(loadOtlpEnvironment({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).traces?.endpoint, 'http://collector:4318/v1/traces');
      assert.equal(loadOtlpEnvironment({ OTEL_TRACES_EXPORTER: 'otlp' }).traces?.endpoint, 'http://localhost:4318/v1/traces');
      const env = loadOtlpEnvironment({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://loki:3100/otlp',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://tempo:4318/v1/traces',
        OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20a',
        OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-scope-orgid=team',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION: 'gzip',
      });
      assert.deepEqual(env.traces, { endpoint: 'http://tempo:4318/v1/traces', headers: { authorization: 'Bearer a', 'x-scope-orgid': 'team' }, protocol: 'http/json', compression: 'gzip', timeoutMs: 10000 });
      assert.equal(env.exporter?.endpoint, 'http://loki:3100/otlp/v1/logs');
      assert.equal(env.exporter?.protocol, 'http/protobuf', 'the traces protocol is not the logs one');
    });

    it('refuses another exporter, and a bad traces setting, naming the variable once', () => {
      assert.deepEqual(problemsOf({ OTEL_TRACES_EXPORTER: 'zipkin' }), ['OTEL_TRACES_EXPORTER: expected otlp or none; das-exporter exports spans over OTLP/HTTP only (actual: "zipkin")']);
      assert.deepEqual(problemsOf({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }), [
        'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: grpc is not supported by das-exporter; use http/protobuf (the default) or http/json (actual: "grpc")',
      ]);
      assert.equal(problemsOf({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }).length, 1, 'a generic variable is one problem');
    });

    it('--traces-sample-untraced / DAS_TRACES_SAMPLE_UNTRACED: a ratio, 0 unless set, refused outside 0..1, and refused at start (run, demo, Lambda) with spans off', async () => {
      const ratio = (env: NodeJS.ProcessEnv) => loadConfig({}, env).tracesSampleUntraced;
      assert.equal(ratio({}), 0);
      assert.equal(ratio({ DAS_TRACES_SAMPLE_UNTRACED: '0.01' }), 0.01);
      assert.equal(loadConfig({ tracesSampleUntraced: '0.5' }, {}).tracesSampleUntraced, 0.5, 'the flag');
      for (const bad of ['1.5', '-0.1', 'half']) {
        assert.throws(() => loadConfig({}, { DAS_TRACES_SAMPLE_UNTRACED: bad }), (e: Error) => e.message.includes(`--traces-sample-untraced / DAS_TRACES_SAMPLE_UNTRACED:`) && e.message.includes(`(actual: ${JSON.stringify(bad)})`), bad);
      }
      const off = /DAS_TRACES_SAMPLE_UNTRACED: sampled statements are sent as spans, and spans are off: set OTEL_TRACES_EXPORTER=otlp/;
      // What run and demo check before anything starts.
      const runEnv = (env: NodeJS.ProcessEnv) => preflight(loadConfig({ streams: ['aws-rds-das-cluster-ABC'] }, env), env, { needStreams: true });
      assert.throws(() => runEnv({ DAS_TRACES_SAMPLE_UNTRACED: '0.1' }), off);
      assert.doesNotThrow(() => runEnv({ DAS_TRACES_SAMPLE_UNTRACED: '0.1', OTEL_TRACES_EXPORTER: 'otlp' }));
      assert.doesNotThrow(() => runEnv({ DAS_TRACES_SAMPLE_UNTRACED: '0' }), '0 needs no spans');
      await assert.rejects(lambdaDependenciesFromEnvironment({ AWS_REGION: 'us-east-1', DAS_TRACES_SAMPLE_UNTRACED: '0.1' }, { log: silentLogger }), off);
    });
  });
});
