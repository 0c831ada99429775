/**
 * Which database engine wrote an event.
 *
 * Events name their engine in `serverType` (`PostgreSQL`, `MySQL`,
 * `SQLSERVER`, `oracle`/`ORACLE`), `dbProtocol` (`Postgres 3.0`, `MySQL`,
 * `SQLSERVER`, `oracle`) and `serviceName` (`Amazon Aurora MySQL`,
 * `sqlserver-ee`, `oracle-ee`); any one of them is enough. When none does,
 * the envelope version is a last hint: the RDS guide gives 1.3 to Oracle and
 * 1.4 to SQL Server only.
 */
import type { Engine } from './model.ts';

export interface EngineHints {
  serverType?: unknown;
  dbProtocol?: unknown;
  serviceName?: unknown;
}

const NAME_PATTERNS: readonly [RegExp, Engine][] = [
  [/postgres/i, 'postgresql'],
  [/mysql/i, 'mysql'],
  [/sql ?server/i, 'sqlserver'],
  [/oracle/i, 'oracle'],
];

const VERSION_ENGINES: Readonly<Record<string, Engine>> = { '1.3': 'oracle', '1.4': 'sqlserver' };

/** The engine the event's own fields name, or 'unknown'. */
export function engineFromFields(hints: EngineHints): Engine {
  for (const value of [hints.serverType, hints.dbProtocol, hints.serviceName]) {
    if (typeof value !== 'string') continue;
    const match = NAME_PATTERNS.find(([pattern]) => pattern.test(value));
    if (match !== undefined) return match[1];
  }
  return 'unknown';
}

/** The engine an envelope version implies, or 'unknown' for versions several engines share. */
export function engineFromVersion(version: string): Engine {
  return VERSION_ENGINES[version] ?? 'unknown';
}
