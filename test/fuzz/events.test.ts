/**
 * Fuzzing what happens to a decrypted record: the event decoder (arbitrary
 * JSON in every field, deep nesting, huge strings, `__proto__` keys), the
 * enrich stage, and the OTLP mapping and JSONL output. Decoding gives events
 * or a DasError of a closed reason; whatever decodes also enriches, maps to a
 * record within Loki's limits and serializes, without throwing or hanging.
 * (test/enrich/properties.test.ts covers the SQL functions on short text; the
 * jobs here feed them whole events and long, adversarial text.)
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { decodeRecord } from '../../src/events/decode.ts';
import type { ActivityEvent } from '../../src/events/model.ts';
import { enrichRecord } from '../../src/enrich/stage.ts';
import { redactSql, type RedactionMode } from '../../src/enrich/redact.ts';
import { summarize } from '../../src/enrich/summary.ts';
import { extractTraceContext, parseTraceparent } from '../../src/enrich/trace-context.ts';
import { toJsonLine } from '../../src/sinks/jsonl.ts';
import { LOKI_MAX_LINE_BYTES, LOKI_MAX_STRUCTURED_METADATA_BYTES, LOKI_MAX_STRUCTURED_METADATA_ENTRIES, mapEvent } from '../../src/sinks/otlp/mapping.ts';
import { toJsonLogLine } from '../../src/sinks/otlp/stdout.ts';
import { assertDasError, caseStarted, fuzzSuite } from './support.ts';

const DECODE_REASONS = ['invalid_event_json', 'not_das_record', 'invalid_event'];
const MODES: RedactionMode[] = ['none', 'passwords', 'literals', 'all'];
const RESOURCE = resourceFromAttributes({ 'service.name': 'fuzz', 'cloud.region': 'us-east-1', 'cloud.account.id': '123456789012', 'db.cluster': 'x' });

const FIELDS = ['type', 'class', 'command', 'commandText', 'paramList', 'databaseName', 'dbUserName', 'objectType', 'objectName', 'remoteHost',
  'remotePort', 'serverHost', 'clientApplication', 'pid', 'sessionId', 'statementId', 'substatementId', 'transactionId', 'logTime', 'startTime',
  'endTime', 'exitCode', 'errorMessage', 'rowCount', 'serverType', 'serverVersion', 'serviceName', 'dbProtocol', 'netProtocol',
  'engineNativeAuditFields', '__proto__', 'constructor', 'toString', 'hasOwnProperty'];

const text = fc.oneof(
  fc.constantFrom('', 'PostgreSQL', 'MySQL', 'SQLSERVER', 'oracle', 'heartbeat', 'record', 'MAIN', 'AUX', 'CONNECT', 'LOGIN FAILED', '0x1A2b', '00',
    '2019-10-30 00:39:49.940668+00', '2024-02-29T23:59:59.9999999Z', '9999-12-31 23:59:59.999999999-23:59', '0000-01-01 00:00:00',
    "ALTER USER u WITH PASSWORD 'pw' /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/",
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', '-9007199254740993', '1e3'),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
);
const value = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: 'small' }, text, fc.double(), fc.integer(), fc.boolean(), fc.constant(null), tie('array'), tie('object')),
  array: fc.array(tie('any'), { maxLength: 4 }),
  object: fc.array(fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 10 })), tie('any')), { maxLength: 5 }).map(objectFrom),
}));

/** A JSON object text from entries, so `__proto__` is an own key as JSON.parse makes it. */
function objectFrom(entries: readonly (readonly [string, unknown])[]): unknown {
  return JSON.parse(`{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',')}}`);
}

/** An event whose every field may hold anything, sometimes huge or deeply nested. */
const rawEvent = fc
  .tuple(
    fc.array(fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 12 })), value.any), { maxLength: 14 }),
    fc.option(fc.tuple(fc.oneof(fc.constantFrom(...FIELDS), fc.constantFrom('x'.repeat(300), 'ü'.repeat(20_000), '鍵'.repeat(22_000), '\u{1F511}'.repeat(8_000))), fc.constantFrom('a', 'é', '\u{1F600}', "'", '/*'), fc.integer({ min: 1_000, max: 400_000 })), { nil: undefined }),
    fc.option(fc.tuple(fc.constantFrom(...FIELDS), fc.integer({ min: 2, max: 70 })), { nil: undefined }),
    fc.option(fc.integer({ min: 100, max: 400 }), { nil: undefined }),
  )
  .map(([entries, huge, deep, manyKeys]) => {
    const all: [string, unknown][] = entries.map(([k, v]) => [k, v]);
    if (huge) all.push([huge[0], huge[1].repeat(Math.ceil(huge[2] / huge[1].length))]);
    if (deep) all.push([deep[0], JSON.parse('['.repeat(deep[1]) + ']'.repeat(deep[1]))]);
    if (manyKeys) for (let i = 0; i < manyKeys; i++) all.push([`field_${i}_${'k'.repeat(i % 50)}`, i % 3 === 0 ? { nested: i } : 'v'.repeat(i * 7)]);
    return objectFrom(all);
  });

const record = fc.oneof(
  fc.record({
    type: fc.oneof(fc.constant('DatabaseActivityMonitoringRecord'), value.any),
    clusterId: value.any,
    instanceId: value.any,
    databaseActivityEventList: fc.oneof(
      { weight: 6, arbitrary: fc.array(rawEvent, { minLength: 1, maxLength: 3 }) },
      { weight: 1, arbitrary: fc.array(fc.oneof(rawEvent, value.any), { maxLength: 4 }) },
      { weight: 1, arbitrary: value.any },
    ),
  }, { requiredKeys: ['type', 'databaseActivityEventList'] }).map((r) => JSON.stringify(r)),
  value.any.map((v) => JSON.stringify(v) ?? ''),
  fc.string({ maxLength: 50 }),
  fc.uint8Array({ maxLength: 50 }),
);

function utf8Bytes(v: unknown): number {
  return Buffer.byteLength(typeof v === 'string' ? v : JSON.stringify(v) ?? String(v), 'utf8');
}

/** The Loki limits the mapping promises (src/sinks/otlp/mapping.ts). */
function checkMapped(event: ActivityEvent): void {
  const log = mapEvent(event, { resource: RESOURCE, observed: new Date(1_700_000_000_000) });
  assert.ok(Buffer.byteLength(String(log.body), 'utf8') <= LOKI_MAX_LINE_BYTES, 'body within max_line_size');
  const attributes = Object.entries(log.attributes);
  assert.ok(attributes.length <= LOKI_MAX_STRUCTURED_METADATA_ENTRIES, `${attributes.length} attributes`);
  const bytes = attributes.reduce((n, [k, v]) => n + Buffer.byteLength(k, 'utf8') + utf8Bytes(v), 0);
  assert.ok(bytes <= LOKI_MAX_STRUCTURED_METADATA_BYTES, `structured metadata of ${bytes} bytes (names and values, UTF-8)`);
  for (const [, v] of attributes) assert.ok(['string', 'number', 'boolean'].includes(typeof v) || Array.isArray(v), 'OTLP attribute values only');
  assert.ok(Number.isFinite(log.hrTime[0]) && Number.isFinite(log.hrTime[1]));
  toJsonLogLine(log);
}

fuzzSuite('fuzz: events', import.meta.url, {
  'decodeRecord → enrich → OTLP mapping → JSONL: arbitrary records decode or fail with a decode reason, and what decodes maps within Loki limits': {
    runs: 400,
    run: (params) =>
      fc.assert(
        fc.property(record, fc.constantFrom('1.0', '1.1', '1.2', '1.3', '1.4', '1.9999'), fc.constantFrom(...MODES), (json, version, mode) => {
          caseStarted();
          let decoded;
          try {
            decoded = decodeRecord(json, { version, position: { stream: 's', shardId: 'shardId-0', sequenceNumber: '1' } });
          } catch (error) {
            assertDasError(error, DECODE_REASONS);
            return;
          }
          assert.equal(Object.getPrototypeOf(decoded.events[0]?.extra ?? {}), Object.prototype, 'a __proto__ key stays data');
          assert.equal(({} as Record<string, unknown>).polluted, undefined);
          enrichRecord(decoded, mode);
          for (const event of decoded.events) {
            if (mode === 'all') assert.equal(event.commandText, null);
            checkMapped(event);
            JSON.parse(toJsonLine(event));
          }
          for (const heartbeat of decoded.heartbeats) JSON.parse(toJsonLine(heartbeat));
        }),
        params,
      ),
  },

  'decodeRecord: an event nested deeper than the sinks can serialize is invalid_event, whatever the field': {
    runs: 60,
    run: (params) =>
      fc.assert(
        fc.property(fc.constantFrom('paramList', 'engineNativeAuditFields', 'unknownField', '__proto__', 'commandText'), fc.integer({ min: 70, max: 100_000 }), fc.constantFrom('[', '{"a":'), (field, depth, open) => {
          caseStarted();
          const close = open === '[' ? ']' : '}';
          const nested = `${open.repeat(depth)}${open === '[' ? '' : '1'}${close.repeat(depth)}`;
          const json = `{"type":"DatabaseActivityMonitoringRecord","databaseActivityEventList":[{"type":"record","${field}":${nested}}]}`;
          assert.throws(() => decodeRecord(json, { version: '1.1' }), (error) => (assertDasError(error, ['invalid_event']), true));
        }),
        params,
      ),
  },

  'redaction, summary and trace extraction finish on long adversarial SQL (unterminated quotes, comments, dollar tags)': {
    runs: 60,
    run: (params) => {
      const unit = fc.constantFrom("'", '"', '`', '/*', '*/', '--', '$$', '$a$', '\\', "\\'", 'E\'', "q'[", '(', ')', 'PASSWORD ', 'IDENTIFIED BY ', '= ', ',', ';', 'SELECT ', 'FROM t ', '\n', 'traceparent=', "'00-", ' ');
      fc.assert(
        fc.property(fc.array(unit, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1_000, max: 20_000 }), fc.constantFrom('postgresql', 'mysql', 'sqlserver', 'oracle', 'unknown') , (parts, repeat, engine) => {
          caseStarted();
          const sql = parts.join('').repeat(Math.ceil(repeat / parts.join('').length));
          for (const mode of MODES) redactSql(sql, engine as 'mysql', mode);
          summarize(sql, engine as 'mysql');
          extractTraceContext(sql, sql);
        }),
        params,
      );
    },
  },

  'trace context: whatever the text, a result is a valid W3C trace context and a bare traceparent matches the W3C grammar': {
    runs: 3000,
    run: (params) => {
      const hexish = (n: number) => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABF-'.split('')), minLength: n - 1, maxLength: n + 1 });
      const candidate = fc.tuple(hexish(2), fc.constantFrom('-', '_'), hexish(32), fc.constantFrom('-', ''), hexish(16), fc.constantFrom('-'), hexish(2), fc.constantFrom('', '-', '-x', ' ')).map((p) => p.join(''));
      fc.assert(
        fc.property(fc.oneof(candidate, fc.string({ maxLength: 60 })), fc.oneof(candidate, fc.string({ maxLength: 80 })), (app, comment) => {
          caseStarted();
          const parsed = parseTraceparent(app);
          const w3c = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(app);
          const valid = w3c !== null && w3c[1] !== 'ff' && !/^0+$/.test(w3c[2]!) && !/^0+$/.test(w3c[3]!) && (w3c[1] === '00' ? w3c[5] === undefined : true);
          assert.equal(parsed !== null, valid, `parseTraceparent(${JSON.stringify(app)})`);
          const found = extractTraceContext(`SELECT 1 /*traceparent='${comment}'*/`, app);
          if (found !== null) {
            assert.match(found.traceId, /^[0-9a-f]{32}$/);
            assert.match(found.spanId, /^[0-9a-f]{16}$/);
            assert.ok(found.traceFlags >= 0 && found.traceFlags <= 255);
          }
        }),
        params,
      );
    },
  },
});
