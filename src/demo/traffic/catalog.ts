/**
 * What the simulator claims to produce, per engine: every `class` and every
 * `command` value its events carry. The tests hold the simulator to this
 * list, and the demo's documentation can quote it.
 */
import type { SimulatedEngine } from './clusters.ts';

export const SIMULATED_CLASSES: Readonly<Record<SimulatedEngine, readonly string[]>> = {
  'aurora-postgresql': ['READ', 'WRITE', 'FUNCTION', 'ROLE', 'DDL', 'MISC'],
  'aurora-mysql': ['MAIN', 'AUX'],
  sqlserver: ['TABLE', 'LOGIN', 'SCHEMA', 'ROLE', 'SQL LOGIN', 'USER', 'STORED PROCEDURE'],
};

export const SIMULATED_COMMANDS: Readonly<Record<SimulatedEngine, readonly string[]>> = {
  'aurora-postgresql': [
    'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'EXECUTE',
    'CREATE TABLE', 'ALTER TABLE', 'CREATE INDEX', 'DROP TABLE',
    'GRANT', 'REVOKE', 'CREATE ROLE', 'ALTER ROLE',
    'CONNECT', 'DISCONNECT', 'AUTH FAILURE',
  ],
  'aurora-mysql': ['CONNECT', 'DISCONNECT', 'QUERY', 'READ', 'WRITE', 'CREATE', 'ALTER', 'DROP'],
  sqlserver: [
    'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'EXECUTE', 'CREATE', 'ALTER', 'DROP',
    'GRANT', 'REVOKE', 'ADD MEMBER', 'LOGIN SUCCEEDED', 'LOGIN FAILED', 'LOGOUT',
  ],
};
