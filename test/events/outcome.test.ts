import assert from 'node:assert/strict';
import { judgeOutcome, type OutcomeFacts, type Verdict } from '../../src/events/outcome.ts';

describe('judgeOutcome', () => {
  const cases: [string, OutcomeFacts, Verdict][] = [
    // PostgreSQL
    ['PostgreSQL CONNECT from the docs (exitCode null) is a successful login',
      { engine: 'postgresql', command: 'CONNECT', exitCode: null, errorMessage: null },
      { outcome: 'success', isLogin: true }],
    ['PostgreSQL AUTH FAILURE is a failed login',
      { engine: 'postgresql', command: 'AUTH FAILURE', exitCode: null, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['PostgreSQL CONNECT with an error message is a failed login',
      { engine: 'postgresql', command: 'CONNECT', exitCode: null, errorMessage: 'password authentication failed for user "x"' },
      { outcome: 'failure', isLogin: true }],
    ['PostgreSQL SELECT with an error message fails, not a login',
      { engine: 'postgresql', command: 'SELECT', exitCode: null, errorMessage: 'relation "t" does not exist' },
      { outcome: 'failure', isLogin: false }],
    ['PostgreSQL SELECT from the docs succeeds',
      { engine: 'postgresql', command: 'SELECT', exitCode: null, errorMessage: null },
      { outcome: 'success', isLogin: false }],
    ['command case and spacing do not matter',
      { engine: 'postgresql', command: ' auth failure ', exitCode: null, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    // MySQL
    ['MySQL CONNECT from the docs (exitCode "0") is a successful login',
      { engine: 'mysql', command: 'CONNECT', exitCode: 0, errorMessage: null },
      { outcome: 'success', isLogin: true }],
    ['MySQL CONNECT with exitCode 1045 (access denied) is a failed login',
      { engine: 'mysql', command: 'CONNECT', exitCode: 1045, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['MySQL FAILED_CONNECT is a failed login',
      { engine: 'mysql', command: 'FAILED_CONNECT', exitCode: null, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['MySQL AUX event (exitCode "") succeeds',
      { engine: 'mysql', command: 'READ', exitCode: null, errorMessage: null },
      { outcome: 'success', isLogin: false }],
    ['MySQL QUERY with exitCode 1146 fails',
      { engine: 'mysql', command: 'QUERY', exitCode: 1146, errorMessage: null },
      { outcome: 'failure', isLogin: false }],
    ['MySQL QUERY with an error message fails',
      { engine: 'mysql', command: 'QUERY', exitCode: 0, errorMessage: 'boom' },
      { outcome: 'failure', isLogin: false }],
    ['MySQL DISCONNECT is not a login',
      { engine: 'mysql', command: 'DISCONNECT', exitCode: 0, errorMessage: null },
      { outcome: 'success', isLogin: false }],
    // SQL Server
    ['SQL Server SELECT from the docs with exitCode 1 succeeds (1 is not an error)',
      { engine: 'sqlserver', command: 'SELECT', exitCode: 1, errorMessage: null },
      { outcome: 'success', isLogin: false }],
    ['SQL Server SELECT with exitCode 0 failed its permission check',
      { engine: 'sqlserver', command: 'SELECT', exitCode: 0, errorMessage: null },
      { outcome: 'failure', isLogin: false }],
    ['SQL Server LOGIN FAILED from the docs (exitCode 0) is a failed login',
      { engine: 'sqlserver', command: 'LOGIN FAILED', exitCode: 0, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['SQL Server LOGIN SUCCEEDED with exitCode 1 is a successful login',
      { engine: 'sqlserver', command: 'LOGIN SUCCEEDED', exitCode: 1, errorMessage: null },
      { outcome: 'success', isLogin: true }],
    ['SQL Server DATABASE AUTHENTICATION FAILED is a failed login',
      { engine: 'sqlserver', command: 'DATABASE AUTHENTICATION FAILED', exitCode: 0, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['SQL Server LOGOUT is not a login',
      { engine: 'sqlserver', command: 'LOGOUT', exitCode: 1, errorMessage: null },
      { outcome: 'success', isLogin: false }],
    // Oracle
    ['Oracle LOGON from the docs (exitCode 0) is a successful login',
      { engine: 'oracle', command: 'LOGON', exitCode: 0, errorMessage: null },
      { outcome: 'success', isLogin: true }],
    ['Oracle LOGON with exitCode 1017 (ORA-01017 invalid credentials) is a failed login',
      { engine: 'oracle', command: 'LOGON', exitCode: 1017, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['Oracle SELECT with exitCode 942 (table does not exist) fails',
      { engine: 'oracle', command: 'SELECT', exitCode: 942, errorMessage: null },
      { outcome: 'failure', isLogin: false }],
    ['Oracle LOGOFF is not a login',
      { engine: 'oracle', command: 'LOGOFF', exitCode: 0, errorMessage: null },
      { outcome: 'success', isLogin: false }],
    // unknown engine
    ['unknown engine CONNECT with a non-zero exit code is a failed login',
      { engine: 'unknown', command: 'CONNECT', exitCode: 1, errorMessage: null },
      { outcome: 'failure', isLogin: true }],
    ['unknown engine without command or exit code succeeds',
      { engine: 'unknown', command: null, exitCode: null, errorMessage: null },
      { outcome: 'success', isLogin: false }],
  ];

  for (const [name, facts, verdict] of cases) {
    it(name, () => {
      assert.deepEqual(judgeOutcome(facts), verdict);
    });
  }
});
