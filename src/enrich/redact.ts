/**
 * Redaction of SQL text and bind parameters before they leave the exporter.
 *
 * Modes, from least to most:
 * - `none`: everything as received.
 * - `passwords` (default): secrets are replaced by `'***'` (never a length
 *   hint), in every place the engines' documented syntax puts one:
 *   - password clauses: PostgreSQL `[ENCRYPTED] PASSWORD '…'`, MySQL
 *     `IDENTIFIED [WITH plugin] BY|AS …`, `SET PASSWORD [FOR u] = …`,
 *     `MASTER_PASSWORD`/`SOURCE_PASSWORD`, SQL Server `PASSWORD = …`,
 *     `OLD_PASSWORD`, `SECRET =`, `KEY_SOURCE =`, certificate `PRIVATE KEY
 *     (…)`, Oracle `IDENTIFIED BY pw | "pw" | VALUES '…' [REPLACE old]` and
 *     the keystore's `… SET new`;
 *   - any value assigned or compared to a name ending in password, passwd,
 *     pwd, secret, passphrase, authentication_string, … (`name = v`,
 *     `name := v`, `name => v`, `name(v)`, `name 'v'`), the whole expression
 *     when it is one (`crypt('pw', gen_salt('bf'))`, `'a' || 'b'`);
 *   - the positional and named arguments of the procedures and functions that
 *     take secrets (`SECRET_ROUTINES`: sp_addlogin, mysql.rds_set_external_
 *     master, DBMS_CREDENTIAL.CREATE_CREDENTIAL, aws_commons.create_aws_
 *     credentials, AES_ENCRYPT, ENCRYPTBYPASSPHRASE, …), `OPENROWSET`'s
 *     password;
 *   - rows written to a column with a secret's name, and every literal of a
 *     row written positionally into an account table (mysql.user, pg_authid,
 *     sys.user$, …);
 *   - a string holding a connection string with `password=`/`pwd=` or a URI
 *     with `user:password@`, and a string of dynamic SQL (EXECUTE IMMEDIATE,
 *     sp_executesql, PREPARE … FROM, a DO block) that holds any of the above,
 *     read four levels deep;
 *   - PostgreSQL `set_config('….password', value, …)`.
 * - `literals`: as `passwords`, then every string, number and boolean literal
 *   becomes `?` (the OpenTelemetry `db.query.text` sanitization). Identifiers,
 *   placeholders and comments stay: sqlcommenter comments carry trace context
 *   and application tags, not data, and the caller reads trace context before
 *   redacting anyway.
 * - `all`: no text at all (the summary is kept by the caller).
 *
 * Fail closed: where the text around a credential cannot be read with
 * confidence (nothing usable after `IDENTIFIED BY` or `PASSWORD =`, an
 * unterminated quote or comment anywhere in text that mentions a credential,
 * an argument list that never closes, a positional row into an account table,
 * a bare word after PostgreSQL's role option `PASSWORD`, dynamic SQL nested
 * deeper than is read)
 * everything from the credential keyword to the end of the text is masked, and
 * the result says so (`failClosed`) for the caller to count.
 *
 * Text may be the SQL as written or Aurora MySQL's DAS-escaped commandText
 * (the lexer understands both); the result keeps whichever form it was given.
 * Matching works on tokens, so comments, newlines and case between keywords
 * do not matter, and a string or comment that merely mentions a keyword is
 * never mistaken for one.
 */
import type { Engine } from '../events/model.ts';
import { unescapeDasMysqlText } from './mysql-text.ts';
import { DEFAULT_REDACTION_MODE, type RedactionMode } from './redaction-modes.ts';
import { dialectOf, identifierName, tokenize, tokenText, type SqlDialect, type Token } from './sql-lexer.ts';

export { REDACTION_MODES, DEFAULT_REDACTION_MODE, type RedactionMode } from './redaction-modes.ts';

/** What a masked password literal becomes in SQL text (still a valid SQL string). */
export const MASKED_SQL_LITERAL = "'***'";
/** What a masked bind parameter becomes. */
export const MASKED_PARAM = '***';
/** What an echo of a masked secret becomes in other fields (an error message). */
export const MASKED_ECHO = '***';
const MERGES_WITH_QUOTE = /[\p{L}\p{N}_$'"`\\]/u;

/** What any literal becomes in `literals` mode. */
export const LITERAL_PLACEHOLDER = '?';

/**
 * Text holding none of these cannot hold what `passwords` masks: every rule
 * below starts at a word containing one of them (secret names, IDENTIFIED,
 * the routines, the account tables) or at `://` of a URI. The lexer then need
 * not run. Any non-ASCII character sends the text to the lexer anyway, since
 * case mapping outside ASCII can turn other letters into these ones (`ı`
 * upper-cases to `I`).
 */
const CREDENTIAL_HINT =
  /pass|pwd|secret|ident|sp_|auth|spare4|mysql|rds_|user\$|link\$|user_mapping|foreign_server|key_source|private|credential|crypt|hmac|encode|decode|openrowset|aws_|bind_s|wallet|:\/\//i;
const NON_ASCII = /[^\x00-\x7f]/;
/** The same for `isPasswordStatement`, which also looks at CREATE/ALTER of principals and CHANGE MASTER/REPLICATION. */
const MAY_CONCERN_SECRET = /create|alter|change/i;

/** What the caller knows about the statement besides its text. */
export interface RedactionContext {
  /** The session's current database (`databaseName`): an unqualified `user` is MySQL's account table when this is `mysql`. */
  database?: string | null;
}

export interface Redaction {
  /** The redacted text; null for a null text or mode `all`. */
  text: string | null;
  /** Whether a mask had to run from a credential keyword to the end because the text could not be read with confidence. */
  failClosed: boolean;
  /**
   * What was masked, as written and without its quotes, so that an echo of
   * it elsewhere (an error message quoting the statement) can be scrubbed
   * with `scrubSecrets`. Filled in every mode but `none`.
   */
  secrets: string[];
}

const NOTHING_MASKED: readonly string[] = Object.freeze([]);

/** Redacts `text` per `mode`; `all` (and a null text) gives null. Total: any input, no throw. */
export function redactSql(text: string | null, engine: Engine | SqlDialect, mode: RedactionMode = DEFAULT_REDACTION_MODE, context: RedactionContext = {}): string | null {
  return redact(text, engine, mode, context).text;
}

/** `redactSql` with what the caller needs to count and scrub: whether it failed closed, and what it masked. */
export function redact(text: string | null, engine: Engine | SqlDialect, mode: RedactionMode = DEFAULT_REDACTION_MODE, context: RedactionContext = {}): Redaction {
  if (text === null) return { text: null, failClosed: false, secrets: [] };
  if (mode === 'none' || text === '') return { text: mode === 'all' ? null : text, failClosed: false, secrets: [] };
  const dialect = dialectOf(engine);
  const accounts = isMysqlDatabase(context.database);
  if (mode !== 'literals' && !mayHoldSecret(text, accounts)) return { text: mode === 'all' ? null : text, failClosed: false, secrets: [] };
  const analysis = new Analysis(text, dialect, accounts, 0);
  const secrets = analysis.secrets();
  if (mode === 'all') return { text: null, failClosed: false, secrets };
  const replacements: { start: number; end: number; with: string }[] = [];
  const { sig } = analysis;
  const failFrom = analysis.failFrom ?? text.length;
  const mask = mode === 'passwords' ? MASKED_SQL_LITERAL : LITERAL_PLACEHOLDER;
  if (mode === 'passwords') {
    for (const k of analysis.masked) {
      const { start, end } = sig[k]!;
      if (start < failFrom) replacements.push({ start, end: Math.min(end, failFrom), with: spaced(text, start, end, MASKED_SQL_LITERAL) });
    }
  } else {
    for (let k = 0; k < sig.length; k++) {
      const t = sig[k]!;
      if (t.start >= failFrom) break;
      const literal = t.kind === 'string' || t.kind === 'number' || (t.kind === 'word' && isBooleanLiteral(text, t));
      if (!literal && !analysis.masked.has(k)) continue;
      let start = t.start;
      if (t.kind === 'number' && k > 0 && isSignOperator(text, sig[k - 1]!) && isUnaryContext(text, k - 1 >= 1 ? sig[k - 2]! : null)) {
        start = sig[k - 1]!.start;
      }
      replacements.push({ start, end: Math.min(t.end, failFrom), with: LITERAL_PLACEHOLDER });
    }
  }
  if (analysis.failFrom !== null) replacements.push({ start: failFrom, end: text.length, with: spaced(text, failFrom, text.length, mask, true) });
  return { text: applyReplacements(text, replacements), failClosed: analysis.failFrom !== null, secrets };
}

/** The mask for [start, end), set apart by a space where it would fuse with a quote, a prefix letter or a backslash. */
function spaced(text: string, start: number, end: number, mask: string, leading = false): string {
  const before = start > 0 && (MERGES_WITH_QUOTE.test(text[start - 1]!) || (leading && !/\s/.test(text[start - 1]!))) ? ' ' : '';
  const after = end < text.length && MERGES_WITH_QUOTE.test(text[end]!) ? ' ' : '';
  return `${before}${mask}${after}`;
}

/**
 * Replaces in `value` what `redact` reported masking, for fields that may
 * echo the statement: an error message such as MySQL's "… near 'hunter2' at
 * line 1" or PostgreSQL's `at or near "'hunter2'"`. Each secret is looked for
 * whole (at least two characters: one is in any text) and by its pieces
 * between punctuation (at least four: `password=hunter2` echoes as
 * `hunter2`), case-insensitively; a run of at least four characters that
 * starts one of them and stops at a quote or the end of `value` is masked
 * too, since MySQL cuts its excerpt at 80 characters. Each becomes `***`.
 * Total: any input, no throw.
 */
export function scrubSecrets(value: string, secrets: readonly string[]): string {
  const needles = secretNeedles(secrets);
  if (needles.length === 0 || value.length < 2) return value;
  let out = '';
  let from = 0;
  for (let i = 0; i < value.length; ) {
    let masked = 0;
    for (const needle of needles) {
      const m = commonPrefix(value, i, needle);
      if (m === needle.length || (m >= 4 && (i + m === value.length || ECHO_END.test(value[i + m]!)))) {
        if (m > masked) masked = m;
      }
    }
    if (masked === 0) {
      i++;
      continue;
    }
    out += value.slice(from, i) + MASKED_ECHO;
    i += masked;
    from = i;
  }
  return from === 0 ? value : out + value.slice(from);
}

/** Where an excerpt of a statement ends in an error message. */
const ECHO_END = /['"`]/;

function secretNeedles(secrets: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const secret of secrets) {
    if (secret.length >= 2) needles.add(secret);
    for (const piece of secret.split(/[^\p{L}\p{N}_]+/u)) if (piece.length >= 4) needles.add(piece);
  }
  return [...needles];
}

/** How many characters of `needle` match `value` from `at` on, ignoring case. */
function commonPrefix(value: string, at: number, needle: string): number {
  let m = 0;
  while (m < needle.length && at + m < value.length) {
    const a = value[at + m]!;
    const b = needle[m]!;
    if (a !== b && a.toLowerCase() !== b.toLowerCase()) break;
    m++;
  }
  return m;
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
  context: RedactionContext = {},
): string[] | null {
  if (params === null) return null;
  if (mode === 'none') return [...params];
  if (mode === 'literals' || mode === 'all') return params.map(() => MASKED_PARAM);
  // Without text there is no telling what the parameters are for.
  if (text === null || text.trim() === '' || isPasswordStatement(text, engine, context)) return params.map(() => MASKED_PARAM);
  return params.map((p) => (typeof p === 'string' && holdsConnectionSecret(p) ? MASKED_PARAM : p));
}

/**
 * Whether `text` sets, changes or checks a secret: a password clause was found
 * (including one whose value is a placeholder such as PostgreSQL
 * `ALTER USER x PASSWORD $1`), or any name in it mentions a secret, or it
 * uses `IDENTIFIED`, calls a routine taking secrets, writes an account table,
 * or creates or alters a user, role, login, credential, server, master key or
 * database link. Deliberately broad: it decides whether bind parameters are shown.
 */
export function isPasswordStatement(text: string, engine: Engine | SqlDialect, context: RedactionContext = {}): boolean {
  const accounts = isMysqlDatabase(context.database);
  if (!mayHoldSecret(text, accounts) && !MAY_CONCERN_SECRET.test(text)) return false;
  const analysis = new Analysis(text, dialectOf(engine), accounts, 0);
  if (analysis.masked.size > 0 || analysis.secretPlaceholder || analysis.failFrom !== null || analysis.touchesSecrets) return true;
  const { sig } = analysis;
  for (let k = 0; k < sig.length; k++) {
    const t = sig[k]!;
    if (t.kind !== 'word' && t.kind !== 'variable' && t.kind !== 'placeholder' && t.kind !== 'quoted_identifier') continue;
    const name = tokenText(text, t).toLowerCase();
    if (/passw|passwd|pwd|secret|authentication_string|passphrase|private_key|key_source/.test(name) || name === 'identified') return true;
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
  'CERTIFICATE', 'SYMMETRIC KEY', 'ASYMMETRIC KEY',
]);

function mayHoldSecret(text: string, accounts: boolean): boolean {
  return CREDENTIAL_HINT.test(text) || NON_ASCII.test(text) || (accounts && /user|servers|master_info/i.test(text));
}

function isMysqlDatabase(database: string | null | undefined): boolean {
  return typeof database === 'string' && database.toLowerCase() === 'mysql';
}

/** A `password=`/`pwd=` inside a value (libpq conninfo, ODBC/OLE DB/JDBC connection strings), or a URI's `user:password@`. */
const CONNECTION_STRING_SECRET = /(?:password|passwd|pwd|secret)\s*=|[a-z][\w+.-]*:\/\/[^\s/?#@:]*:[^\s/?#@]*@/i;

function holdsConnectionSecret(value: string): boolean {
  return CONNECTION_STRING_SECRET.test(value);
}

/**
 * Names whose value is a secret: followed by `=`/`:=`/`=>`/`(`/a literal
 * (PASSWORD, MASTER_PASSWORD, @passwd, SECRET, …), and as a column of a row
 * being written (mysql.user `authentication_string`, pg_authid `rolpassword`,
 * sys.user$ `spare4`, sys.link$ `passwordx`/`authpwdx`, SQL Server
 * `KEY_SOURCE`/`IDENTITY_VALUE`, AWS `secret_key`/`session_token`).
 */
const SECRET_NAME = /(?:password|passwd|pwd|secret|passphrase|authentication_string|spare4|passwordx|authpwdx|key_source|identity_value|secret_key|session_token|private_key)$/;

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name.toLowerCase().replace(/^[@:]+/, ''));
}

/** Where a routine takes secrets: 0-based positions and parameter names (lower case, without `@`). */
interface SecretArguments {
  positions: readonly number[];
  names: readonly string[];
  /** Only in these dialects (the generic dialect takes every entry). */
  dialects?: readonly SqlDialect[];
  /** Only when called through this package or schema (lower case), e.g. `utl_smtp.auth`. */
  qualifier?: string;
}

const MYSQL: readonly SqlDialect[] = ['mysql'];
const POSTGRESQL: readonly SqlDialect[] = ['postgresql'];
const SQLSERVER: readonly SqlDialect[] = ['sqlserver'];
const ORACLE: readonly SqlDialect[] = ['oracle'];

/**
 * Procedures and functions with password, key or secret arguments, from each
 * engine's documentation. Keyed by the routine's own name (lower case).
 */
const SECRET_ROUTINES = new Map<string, readonly SecretArguments[]>([
  // SQL Server system procedures.
  ['sp_addlogin', [{ positions: [1], names: ['passwd'] }]],
  ['sp_password', [{ positions: [0, 1], names: ['old', 'new'] }]],
  ['sp_addlinkedsrvlogin', [{ positions: [4], names: ['rmtpassword'] }]],
  ['sp_setapprole', [{ positions: [1], names: ['password'] }]],
  ['sp_addapprole', [{ positions: [1], names: ['password'] }]],
  ['sp_approlepassword', [{ positions: [1], names: ['newpwd'] }]],
  ['sp_change_users_login', [{ positions: [3], names: ['password'] }]],
  ['sp_control_dbmasterkey_password', [{ positions: [], names: ['password'] }]],
  ['sp_adddistributor', [{ positions: [2], names: ['password'] }]],
  ['sp_adddistpublisher', [{ positions: [4], names: ['password'] }]],
  ['sp_changedistributor_password', [{ positions: [0], names: ['password'] }]],
  ['sp_adddistributiondb', [{ positions: [12], names: ['password'] }]],
  // SQL Server functions: the passphrase, and the clear text it encrypts or checks.
  ['encryptbypassphrase', [{ positions: [0, 1], names: [], dialects: SQLSERVER }]],
  ['decryptbypassphrase', [{ positions: [0], names: [], dialects: SQLSERVER }]],
  ['pwdencrypt', [{ positions: [0], names: [], dialects: SQLSERVER }]],
  ['pwdcompare', [{ positions: [0], names: [], dialects: SQLSERVER }]],
  // Amazon RDS / Aurora MySQL replication procedures: (host, port, user, password, …).
  ['rds_set_external_master', [{ positions: [3], names: [] }]],
  ['rds_set_external_source', [{ positions: [3], names: [] }]],
  ['rds_set_external_master_with_auto_position', [{ positions: [3], names: [] }]],
  ['rds_set_external_source_with_auto_position', [{ positions: [3], names: [] }]],
  ['rds_set_external_master_with_delay', [{ positions: [3], names: [] }]],
  ['rds_set_external_source_with_delay', [{ positions: [3], names: [] }]],
  ['rds_set_external_source_for_channel', [{ positions: [3], names: [] }]],
  ['rds_set_external_source_with_auto_position_for_channel', [{ positions: [3], names: [] }]],
  ['rds_set_external_source_with_delay_for_channel', [{ positions: [3], names: [] }]],
  ['rds_set_external_master_gtid', [{ positions: [3], names: [] }]],
  // The binlog TLS material, private key included.
  ['rds_import_binlog_ssl_material', [{ positions: [0], names: [] }]],
  // MySQL functions with a key or password argument.
  ['aes_encrypt', [{ positions: [1], names: [], dialects: MYSQL }]],
  ['aes_decrypt', [{ positions: [1], names: [], dialects: MYSQL }]],
  ['des_encrypt', [{ positions: [1], names: [], dialects: MYSQL }]],
  ['des_decrypt', [{ positions: [1], names: [], dialects: MYSQL }]],
  ['encode', [{ positions: [1], names: [], dialects: MYSQL }]],
  ['decode', [{ positions: [1], names: [], dialects: MYSQL }]],
  ['validate_password_strength', [{ positions: [0], names: [], dialects: MYSQL }]],
  // PostgreSQL: aws_commons / aws_s3 (access key, secret key, session token) and pgcrypto.
  ['create_aws_credentials', [{ positions: [1, 2], names: ['secret_key', 'session_token'], dialects: POSTGRESQL }]],
  ['table_import_from_s3', [{ positions: [7, 8], names: ['secret_key', 'session_token'], dialects: POSTGRESQL }]],
  ['crypt', [{ positions: [0], names: [], dialects: POSTGRESQL }]],
  ['pgp_sym_encrypt', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  ['pgp_sym_decrypt', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  ['pgp_sym_encrypt_bytea', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  ['pgp_sym_decrypt_bytea', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  ['hmac', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  ['encrypt_iv', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  ['decrypt_iv', [{ positions: [1], names: [], dialects: POSTGRESQL }]],
  [
    'encrypt',
    [
      { positions: [1], names: [], dialects: POSTGRESQL },
      { positions: [2], names: ['key'], dialects: ORACLE, qualifier: 'dbms_crypto' },
    ],
  ],
  [
    'decrypt',
    [
      { positions: [1], names: [], dialects: POSTGRESQL },
      { positions: [2], names: ['key'], dialects: ORACLE, qualifier: 'dbms_crypto' },
    ],
  ],
  // Oracle: DBMS_CREDENTIAL / DBMS_SCHEDULER / DBMS_CLOUD, UTL_HTTP, UTL_SMTP, DBMS_LDAP.
  ['create_credential', [{ positions: [2, 3], names: ['password', 'private_key'], dialects: ORACLE }]],
  ['update_credential', [{ positions: [2], names: ['value'], dialects: ORACLE }]],
  ['set_authentication', [{ positions: [2], names: ['password'], dialects: ORACLE }]],
  ['set_wallet', [{ positions: [1], names: ['wallet_password'], dialects: ORACLE }]],
  ['auth', [{ positions: [2], names: ['password'], dialects: ORACLE, qualifier: 'utl_smtp' }]],
  ['simple_bind_s', [{ positions: [2], names: ['passwd'], dialects: ORACLE }]],
]);

/** The secret arguments of a routine named `name` (lower case) called through `qualifier`, in `dialect`; null when it takes none. */
function secretArgumentsOf(name: string, qualifier: string | null, dialect: SqlDialect): SecretArguments | null {
  const entries = SECRET_ROUTINES.get(name);
  if (entries === undefined) return null;
  const fits = entries.filter((e) => (dialect === 'generic' || e.dialects === undefined || e.dialects.includes(dialect)) && (e.qualifier === undefined || e.qualifier === qualifier));
  if (fits.length === 0) return null;
  if (fits.length === 1) return fits[0]!;
  return { positions: fits.flatMap((e) => e.positions), names: fits.flatMap((e) => e.names) };
}

/** `set_config(name, value, is_local)` when `name` is a secret's: the value. */
const SET_CONFIG_VALUE: SecretArguments = { positions: [1], names: ['new_value'] };

/**
 * Tables whose rows hold password hashes or secrets: written positionally,
 * every value is masked, since which column is which depends on the version.
 */
const ACCOUNT_TABLES = new Set([
  'mysql.user', 'mysql.servers', 'mysql.slave_master_info',
  'pg_authid', 'pg_catalog.pg_authid', 'pg_user_mapping', 'pg_catalog.pg_user_mapping', 'pg_foreign_server', 'pg_catalog.pg_foreign_server',
  'sys.user$', 'user$', 'sys.link$', 'link$',
]);
/** The same tables named without their schema, when the session's database is `mysql`. */
const MYSQL_ACCOUNT_TABLES = new Set(['user', 'servers', 'slave_master_info']);

/** How deep dynamic SQL (a string of SQL inside a string of SQL …) is read; a string nested deeper that mentions a credential is masked whole. */
const MAX_NESTING = 4;

/** Words that may follow `PASSWORD =` without being a secret. */
const NOT_A_SECRET_VALUE = new Set(['NULL', 'DEFAULT']);

/** Operators that continue an expression after an operand (`'a' || 'b'`, `'a' + 'b'`, `x::text`). */
const BINARY_OPERATORS = new Set(['||', '+', '-', '*', '/', '%', '::', '.', '&', '|', '^']);

class Analysis {
  readonly text: string;
  readonly dialect: SqlDialect;
  /** Every token, comments included. */
  readonly all: Token[];
  /** Significant tokens: everything but comments. */
  readonly sig: Token[];
  /** Indices into `sig` of tokens to mask. */
  readonly masked = new Set<number>();
  /** A secret whose value is a placeholder (a bind parameter). */
  secretPlaceholder = false;
  /** A routine taking secrets is called, or an account table or secret column is written. */
  touchesSecrets = false;
  /** Where a fail-closed mask starts (a UTF-16 offset), or null. */
  failFrom: number | null = null;
  readonly #accounts: boolean;
  readonly #depth: number;
  /** `sig` index of each `(`/`[`/`{`'s partner, -1 when it has none. */
  readonly #partner: Int32Array;
  /** Literals up to this `sig` index were masked by a range already (nested ranges cost nothing twice). */
  #maskedThrough = 0;

  constructor(text: string, dialect: SqlDialect, accounts: boolean, depth: number) {
    this.text = text;
    this.dialect = dialect;
    this.#accounts = accounts;
    this.#depth = depth;
    this.all = tokenize(text, dialect);
    this.sig = this.all.filter((t) => t.kind !== 'comment');
    this.#partner = partners(text, this.sig);
    this.#run();
    if (depth === 0) this.#checkConfidence();
  }

  /** What was masked: each token as written and its content; for a fail-closed range, its pieces. */
  secrets(): string[] {
    const out: string[] = [];
    const text = this.text;
    for (const k of this.masked) {
      const raw = tokenText(text, this.sig[k]!);
      out.push(raw);
      for (const content of literalContents(raw, this.sig[k]!.kind)) out.push(content);
    }
    if (this.failFrom !== null) {
      const rest = text.slice(this.failFrom);
      for (const piece of rest.split(/[\s'"`,;()=\\]+/)) if (piece.length >= 3) out.push(piece);
      for (const t of tokenize(rest, this.dialect)) {
        if (t.kind === 'string' || t.kind === 'quoted_identifier' || t.kind === 'comment') {
          for (const content of literalContents(tokenText(rest, t), t.kind)) if (content.length >= 3) out.push(content);
        }
      }
    }
    return out.length === 0 ? (NOTHING_MASKED as string[]) : out;
  }

  #run(): void {
    const { text, sig } = this;
    for (let k = 0; k < sig.length; k++) {
      const t = sig[k]!;
      const kind = t.kind;
      if (kind === 'string') {
        this.#string(k);
        continue;
      }
      if (kind !== 'word' && kind !== 'variable' && kind !== 'placeholder' && kind !== 'quoted_identifier') continue;
      const raw = kind === 'quoted_identifier' ? identifierName(text, t) : tokenText(text, t);
      const lower = raw.toLowerCase();
      const upper = raw.toUpperCase();

      if (kind === 'word' || kind === 'quoted_identifier') {
        const qualifier = isOp(text, sig[k - 1], '.') && sig[k - 2] !== undefined && !isOp(text, sig[k - 2], '.') ? nameOf(text, sig[k - 2]!).toLowerCase() : null;
        const routine = secretArgumentsOf(lower, qualifier, this.dialect);
        if (routine !== null && this.#call(k, routine)) continue;
        if (lower === 'openrowset' && isOp(text, sig[k + 1], '(')) {
          this.#openrowset(k + 1);
          continue;
        }
        // PostgreSQL `set_config('app.password', 'x', false)`: a setting with a secret's name.
        if (lower === 'set_config' && this.dialect !== 'mysql' && isOp(text, sig[k + 1], '(') && sig[k + 2]?.kind === 'string') {
          if (literalContents(tokenText(text, sig[k + 2]!), 'string').some(isSecretName)) {
            this.touchesSecrets = true;
            this.#parenthesizedArguments(k + 1, SET_CONFIG_VALUE);
            continue;
          }
        }
      }
      if (kind === 'word') {
        if ((upper === 'INSERT' || (upper === 'REPLACE' && this.#atStatementStart(k))) && !isOp(text, sig[k + 1], '(')) {
          this.#insert(k);
          continue;
        }
        if (upper === 'IDENTIFIED') {
          this.#identified(k);
          continue;
        }
        // SQL Server `WITH PRIVATE KEY (FILE = …, BINARY = 0x…, DECRYPTION BY PASSWORD = …)`.
        if (upper === 'PRIVATE' && word(text, sig[k + 1]) === 'KEY' && isOp(text, sig[k + 2], '(')) {
          this.#maskGroup(k + 2);
          continue;
        }
      }
      if (kind !== 'quoted_identifier' && isSecretName(lower)) this.#secretName(k, upper);
    }
  }

  /** A string: a connection string with a password, or dynamic SQL that holds a secret, is masked whole. */
  #string(k: number): void {
    const raw = tokenText(this.text, this.sig[k]!);
    if (holdsConnectionSecret(raw)) {
      this.masked.add(k);
      return;
    }
    if (!mayHoldSecret(raw, this.#accounts)) return;
    if (this.#depth >= MAX_NESTING) {
      // Dynamic SQL nested deeper than is read: it may hold a credential, so it is masked whole.
      this.#failClosed(this.sig[k]!.start);
      return;
    }
    for (const content of literalContents(raw, 'string')) {
      const inner = new Analysis(content, this.dialect, this.#accounts, this.#depth + 1);
      if (inner.masked.size === 0 && inner.failFrom === null && !inner.touchesSecrets && !inner.secretPlaceholder) continue;
      this.masked.add(k);
      if (inner.failFrom !== null) this.#failClosed(this.sig[k]!.start);
      return;
    }
  }

  /** `name` followed by `=`, `:=`, `=>`, `(`, a literal, or (MySQL SET PASSWORD) `FOR account =`. */
  #secretName(k: number, upper: string): void {
    const { text, sig } = this;
    const next = sig[k + 1];
    if (next === undefined) return;
    if (isOp(text, next, '=') || isOp(text, next, ':=') || isOp(text, next, '=>')) {
      this.#expression(k + 2, next.end);
      return;
    }
    if (isOp(text, next, '(')) {
      this.#maskGroup(k + 1);
      return;
    }
    if (next.kind === 'placeholder') {
      this.secretPlaceholder = true;
      return;
    }
    if (isLiteralToken(next)) {
      this.#maskLiteral(k + 1);
      return;
    }
    // PostgreSQL's role options take PASSWORD 'value' or PASSWORD NULL; a bare word there is no
    // statement PostgreSQL runs, and may be the password itself.
    if (upper === 'PASSWORD' && next.kind === 'word' && this.dialect === 'postgresql' && word(text, next) !== 'NULL' && this.#inRoleStatement(k)) {
      this.#failClosed(next.start);
      return;
    }
    if (upper === 'PASSWORD' && word(text, next) === 'FOR') {
      // MySQL SET PASSWORD FOR user = 'x' | = PASSWORD('x') | TO RANDOM.
      for (let j = k + 2; j < sig.length && j < k + 40 && !isOp(text, sig[j]!, ';'); j++) {
        if (isOp(text, sig[j]!, '=')) {
          this.#expression(j + 1, sig[j]!.end);
          return;
        }
      }
    }
  }

  /**
   * IDENTIFIED [WITH plugin] BY|AS value [REPLACE old] [SET new]; Oracle
   * `IDENTIFIED BY VALUES '…'`. EXTERNALLY, GLOBALLY, USING and a plugin
   * alone have no secret in the text.
   */
  #identified(k: number): void {
    const { text, sig } = this;
    let j = k + 1;
    if (word(text, sig[j]) === 'WITH') j += 2;
    const byOrAs = word(text, sig[j]);
    if (byOrAs !== 'BY' && byOrAs !== 'AS') {
      // `IDENTIFIED 'x'` is no syntax of any engine; `identified` as a column name is followed by anything else.
      if (sig[j] !== undefined && isLiteralToken(sig[j]!) && j === k + 1) this.#failClosed(sig[k]!.end);
      return;
    }
    const keywordEnd = sig[j]!.end;
    j++;
    const what = word(text, sig[j]);
    if (what === 'VALUES') j++;
    const value = sig[j];
    const after = sig[j + 1];
    // `BY RANDOM PASSWORD` has no secret in the text; `BY PASSWORD 'hash'` (or `BY PASSWORD ?`, once
    // masked, so that redacting twice changes nothing) is handled at PASSWORD.
    if ((what === 'RANDOM' || what === 'PASSWORD') && after !== undefined && (word(text, after) === 'PASSWORD' || isLiteralToken(after) || after.kind === 'placeholder' || tokenText(text, after) === LITERAL_PLACEHOLDER)) return;
    // Oracle keystores: `IDENTIFIED BY EXTERNAL STORE`.
    if (what === 'EXTERNAL' && word(text, after) === 'STORE') return;
    if (value === undefined) {
      this.#failClosed(keywordEnd);
      return;
    }
    if (value.kind === 'placeholder') {
      this.secretPlaceholder = true;
      return;
    }
    // Masked already (literals mode): redacting twice changes nothing.
    if (isMaskedLiteral(text, value)) return;
    // After BY/AS any word is the password itself (Oracle's unquoted form, even `password`).
    if (isLiteralToken(value) || value.kind === 'word') {
      this.#maskLiteral(j);
      let at = j + 1;
      // MySQL and Oracle: `… BY 'new' REPLACE 'old'`; Oracle keystores: `… IDENTIFIED BY old SET new`.
      for (const follower of ['REPLACE', 'SET']) {
        if (word(text, sig[at]) !== follower) continue;
        const v = sig[at + 1];
        if (v === undefined) this.#failClosed(sig[at]!.end);
        else if (v.kind === 'placeholder') this.secretPlaceholder = true;
        else if (isLiteralToken(v) || v.kind === 'word') this.#maskLiteral(at + 1);
        at += 2;
      }
      return;
    }
    // Already masked by the engine's own audit log (`IDENTIFIED BY *****`).
    if (/^\*+(?:\s*(?:;|$))/.test(text.slice(value.start))) return;
    if (value.kind === 'variable') return;
    this.#failClosed(keywordEnd);
  }

  /**
   * The value of a secret at `j`, an expression: every literal in it is
   * masked. `from` is where a fail-closed mask starts when there is no
   * expression to read.
   */
  #expression(j: number, from: number): void {
    const { text, sig } = this;
    for (;;) {
      const t = sig[j];
      if (t === undefined || isOp(text, t, ';') || isOp(text, t, ',') || isOp(text, t, ')')) {
        this.#failClosed(from);
        return;
      }
      // A sign before a number.
      if ((isOp(text, t, '-') || isOp(text, t, '+')) && sig[j + 1]?.kind === 'number') j++;
      const operand = sig[j]!;
      let end = j + 1;
      if (operand.kind === 'placeholder') this.secretPlaceholder = true;
      else if (isMaskedLiteral(text, operand)) {
        // Masked already (literals mode).
      } else if (isLiteralToken(operand)) {
        this.#maskLiteral(j);
        while (sig[end]?.kind === 'string') end++; // adjacent strings are one literal ('a' 'b')
      } else if (isOp(text, operand, '(') || isOp(text, operand, '{')) {
        if (!this.#maskGroup(j)) return;
        end = this.#partner[j]! + 1;
      } else if (operand.kind === 'word' || operand.kind === 'quoted_identifier') {
        const w = word(text, operand);
        if (w === 'CASE') {
          end = this.#maskCase(j);
          if (end < 0) return;
        } else if (isOp(text, sig[j + 1], '(')) {
          // A function call: everything it is given.
          if (!this.#maskGroup(j + 1)) return;
          end = this.#partner[j + 1]! + 1;
        } else if (NOT_A_SECRET_VALUE.has(w)) {
          return;
        }
        // Otherwise a column or variable name: nothing secret in the text.
      } else if (operand.kind !== 'variable') {
        this.#failClosed(from);
        return;
      }
      const op = sig[end];
      if (op !== undefined && op.kind === 'operator' && BINARY_OPERATORS.has(tokenText(text, op)) && sig[end + 1] !== undefined) {
        j = end + 1;
        from = op.end;
        continue;
      }
      // MySQL `SET PASSWORD … = 'new' REPLACE 'old'`.
      if (op !== undefined && word(text, op) === 'REPLACE') {
        j = end + 1;
        from = op.end;
        continue;
      }
      return;
    }
  }

  /** Masks every literal of the group opened at `open`; fails closed (and says false) when it never closes. */
  #maskGroup(open: number): boolean {
    const close = this.#partner[open]!;
    if (close < 0) {
      this.#failClosed(this.sig[open]!.end);
      return false;
    }
    this.#maskLiteralsIn(open + 1, close);
    return true;
  }

  /** Masks the literals of `CASE … END` starting at `j`; the index after END, or -1 after failing closed. */
  #maskCase(j: number): number {
    const { text, sig } = this;
    let depth = 0;
    for (let i = j; i < sig.length; i++) {
      const w = word(text, sig[i]);
      if (w === 'CASE') depth++;
      else if (w === 'END' && --depth === 0) {
        this.#maskLiteralsIn(j, i);
        return i + 1;
      } else if (isOp(text, sig[i], ';')) break;
    }
    this.#failClosed(sig[j]!.start);
    return -1;
  }

  #maskLiteralsIn(from: number, to: number): void {
    const start = Math.max(from, this.#maskedThrough);
    for (let i = start; i < to; i++) {
      const t = this.sig[i]!;
      if (isLiteralToken(t)) this.#maskLiteral(i);
      else if (t.kind === 'placeholder') this.secretPlaceholder = true;
    }
    if (to > this.#maskedThrough) this.#maskedThrough = to;
  }

  /** Masks the literal at `j`; an unterminated one (it ran to the end of the text) is a fail-closed mask too. */
  #maskLiteral(j: number): void {
    this.masked.add(j);
    const t = this.sig[j]!;
    if (t.end === this.text.length && t.kind !== 'word' && isUnterminated(this.text, t, this.dialect)) this.#failClosed(t.start);
  }

  #failClosed(from: number): void {
    this.failFrom = this.failFrom === null ? from : Math.min(this.failFrom, from);
  }

  /** Whether `sig[k]` is inside a CREATE/ALTER ROLE, USER or GROUP statement. */
  #inRoleStatement(k: number): boolean {
    const { text, sig } = this;
    let start = k;
    while (start > 0 && !isOp(text, sig[start - 1], ';')) start--;
    const verb = word(text, sig[start]);
    return (verb === 'CREATE' || verb === 'ALTER') && ['ROLE', 'USER', 'GROUP'].includes(word(text, sig[start + 1]));
  }

  #atStatementStart(k: number): boolean {
    return k === 0 || isOp(this.text, this.sig[k - 1], ';') || word(this.text, this.sig[k - 1]) === 'BEGIN';
  }

  /**
   * A call of a routine with secret arguments at `k`: `name(args)` anywhere,
   * or SQL Server `EXEC name args` without parentheses. Says whether it was a call.
   */
  #call(k: number, routine: SecretArguments): boolean {
    const { text, sig } = this;
    // The routine's name may be qualified: find where `schema.pkg.name` begins.
    let first = k;
    while (isOp(text, sig[first - 1], '.')) {
      first--;
      // `master..sp_addlogin`: the schema part may be empty.
      const part = sig[first - 1];
      if (part !== undefined && (part.kind === 'word' || part.kind === 'quoted_identifier')) first--;
    }
    if (isOp(text, sig[k + 1], '(')) {
      this.touchesSecrets = true;
      this.#parenthesizedArguments(k + 1, routine);
      return true;
    }
    const before = word(text, sig[first - 1]);
    const execAssign = isOp(text, sig[first - 1], '=') && (sig[first - 2]?.kind === 'variable' || sig[first - 2]?.kind === 'placeholder') && ['EXEC', 'EXECUTE'].includes(word(text, sig[first - 3]));
    if (before !== 'EXEC' && before !== 'EXECUTE' && !execAssign && !(this.dialect === 'sqlserver' && this.#atStatementStart(first))) return false;
    this.touchesSecrets = true;
    this.#bareArguments(k + 1, routine);
    return true;
  }

  /** `(a, b, name => c, …)`: each secret argument's literals are masked; a list that never closes fails closed. */
  #parenthesizedArguments(open: number, routine: SecretArguments): void {
    const { text, sig } = this;
    const close = this.#partner[open]!;
    if (close < 0) {
      this.#failClosed(sig[open]!.end);
      return;
    }
    let start = open + 1;
    let position = 0;
    for (let i = open + 1; i <= close; i++) {
      const t = sig[i]!;
      if ((t.kind === 'operator' && (isOp(text, t, '(') || isOp(text, t, '[') || isOp(text, t, '{'))) && this.#partner[i]! > i) {
        i = this.#partner[i]!;
        continue;
      }
      if (i !== close && !isOp(text, t, ',')) continue;
      if (i > start) {
        let valueFrom = start;
        let name: string | null = null;
        const n = sig[start]!;
        const op = sig[start + 1];
        if ((n.kind === 'word' || n.kind === 'placeholder' || n.kind === 'variable') && (isOp(text, op, '=>') || isOp(text, op, ':=') || isOp(text, op, '='))) {
          name = tokenText(text, n).toLowerCase().replace(/^[@:]+/, '');
          valueFrom = start + 2;
        }
        const secret = name !== null ? routine.names.includes(name) || isSecretName(name) : routine.positions.includes(position);
        if (secret) this.#maskLiteralsIn(valueFrom, i);
      }
      position++;
      start = i + 1;
    }
  }

  /**
   * SQL Server `EXEC name 'a', @p = 'b', {Encrypt N'c'}, x OUTPUT`: arguments
   * are constants, variables, unquoted words (which T-SQL takes as strings)
   * or an ODBC escape in braces.
   */
  #bareArguments(j: number, routine: SecretArguments): void {
    const { text, sig } = this;
    for (let position = 0; j < sig.length; position++) {
      let valueAt = j;
      let named: string | null = null;
      const arg = sig[j]!;
      if ((arg.kind === 'placeholder' || arg.kind === 'variable') && isOp(text, sig[j + 1], '=')) {
        named = tokenText(text, arg).toLowerCase().replace(/^@+/, '');
        valueAt = j + 2;
      }
      const secret = named !== null ? routine.names.includes(named) : routine.positions.includes(position);
      const value = sig[valueAt];
      let end = valueAt + 1;
      if (value === undefined || isOp(text, value, ';')) {
        if (secret) this.#failClosed(sig[valueAt - 1]!.end);
        return;
      }
      if (isOp(text, value, '{') || isOp(text, value, '(')) {
        const close = this.#partner[valueAt]!;
        if (close < 0) {
          if (secret) this.#failClosed(value.end);
          return;
        }
        if (secret) this.#maskLiteralsIn(valueAt + 1, close);
        end = close + 1;
      } else if ((isOp(text, value, '-') || isOp(text, value, '+')) && sig[valueAt + 1]?.kind === 'number') {
        if (secret) this.#maskLiteral(valueAt + 1);
        end = valueAt + 2;
      } else if (secret) {
        if (value.kind === 'placeholder') this.secretPlaceholder = true;
        else if (isMaskedLiteral(text, value)) {
          // Masked already (literals mode).
        } else if (isLiteralToken(value) || (value.kind === 'word' && !NOT_A_SECRET_VALUE.has(word(text, value)))) this.#maskLiteral(valueAt);
        else if (value.kind !== 'variable' && value.kind !== 'word') this.#failClosed(sig[valueAt - 1]!.end);
      }
      const output = word(text, sig[end]);
      if (output === 'OUTPUT' || output === 'OUT') end++;
      if (!isOp(text, sig[end], ',')) return;
      j = end + 1;
    }
  }

  /** `OPENROWSET('provider', 'server'; 'user'; 'password', …)`: the password is the third part of the second argument. */
  #openrowset(open: number): void {
    const { text, sig } = this;
    const close = this.#partner[open]!;
    if (close < 0) {
      this.#failClosed(sig[open]!.end);
      return;
    }
    this.touchesSecrets = true;
    let argument = 0;
    let part = 0;
    for (let i = open + 1; i < close; i++) {
      const t = sig[i]!;
      if (isOp(text, t, '(') && this.#partner[i]! > i) {
        i = this.#partner[i]!;
        continue;
      }
      if (isOp(text, t, ',')) {
        argument++;
        part = 0;
      } else if (isOp(text, t, ';')) part++;
      else if (argument === 1 && part >= 2 && isLiteralToken(t)) this.#maskLiteral(i);
    }
  }

  /**
   * INSERT/REPLACE [INTO] table [(columns)] VALUES (…), (…): values of secret
   * columns are masked; into an account table without a column list, every
   * value is (failing closed: which column is which depends on the version).
   */
  #insert(k: number): void {
    const { text, sig } = this;
    let j = k + 1;
    while (['LOW_PRIORITY', 'DELAYED', 'HIGH_PRIORITY', 'IGNORE', 'INTO'].includes(word(text, sig[j]))) j++;
    const parts: string[] = [];
    while (sig[j] !== undefined && (sig[j]!.kind === 'word' || sig[j]!.kind === 'quoted_identifier')) {
      parts.push(nameOf(text, sig[j]!).toLowerCase());
      if (!isOp(text, sig[j + 1], '.')) {
        j++;
        break;
      }
      j += 2;
    }
    if (parts.length === 0) return;
    const table = parts.join('.');
    const account = ACCOUNT_TABLES.has(table) || (parts.length === 1 && this.#accounts && MYSQL_ACCOUNT_TABLES.has(table));
    if (word(text, sig[j]) === 'AS') j += 2;
    if (word(text, sig[j]) === 'PARTITION' && isOp(text, sig[j + 1], '(') && this.#partner[j + 1]! > 0) j = this.#partner[j + 1]! + 1;
    let secretColumns: number[] | null = null;
    if (isOp(text, sig[j], '(') && !['SELECT', 'WITH', 'VALUES', 'VALUE', 'TABLE'].includes(word(text, sig[j + 1]))) {
      const close = this.#partner[j]!;
      if (close < 0) {
        if (account) this.#failClosed(sig[j]!.end);
        return;
      }
      secretColumns = [];
      let column = 0;
      for (let i = j + 1; i < close; i++) {
        const t = sig[i]!;
        if (isOp(text, t, ',')) column++;
        else if ((t.kind === 'word' || t.kind === 'quoted_identifier') && !isOp(text, sig[i + 1], '.') && isSecretName(nameOf(text, t))) secretColumns.push(column);
      }
      j = close + 1;
      if (secretColumns.length === 0) return;
    } else if (!account) {
      return;
    }
    this.touchesSecrets = true;
    const source = word(text, sig[j]);
    if (source === 'SET') return; // `INSERT … SET col = value`: the names decide.
    if (source !== 'VALUES' && source !== 'VALUE') {
      // INSERT … SELECT / TABLE / DEFAULT VALUES: no rows to read column by column.
      if (source === 'DEFAULT') return;
      this.#failClosed(sig[j - 1]!.end);
      return;
    }
    if (secretColumns === null) {
      // Positional rows into an account table: every value.
      this.#failClosed(sig[j]!.end);
      return;
    }
    const keywordEnd = sig[j]!.end;
    j++;
    for (;;) {
      if (word(text, sig[j]) === 'ROW') j++;
      if (!isOp(text, sig[j], '(')) {
        this.#failClosed(keywordEnd);
        return;
      }
      const close = this.#partner[j]!;
      if (close < 0) {
        this.#failClosed(keywordEnd);
        return;
      }
      let column = 0;
      let start = j + 1;
      for (let i = j + 1; i <= close; i++) {
        const t = sig[i]!;
        if ((isOp(text, t, '(') || isOp(text, t, '[') || isOp(text, t, '{')) && this.#partner[i]! > i) {
          i = this.#partner[i]!;
          continue;
        }
        if (i !== close && !isOp(text, t, ',')) continue;
        if (secretColumns.includes(column)) this.#maskLiteralsIn(start, i);
        column++;
        start = i + 1;
      }
      j = close + 1;
      if (!isOp(text, sig[j], ',')) return;
      j++;
    }
  }

  /**
   * An unterminated string or block comment means the quotes were not paired
   * as the author meant: a secret may sit where the lexer saw code, or the
   * reverse. In text that mentions a credential, mask from the first mention on.
   */
  #checkConfidence(): void {
    const last = this.all[this.all.length - 1];
    if (last === undefined || last.end !== this.text.length) return;
    const opensSomething = last.kind === 'string' || last.kind === 'quoted_identifier' || (last.kind === 'comment' && this.text.startsWith('/*', last.start));
    if (!opensSomething || !isUnterminated(this.text, last, this.dialect)) return;
    const hint = firstCredentialHint(this.text, this.all, this.#accounts);
    if (hint !== null) this.#failClosed(hint);
  }
}

/** Where the token holding the first mention of a credential starts in `text`, or null. */
function firstCredentialHint(text: string, tokens: readonly Token[], accounts: boolean): number | null {
  const pattern = new RegExp(CREDENTIAL_HINT.source + (accounts ? '|user|servers|master_info' : ''), 'i');
  const match = pattern.exec(text);
  let at = match === null ? null : match.index;
  const nonAscii = NON_ASCII.test(text);
  for (const t of tokens) {
    if (at !== null && t.start > at) break;
    // A mention inside a token masks the whole token: the mask never starts mid-word.
    if (at !== null && t.end > at) return t.start;
    if (nonAscii && t.kind === 'word' && pattern.test(tokenText(text, t).toUpperCase())) return t.start;
  }
  return at;
}

/** Whether `token` (which ends the text) was cut off: the lexer would have run on past the end. */
function isUnterminated(text: string, token: Token, dialect: SqlDialect): boolean {
  const raw = tokenText(text, token);
  const probe = `${raw}\n;x`;
  const first = tokenize(probe, dialect)[0];
  return first !== undefined && first.end > raw.length;
}

/** A string or quoted identifier's content without its quotes (and, for DAS-escaped MySQL text, unescaped), in each reading. */
function literalContents(raw: string, kind: Token['kind']): string[] {
  if (kind === 'comment') return [raw.replace(/^\/\*!?\d*|\*\/$|^--|^#/g, '')];
  if (kind !== 'string' && kind !== 'quoted_identifier') return [];
  const out = new Set<string>();
  const add = (s: string) => {
    if (s !== '') out.add(s);
  };
  let body = raw;
  if (body.startsWith("\\'") || body.startsWith('\\"')) body = unescapeDasMysqlText(body);
  const dollar = /^(\$[^$]*\$)([\s\S]*?)(?:\1)?$/.exec(body);
  if (dollar !== null && body.startsWith('$')) {
    add(dollar[2]!);
    return [...out];
  }
  const q = /^n?q'(.)([\s\S]*?)(?:.')?$/i.exec(body);
  if (q !== null) {
    add(q[2]!);
    return [...out];
  }
  body = body.replace(/^(?:[nNeEbBxX]|[uU]&)(?=['"])/, '');
  const open = body[0];
  if (open === "'" || open === '"' || open === '`' || open === '[') {
    const close = open === '[' ? ']' : open;
    let inner = body.slice(1);
    if (inner.endsWith(close)) inner = inner.slice(0, -1);
    add(inner);
    add(inner.split(close + close).join(close));
    add(inner.replace(/\\(.)/g, '$1'));
  }
  return [...out];
}

/** The `sig` index of each bracket's partner (-1 for none), in one pass. */
function partners(text: string, sig: readonly Token[]): Int32Array {
  const partner = new Int32Array(sig.length).fill(-1);
  const stack: number[] = [];
  for (let i = 0; i < sig.length; i++) {
    const t = sig[i]!;
    if (t.kind !== 'operator' || t.end - t.start !== 1) continue;
    const c = text[t.start];
    if (c === '(' || c === '[' || c === '{') stack.push(i);
    else if (c === ')' || c === ']' || c === '}') {
      const want = c === ')' ? '(' : c === ']' ? '[' : '{';
      // A stray closer does not unwind the stack further than its partner.
      for (let s = stack.length - 1; s >= 0; s--) {
        if (text[sig[stack[s]!]!.start] === want) {
          const open = stack[s]!;
          stack.length = s;
          partner[open] = i;
          partner[i] = open;
          break;
        }
      }
    }
  }
  return partner;
}

function nameOf(text: string, t: Token): string {
  return t.kind === 'quoted_identifier' ? identifierName(text, t) : tokenText(text, t);
}

/** `?` where a literal stands: what `literals` mode leaves (outside PostgreSQL it lexes as a placeholder already). */
function isMaskedLiteral(text: string, t: Token): boolean {
  return t.kind === 'operator' && t.end - t.start === 1 && text[t.start] === LITERAL_PLACEHOLDER;
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

function applyReplacements(text: string, replacements: { start: number; end: number; with: string }[]): string {
  if (replacements.length === 0) return text;
  replacements.sort((a, b) => a.start - b.start || b.end - a.end);
  let out = '';
  let from = 0;
  for (const r of replacements) {
    if (r.start < from) continue; // overlapping (a sign already taken): keep the first
    out += text.slice(from, r.start) + r.with;
    from = r.end;
  }
  return out + text.slice(from);
}
