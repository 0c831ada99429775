/**
 * `db.operation.name`, `db.collection.name` and `db.query.summary` from SQL
 * text, after the OpenTelemetry database semantic conventions ("Generating a
 * summary of the query text").
 *
 * The summary lists operations and their targets in the order they appear:
 * `SELECT orders`, `SELECT songs artists` (a join), `INSERT shipping_details
 * SELECT orders`, `SELECT SELECT orders customers` (a derived table). It holds
 * keywords and identifiers only, never a literal, and at most 255 characters.
 * Choices where the conventions leave room, made for low cardinality:
 * - operations are upper-cased (`select` and `SELECT` are one series);
 * - targets are written without quotes, schema-qualified as written
 *   (`[dbo].[Orders]` → `dbo.Orders`), and a target repeated within one
 *   operation is listed once;
 * - names of users, roles and logins are never targets (`ALTER USER`), nor
 *   are CTE names (`WITH recent AS (…)` is not a collection), nor Oracle DUAL;
 * - several statements in one text give `BATCH <op>` when they share an
 *   operation, else `BATCH`, and the summaries one after another;
 * - `db.collection.name` is set only when the text touches exactly one table.
 * Text may be the SQL as written or Aurora MySQL's DAS-escaped commandText.
 * Anything not recognised gives nulls, never a guess that could carry data.
 */
import type { Engine } from '../events/model.ts';
import { dialectOf, identifierName, tokenize, type SqlDialect, type TokenKind } from './sql-lexer.ts';

export interface QuerySummary {
  /** `db.operation.name`, e.g. `SELECT`, `CREATE TABLE`, `ALTER USER`. */
  operation: string | null;
  /** `db.collection.name`: the one table the text touches, else null. */
  collection: string | null;
  /** `db.query.summary`, e.g. `SELECT orders customers`. */
  summary: string | null;
  /** Every table the text touches, as written (`payments.cards`, `orders`), each once: what audit policies match `objects` on. */
  collections: readonly string[];
  /** Each statement's operation, each once, in order: a batch's (`operation` BATCH …) all of them. */
  operations: readonly string[];
}

export const MAX_SUMMARY_LENGTH = 255;

const NOTHING: QuerySummary = Object.freeze({ operation: null, collection: null, summary: null, collections: Object.freeze([]), operations: Object.freeze([]) });

/**
 * Recent summaries by dialect and text: a workload repeats the same statement
 * text constantly. Bounded per dialect (at most twice CACHE_ENTRIES: a few
 * MB for each engine a process reads), and long texts are not kept, so
 * memory stays small whatever the traffic. Owned by whoever enriches (an
 * Enricher: each thread has its own), not by the module.
 *
 * Two generations rather than a least-recently-used list: texts go into the
 * young map; when it holds CACHE_ENTRIES it becomes the old one (the old one
 * is dropped), and a text found in the old map is copied to the young one.
 * Every text used within the last CACHE_ENTRIES new ones stays, as in an LRU
 * of that size, without LRU's delete and re-insert on every hit and an
 * iterator for every eviction (3 % of `run`'s CPU draining a backlog of
 * distinct texts, where every lookup misses).
 */
const CACHE_ENTRIES = 2048;
const CACHE_MAX_TEXT = 2048;

interface Generations {
  young: Map<string, QuerySummary>;
  old: Map<string, QuerySummary>;
}

export class QuerySummaries {
  /** One cache per dialect, keyed by the text itself: no key string to build (and hash) per event. */
  readonly #caches = new Map<SqlDialect, Generations>();

  /** `summarize`, from the cache when the text was summarized lately. */
  summarize(text: string | null | undefined, engine: Engine | SqlDialect): QuerySummary {
    if (typeof text !== 'string') return NOTHING;
    const dialect = dialectOf(engine);
    if (text.length > CACHE_MAX_TEXT) return summarizeText(text, dialect);
    let cache = this.#caches.get(dialect);
    if (cache === undefined) this.#caches.set(dialect, (cache = { young: new Map(), old: new Map() }));
    let summary = cache.young.get(text);
    if (summary !== undefined) return summary;
    summary = cache.old.get(text) ?? Object.freeze(summarizeText(text, dialect));
    cache.young.set(text, summary);
    if (cache.young.size >= CACHE_ENTRIES) {
      cache.old = cache.young;
      cache.young = new Map();
    }
    return summary;
  }
}

/** Summarizes `text` for `engine`; null fields when there is nothing to say. Total: any input, no throw. */
export function summarize(text: string | null | undefined, engine: Engine | SqlDialect): QuerySummary {
  return typeof text === 'string' ? summarizeText(text, dialectOf(engine)) : NOTHING;
}

function summarizeText(text: string, dialect: SqlDialect): QuerySummary {
  if (text.trim() === '') return NOTHING;
  const toks: Tok[] = [];
  for (const t of tokenize(text, dialect)) {
    const kind = t.kind;
    if (kind === 'comment') continue;
    // Only words and operators have an upper-cased form, only words and quoted identifiers a name (a word's is its text).
    let up = '';
    let name = '';
    if (kind === 'word') {
      name = text.slice(t.start, t.end);
      up = name.toUpperCase();
    } else if (kind === 'operator') up = text.slice(t.start, t.end).toUpperCase();
    else if (kind === 'quoted_identifier') name = identifierName(text, t);
    toks.push({ kind, up, name });
  }

  const results: StatementResult[] = [];
  for (const statement of splitStatements(toks, dialect)) {
    const result = summarizeStatement(statement, dialect);
    if (result.operation !== null) results.push(result);
  }
  if (results.length === 0) return NOTHING;

  let operation: string;
  if (results.length === 1) operation = results[0]!.operation!;
  else {
    const first = results[0]!.operation!;
    operation = results.every((r) => r.operation === first) ? `BATCH ${first}` : 'BATCH';
  }
  const collections = new Set(results.flatMap((r) => r.collections));
  const collection = collections.size === 1 ? [...collections][0]! : null;
  const operations = Object.freeze([...new Set(results.map((r) => r.operation!))]);
  return { operation, collection, summary: joinSummary(results.flatMap((r) => r.parts.map((p) => p.text))), collections: Object.freeze([...collections]), operations };
}

interface Tok {
  kind: TokenKind;
  /** Upper-cased text for words and operators, '' otherwise. */
  up: string;
  /** Unquoted name for words and quoted identifiers, '' otherwise. */
  name: string;
}

interface Part {
  text: string;
  isOperation: boolean;
}

interface StatementResult {
  operation: string | null;
  parts: Part[];
  collections: string[];
}

function joinSummary(parts: string[]): string | null {
  let out = '';
  for (const part of parts) {
    const next = out === '' ? part : `${out} ${part}`;
    if (next.length > MAX_SUMMARY_LENGTH) {
      if (out === '') out = part.slice(0, MAX_SUMMARY_LENGTH);
      break;
    }
    out = next;
  }
  return out === '' ? null : out;
}

/** Splits at `;`, except inside routine bodies and PL/SQL blocks, whose `;` belong to the body. */
function splitStatements(toks: Tok[], dialect: SqlDialect): Tok[][] {
  if (isCompound(toks, dialect)) return [toks.filter((t) => t.up !== ';' || t.kind !== 'operator')];
  const statements: Tok[][] = [];
  let current: Tok[] = [];
  for (const t of toks) {
    if (t.kind === 'operator' && t.up === ';') {
      if (current.length > 0) statements.push(current);
      current = [];
    } else {
      current.push(t);
    }
  }
  if (current.length > 0) statements.push(current);
  return statements;
}

function isCompound(toks: Tok[], dialect: SqlDialect): boolean {
  const first = wordAt(toks, 0);
  if ((first === 'BEGIN' || first === 'DECLARE') && dialect === 'oracle') return true;
  if (first !== 'CREATE' && first !== 'ALTER') return false;
  for (let k = 1; k < toks.length && k < 16; k++) {
    const t = toks[k]!;
    if (t.kind === 'operator' && t.up === '(') return false;
    if (t.kind === 'word' && ROUTINE_WORDS.has(t.up)) return true;
    if (t.kind === 'word' && (t.up === 'TABLE' || t.up === 'VIEW' || t.up === 'INDEX' || t.up === 'USER')) return false;
  }
  return false;
}

const ROUTINE_WORDS = new Set(['FUNCTION', 'PROCEDURE', 'PROC', 'TRIGGER', 'EVENT', 'PACKAGE']);

function wordAt(toks: Tok[], k: number): string {
  const t = toks[k];
  return t !== undefined && t.kind === 'word' ? t.up : '';
}

/** Whether the words from `k` on are `phrase`. */
function wordsAt(toks: Tok[], k: number, phrase: readonly string[]): boolean {
  for (let i = 0; i < phrase.length; i++) if (wordAt(toks, k + i) !== phrase[i]) return false;
  return true;
}

function opAt(toks: Tok[], k: number, op: string): boolean {
  const t = toks[k];
  return t !== undefined && t.kind === 'operator' && t.up === op;
}

class Collector {
  readonly parts: Part[] = [];
  readonly collections: string[] = [];

  operation(name: string): void {
    this.parts.push({ text: name, isOperation: true });
  }

  target(name: string, isCollection: boolean): void {
    if (name === '') return;
    let seen = false;
    for (let i = this.parts.length - 1; i >= 0 && !this.parts[i]!.isOperation; i--) {
      if (this.parts[i]!.text === name) seen = true;
    }
    if (!seen) this.parts.push({ text: name, isOperation: false });
    if (isCollection) this.collections.push(name);
  }
}

/** A possibly qualified name starting at `k` (`db.schema.t`, `[dbo].[t]`, `mydb.*`, Oracle `t@link`). */
function readName(toks: Tok[], k: number, dialect: SqlDialect): { name: string; next: number } | null {
  const segments: string[] = [];
  let j = k;
  for (;;) {
    const t = toks[j];
    if (t === undefined) break;
    if (t.kind === 'word' || t.kind === 'quoted_identifier') segments.push(t.name);
    else if (t.kind === 'operator' && t.up === '*' && (segments.length > 0 || opAt(toks, j + 1, '.'))) segments.push('*');
    else break;
    j++;
    if (!opAt(toks, j, '.')) break;
    const after = toks[j + 1];
    if (after === undefined || !(after.kind === 'word' || after.kind === 'quoted_identifier' || (after.kind === 'operator' && after.up === '*'))) break;
    j++;
  }
  if (segments.length === 0) return null;
  let name = segments.join('.');
  if (dialect === 'oracle' && opAt(toks, j, '@') && toks[j + 1]?.kind === 'word') {
    name += `@${toks[j + 1]!.name}`;
    j += 2;
  }
  return { name, next: j };
}

const DML_STARTS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT', 'WITH', 'VALUES', 'TABLE']);

/** Commands whose operation is their first word, with no target. */
const SIMPLE_COMMANDS = new Set([
  'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'END', 'ABORT', 'SHOW', 'UNLOCK', 'VACUUM', 'ANALYZE', 'OPTIMIZE',
  'CHECKPOINT', 'LISTEN', 'NOTIFY', 'UNLISTEN', 'DISCARD', 'DEALLOCATE', 'PREPARE', 'DECLARE', 'FETCH', 'CLOSE', 'OPEN',
  'MOVE', 'REFRESH', 'REINDEX', 'CLUSTER', 'COMMENT', 'SECURITY', 'IMPORT', 'KILL', 'FLUSH', 'RESET', 'PURGE', 'HANDLER',
  'DO', 'CHECKSUM', 'CHECK', 'REPAIR', 'INSTALL', 'UNINSTALL', 'SHUTDOWN', 'RESTART', 'XA', 'DBCC', 'BACKUP', 'RESTORE',
  'WAITFOR', 'PRINT', 'RAISERROR', 'THROW', 'AUDIT', 'NOAUDIT', 'FLASHBACK', 'REASSIGN', 'LOAD', 'BINLOG', 'CACHE', 'HELP',
]);

function summarizeStatement(toks: Tok[], dialect: SqlDialect): StatementResult {
  const out = new Collector();
  const first = toks[0];
  if (first === undefined) return { operation: null, parts: [], collections: [] };
  const w = wordAt(toks, 0);
  let operation: string | null = null;

  if (DML_STARTS.has(w) || (first.kind === 'operator' && first.up === '(')) {
    operation = scanDml(toks, 0, out, dialect);
  } else if (w === 'CREATE' || w === 'ALTER' || w === 'DROP') {
    operation = summarizeDdl(toks, w, out, dialect);
  } else if (w === 'GRANT' || w === 'REVOKE' || w === 'DENY') {
    operation = w;
    out.operation(w);
    summarizePrivilegeTargets(toks, out, dialect);
  } else if (w === 'BEGIN') {
    operation = 'BEGIN';
    out.operation(operation);
  } else if (w === 'START' || w === 'STOP') {
    const what = wordAt(toks, 1);
    operation = what === '' ? w : `${w} ${what}`;
    out.operation(operation);
  } else if (w === 'SET') {
    operation = setOperation(toks);
    out.operation(operation);
  } else if (w === 'USE') {
    operation = 'USE';
    out.operation(operation);
    const name = readName(toks, 1, dialect);
    if (name !== null) out.target(name.name, false);
  } else if (w === 'CALL' || w === 'EXEC' || w === 'EXECUTE') {
    operation = summarizeCall(toks, w, out, dialect);
  } else if (w === 'TRUNCATE' || w === 'LOCK') {
    operation = w;
    out.operation(w);
    readTableList(toks, 1, out, dialect);
  } else if (w === 'EXPLAIN' || w === 'DESCRIBE' || w === 'DESC') {
    operation = summarizeExplain(toks, out, dialect);
  } else if (w === 'COPY') {
    operation = 'COPY';
    out.operation(operation);
    if (opAt(toks, 1, '(')) scanDml(toks, 1, out, dialect);
    else {
      const name = readName(toks, 1, dialect);
      if (name !== null) out.target(name.name, true);
    }
  } else if (w === 'LOAD' && (wordAt(toks, 1) === 'DATA' || wordAt(toks, 1) === 'XML')) {
    operation = `LOAD ${wordAt(toks, 1)}`;
    out.operation(operation);
    scanDml(toks, 2, out, dialect);
  } else if (w === 'RENAME') {
    const what = wordAt(toks, 1);
    operation = what === 'TABLE' || what === 'USER' ? `RENAME ${what}` : 'RENAME';
    out.operation(operation);
    if (what === 'TABLE') readTableList(toks, 2, out, dialect);
  } else if (w === 'CHANGE') {
    const what = wordAt(toks, 1);
    operation = what === 'REPLICATION' ? `CHANGE REPLICATION ${wordAt(toks, 2)}`.trim() : what === 'MASTER' ? 'CHANGE MASTER' : 'CHANGE';
    out.operation(operation);
  } else if (SIMPLE_COMMANDS.has(w)) {
    operation = w;
    out.operation(w);
  }
  return { operation, parts: out.parts, collections: out.collections };
}

const SET_SUBCOMMANDS: string[][] = [
  ['PASSWORD'], ['ROLE'], ['DEFAULT', 'ROLE'], ['TRANSACTION'], ['SESSION', 'TRANSACTION'], ['GLOBAL', 'TRANSACTION'],
  ['NAMES'], ['CONSTRAINTS'], ['SESSION', 'AUTHORIZATION'], ['CHARACTER', 'SET'], ['CHARSET'],
];

function setOperation(toks: Tok[]): string {
  let best: string[] = [];
  for (const phrase of SET_SUBCOMMANDS) {
    if (phrase.length > best.length && wordsAt(toks, 1, phrase)) best = phrase;
  }
  if (best.length === 0) return 'SET';
  // SET SESSION|GLOBAL TRANSACTION is SET TRANSACTION with a scope.
  const words = best[0] === 'SESSION' && best[1] === 'TRANSACTION' ? ['TRANSACTION'] : best[0] === 'GLOBAL' ? ['TRANSACTION'] : best;
  return `SET ${words.join(' ')}`;
}

function summarizeCall(toks: Tok[], w: string, out: Collector, dialect: SqlDialect): string {
  if (w === 'CALL') {
    out.operation('CALL');
    const name = readName(toks, 1, dialect);
    if (name !== null) out.target(name.name, false);
    return 'CALL';
  }
  if (wordAt(toks, 1) === 'AS') {
    out.operation('EXECUTE AS');
    return 'EXECUTE AS';
  }
  out.operation('EXECUTE');
  // PostgreSQL and MySQL EXECUTE runs a prepared statement whose name is per session: not a target.
  if (dialect === 'postgresql' || dialect === 'mysql') return 'EXECUTE';
  let k = 1;
  const t = toks[k];
  if (t !== undefined && (t.kind === 'placeholder' || t.kind === 'variable') && opAt(toks, k + 1, '=')) k += 2; // EXEC @rc = proc
  const name = readName(toks, k, dialect);
  if (name !== null) out.target(name.name, false);
  return 'EXECUTE';
}

function summarizeExplain(toks: Tok[], out: Collector, dialect: SqlDialect): string {
  let depth = 0;
  for (let k = 1; k < toks.length && k < 24; k++) {
    const t = toks[k]!;
    if (t.kind === 'operator' && t.up === '(') depth++;
    else if (t.kind === 'operator' && t.up === ')') depth--;
    else if (depth === 0 && t.kind === 'word' && DML_STARTS.has(t.up) && t.up !== 'TABLE') {
      out.operation('EXPLAIN');
      scanDml(toks, k, out, dialect);
      return 'EXPLAIN';
    }
  }
  // DESCRIBE t / EXPLAIN t (MySQL): the table's columns.
  out.operation('DESCRIBE');
  const name = readName(toks, 1, dialect);
  if (name !== null && toks[1]?.kind !== 'operator') out.target(name.name, true);
  return 'DESCRIBE';
}

/** TRUNCATE [TABLE] [ONLY] a, b / LOCK TABLES a READ, b WRITE / RENAME TABLE a TO b, c TO d. */
function readTableList(toks: Tok[], from: number, out: Collector, dialect: SqlDialect): void {
  let k = from;
  while (k < toks.length && ['TABLE', 'TABLES', 'ONLY', 'IF', 'EXISTS'].includes(wordAt(toks, k))) k++;
  while (k < toks.length) {
    const name = readName(toks, k, dialect);
    if (name === null) return;
    out.target(name.name, true);
    k = name.next;
    // Skip lock modes and aliases up to the next table (or TO in RENAME).
    while (k < toks.length && !opAt(toks, k, ',') && wordAt(toks, k) !== 'TO') {
      const w = wordAt(toks, k);
      if (w === 'IN' || w === 'NOWAIT' || w === 'CASCADE' || w === 'RESTRICT' || w === 'RESTART' || w === 'CONTINUE') return;
      k++;
    }
    k++;
    if (wordAt(toks, k) === 'ONLY') k++;
  }
}

type ObjectCategory = 'collection' | 'index' | 'named' | 'none';

const OBJECT_TYPES: [string[], ObjectCategory][] = [
  [['TABLE'], 'collection'], [['VIEW'], 'collection'], [['MATERIALIZED', 'VIEW'], 'collection'], [['FOREIGN', 'TABLE'], 'collection'],
  [['INDEX'], 'index'],
  [['DATABASE'], 'named'], [['SCHEMA'], 'named'], [['FUNCTION'], 'named'], [['PROCEDURE'], 'named'], [['PROC'], 'named'],
  [['TRIGGER'], 'named'], [['EVENT'], 'named'], [['TYPE'], 'named'], [['TYPE', 'BODY'], 'named'], [['DOMAIN'], 'named'],
  [['EXTENSION'], 'named'], [['SEQUENCE'], 'named'], [['SYNONYM'], 'named'], [['PACKAGE'], 'named'], [['PACKAGE', 'BODY'], 'named'],
  [['TABLESPACE'], 'named'],
  [['USER'], 'none'], [['ROLE'], 'none'], [['LOGIN'], 'none'], [['GROUP'], 'none'], [['USER', 'MAPPING'], 'none'],
  [['SERVER'], 'none'], [['DATABASE', 'LINK'], 'none'], [['CREDENTIAL'], 'none'], [['DATABASE', 'SCOPED', 'CREDENTIAL'], 'none'],
  [['APPLICATION', 'ROLE'], 'none'], [['MASTER', 'KEY'], 'none'], [['CERTIFICATE'], 'none'], [['SYMMETRIC', 'KEY'], 'none'],
  [['ASYMMETRIC', 'KEY'], 'none'], [['PROFILE'], 'none'], [['DIRECTORY'], 'none'], [['POLICY'], 'none'], [['PUBLICATION'], 'none'],
  [['SUBSCRIPTION'], 'none'], [['RULE'], 'none'], [['AGGREGATE'], 'none'], [['OPERATOR'], 'none'], [['COLLATION'], 'none'],
  [['CONVERSION'], 'none'], [['CAST'], 'none'], [['LANGUAGE'], 'none'], [['FOREIGN', 'DATA', 'WRAPPER'], 'none'],
  [['EVENT', 'TRIGGER'], 'none'], [['SESSION'], 'none'], [['SYSTEM'], 'none'], [['INSTANCE'], 'none'],
  [['RESOURCE', 'GROUP'], 'none'], [['LOGFILE', 'GROUP'], 'none'], [['STATISTICS'], 'none'], [['DEFAULT', 'PRIVILEGES'], 'none'],
  [['OWNED'], 'none'], [['LIBRARY'], 'none'], [['CONTEXT'], 'none'], [['CLUSTER'], 'none'], [['LARGE', 'OBJECT'], 'none'],
];

const DDL_MODIFIERS = new Set([
  'TEMPORARY', 'TEMP', 'GLOBAL', 'LOCAL', 'UNLOGGED', 'UNIQUE', 'CLUSTERED', 'NONCLUSTERED', 'PUBLIC', 'SHARED', 'EDITIONABLE',
  'NONEDITIONABLE', 'EDITIONING', 'FORCE', 'RECURSIVE', 'TRUSTED', 'PROCEDURAL', 'ONLINE', 'OFFLINE', 'IGNORE', 'BITMAP',
  'SPATIAL', 'FULLTEXT', 'CONSTRAINT', 'COLUMNSTORE', 'PRIVATE',
]);

const OBJECT_FIRST_WORDS = new Set(OBJECT_TYPES.map(([phrase]) => phrase[0]!));

function summarizeDdl(toks: Tok[], verb: string, out: Collector, dialect: SqlDialect): string {
  let j = 1;
  for (let guard = 0; guard < 16; guard++) {
    const w = wordAt(toks, j);
    if (w === 'OR' && (wordAt(toks, j + 1) === 'REPLACE' || wordAt(toks, j + 1) === 'ALTER')) j += 2;
    else if (w === 'NO' && wordAt(toks, j + 1) === 'FORCE') j += 2;
    else if (w === 'SQL' && wordAt(toks, j + 1) === 'SECURITY') j += 3;
    else if ((w === 'DEFINER' || w === 'ALGORITHM') && opAt(toks, j + 1, '=')) {
      // DEFINER = `admin`@`%` | 'admin'@'%' | CURRENT_USER[()]: skip to the next keyword we know.
      j += 2;
      for (let n = 0; n < 8 && j < toks.length; n++, j++) {
        const next = wordAt(toks, j);
        if (n > 0 && (OBJECT_FIRST_WORDS.has(next) || DDL_MODIFIERS.has(next) || next === 'SQL' || next === 'ALGORITHM' || next === 'DEFINER')) break;
      }
    } else if (DDL_MODIFIERS.has(w)) j++;
    else break;
  }
  let match: [string[], ObjectCategory] | null = null;
  for (const candidate of OBJECT_TYPES) {
    const [phrase] = candidate;
    if ((match === null || phrase.length > match[0].length) && wordsAt(toks, j, phrase)) match = candidate;
  }
  if (match === null) {
    out.operation(verb);
    return verb;
  }
  const [phrase, category] = match;
  const operation = `${verb} ${phrase.map((word) => (word === 'PROC' ? 'PROCEDURE' : word)).join(' ')}`;
  out.operation(operation);
  j += phrase.length;
  for (;;) {
    const w = wordAt(toks, j);
    if (w === 'IF' || w === 'NOT' || w === 'EXISTS' || w === 'CONCURRENTLY' || w === 'ONLY') j++;
    else break;
  }
  if (category === 'collection') {
    for (;;) {
      const name = readName(toks, j, dialect);
      if (name === null) break;
      out.target(name.name, true);
      j = name.next;
      if (!opAt(toks, j, ',') || verb !== 'DROP') break;
      j++;
    }
    // CREATE TABLE … AS SELECT, CREATE VIEW … AS SELECT: the query's own operations and tables.
    if (verb === 'CREATE' || (verb === 'ALTER' && phrase[phrase.length - 1] === 'VIEW')) scanDml(toks, j, out, dialect, true);
  } else if (category === 'index') {
    let depth = 0;
    for (let k = j; k < toks.length; k++) {
      const t = toks[k]!;
      if (t.kind === 'operator' && t.up === '(') depth++;
      else if (t.kind === 'operator' && t.up === ')') depth--;
      else if (depth === 0 && t.kind === 'word' && t.up === 'ON') {
        const name = readName(toks, wordAt(toks, k + 1) === 'ONLY' ? k + 2 : k + 1, dialect);
        if (name !== null) out.target(name.name, true);
        break;
      }
    }
  } else if (category === 'named') {
    const name = readName(toks, j, dialect);
    if (name !== null) out.target(name.name, false);
  }
  return operation;
}

/** GRANT … ON [TABLE|SCHEMA|DATABASE|…] names TO … — the objects, never the grantees. */
function summarizePrivilegeTargets(toks: Tok[], out: Collector, dialect: SqlDialect): void {
  let depth = 0;
  let on = -1;
  for (let k = 1; k < toks.length; k++) {
    const t = toks[k]!;
    if (t.kind === 'operator' && t.up === '(') depth++;
    else if (t.kind === 'operator' && t.up === ')') depth--;
    else if (depth === 0 && t.kind === 'word') {
      if (t.up === 'ON') {
        on = k;
        break;
      }
      if (t.up === 'TO' || t.up === 'FROM') return;
    }
  }
  if (on === -1) return;
  let j = on + 1;
  let isCollection = true;
  const w = wordAt(toks, j);
  if (w === 'ALL' && wordAt(toks, j + 2) === 'IN' && wordAt(toks, j + 3) === 'SCHEMA') {
    j += 4;
    isCollection = false;
  } else if (opAt(toks, j + 1, '::')) {
    // SQL Server: ON OBJECT::dbo.t, ON SCHEMA::s, ON DATABASE::d
    isCollection = w === 'OBJECT';
    j += 2;
  } else if (w === 'TABLE') j++;
  else if (['SEQUENCE', 'FUNCTION', 'PROCEDURE', 'ROUTINE', 'TYPE', 'DOMAIN', 'LANGUAGE', 'TABLESPACE', 'PACKAGE', 'DATABASE', 'SCHEMA'].includes(w)) {
    j++;
    isCollection = false;
  } else if (w === 'FOREIGN' || w === 'LARGE') return;
  for (;;) {
    const name = readName(toks, j, dialect);
    if (name === null) return;
    const upper = name.name.toUpperCase();
    if (upper === 'TO' || upper === 'FROM') return;
    out.target(name.name, isCollection && !name.name.includes('*'));
    j = name.next;
    if (!opAt(toks, j, ',')) return;
    j++;
  }
}

interface Frame {
  /** Inside a FROM (or UPDATE/DELETE) list, where a comma introduces another table. */
  fromList: boolean;
  /** The parenthesis opened a function call (EXTRACT(YEAR FROM d) is no table). */
  isCall: boolean;
  /** An operation was seen inside this parenthesis (a subquery). */
  sawOperation: boolean;
}

/** Words that may sit between FROM/INTO/UPDATE/DELETE and the table name. */
const SKIP_BEFORE_TABLE = new Set(['INTO', 'ONLY', 'TABLE', 'LATERAL', 'IGNORE', 'LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'QUICK', 'TOP', 'OVERWRITE', 'FROM', 'ALL', 'FIRST']);

/** Words that end a table list (after them a comma is not another table). */
const CLAUSE_END = new Set([
  'WHERE', 'GROUP', 'ORDER', 'HAVING', 'LIMIT', 'OFFSET', 'FETCH', 'WINDOW', 'UNION', 'EXCEPT', 'INTERSECT', 'MINUS', 'SET',
  'VALUES', 'RETURNING', 'FOR', 'WHEN', 'OUTPUT', 'OPTION', 'QUALIFY', 'CONNECT', 'START', 'SELECT', 'PARTITION', 'INTO',
]);

/** Words that cannot be a table name where one is expected. */
const NOT_A_TABLE = new Set([
  ...CLAUSE_END, 'ON', 'USING', 'AS', 'JOIN', 'INNER', 'LEFT', 'RIGHT', 'FULL', 'CROSS', 'NATURAL', 'OUTER', 'DEFAULT', 'NULL',
  'CASE', 'WITH', 'UPDATE', 'DELETE', 'INSERT', 'MERGE', 'NOT', 'EXISTS', 'AND', 'OR', 'DISTINCT', 'UNNEST',
]);

/** Words before `(` that open a subquery or a list, not a function call. */
const NOT_A_CALL = new Set([
  'IN', 'EXISTS', 'ANY', 'ALL', 'SOME', 'AS', 'FROM', 'JOIN', 'ON', 'AND', 'OR', 'NOT', 'WHERE', 'SELECT', 'UNION', 'EXCEPT',
  'INTERSECT', 'MINUS', 'LATERAL', 'USING', 'VALUES', 'WITH', 'THEN', 'ELSE', 'WHEN', 'RETURN', 'SET', 'BY', 'HAVING', 'INTO',
  'TABLE', 'MATERIALIZED', 'APPLY', 'BETWEEN', 'LIKE', 'IS', 'CASE',
]);

const DML_OPERATIONS = new Set(['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT', 'VALUES', 'TABLE']);

/**
 * One pass over a query: records each operation keyword and each table after
 * FROM/JOIN/INTO/UPDATE/USING, in order. Returns the operation of the
 * outermost statement (the main statement after a WITH clause).
 */
function scanDml(toks: Tok[], from: number, out: Collector, dialect: SqlDialect, nested = false): string | null {
  const frames: Frame[] = [{ fromList: false, isCall: false, sawOperation: false }];
  let expect: 'table' | 'insert' | null = null;
  let cte: 'off' | 'name' | 'afterName' | 'body' | 'afterBody' = 'off';
  let cteDepth = -1;
  const cteNames = new Set<string>();
  let operation: string | null = null;
  let firstOperation: string | null = null;
  let statementKind = '';
  let prev: Tok | null = null;

  for (let k = from; k < toks.length; prev = toks[k] ?? null, k++) {
    const t = toks[k]!;
    const depth = frames.length - 1;
    const frame = frames[depth]!;

    if (t.kind === 'operator') {
      if (t.up === '(') {
        const isCall = expect === null && prev !== null && ((prev.kind === 'word' && !NOT_A_CALL.has(prev.up)) || prev.kind === 'quoted_identifier');
        expect = null;
        frames.push({ fromList: false, isCall, sawOperation: false });
      } else if (t.up === ')') {
        if (frames.length > 1) frames.pop();
        if (cte === 'body' && frames.length - 1 === cteDepth) cte = 'afterBody';
        expect = null;
      } else if (t.up === ',') {
        if (cte === 'afterBody' && depth === cteDepth) cte = 'name';
        else if (frame.fromList) expect = 'table';
      } else {
        expect = null;
      }
      continue;
    }
    if (t.kind !== 'word' && t.kind !== 'quoted_identifier') {
      expect = null;
      continue;
    }
    const w = t.kind === 'word' ? t.up : '';

    if (cte === 'name') {
      if (w !== 'RECURSIVE') {
        cteNames.add(t.name.toLowerCase());
        cte = 'afterName';
      }
      continue;
    }
    if (cte === 'afterName') {
      if (w === 'AS') {
        cte = 'body';
        cteDepth = depth;
      }
      continue;
    }
    if (w === 'WITH' && (k === from || (prev !== null && prev.kind === 'operator' && prev.up === '('))) {
      cte = 'name';
      continue;
    }

    if (expect !== null) {
      if (SKIP_BEFORE_TABLE.has(w)) continue;
      if (!NOT_A_TABLE.has(w)) {
        const name = readName(toks, k, dialect);
        if (name !== null) {
          const isFunction = opAt(toks, name.next, '(') && expect !== 'insert';
          const key = name.name.toLowerCase();
          if (!isFunction && !cteNames.has(key) && key !== 'dual') out.target(name.name, true);
          expect = null;
          k = name.next - 1;
          continue;
        }
      }
      expect = null;
    }
    if (w === '') continue;

    if (DML_OPERATIONS.has(w)) {
      const atStart = k === from || prev === null || (prev.kind === 'operator' && (prev.up === '(' || prev.up === ')'));
      // UPDATE in ON DUPLICATE KEY UPDATE / DO UPDATE / FOR UPDATE / THEN UPDATE is a clause, not an operation.
      if (w === 'SELECT' || atStart) {
        // VALUES after `INSERT … (cols)` is a clause; as a statement or `(VALUES …)` it is an operation.
        if ((w === 'VALUES' || w === 'TABLE') && !(k === from || (prev !== null && prev.kind === 'operator' && prev.up === '('))) continue;
        out.operation(w);
        frame.sawOperation = true;
        firstOperation ??= w;
        if (depth === 0 && operation === null && (cte === 'off' || cte === 'afterBody')) operation = w;
        if (depth === 0 && cte === 'afterBody') cte = 'off';
        if (statementKind === '') statementKind = w;
        expect = w === 'SELECT' || w === 'VALUES' ? null : w === 'UPDATE' || w === 'DELETE' || w === 'TABLE' ? 'table' : 'insert';
        frame.fromList = w === 'UPDATE' || w === 'DELETE';
        continue;
      }
    }
    if (w === 'FROM' || w === 'JOIN' || w === 'STRAIGHT_JOIN' || w === 'APPLY') {
      if (!frame.isCall || frame.sawOperation) {
        expect = 'table';
        if (w === 'FROM') frame.fromList = true;
      }
      continue;
    }
    if (w === 'INTO' && (!frame.isCall || frame.sawOperation)) {
      expect = 'insert';
      frame.fromList = false;
      continue;
    }
    if (w === 'USING' && (statementKind === 'MERGE' || statementKind === 'DELETE')) {
      expect = 'table';
      continue;
    }
    if (CLAUSE_END.has(w)) frame.fromList = false;
  }
  return nested ? operation : (operation ?? firstOperation);
}
