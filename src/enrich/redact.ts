/**
 * Redaction of SQL text and bind parameters before they leave the exporter.
 *
 * Modes, from least to most:
 * - `none`: everything as received.
 * - `passwords` (default): secrets are replaced by `'***'` (never a length
 *   hint): password clauses of every engine (PostgreSQL `PASSWORD '…'`, MySQL
 *   `IDENTIFIED BY`, `SET PASSWORD`, `MASTER_PASSWORD`, SQL Server
 *   `PASSWORD =`, `SECRET =`, `sp_addlogin`/`sp_password`, Oracle `IDENTIFIED
 *   BY pw [REPLACE old]`), any literal assigned to a name ending in
 *   password/passwd/pwd/secret (`WHERE password = '…'` included), and any
 *   string holding a connection string with `password=`/`pwd=`.
 * - `literals`: as `passwords`, then every string, number and boolean literal
 *   becomes `?` (the OpenTelemetry `db.query.text` sanitization). Identifiers,
 *   placeholders and comments stay: sqlcommenter comments carry trace context
 *   and application tags, not data, and the caller reads trace context before
 *   redacting anyway.
 * - `all`: no text at all (the summary is kept by the caller).
 *
 * Text may be the SQL as written or Aurora MySQL's DAS-escaped commandText
 * (the lexer understands both); the result keeps whichever form it was given.
 * Matching works on tokens, so comments, newlines and case between keywords
 * do not matter, and a string or comment that merely mentions a keyword is
 * never mistaken for one.
 */
import type { Engine } from '../events/model.ts';
import { dialectOf, tokenize, tokenText, type SqlDialect, type Token } from './sql-lexer.ts';
import { DEFAULT_REDACTION_MODE, type RedactionMode } from './redaction-modes.ts';

export { REDACTION_MODES, DEFAULT_REDACTION_MODE, type RedactionMode } from './redaction-modes.ts';

/** What a masked password literal becomes in SQL text (still a valid SQL string). */
export const MASKED_SQL_LITERAL = "'***'";
/** What a masked bind parameter becomes. */
export const MASKED_PARAM = '***';
const MERGES_WITH_QUOTE = /[\p{L}\p{N}_$'"`\\]/u;

/** What any literal becomes in `literals` mode. */
export const LITERAL_PLACEHOLDER = '?';

/**
 * Text holding none of these cannot hold what `passwords` masks: every secret
 * name contains pass/pwd/secret, every password procedure sp_, and the
 * clause IDENTIFIED ident. The lexer then need not run. Any non-ASCII
 * character sends the text to the lexer anyway, since case mapping outside
 * ASCII can turn other letters into these ones (`ı` upper-cases to `I`).
 */
const MAY_HOLD_SECRET = /pass|pwd|secret|sp_|ident|[^\x00-\x7f]/i;
/** The same for `isPasswordStatement`, which also looks at CREATE/ALTER of principals and CHANGE MASTER/REPLICATION. */
const MAY_CONCERN_SECRET = /pass|pwd|secret|sp_|ident|create|alter|change|[^\x00-\x7f]/i;

/** Redacts `text` per `mode`; `all` (and a null text) gives null. Total: any input, no throw. */
export function redactSql(text: string | null, engine: Engine | SqlDialect, mode: RedactionMode = DEFAULT_REDACTION_MODE): string | null {
  if (text === null || mode === 'all') return null;
  if (mode === 'none' || text === '') return text;
  if (mode === 'passwords' && !MAY_HOLD_SECRET.test(text)) return text;
  const analysis = analyze(text, dialectOf(engine));
  const replacements: { start: number; end: number; with: string }[] = [];
  const { sig } = analysis;
  if (mode === 'passwords') {
    for (const k of analysis.masked) {
      const { start, end } = sig[k]!;
      // A mask touching a quote, a prefix letter or a backslash would fuse with it into another token.
      const before = start > 0 && MERGES_WITH_QUOTE.test(text[start - 1]!) ? ' ' : '';
      const after = end < text.length && MERGES_WITH_QUOTE.test(text[end]!) ? ' ' : '';
      replacements.push({ start, end, with: `${before}${MASKED_SQL_LITERAL}${after}` });
    }
  } else {
    for (let k = 0; k < sig.length; k++) {
      const t = sig[k]!;
      const literal = t.kind === 'string' || t.kind === 'number' || (t.kind === 'word' && isBooleanLiteral(text, t));
      if (!literal && !analysis.masked.has(k)) continue;
      let start = t.start;
      if (t.kind === 'number' && k > 0 && isSignOperator(text, sig[k - 1]!) && isUnaryContext(text, k - 1 >= 1 ? sig[k - 2]! : null)) {
        start = sig[k - 1]!.start;
      }
      replacements.push({ start, end: t.end, with: LITERAL_PLACEHOLDER });
    }
  }
  return applyReplacements(text, replacements);
}

/**
 * Redacts bind parameters. `literals`/`all` mask every one; `passwords` masks
 * every one when the statement has anything to do with a password (see
 * `isPasswordStatement`) or when there is no text to judge by, and otherwise
 * only values that hold a connection-string password. Total: any input, no throw.
 */
export function redactParams(
  params: readonly string[] | null,
  text: string | null,
  engine: Engine | SqlDialect,
  mode: RedactionMode = DEFAULT_REDACTION_MODE,
): string[] | null {
  if (params === null) return null;
  if (mode === 'none') return [...params];
  if (mode === 'literals' || mode === 'all') return params.map(() => MASKED_PARAM);
  // Without text there is no telling what the parameters are for.
  if (text === null || text.trim() === '' || isPasswordStatement(text, engine)) return params.map(() => MASKED_PARAM);
  return params.map((p) => (typeof p === 'string' && CONNECTION_STRING_SECRET.test(p) ? MASKED_PARAM : p));
}

/**
 * Whether `text` sets, changes or checks a secret: a password clause was found
 * (including one whose value is a placeholder such as PostgreSQL
 * `ALTER USER x PASSWORD $1`), or any name in it mentions password/passwd/pwd/
 * secret, or it uses `IDENTIFIED`, or it creates or alters a user, role, login,
 * credential, server, master key or database link. Deliberately broad: it
 * decides whether bind parameters are shown.
 */
export function isPasswordStatement(text: string, engine: Engine | SqlDialect): boolean {
  if (!MAY_CONCERN_SECRET.test(text)) return false;
  const analysis = analyze(text, dialectOf(engine));
  if (analysis.masked.size > 0 || analysis.secretPlaceholder) return true;
  const { sig } = analysis;
  for (let k = 0; k < sig.length; k++) {
    const t = sig[k]!;
    if (t.kind !== 'word' && t.kind !== 'variable' && t.kind !== 'placeholder' && t.kind !== 'quoted_identifier') continue;
    const name = tokenText(text, t).toLowerCase();
    if (/passw|passwd|pwd|secret/.test(name) || name === 'identified') return true;
    if (SECRET_PROCEDURES.has(lastNamePart(name))) return true;
    const atStart = k === 0 || isOp(text, sig[k - 1]!, ';');
    if (atStart && (name === 'create' || name === 'alter')) {
      let j = k + 1;
      if (word(text, sig[j]) === 'OR') j += 2;
      const what = word(text, sig[j]);
      const what2 = `${what} ${word(text, sig[j + 1])}`;
      if (PRINCIPAL_OBJECTS.has(what) || PRINCIPAL_OBJECTS.has(what2) || PRINCIPAL_OBJECTS.has(`${what2} ${word(text, sig[j + 2])}`)) return true;
    }
    if (atStart && name === 'change' && (word(text, sig[k + 1]) === 'MASTER' || word(text, sig[k + 1]) === 'REPLICATION')) return true;
  }
  return false;
}

const PRINCIPAL_OBJECTS = new Set([
  'USER', 'ROLE', 'LOGIN', 'GROUP', 'CREDENTIAL', 'SERVER', 'APPLICATION ROLE', 'MASTER KEY', 'DATABASE LINK',
  'PUBLIC DATABASE LINK', 'SHARED DATABASE LINK', 'DATABASE SCOPED CREDENTIAL', 'USER MAPPING', 'PROFILE',
]);

/** A `password=`/`pwd=` inside a value: libpq conninfo, ODBC/OLE DB connection strings. */
const CONNECTION_STRING_SECRET = /(?:password|passwd|pwd|secret)\s*=/i;

/** Names that, followed by `=`/`(` and a literal, are secrets: PASSWORD, MASTER_PASSWORD, @passwd, SECRET, … */
const SECRET_NAME = /(?:password|passwd|pwd|secret)$/;

/** SQL Server procedures with password arguments: 0-based positions and parameter names. */
const SECRET_PROCEDURES = new Map<string, { positions: number[]; names: string[] }>([
  ['sp_addlogin', { positions: [1], names: ['@passwd'] }],
  ['sp_password', { positions: [0, 1], names: ['@old', '@new'] }],
  ['sp_addlinkedsrvlogin', { positions: [4], names: ['@rmtpassword'] }],
  ['sp_setapprole', { positions: [1], names: ['@password'] }],
  ['sp_addapprole', { positions: [1], names: ['@password'] }],
  ['sp_approlepassword', { positions: [1], names: ['@newpwd'] }],
  ['sp_change_users_login', { positions: [3], names: ['@password'] }],
  ['sp_control_dbmasterkey_password', { positions: [], names: ['@password'] }],
]);

interface Analysis {
  /** Significant tokens: everything but comments. */
  sig: Token[];
  /** Indices into `sig` of password values to mask. */
  masked: Set<number>;
  /** A password clause whose value is a placeholder (the secret is a bind parameter). */
  secretPlaceholder: boolean;
}

function analyze(text: string, dialect: SqlDialect): Analysis {
  const sig = tokenize(text, dialect).filter((t) => t.kind !== 'comment');
  const masked = new Set<number>();
  let secretPlaceholder = false;

  /** Masks the value at `j` if it is one; returns whether it was a value. */
  const maskValue = (j: number, allowWord: boolean): boolean => {
    const t = sig[j];
    if (t === undefined) return false;
    if (t.kind === 'placeholder') {
      secretPlaceholder = true;
      return true;
    }
    // After BY/REPLACE any word is the password itself (Oracle's unquoted form, even `password`).
    if (isLiteralToken(t) || (allowWord && t.kind === 'word')) {
      masked.add(j);
      // MySQL and Oracle: `… BY 'new' REPLACE 'old'`.
      if (word(text, sig[j + 1]) === 'REPLACE') maskValue(j + 2, true);
      return true;
    }
    return false;
  };

  for (let k = 0; k < sig.length; k++) {
    const t = sig[k]!;
    const kind = t.kind;
    if (kind === 'string') {
      if (CONNECTION_STRING_SECRET.test(tokenText(text, t))) masked.add(k);
      continue;
    }
    if (kind !== 'word' && kind !== 'variable' && kind !== 'placeholder') continue;
    const raw = tokenText(text, t);
    const lower = raw.toLowerCase();
    const upper = raw.toUpperCase();

    // SQL Server procedures taking passwords: [EXEC] [db.][schema.]sp_addlogin 'login', 'pw', … or @passwd = 'pw'.
    const procedure = SECRET_PROCEDURES.get(lastNamePart(lower));
    if (procedure !== undefined && kind === 'word') {
      let j = k + 1;
      for (let position = 0; j < sig.length; position++) {
        let valueAt = j;
        let named: string | null = null;
        const arg = sig[j]!;
        if ((arg.kind === 'placeholder' || arg.kind === 'variable') && isOp(text, sig[j + 1], '=')) {
          named = tokenText(text, arg).toLowerCase();
          valueAt = j + 2;
        }
        const secret = named !== null ? procedure.names.includes(named) : procedure.positions.includes(position);
        if (secret) maskValue(valueAt, false);
        j = valueAt + 1;
        if (!isOp(text, sig[j], ',')) break;
        j++;
      }
      continue;
    }

    // PASSWORD 'x', PASSWORD = 'x', PASSWORD('x'), MASTER_PASSWORD = 'x', @passwd = N'x', SECRET = 'x'.
    if (SECRET_NAME.test(lower.replace(/^[@:]+/, ''))) {
      const next = sig[k + 1];
      if (next !== undefined && (isOp(text, next, '=') || isOp(text, next, ':=') || isOp(text, next, '('))) {
        maskValue(k + 2, false);
      } else if (!maskValue(k + 1, false) && upper === 'PASSWORD' && word(text, next) === 'FOR') {
        // MySQL SET PASSWORD FOR user = 'x' | = PASSWORD('x') | TO RANDOM.
        for (let j = k + 2; j < sig.length && j < k + 40 && !isOp(text, sig[j]!, ';'); j++) {
          if (isOp(text, sig[j]!, '=')) {
            const fn = word(text, sig[j + 1]);
            maskValue((fn === 'PASSWORD' || fn === 'OLD_PASSWORD') && isOp(text, sig[j + 2], '(') ? j + 3 : j + 1, false);
            break;
          }
        }
      }
      continue;
    }

    // IDENTIFIED [WITH plugin] BY|AS value [REPLACE old]; Oracle IDENTIFIED BY VALUES '…'.
    if (upper === 'IDENTIFIED') {
      let j = k + 1;
      if (word(text, sig[j]) === 'WITH') j += 2;
      const byOrAs = word(text, sig[j]);
      if (byOrAs !== 'BY' && byOrAs !== 'AS') continue;
      j++;
      const what = word(text, sig[j]);
      if (what === 'VALUES') j++;
      // `BY RANDOM PASSWORD` has no secret in the text; `BY PASSWORD 'hash'` (or `BY PASSWORD ?`, once
      // masked, so that redacting twice changes nothing) is handled at PASSWORD.
      const after = sig[j + 1];
      if ((what === 'RANDOM' || what === 'PASSWORD') && after !== undefined && (word(text, after) === 'PASSWORD' || isLiteralToken(after) || after.kind === 'placeholder' || tokenText(text, after) === LITERAL_PLACEHOLDER)) continue;
      maskValue(j, true);
    }
  }
  return { sig, masked, secretPlaceholder };
}

function isLiteralToken(t: Token): boolean {
  return t.kind === 'string' || t.kind === 'number' || t.kind === 'quoted_identifier';
}

function isBooleanLiteral(text: string, t: Token): boolean {
  const w = tokenText(text, t).toUpperCase();
  return w === 'TRUE' || w === 'FALSE';
}

function word(text: string, t: Token | undefined): string {
  return t !== undefined && t.kind === 'word' ? tokenText(text, t).toUpperCase() : '';
}

function isOp(text: string, t: Token | undefined, op: string): boolean {
  return t !== undefined && t.kind === 'operator' && t.end - t.start === op.length && text.startsWith(op, t.start);
}

function isSignOperator(text: string, t: Token): boolean {
  return isOp(text, t, '-') || isOp(text, t, '+');
}

/** Words after which a sign is unary (`= -5`, `SELECT -5`, `THEN -1`), unlike after an operand (`a - 5`). */
const UNARY_AFTER_WORDS = new Set([
  'SELECT', 'WHERE', 'AND', 'OR', 'NOT', 'ON', 'SET', 'VALUES', 'WHEN', 'THEN', 'ELSE', 'IN', 'IS', 'LIKE', 'BETWEEN',
  'CASE', 'RETURN', 'LIMIT', 'OFFSET', 'BY', 'HAVING', 'DEFAULT', 'INTERVAL', 'AS', 'TO', 'ALL', 'ANY', 'SOME', 'DISTINCT',
]);

function isUnaryContext(text: string, before: Token | null): boolean {
  if (before === null) return true;
  if (before.kind === 'operator') return !isOp(text, before, ')') && !isOp(text, before, ']');
  if (before.kind === 'word') return UNARY_AFTER_WORDS.has(tokenText(text, before).toUpperCase());
  return false;
}

function lastNamePart(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot === -1 ? name : name.slice(dot + 1);
}

function applyReplacements(text: string, replacements: { start: number; end: number; with: string }[]): string {
  if (replacements.length === 0) return text;
  replacements.sort((a, b) => a.start - b.start);
  let out = '';
  let from = 0;
  for (const r of replacements) {
    if (r.start < from) continue; // overlapping (a sign already taken): keep the first
    out += text.slice(from, r.start) + r.with;
    from = r.end;
  }
  return out + text.slice(from);
}
