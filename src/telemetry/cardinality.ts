/**
 * Keeps metric label values bounded, whatever the databases send.
 *
 * Three rules, each for a different kind of value:
 * - `command` and `class` come from closed sets (the engines' documented
 *   values); anything else reads `__other__`.
 * - `user`, `database` and `code` are open: the first N distinct values seen
 *   (default 50) keep their own label value for the life of the process, and
 *   every later newcomer reads `__other__`. First seen wins: no value is ever
 *   evicted, so a series never changes meaning while it is scraped. A value
 *   seen only in a failed login does not claim a slot, because that name is
 *   whatever an unauthenticated client typed, and a password-spraying run must
 *   not be able to push real users into `__other__`.
 * - Every value is cut to a maximum length (default 128 characters).
 * An absent value (null or "") is the empty label value and uses no slot.
 */

export const OTHER = '__other__';

export const DEFAULT_TOP_N = 50;
export const DEFAULT_MAX_LABEL_LENGTH = 128;

export function capLength(value: string, maxLength: number = DEFAULT_MAX_LABEL_LENGTH): string {
  return value.length <= maxLength ? value : value.slice(0, maxLength);
}

/** An open label's first `limit` distinct values; later ones fold into `__other__`. */
export class TopValues {
  readonly #limit: number;
  readonly #maxLength: number;
  readonly #kept = new Set<string>();

  constructor(limit: number = DEFAULT_TOP_N, maxLength: number = DEFAULT_MAX_LABEL_LENGTH) {
    if (!Number.isInteger(limit) || limit < 0) throw new RangeError(`top-N limit must be an integer ≥ 0 (actual: ${limit})`);
    if (!Number.isInteger(maxLength) || maxLength < 1) throw new RangeError(`label length cap must be an integer ≥ 1 (actual: ${maxLength})`);
    this.#limit = limit;
    this.#maxLength = maxLength;
  }

  /** The label value for `raw`; `admit: false` reads a kept value but never claims a slot. */
  label(raw: string | null | undefined, admit = true): string {
    if (raw === null || raw === undefined || raw === '') return '';
    const value = capLength(raw, this.#maxLength);
    if (this.#kept.has(value)) return value;
    if (!admit || this.#kept.size >= this.#limit) return OTHER;
    this.#kept.add(value);
    return value;
  }

  get size(): number {
    return this.#kept.size;
  }
}

/** Event classes as the engines document them (PostgreSQL/pgaudit, Aurora MySQL, Oracle AUDIT_TYPE, SQL Server class_type_desc). */
export const STATEMENT_CLASSES: readonly string[] = [
  'READ', 'WRITE', 'FUNCTION', 'ROLE', 'DDL', 'MISC', 'MISC_SET', 'ALL',
  'MAIN', 'AUX',
  'Standard', 'FineGrainedAudit', 'XS', 'Database Vault', 'Label Security', 'RMAN_AUDIT', 'Datapump', 'Direct path API',
  'APPLICATION ROLE', 'ASSEMBLY', 'ASYMMETRIC KEY', 'AVAILABILITY GROUP', 'CERTIFICATE', 'CONTRACT', 'CREDENTIAL',
  'DATABASE', 'DATABASE AUDIT SPECIFICATION', 'DATABASE ROLE', 'DATABASE SCOPED CREDENTIAL', 'DEFAULT',
  'EVENT NOTIFICATION', 'FULLTEXT CATALOG', 'INLINE FUNCTION', 'SCALAR FUNCTION', 'TABLE VALUED FUNCTION',
  'LOGIN', 'MASTER KEY', 'MESSAGE TYPE', 'OBJECT', 'PARTITION FUNCTION', 'PARTITION SCHEME', 'PROCEDURE',
  'STORED PROCEDURE', 'QUEUE', 'REMOTE SERVICE BINDING', 'ROUTE', 'RULE', 'SCHEMA', 'SEARCH PROPERTY LIST',
  'SEQUENCE OBJECT', 'SERVER', 'SERVER AUDIT', 'SERVER AUDIT SPECIFICATION', 'SERVER ROLE', 'SERVICE',
  'SQL LOGIN', 'SQL USER', 'SYMMETRIC KEY', 'SYNONYM', 'TABLE', 'TRIGGER', 'TYPE', 'USER', 'VIEW', 'WINDOWS USER',
  'XML SCHEMA COLLECTION',
];

/**
 * Commands the engines report: SQL command tags (PostgreSQL), MAIN/AUX
 * commands (Aurora MySQL), ACTION_NAME (Oracle), action names (SQL Server),
 * and the login/logout commands of each.
 */
export const STATEMENT_COMMANDS: readonly string[] = [
  'SELECT', 'SELECT INTO', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'COPY', 'TRUNCATE', 'TRUNCATE TABLE',
  'BEGIN', 'START TRANSACTION', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'RELEASE SAVEPOINT',
  'PREPARE TRANSACTION', 'COMMIT PREPARED', 'ROLLBACK PREPARED',
  'SET', 'RESET', 'SHOW', 'USE', 'DESCRIBE', 'EXPLAIN', 'ANALYZE', 'VACUUM', 'CLUSTER', 'REINDEX', 'CHECKPOINT',
  'GRANT', 'REVOKE', 'GRANT ROLE', 'REVOKE ROLE', 'CALL', 'DO', 'EXECUTE', 'PREPARE', 'DEALLOCATE', 'DEALLOCATE ALL',
  'DECLARE CURSOR', 'FETCH', 'MOVE', 'CLOSE CURSOR', 'LISTEN', 'UNLISTEN', 'NOTIFY', 'LOCK TABLE', 'DISCARD', 'DISCARD ALL',
  'COMMENT', 'SECURITY LABEL', 'REFRESH MATERIALIZED VIEW', 'IMPORT FOREIGN SCHEMA', 'LOAD',
  'CONNECT', 'DISCONNECT', 'AUTH FAILURE',
  'QUERY', 'FAILED_CONNECT', 'CHANGEUSER', 'READ', 'WRITE', 'CREATE', 'ALTER', 'DROP', 'RENAME',
  'LOGON', 'LOGOFF', 'LOGOFF BY CLEANUP', 'ALTER SYSTEM', 'ALTER SESSION', 'AUDIT', 'NOAUDIT', 'PURGE', 'FLASHBACK',
  'LOGIN SUCCEEDED', 'LOGIN FAILED', 'LOGOUT', 'DATABASE AUTHENTICATION SUCCEEDED', 'DATABASE AUTHENTICATION FAILED',
  'DATABASE LOGOUT', 'RECEIVE', 'REFERENCES', 'BACKUP', 'BACKUP LOG', 'RESTORE', 'DBCC', 'BULK ADMIN',
  'TRANSACTION BEGIN', 'TRANSACTION COMMIT', 'TRANSACTION ROLLBACK', 'SCHEMA_OBJECT_ACCESS_GROUP',
  'ADD MEMBER', 'DROP MEMBER', 'CHANGE PASSWORD', 'RESET PASSWORD', 'IMPERSONATE', 'TAKE OWNERSHIP', 'AUTHENTICATE', 'ACCESS',
];

const DDL_VERBS = ['CREATE', 'ALTER', 'DROP'];
const DDL_OBJECTS = [
  'TABLE', 'TABLE AS', 'INDEX', 'VIEW', 'MATERIALIZED VIEW', 'SEQUENCE', 'SCHEMA', 'DATABASE', 'FUNCTION', 'PROCEDURE',
  'TRIGGER', 'EVENT TRIGGER', 'TYPE', 'TYPE BODY', 'DOMAIN', 'EXTENSION', 'ROLE', 'USER', 'GROUP', 'TABLESPACE', 'SERVER',
  'FOREIGN TABLE', 'FOREIGN DATA WRAPPER', 'USER MAPPING', 'POLICY', 'PUBLICATION', 'SUBSCRIPTION', 'RULE',
  'AGGREGATE', 'OPERATOR', 'OPERATOR CLASS', 'OPERATOR FAMILY', 'COLLATION', 'CONVERSION', 'CAST', 'LANGUAGE',
  'STATISTICS', 'TEXT SEARCH CONFIGURATION', 'TEXT SEARCH DICTIONARY', 'TEXT SEARCH PARSER', 'TEXT SEARCH TEMPLATE',
  'ACCESS METHOD', 'TRANSFORM', 'DEFAULT PRIVILEGES', 'LARGE OBJECT', 'SYNONYM', 'PUBLIC SYNONYM', 'PACKAGE',
  'PACKAGE BODY', 'PROFILE', 'DIRECTORY', 'CLUSTER', 'LIBRARY', 'JAVA', 'DIMENSION', 'CONTEXT', 'AUDIT POLICY',
  'LOGIN', 'EVENT', 'VIEW AS', 'PLUGGABLE DATABASE', 'MATERIALIZED VIEW LOG', 'LOCKDOWN PROFILE',
];

const normalizedKey = (raw: string): string => raw.trim().replace(/\s+/g, ' ').toUpperCase();

function canonicalIndex(values: Iterable<string>): ReadonlyMap<string, string> {
  return new Map(
    Array.from(values, (value) => {
      const key = value.toUpperCase();
      if (normalizedKey(key) !== key) throw new Error(`label value ${JSON.stringify(value)} is not in normal form`);
      return [key, value];
    }),
  );
}

const CLASS_INDEX = canonicalIndex(STATEMENT_CLASSES);
const COMMAND_INDEX = canonicalIndex([
  ...STATEMENT_COMMANDS,
  ...DDL_VERBS.flatMap((verb) => DDL_OBJECTS.map((object) => `${verb} ${object}`)),
  ...DDL_OBJECTS.map((object) => `CREATE OR REPLACE ${object}`),
]);

function closedLabel(index: ReadonlyMap<string, string>, raw: string | null): string {
  if (raw === null) return '';
  // Most values arrive as the key itself ("SELECT", "MAIN"): keys are normalized, so a hit is the answer normalizing would give.
  const exact = index.get(raw);
  if (exact !== undefined) return exact;
  const key = normalizedKey(raw);
  if (key === '') return '';
  return index.get(key) ?? OTHER;
}

/** The `class` label: the engine's spelling when the value is a known class, else `__other__`. */
export function classLabel(raw: string | null): string {
  return closedLabel(CLASS_INDEX, raw);
}

/** The `command` label: the command upper-cased with whitespace collapsed when known, else `__other__`. */
export function commandLabel(raw: string | null): string {
  return closedLabel(COMMAND_INDEX, raw);
}
