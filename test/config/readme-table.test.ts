/**
 * The README's configuration table is the field table's (src/config/fields.ts):
 * a setting added, renamed or redocumented there shows in the README, or
 * this test prints the table to paste.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/config/config.ts';
import { FIELDS, type FieldSpec } from '../../src/config/fields.ts';
import { configurationTable } from '../../src/config/readme-table.ts';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

describe('configuration table', () => {
  it("the README's table is the one made from src/config/fields.ts", () => {
    const table = configurationTable();
    assert.ok(README.includes(`${table}\n`), `README.md's configuration table differs; replace it with:\n\n${table}\n`);
  });

  it('every variable in the table is read: set alone, it fills its field', () => {
    // A value each field takes, different from its default.
    const samples: Record<string, string> = {
      DAS_STREAMS: 'aws-rds-das-cluster-A,aws-rds-das-cluster-B', DAS_RESOURCE_ID: 'cluster-ABC', DAS_START_POSITION: 'latest',
      DAS_STATE_DIR: '/var/lib/das', DAS_LEASES: 'dynamodb:das-leases', DAS_LEASE_FAILOVER_SECONDS: '20', DAS_LOCK_TIMEOUT_SECONDS: '60',
      DAS_CONSUMER: 'efo', DAS_CONSUMER_NAME: 'das-exporter', DAS_DEREGISTER_ON_STOP: 'true', DAS_GET_RECORDS_LIMIT: '500',
      DAS_DISCOVERY_INTERVAL_SECONDS: '30', DAS_REDACT: 'all', DAS_OLD_EVENTS: 'observed-time', DAS_METRICS_HOST: '127.0.0.1',
      DAS_METRICS_PORT: '9999', DAS_METRICS_TOKEN: 'a-token-of-sixteen-characters', DAS_LABEL_TOP_N: '10', DAS_SERIES_EXPIRY_SECONDS: '7200',
      DAS_SERVICE_NAMES: 'cluster-ABC=orders-db', DAS_POLICY_FILE: 'policies/default.yaml', DAS_POLICY_WATCH: 'true',
      DAS_TRACES_SAMPLE_UNTRACED: '0.5', DAS_MAX_RECORD_BYTES: '1024', DAS_CONCURRENCY: '8', DAS_WORKERS: '2',
      DAS_DATA_KEY_CACHE_SIZE: '10', DAS_DATA_KEY_TTL_SECONDS: '60',
    };
    // What a field needs beside it (a cross-field rule).
    const companions: Record<string, Record<string, string>> = { DAS_CONSUMER: { DAS_CONSUMER_NAME: 'das-exporter' }, DAS_POLICY_WATCH: { DAS_POLICY_FILE: 'policies/default.yaml' } };
    const defaults = loadConfig({}, {}) as Record<string, unknown>;
    for (const [field, spec] of Object.entries(FIELDS as Record<string, FieldSpec>)) {
      if (!spec.env) continue;
      const sample = samples[spec.env.name];
      assert.ok(sample !== undefined, `a sample value for ${spec.env.name}`);
      const config = loadConfig({}, { ...companions[spec.env.name], [spec.env.name]: sample }) as Record<string, unknown>;
      assert.notDeepEqual(config[field], defaults[field], `${spec.env.name}=${sample} sets ${field}`);
    }
  });
});
