/**
 * Enriched events of the AWS guides' audit log examples, one engine after
 * another (test/fixtures/decrypted-examples and documented-events.ts), for
 * the policy tests: decoded and enriched exactly as the pipeline does, so a
 * rule matches them as it would match them on a stream.
 */
import { enrichRecord } from '../../src/enrich/stage.ts';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { ORACLE_LOGON, SQLSERVER_LOGIN_FAILED } from './documented-events.ts';
import { loadExample } from './fixtures.ts';

const POSITION = { stream: 'aws-rds-das-test', shardId: 'shardId-000000000000', sequenceNumber: '1' };

/** The events of a raw DAS record (envelope fields, events as DAS sends them), decoded and enriched. */
export function enriched(record: Record<string, unknown>, version: string): ActivityEvent[] {
  return enrichRecord(decodeRecord(JSON.stringify(record), { version, position: POSITION }), 'passwords').events;
}

/** The one event of a documented example file, as the pipeline sees it. */
export function documented(file: string): ActivityEvent {
  const { record, version } = loadExample(file);
  return enriched(record, version).find((e) => e.class !== 'AUX' || file.includes('-aux'))!;
}

/** A documented event with some raw DAS fields changed (`commandText`, `dbUserName`, `logTime`…), decoded and enriched again. */
export function variant(file: string, fields: Record<string, unknown>): ActivityEvent {
  const { record, version } = loadExample(file);
  const [raw] = record.databaseActivityEventList as Record<string, unknown>[];
  return enriched({ ...record, databaseActivityEventList: [{ ...raw, ...fields }] }, version)[0]!;
}

export function oracle(fields: Record<string, unknown> = {}): ActivityEvent {
  return enriched({ type: 'DatabaseActivityMonitoringRecord', clusterId: '', instanceId: 'db-ORACLEINSTANCE', databaseActivityEventList: [{ ...ORACLE_LOGON, ...fields }] }, '1.3')[0]!;
}

export function sqlServerLoginFailed(fields: Record<string, unknown> = {}): ActivityEvent {
  return enriched({ type: 'DatabaseActivityMonitoringRecord', clusterId: '', instanceId: 'db-4JCWQLUZVFYP7DIWP6JVQ77O3Q', databaseActivityEventList: [{ ...SQLSERVER_LOGIN_FAILED, ...fields }] }, '1.4')[0]!;
}
