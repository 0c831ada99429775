/**
 * What the rules of a policy read of one event, derived once per event and
 * only when a rule asks: upper-cased closed-set fields for the caseless keys,
 * the statement's class, the names its objects answer to, the client's IPv4
 * address as a number. A policy keeps one EventFacts and resets it for each
 * event, so fifty rules asking for the class cost one upper-casing.
 */
import { isIP } from 'node:net';
import type { ActivityEvent } from '../events/model.ts';
import { errorCode } from '../sinks/metrics-tally.ts';

const UNSET = Symbol('unset');
type Lazy<T> = T | typeof UNSET;

export class EventFacts {
  event!: ActivityEvent;
  #engine: Lazy<string> = UNSET;
  #class: Lazy<string | null> = UNSET;
  #statementClass: Lazy<string> = UNSET;
  #command: Lazy<string | null> = UNSET;
  #operation: Lazy<string | null> = UNSET;
  #errorCode: Lazy<string | null> = UNSET;
  #objects: Lazy<string[]> = UNSET;
  #ipv4: Lazy<number | null> = UNSET;
  #ipv6: Lazy<boolean> = UNSET;

  reset(event: ActivityEvent): this {
    this.event = event;
    this.#engine = this.#class = this.#statementClass = this.#command = this.#operation = this.#errorCode = this.#objects = this.#ipv4 = this.#ipv6 = UNSET;
    return this;
  }

  get engine(): string {
    return this.#engine === UNSET ? (this.#engine = this.event.engine.toUpperCase()) : this.#engine;
  }

  /** The class DAS sent, upper-cased. */
  get class(): string | null {
    return this.#class === UNSET ? (this.#class = this.event.class?.toUpperCase() ?? null) : this.#class;
  }

  /** READ, WRITE, DDL, ROLE, FUNCTION, LOGIN or MISC, whatever the engine (statementClass). */
  get statementClass(): string {
    return this.#statementClass === UNSET ? (this.#statementClass = statementClass(this.event, this.operation, this.command)) : this.#statementClass;
  }

  get command(): string | null {
    return this.#command === UNSET ? (this.#command = this.event.command?.trim().toUpperCase() ?? null) : this.#command;
  }

  /** db.operation.name, upper-cased (it already is, from the summary). */
  get operation(): string | null {
    return this.#operation === UNSET ? (this.#operation = this.event.enrichment?.operationName?.toUpperCase() ?? null) : this.#operation;
  }

  /** A failure's code (metrics-tally's errorCode), upper-cased; null for a success. */
  get errorCode(): string | null {
    return this.#errorCode === UNSET ? (this.#errorCode = this.event.outcome === 'failure' ? errorCode(this.event).toUpperCase() : null) : this.#errorCode;
  }

  /**
   * The names the event's objects answer to, upper-cased: every table the
   * statement touches and the object DAS names, each with its shorter forms
   * (`testDB.dbo.T` is also `dbo.T` and `T`) and qualified with the event's
   * database (`orders` in `shop` is also `shop.orders`).
   */
  get objects(): string[] {
    if (this.#objects !== UNSET) return this.#objects;
    const names: string[] = [];
    const database = this.event.databaseName?.toUpperCase() ?? null;
    const objects = this.event.enrichment?.objects;
    if (objects) for (let i = 0; i < objects.length; i++) addNames(names, objects[i]!, database);
    if (this.event.objectName) addNames(names, this.event.objectName, database);
    const aux = this.event.auxObjects;
    if (aux) for (let i = 0; i < aux.length; i++) if (aux[i]!.objectName) addNames(names, aux[i]!.objectName!, database);
    return (this.#objects = names);
  }

  /** The client's address as an unsigned 32-bit number when it is IPv4, else null. */
  get ipv4(): number | null {
    return this.#ipv4 === UNSET ? (this.#ipv4 = this.event.remoteHost === null ? null : parseIPv4(this.event.remoteHost)) : this.#ipv4;
  }

  get isIPv6(): boolean {
    return this.#ipv6 === UNSET ? (this.#ipv6 = this.event.remoteHost !== null && this.ipv4 === null && isIP(this.event.remoteHost) === 6) : this.#ipv6;
  }
}

/** `raw` upper-cased, its shorter forms after each dot, and, unqualified, qualified with `database`; each name once. */
function addNames(names: string[], raw: string, database: string | null): void {
  const name = raw.toUpperCase();
  if (!names.includes(name)) names.push(name);
  for (let dot = name.indexOf('.'); dot >= 0; dot = name.indexOf('.', dot + 1)) {
    const shorter = name.slice(dot + 1);
    if (!names.includes(shorter)) names.push(shorter);
  }
  // Only an unqualified name is in the event's database: `payments.cards` read from `scratch` is not scratch's.
  if (database !== null && !name.includes('.')) {
    const qualified = `${database}.${name}`;
    if (!names.includes(qualified)) names.push(qualified);
  }
}

/** A dotted-quad IPv4 address as an unsigned 32-bit number, else null. */
export function parseIPv4(text: string): number | null {
  let value = 0;
  let octets = 0;
  let octet = -1;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; // a final '.'
    if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return null;
    } else if (c === 46) {
      if (octet < 0 || ++octets > 4) return null;
      value = value * 256 + octet;
      octet = -1;
    } else {
      return null;
    }
  }
  return octets === 4 ? value : null;
}

const PRIVILEGE_OPERATIONS = new Set([
  'GRANT', 'REVOKE', 'DENY',
  'CREATE USER', 'ALTER USER', 'DROP USER', 'RENAME USER',
  'CREATE ROLE', 'ALTER ROLE', 'DROP ROLE',
  'CREATE LOGIN', 'ALTER LOGIN', 'DROP LOGIN',
  'SET PASSWORD', 'ALTER DEFAULT PRIVILEGES', 'REASSIGN',
  // SQL Server: ALTER SERVER ROLE … ADD MEMBER (read as ALTER SERVER).
  'ALTER SERVER',
]);

/** SQL Server's system procedures that grant, revoke or change logins and role members. */
const PRIVILEGE_PROCEDURES = /\bsp_(add|drop)(src)?rolemember\b|\bsp_(add|drop|grant|deny|revoke)login\b|\bsp_password\b|\bsp_change_users_login\b/i;

/** The operations of the statement: a batch's each, else its one (db.operation.name). */
function operationsOf(event: ActivityEvent, operation: string | null): readonly string[] {
  const batch = event.enrichment?.operations;
  if (batch && batch.length > 0) return batch;
  return operation === null ? [] : [operation.startsWith('BATCH ') ? operation.slice(6) : operation];
}

/**
 * A privilege change: PostgreSQL class ROLE, a statement (of a batch too)
 * that grants, revokes or changes a user, role or login, or a SQL Server
 * procedure that does.
 */
export function isPrivilegeChange(event: ActivityEvent, operation = event.enrichment?.operationName?.toUpperCase() ?? null, command = event.command?.trim().toUpperCase() ?? null): boolean {
  if (event.class !== null && event.class.toUpperCase() === 'ROLE') return true;
  if (command !== null && PRIVILEGE_OPERATIONS.has(command)) return true;
  for (const op of operationsOf(event, operation)) if (PRIVILEGE_OPERATIONS.has(op)) return true;
  const summary = event.enrichment?.querySummary;
  return summary != null && summary.startsWith('EXEC') && PRIVILEGE_PROCEDURES.test(summary);
}

const READ_OPERATIONS = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'READ', 'FETCH']);
const WRITE_OPERATIONS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'UPSERT', 'COPY', 'TRUNCATE', 'LOAD', 'WRITE']);
const DDL_VERBS = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'COMMENT']);
const FUNCTION_OPERATIONS = new Set(['CALL', 'EXEC', 'EXECUTE', 'DO']);
/** A batch's class is its strongest statement's: a DROP hidden behind a SELECT is DDL. */
const CLASS_RANK: Readonly<Record<string, number>> = { MISC: 0, READ: 1, FUNCTION: 2, WRITE: 3, DDL: 4 };

function classOfOperation(what: string): string {
  const space = what.indexOf(' ');
  const verb = space < 0 ? what : what.slice(0, space);
  if (READ_OPERATIONS.has(verb)) return 'READ';
  if (WRITE_OPERATIONS.has(verb)) return 'WRITE';
  if (DDL_VERBS.has(verb)) return 'DDL';
  if (FUNCTION_OPERATIONS.has(verb)) return 'FUNCTION';
  return 'MISC';
}

/**
 * The statement's class whatever the engine calls it, from its operations
 * (db.operation.name; a batch's strongest) or, for MySQL's AUX events and
 * logins, its command.
 */
export function statementClass(event: ActivityEvent, operation = event.enrichment?.operationName?.toUpperCase() ?? null, command = event.command?.trim().toUpperCase() ?? null): string {
  if (event.isLogin) return 'LOGIN';
  if (isPrivilegeChange(event, operation, command)) return 'ROLE';
  const operations = operationsOf(event, operation);
  if (operations.length === 0) return command === null ? 'MISC' : classOfOperation(command);
  let best = 'MISC';
  for (const op of operations) {
    const c = classOfOperation(op);
    if (CLASS_RANK[c]! > CLASS_RANK[best]!) best = c;
  }
  return best;
}
