/**
 * The one place that decides whether an event succeeded and whether it was a
 * login attempt.
 *
 * Each engine says "failed" its own way, so the rules are a table, one row per
 * engine, meant to be read and corrected without touching code:
 * - PostgreSQL: CONNECT is the login; a failed one arrives as `AUTH FAILURE`
 *   (rule set iann0036/aurora-activity-streams-sechub); `errorMessage` is set
 *   on errors (1.1+); `exitCode` is null.
 * - MySQL: `exitCode` is the server's error code ("0" ok, 1045 access denied);
 *   `FAILED_CONNECT` is the MariaDB audit plugin's name for a refused login,
 *   kept in case Aurora reports one that way.
 * - SQL Server: `exitCode` is the audit's `succeeded` flag, 1 passed and 0
 *   failed, so 1 is not an error. Logins are `LOGIN SUCCEEDED` / `LOGIN FAILED`
 *   (the RDS guide's failed-login example has class LOGIN, exitCode 0), and
 *   `DATABASE AUTHENTICATION SUCCEEDED/FAILED` for contained databases.
 * - Oracle: `exitCode` is `RETURN_CODE`, 0 on success and the ORA- error
 *   otherwise (1017 for a bad password); the login is `LOGON`.
 * Any event also fails when the engine sent an error message.
 */
import type { Engine } from './model.ts';

export type Outcome = 'success' | 'failure';

export interface OutcomeRules {
  /** Commands (upper case) that are login attempts, successful or not. */
  loginCommands: readonly string[];
  /** Commands (upper case) that are failures by themselves. */
  failureCommands: readonly string[];
  /** Whether this engine's numeric `exitCode` reports a failure. */
  exitCodeFails: (exitCode: number) => boolean;
}

const nonZero = (exitCode: number): boolean => exitCode !== 0;

export const OUTCOME_RULES: Readonly<Record<Engine, OutcomeRules>> = {
  postgresql: {
    loginCommands: ['CONNECT', 'AUTH FAILURE'],
    failureCommands: ['AUTH FAILURE'],
    exitCodeFails: nonZero,
  },
  mysql: {
    loginCommands: ['CONNECT', 'FAILED_CONNECT'],
    failureCommands: ['FAILED_CONNECT'],
    exitCodeFails: nonZero,
  },
  sqlserver: {
    loginCommands: ['LOGIN SUCCEEDED', 'LOGIN FAILED', 'DATABASE AUTHENTICATION SUCCEEDED', 'DATABASE AUTHENTICATION FAILED'],
    failureCommands: ['LOGIN FAILED', 'DATABASE AUTHENTICATION FAILED'],
    exitCodeFails: (exitCode) => exitCode === 0,
  },
  oracle: {
    loginCommands: ['LOGON'],
    failureCommands: [],
    exitCodeFails: nonZero,
  },
  unknown: {
    loginCommands: ['CONNECT', 'AUTH FAILURE', 'FAILED_CONNECT', 'LOGON', 'LOGIN SUCCEEDED', 'LOGIN FAILED'],
    failureCommands: ['AUTH FAILURE', 'FAILED_CONNECT', 'LOGIN FAILED'],
    exitCodeFails: nonZero,
  },
};

export interface OutcomeFacts {
  engine: Engine;
  command: string | null;
  /** Already normalised: a number, or null when DAS sent null or "". */
  exitCode: number | null;
  /** Already normalised: null when DAS sent null or "". */
  errorMessage: string | null;
}

export interface Verdict {
  outcome: Outcome;
  isLogin: boolean;
}

export function judgeOutcome(facts: OutcomeFacts, rules: Readonly<Record<Engine, OutcomeRules>> = OUTCOME_RULES): Verdict {
  const row = rules[facts.engine];
  const command = facts.command?.trim().toUpperCase() ?? '';
  const failed =
    row.failureCommands.includes(command) ||
    (facts.exitCode !== null && row.exitCodeFails(facts.exitCode)) ||
    facts.errorMessage !== null;
  return { outcome: failed ? 'failure' : 'success', isLogin: row.loginCommands.includes(command) };
}
