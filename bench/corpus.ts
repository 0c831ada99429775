/**
 * The benchmark corpus: DAS records as Aurora and RDS write them, made with
 * the record factory from the documented example events of each engine
 * (PostgreSQL; MySQL MAIN and AUX; SQL Server), varied per event so gzip
 * sees realistic text, at 1, 20 and 200 events per record, under both
 * suites. Data keys come from KMS (the LocalKms of bench/world.ts) and serve
 * 100 consecutive records each, as on a real stream.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { DasSuiteId } from '../src/decrypt/message-header.ts';
import { DasRecordFactory, kmsDataKeySource } from '../src/demo/record-factory.ts';

export const SUITES: readonly DasSuiteId[] = [0x0178, 0x0378];
export const EVENTS_PER_RECORD = [1, 20, 200] as const;
/** As on real streams: 4 KiB frames with 0x0178 (Aurora PostgreSQL), 256 KiB with 0x0378 (Aurora MySQL). */
const FRAME_LENGTH: Record<number, number> = { 0x0178: 4096, 0x0378: 262144 };

const EXAMPLES = path.resolve(import.meta.dirname, '..', 'test', 'fixtures', 'decrypted-examples');

interface Engine {
  name: 'postgresql' | 'mysql' | 'sqlserver';
  resourceId: string;
  clusterId: string;
  instanceId: string;
  version: string;
  templates: Record<string, unknown>[];
}

export interface CorpusRecord {
  /** Envelope JSON, base64, as Kinesis hands it over. */
  data: string;
  events: number;
  engine: string;
  stream: string;
}

function eventsOf(file: string): Record<string, unknown>[] {
  const json = JSON.parse(readFileSync(path.join(EXAMPLES, file), 'utf8')) as Record<string, unknown>;
  const inner = (typeof json['databaseActivityEvents'] === 'object' ? json['databaseActivityEvents'] : json) as Record<string, unknown>;
  return inner['databaseActivityEventList'] as Record<string, unknown>[];
}

function engines(): Engine[] {
  return [
    {
      name: 'postgresql', resourceId: 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ', clusterId: 'cluster-4HNY5V4RRNPKKYB7ICFKE5JBQQ',
      instanceId: 'db-FZJTMYKCXQBUUZ6VLU7NW3ITCM', version: '1.1',
      templates: ['aurora-postgresql-select.json', 'aurora-postgresql-create-table.json', 'aurora-postgresql-connect.json'].flatMap(eventsOf),
    },
    {
      name: 'mysql', resourceId: 'cluster-BTZR3BNVXHYYXGAKSIKZFYOKYQ', clusterId: 'cluster-BTZR3BNVXHYYXGAKSIKZFYOKYQ',
      instanceId: 'db-NZ7VWOGSYQM7KCTKUAQRQCMBTA', version: '1.2',
      // MAIN then AUX of each statement, as Aurora MySQL writes them.
      templates: ['aurora-mysql-select-main.json', 'aurora-mysql-select-aux.json', 'aurora-mysql-create-table-main.json', 'aurora-mysql-create-table-aux.json', 'aurora-mysql-connect.json'].flatMap(eventsOf),
    },
    {
      name: 'sqlserver', resourceId: 'db-4JCWQLUZVFYP7DIWP6JVQ77O3Q', clusterId: '',
      instanceId: 'db-4JCWQLUZVFYP7DIWP6JVQ77O3Q', version: '1.4',
      templates: eventsOf('rds-sqlserver-select.json'),
    },
  ];
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TABLES = ['orders', 'customers', 'invoices', 'line_items', 'payments', 'sessions', 'audit_log', 'products'];

/** One event from a template, with its own ids and SQL so records do not compress to nothing. */
function vary(template: Record<string, unknown>, n: number, random: () => number): Record<string, unknown> {
  const event = { ...template };
  const table = TABLES[Math.floor(random() * TABLES.length)]!;
  const id = Math.floor(random() * 1_000_000);
  if (typeof event['commandText'] === 'string' && /select/i.test(event['commandText'])) {
    event['commandText'] = `SELECT id, status, total FROM ${table} WHERE id = ${id} AND updated_at > '2024-0${1 + (id % 9)}-1${id % 10}' /* app=checkout,route=/api/${table}/${id} */`;
    if ('objectName' in event) event['objectName'] = table;
  }
  if (typeof event['statementId'] === 'number') event['statementId'] = 1000 + n;
  if (typeof event['sessionId'] === 'string' && /^\d+$/.test(event['sessionId'])) event['sessionId'] = String(100 + (n % 50));
  if (typeof event['pid'] === 'number') event['pid'] = 2000 + (n % 50);
  if (typeof event['remotePort'] === 'string') event['remotePort'] = String(30000 + Math.floor(random() * 30000));
  return event;
}

export interface CorpusOptions {
  kms: KMSClient;
  keyId: string;
  /** Records per (suite, engine, events-per-record) cell. */
  recordsPerCell: number;
  /** Events per record, one cell each (default EVENTS_PER_RECORD: 1, 20 and 200). */
  eventsPerRecord?: readonly number[];
}

/** Records per suite, interleaved over engines and sizes as shards of several clusters would be. */
export async function buildCorpus(options: CorpusOptions): Promise<Map<number, CorpusRecord[]>> {
  const corpus = new Map<number, CorpusRecord[]>();
  const random = mulberry32(42);
  for (const suiteId of SUITES) {
    const records: CorpusRecord[] = [];
    for (const engine of engines()) {
      const factory = new DasRecordFactory({
        resourceId: engine.resourceId,
        dataKeys: kmsDataKeySource(options.kms, options.keyId),
        profile: { suiteId, frameLength: FRAME_LENGTH[suiteId]!, version: engine.version },
        recordsPerDataKey: 100,
      });
      for (let i = 0; i < options.recordsPerCell; i++) {
        for (const size of options.eventsPerRecord ?? EVENTS_PER_RECORD) {
          const events = Array.from({ length: size }, (_, n) => vary(engine.templates[n % engine.templates.length]!, n, random));
          const data = await factory.record({ clusterId: engine.clusterId, instanceId: engine.instanceId, events });
          records.push({ data: Buffer.from(data).toString('base64'), events: size, engine: engine.name, stream: `aws-rds-das-${engine.resourceId}` });
        }
      }
    }
    // Interleave engines so each batch mixes them, keeping each engine's own order (its data-key runs).
    const byEngine = new Map<string, CorpusRecord[]>();
    for (const record of records) byEngine.set(record.engine, [...(byEngine.get(record.engine) ?? []), record]);
    const mixed: CorpusRecord[] = [];
    const lists = [...byEngine.values()];
    for (let i = 0; mixed.length < records.length; i++) for (const list of lists) if (i < list.length) mixed.push(list[i]!);
    corpus.set(suiteId, mixed);
  }
  return corpus;
}
