/**
 * A property of the whole path from an encrypted record to every output: for
 * random statements that put a marker password in any place an engine's
 * grammar allows a credential (the forms of test/support/credential-forms.ts
 * and bind parameters, each dressed at random: whitespace and comments
 * between words, keyword case, statements before and after, dynamic SQL
 * around it, a sqlcommenter traceparent, Aurora MySQL's DAS escaping), sent
 * the way DAS sends them (commandText, the native statement fields, the bind
 * values, an error message quoting the statement) in records encrypted as
 * DAS does, the marker never appears in the bytes any sink writes: the
 * OTLP/protobuf requests (records prepared as a worker prepares them) and
 * OTLP/JSON requests a Loki stand-in receives, the stdout JSON lines,
 * replay's JSONL, the terminal lines, the dead-letter file (the protobuf
 * backend refuses every record, so each event is dead-lettered) and the
 * OpenMetrics exposition, exemplars included. In every mode but `none`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { contextResolver } from '../../src/cli/wiring.ts';
import { AURORA_MYSQL, AURORA_POSTGRESQL, DasRecordFactory, type EngineProfile } from '../../src/demo/record-factory.ts';
import { InMemoryDataKeys } from '../support/record-mutations.ts';
import type { RedactionMode } from '../../src/enrich/redact.ts';
import { Pipeline } from '../../src/pipeline.ts';
import { FileDeadLetterSink } from '../../src/sinks/dead-letter.ts';
import { JsonlSink } from '../../src/sinks/jsonl.ts';
import { MetricsSink, metricsPipelineObserver } from '../../src/sinks/metrics-sink.ts';
import { loadOtlpEnvironment } from '../../src/sinks/otlp/config.ts';
import { OtlpLogSink } from '../../src/sinks/otlp/exporter.ts';
import { LogRecordMapper } from '../../src/sinks/otlp/mapping.ts';
import { ResourceCatalog } from '../../src/sinks/otlp/resource.ts';
import { StdoutLogSink } from '../../src/sinks/otlp/stdout.ts';
import { PrettyLogSink } from '../../src/sinks/pretty.ts';
import { createMetrics, createMetricsRegistry } from '../../src/telemetry/metrics.ts';
import { DasRecordOpener } from '../../src/record/opener.ts';
import { CREDENTIAL_FORMS, type CredentialForm } from '../support/credential-forms.ts';
import { ORACLE_LOGON } from '../support/documented-events.ts';
import { loadExample } from '../support/fixtures.ts';
import { LokiReceiver } from '../support/loki-receiver.ts';
import { LOGS_STEP, METRICS_STEP } from '../../src/sinks/prepared.ts';

type Engine = CredentialForm['engine'];

const NOW_MS = Date.parse('2026-11-22T04:00:01Z');
const STAMP = '2026-11-22 04:00:00.123456+00';
const RESOURCES = { region: 'eu-west-1', accountId: '111122223333' };

/** Where the marker goes while a statement is dressed: no dressing touches it. */
const SLOT = '\u0001';

/** A statement with its bind values, `SLOT` where the marker goes. */
interface Statement {
  engine: Engine;
  sql: string;
  params: string[] | null;
  /** Oracle's SQL_BINDS. */
  binds: string | null;
  database: string | null;
}

/** Statements whose credential is a bind value: the forms of the table take it as a literal. */
const BIND_FORMS: Statement[] = [
  { engine: 'postgresql', sql: 'ALTER ROLE app PASSWORD $1', params: [SLOT], binds: null, database: null },
  { engine: 'postgresql', sql: 'CREATE USER app WITH ENCRYPTED PASSWORD $1 VALID UNTIL $2', params: [SLOT, 'infinity'], binds: null, database: null },
  { engine: 'postgresql', sql: 'SELECT dblink_connect($1)', params: [`host=h user=u password=${SLOT}`], binds: null, database: null },
  { engine: 'oracle', sql: 'BEGIN DBMS_CREDENTIAL.CREATE_CREDENTIAL(:1, :2, :3); END;', params: null, binds: ` #1(1):c #2(5):scott #3(12):${SLOT}`, database: null },
];

/** Each form of the table as a statement. */
const TABLE_FORMS: Statement[] = CREDENTIAL_FORMS.map((form) => ({ engine: form.engine, sql: form.sql(SLOT), params: null, binds: null, database: form.database ?? null }));

/**
 * Applies `change` to the parts of `sql` outside quotes (strings, quoted
 * identifiers, dollar quotes), so that dressing changes words and the space
 * between them, never a literal.
 */
function outsideQuotes(sql: string, change: (code: string) => string): string {
  let out = '';
  let code = '';
  for (let i = 0; i < sql.length; ) {
    const c = sql[i]!;
    const dollar = c === '$' ? /^\$[A-Za-z_]*\$/.exec(sql.slice(i)) : null;
    let close: string | null = c === "'" || c === '"' || c === '`' ? c : dollar ? dollar[0] : null;
    if (close === null) {
      code += c;
      i++;
      continue;
    }
    out += change(code);
    code = '';
    let j = i + (dollar ? dollar[0].length : 1);
    for (; j < sql.length; j++) {
      if (close.length === 1 && sql[j] === '\\') j++;
      else if (sql.startsWith(close, j)) {
        // A doubled quote stays inside.
        if (close.length === 1 && sql[j + 1] === close) j++;
        else break;
      }
    }
    j = Math.min(sql.length, j + close.length);
    out += sql.slice(i, j);
    i = j;
    close = null;
  }
  return out + change(code);
}

const doubled = (sql: string): string => sql.replace(/'/g, "''");

/** Dynamic SQL each engine runs, around a statement. */
const DYNAMIC: Record<Engine, ((sql: string) => string)[]> = {
  postgresql: [(sql) => `DO $wrap$BEGIN EXECUTE '${doubled(sql)}'; END$wrap$`],
  mysql: [(sql) => `PREPARE stmt FROM '${doubled(sql)}'`],
  sqlserver: [(sql) => `EXEC sp_executesql N'${doubled(sql)}'`, (sql) => `EXEC ('${doubled(sql)}')`],
  oracle: [(sql) => `BEGIN EXECUTE IMMEDIATE '${doubled(sql)}'; END;`],
};

const TRACEPARENT = "/*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/";

interface Dressing {
  gap: string;
  keywordCase: 'as written' | 'upper' | 'lower';
  dynamic: number | null;
  before: string;
  after: string;
  /** Aurora MySQL: quotes preceded by a backslash, as DAS sends commandText. */
  dasEscaped: boolean;
  /** Which whitespace-separated piece of the statement an error message quotes, as a fraction of their number. */
  echoAt: number;
}

const dressing: fc.Arbitrary<Dressing> = fc.record({
  gap: fc.constantFrom(' ', '\n', '\t ', ' /* note */ ', '\r\n  ', ' -- note\n'),
  keywordCase: fc.constantFrom('as written', 'upper', 'lower'),
  dynamic: fc.option(fc.nat(1), { freq: 3 }),
  before: fc.constantFrom('', `${TRACEPARENT} `, 'SELECT 1; '),
  after: fc.constantFrom('', ';', ' -- done', '; SELECT 2', ` ${TRACEPARENT}`),
  dasEscaped: fc.boolean(),
  echoAt: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
});

function dress(statement: Statement, d: Dressing): string {
  let sql = outsideQuotes(statement.sql, (code) => {
    const spaced = code.replace(/ /g, d.gap);
    return d.keywordCase === 'upper' ? spaced.toUpperCase() : d.keywordCase === 'lower' ? spaced.toLowerCase() : spaced;
  });
  const wraps = DYNAMIC[statement.engine];
  if (d.dynamic !== null) sql = wraps[d.dynamic % wraps.length]!(sql);
  return `${d.before}${sql}${d.after}`;
}

const dasEscape = (sql: string): string => sql.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/"/g, '\\"');

/** An error message quoting the statement as each engine does: MySQL 80 characters from a token, the others one token. */
function errorEcho(engine: Engine, sql: string, at: number): string {
  const starts = [0, ...[...sql.matchAll(/\s+/g)].map((m) => m.index! + m[0].length)].filter((s) => s < sql.length);
  const start = starts[Math.floor(at * starts.length)] ?? 0;
  const token = sql.slice(start).split(/\s/)[0]!;
  switch (engine) {
    case 'mysql':
      return `You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '${sql.slice(start, start + 80)}' at line 1`;
    case 'postgresql':
      return `syntax error at or near "${token}"`;
    case 'sqlserver':
      return `Incorrect syntax near '${token}'.`;
    case 'oracle':
      return `ORA-00922: missing or invalid option near ${token}`;
  }
}

const PG_SELECT = loadExample('aurora-postgresql-select.json').record.databaseActivityEventList[0];
const MYSQL_MAIN = loadExample('aurora-mysql-select-main.json').record.databaseActivityEventList[0];
const MYSQL_AUX = loadExample('aurora-mysql-select-aux.json').record.databaseActivityEventList[0];
const SQLSERVER_SELECT = loadExample('rds-sqlserver-select.json').record.databaseActivityEventList[0];

const ENGINES: Record<Engine, { resourceId: string; profile: EngineProfile }> = {
  postgresql: { resourceId: 'cluster-PGSINKS0000000000000000000', profile: AURORA_POSTGRESQL },
  mysql: { resourceId: 'cluster-MYSQLSINKS000000000000000000', profile: AURORA_MYSQL },
  sqlserver: { resourceId: 'db-SQLSERVERSINKS0000000000000000', profile: { ...AURORA_POSTGRESQL, version: '1.4' } },
  oracle: { resourceId: 'db-ORACLESINKS00000000000000000000', profile: { ...AURORA_POSTGRESQL, version: '1.3' } },
};

/** The record's events: the statement as DAS reports it on this engine, the same statement failed with an echo, and an innocent one. */
function rawEvents(statement: Statement, sql: string, echo: string): Record<string, unknown>[] {
  const times = { logTime: STAMP, startTime: STAMP };
  switch (statement.engine) {
    case 'postgresql': {
      const ok = { ...PG_SELECT, ...times, class: 'ROLE', command: 'ALTER ROLE', commandText: sql, paramList: statement.params, databaseName: statement.database ?? 'postgres' };
      return [ok, { ...ok, statementId: 2, errorMessage: echo }, { ...PG_SELECT, ...times, statementId: 3 }];
    }
    case 'mysql': {
      const ok = { ...MYSQL_MAIN, ...times, endTime: STAMP, commandText: sql, databaseName: statement.database ?? 'test' };
      const aux = { ...MYSQL_AUX, ...times, endTime: STAMP, databaseName: statement.database ?? 'test' };
      return [ok, aux, { ...ok, statementId: 2, exitCode: '1064', errorMessage: echo }, { ...MYSQL_MAIN, ...times, statementId: 3 }];
    }
    case 'sqlserver': {
      const native = (text: string) => ({ ...SQLSERVER_SELECT.engineNativeAuditFields, statement: text, additional_information: `<batch_information><text>${text}</text></batch_information>` });
      const ok = { ...SQLSERVER_SELECT, ...times, class: 'LOGIN', command: 'ALTER LOGIN', commandText: sql, engineNativeAuditFields: native(sql) };
      return [ok, { ...ok, statementId: '0x02', exitCode: 0, errorMessage: echo }, { ...SQLSERVER_SELECT, ...times }];
    }
    case 'oracle': {
      const native = { ...ORACLE_LOGON.engineNativeAuditFields, SQL_TEXT: sql, SQL_BINDS: statement.binds };
      const ok = { ...ORACLE_LOGON, ...times, command: 'ALTER USER', commandText: sql, engineNativeAuditFields: native };
      return [ok, { ...ok, statementId: 2, exitCode: 922, errorMessage: echo }, { ...ORACLE_LOGON, ...times, statementId: 3 }];
    }
  }
}


/** A writable whose bytes are kept. */
function collector(): { stream: PassThrough; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream, bytes: () => Buffer.concat(chunks) };
}

describe('security: a password in any credential position reaches no sink', function () {
  this.timeout(300_000);
  const keys = new InMemoryDataKeys();
  const factories = new Map<Engine, DasRecordFactory>();
  let accepting: LokiReceiver;
  let refusing: LokiReceiver;
  let dir: string;

  before(async () => {
    accepting = await new LokiReceiver({ clock: () => new Date(NOW_MS) }).start();
    refusing = await new LokiReceiver({ clock: () => new Date(NOW_MS) }).start();
    refusing.refuseWhere(() => true, 'entry refused: stream rate limit');
    for (const [engine, { resourceId, profile }] of Object.entries(ENGINES) as [Engine, (typeof ENGINES)[Engine]][]) {
      factories.set(engine, new DasRecordFactory({ resourceId, dataKeys: keys, profile, recordsPerDataKey: 1000 }));
    }
    dir = mkdtempSync(path.join(tmpdir(), 'das-redaction-sinks-'));
  });

  after(async () => {
    await accepting.close();
    await refusing.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs one encrypted record through a pipeline with every sink; the bytes each wrote. */
  async function everyOutput(statement: Statement, mode: RedactionMode, events: Record<string, unknown>[], run: number): Promise<Record<string, Buffer>> {
    const { resourceId } = ENGINES[statement.engine];
    const stream = `aws-rds-das-${resourceId}`;
    const data = await factories.get(statement.engine)!.record({ clusterId: resourceId.startsWith('cluster-') ? resourceId : '', instanceId: 'db-INSTANCE', events });

    const requests: Record<'protobuf' | 'json', Buffer[]> = { protobuf: [], json: [] };
    const otlp = (receiver: LokiReceiver, protocol: 'http/protobuf' | 'http/json') => {
      const config = loadOtlpEnvironment({ OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/otlp`, OTEL_EXPORTER_OTLP_PROTOCOL: protocol }).exporter!;
      const mapper = new LogRecordMapper({ resources: new ResourceCatalog(RESOURCES), clock: () => new Date(NOW_MS) });
      // The bytes as sent, on their way to the receiver.
      const fetch: typeof globalThis.fetch = async (url, init) => {
        requests[protocol === 'http/json' ? 'json' : 'protobuf'].push(Buffer.from(init!.body as Uint8Array));
        return globalThis.fetch(url, init);
      };
      return new OtlpLogSink({ config, mapper, fetch });
    };
    const mapper = new LogRecordMapper({ resources: new ResourceCatalog(RESOURCES), clock: () => new Date(NOW_MS) });
    const stdout = collector();
    const jsonl = collector();
    const terminal = collector();
    const metrics = createMetrics(createMetricsRegistry());
    const deadLetterFile = path.join(dir, `dead-letters-${run}.jsonl`);

    const pipeline = new Pipeline({
      opener: new DasRecordOpener({ dataKeys: keys, contextFor: contextResolver({}), setup: { redact: mode, maxRecordBytes: 1 << 20, resources: RESOURCES, steps: [LOGS_STEP, METRICS_STEP] }, clock: () => NOW_MS }),
      sinks: [
        otlp(refusing, 'http/protobuf'),
        otlp(accepting, 'http/json'),
        new StdoutLogSink(stdout.stream, mapper),
        new JsonlSink(jsonl.stream),
        new PrettyLogSink(terminal.stream, mapper),
        new MetricsSink(metrics),
      ],
      deadLetters: new FileDeadLetterSink(deadLetterFile),
      observer: metricsPipelineObserver(metrics),
      clock: () => new Date(NOW_MS),
    });
    const outcome = await pipeline.process([{ stream, shardId: 'shardId-000000000000', sequenceNumber: String(run), data }]);
    assert.equal(outcome.status, 'done');
    assert.equal(outcome.status === 'done' && outcome.deadLettered, events.length, 'the refusing backend sends every event to the dead letters');
    assert.ok(requests.protobuf.length > 0 && requests.json.length > 0);
    return {
      'OTLP/protobuf requests': Buffer.concat(requests.protobuf),
      'OTLP/JSON requests': Buffer.concat(requests.json),
      stdout: stdout.bytes(),
      jsonl: jsonl.bytes(),
      terminal: terminal.bytes(),
      'dead-letter file': readFileSync(deadLetterFile),
      'OpenMetrics exposition': Buffer.from(await metrics.registry.metrics()),
    };
  }

  const marker = fc.stringMatching(/^[a-z][a-z0-9]{9,13}$/).map((s) => `zq${s}`);
  const statement = fc.constantFrom(...TABLE_FORMS, ...BIND_FORMS);
  const mode = fc.constantFrom<RedactionMode>('passwords', 'passwords', 'literals', 'all');
  let run = 0;

  it('the marker appears in no byte of any sink, whatever the form, its dressing, the engine or the mode', async () => {
    await fc.assert(
      fc.asyncProperty(statement, dressing, marker, mode, async (form, d, secret, m) => {
        const dressed = dress(form, d);
        let sql = dressed.split(SLOT).join(secret);
        if (form.engine === 'mysql' && d.dasEscaped) sql = dasEscape(sql);
        const withSecret = (s: string | null) => (s === null ? null : s.split(SLOT).join(secret));
        const concrete: Statement = { ...form, params: form.params?.map((p) => withSecret(p)!) ?? null, binds: withSecret(form.binds) };
        const events = rawEvents(concrete, sql, errorEcho(form.engine, sql, d.echoAt));
        const outputs = await everyOutput(concrete, m, events, run++);
        const needle = secret.toLowerCase();
        for (const [sink, bytes] of Object.entries(outputs)) {
          const text = bytes.toString('latin1').toLowerCase();
          assert.ok(!text.includes(needle), `${sink} holds the password of ${JSON.stringify(sql)} in mode ${m}`);
        }
        // The marker went in: the property is not vacuous for the statements that hold one.
        assert.equal(JSON.stringify(events).includes(secret), dressed.includes(SLOT) || concrete.params !== null || concrete.binds !== null);
      }),
      { numRuns: 250 },
    );
  });

  it('the check sees a password when the mode is none (it can fail)', async () => {
    const form = TABLE_FORMS.find((f) => f.engine === 'mysql' && f.sql.startsWith('SET PASSWORD FOR'))!;
    const sql = form.sql.split(SLOT).join('zqnoneleaks01');
    const outputs = await everyOutput(form, 'none', rawEvents(form, sql, errorEcho('mysql', sql, 0.9)), run++);
    for (const [sink, bytes] of Object.entries(outputs)) {
      if (sink === 'OpenMetrics exposition') continue; // metrics never carry SQL, in any mode
      assert.ok(bytes.toString('latin1').includes('zqnoneleaks01'), sink);
    }
  });
});
