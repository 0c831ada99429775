/**
 * One validated Config: flags over environment over defaults, every bad value
 * reported at once naming its flag or variable, secrets never echoed.
 */
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/config/config.ts';

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error}`);
    return [...error.problems];
  }
  assert.fail('expected the configuration to be refused');
}

describe('configuration', () => {
  it('uses the documented defaults', () => {
    const config = loadConfig({}, {});
    assert.equal(config.redact, 'passwords');
    assert.equal(config.startPosition, 'trim_horizon');
    assert.equal(config.stateDir, './.das-exporter');
    assert.equal(config.leases, 'file');
    assert.equal(config.metricsPort, 9464);
    assert.equal(config.labelTopN, 50);
    assert.equal(config.workers, 0);
    assert.deepEqual(config.streams, []);
  });

  it('takes --workers from 0 to 64 and names the flag when refusing a value', () => {
    assert.equal(loadConfig({}, { DAS_WORKERS: '2' }).workers, 2);
    for (const bad of ['-1', '65', '1.5', 'two']) {
      const problems = problemsOf(() => loadConfig({}, { DAS_WORKERS: bad }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.ok(problems[0]!.startsWith('--workers / DAS_WORKERS:'), problems[0]);
    }
  });

  it('polls by default; --consumer efo needs --consumer-name, and DAS_CONSUMER, DAS_CONSUMER_NAME, DAS_DEREGISTER_ON_STOP set them', () => {
    const defaults = loadConfig({}, {});
    assert.equal(defaults.consumer, 'polling');
    assert.equal(defaults.consumerName, undefined);
    assert.equal(defaults.deregisterOnStop, false);

    const efo = loadConfig({}, { DAS_CONSUMER: 'efo', DAS_CONSUMER_NAME: 'das-exporter-prod', DAS_DEREGISTER_ON_STOP: 'true' });
    assert.deepEqual([efo.consumer, efo.consumerName, efo.deregisterOnStop], ['efo', 'das-exporter-prod', true]);
    assert.equal(loadConfig({ consumer: 'polling' }, { DAS_CONSUMER: 'efo' }).consumer, 'polling', 'a flag wins over the variable');
    assert.equal(loadConfig({}, { DAS_DEREGISTER_ON_STOP: '0' }).deregisterOnStop, false);

    const unnamed = problemsOf(() => loadConfig({ consumer: 'efo' }, {}));
    assert.deepEqual(unnamed.length, 1, unnamed.join('\n'));
    assert.match(unnamed[0]!, /^--consumer-name \/ DAS_CONSUMER_NAME: --consumer efo reads as a registered stream consumer: name it .*\(actual: missing\)$/);

    const shared = problemsOf(() => loadConfig({ consumer: 'efo', consumerName: 'x', deregisterOnStop: true, leases: 'dynamodb:das-leases' }, {}));
    assert.equal(shared.length, 1, shared.join('\n'));
    assert.match(shared[0]!, /^--deregister-on-stop \/ DAS_DEREGISTER_ON_STOP: not with --leases dynamodb:…: the replicas sharing the lease table read as one consumer/);

    const bad = problemsOf(() => loadConfig({}, { DAS_CONSUMER: 'push', DAS_CONSUMER_NAME: 'no spaces allowed', DAS_DEREGISTER_ON_STOP: 'maybe' }));
    assert.equal(bad.length, 3, bad.join('\n'));
    assert.ok(bad.some((p) => p.startsWith('--consumer / DAS_CONSUMER:')), bad.join('\n'));
    assert.ok(bad.some((p) => p.startsWith('--consumer-name / DAS_CONSUMER_NAME:')), bad.join('\n'));
    assert.ok(bad.some((p) => p.startsWith('--deregister-on-stop / DAS_DEREGISTER_ON_STOP:')), bad.join('\n'));
  });

  it('takes the file lock timeout in whole seconds, 30 by default, and names the flag when refusing a value', () => {
    assert.equal(loadConfig({}, {}).lockTimeoutSeconds, 30);
    assert.equal(loadConfig({}, { DAS_LOCK_TIMEOUT_SECONDS: '45' }).lockTimeoutSeconds, 45);
    assert.equal(loadConfig({ lockTimeoutSeconds: 12 }, { DAS_LOCK_TIMEOUT_SECONDS: '45' }).lockTimeoutSeconds, 12);
    for (const bad of ['0', '-5', '1.5', 'soon']) {
      const problems = problemsOf(() => loadConfig({}, { DAS_LOCK_TIMEOUT_SECONDS: bad }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.ok(problems[0]!.startsWith('--lock-timeout / DAS_LOCK_TIMEOUT_SECONDS:'), problems[0]);
    }
  });

  it('keeps series of an unseen instance 24 h by default, takes --series-expiry / DAS_SERIES_EXPIRY_SECONDS, and refuses less than an hour', () => {
    assert.equal(loadConfig({}, {}).seriesExpirySeconds, 86_400);
    assert.equal(loadConfig({}, { DAS_SERIES_EXPIRY_SECONDS: '7200' }).seriesExpirySeconds, 7200);
    assert.equal(loadConfig({ seriesExpirySeconds: 3600 }, { DAS_SERIES_EXPIRY_SECONDS: '7200' }).seriesExpirySeconds, 3600);
    for (const bad of ['60', '3599', '0', 'a day']) {
      const problems = problemsOf(() => loadConfig({}, { DAS_SERIES_EXPIRY_SECONDS: bad }));
      assert.equal(problems.length, 1, problems.join('\n'));
      assert.ok(problems[0]!.startsWith('--series-expiry / DAS_SERIES_EXPIRY_SECONDS:'), problems[0]);
    }
    assert.match(problemsOf(() => loadConfig({}, { DAS_SERIES_EXPIRY_SECONDS: '60' }))[0]!, /DASAuditGap must fire before the heartbeat gauge is removed/);
  });

  it('reads the environment, and flags win over it', () => {
    const env = { DAS_STREAMS: 'aws-rds-das-cluster-A, aws-rds-das-db-B', DAS_REDACT: 'literals', DAS_METRICS_PORT: '9000' };
    const fromEnv = loadConfig({}, env);
    assert.deepEqual(fromEnv.streams, ['aws-rds-das-cluster-A', 'aws-rds-das-db-B']);
    assert.equal(fromEnv.redact, 'literals');
    assert.equal(fromEnv.metricsPort, 9000);
    const flagged = loadConfig({ redact: 'all', streams: ['arn:aws:kinesis:eu-west-1:111122223333:stream/aws-rds-das-cluster-C'] }, env);
    assert.equal(flagged.redact, 'all');
    assert.deepEqual(flagged.streams, ['arn:aws:kinesis:eu-west-1:111122223333:stream/aws-rds-das-cluster-C']);
  });

  it('reports every bad value at once, each naming its flag or variable', () => {
    const problems = problemsOf(() =>
      loadConfig({}, { DAS_METRICS_PORT: 'abc', DAS_START_POSITION: 'yesterday', DAS_LEASES: 'redis', DAS_STREAMS: 'not a stream', DAS_DATA_KEY_TTL_SECONDS: 'x' }),
    );
    assert.equal(problems.length, 5, problems.join('\n'));
    assert.ok(problems.some((p) => p.startsWith('--metrics-port / DAS_METRICS_PORT:')));
    assert.ok(problems.some((p) => p.startsWith('--start-position / DAS_START_POSITION: expected trim_horizon, latest or at_timestamp')));
    assert.ok(problems.some((p) => p.startsWith('--leases / DAS_LEASES: expected file or dynamodb:<table name>')));
    assert.ok(problems.some((p) => p.startsWith('--stream / DAS_STREAMS: expected a Kinesis stream name')));
    assert.ok(problems.some((p) => p.startsWith('DAS_DATA_KEY_TTL_SECONDS:')), 'a setting with no flag is named by its variable alone');
  });

  it('never echoes the metrics token, even when refusing it', () => {
    const problems = problemsOf(() => loadConfig({}, { DAS_METRICS_TOKEN: 'short-secret' }));
    assert.equal(problems.length, 1);
    assert.match(problems[0]!, /^DAS_METRICS_TOKEN: .*\(actual: hidden, 12 characters\)$/);
    assert.ok(!problems[0]!.includes('short-secret'));
  });

  it('explains a --service-name without a resource id', () => {
    const problems = problemsOf(() => loadConfig({}, { DAS_SERVICE_NAMES: 'orders' }));
    assert.match(problems[0]!, /^--service-name \/ DAS_SERVICE_NAMES: expected <resource id>=<name> with a cluster-… or db-… id/);
    assert.deepEqual(loadConfig({}, { DAS_SERVICE_NAMES: 'cluster-ABC=orders' }).serviceNames, { 'cluster-ABC': 'orders' });
  });

  it('accepts a timestamp start position only when the time parses', () => {
    assert.equal(loadConfig({}, { DAS_START_POSITION: 'at_timestamp:2026-11-01T00:00:00Z' }).startPosition, 'at_timestamp:2026-11-01T00:00:00Z');
    const problems = problemsOf(() => loadConfig({}, { DAS_START_POSITION: 'at_timestamp:soon' }));
    assert.match(problems[0]!, /the timestamp does not parse/);
  });

  it('takes --old-events / DAS_OLD_EVENTS: event-time by default, observed-time, nothing else', () => {
    assert.equal(loadConfig({}, {}).oldEvents, 'event-time');
    assert.equal(loadConfig({}, { DAS_OLD_EVENTS: 'observed-time' }).oldEvents, 'observed-time');
    assert.equal(loadConfig({ oldEvents: 'event-time' }, { DAS_OLD_EVENTS: 'observed-time' }).oldEvents, 'event-time', 'the flag wins');
    const problems = problemsOf(() => loadConfig({}, { DAS_OLD_EVENTS: 'now' }));
    assert.equal(problems.length, 1, problems.join('\n'));
    assert.match(problems[0]!, /^--old-events \/ DAS_OLD_EVENTS: .*event-time.*observed-time.*\(actual: "now"\)$/);
  });
});
