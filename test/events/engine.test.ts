import assert from 'node:assert/strict';
import { engineFromFields, engineFromVersion, type EngineHints } from '../../src/events/engine.ts';
import type { Engine } from '../../src/events/model.ts';

describe('engine detection', () => {
  const cases: [string, EngineHints, Engine][] = [
    ['Aurora PostgreSQL from the docs', { serverType: 'PostgreSQL', dbProtocol: 'Postgres 3.0', serviceName: 'Amazon Aurora PostgreSQL-Compatible edition' }, 'postgresql'],
    ['Aurora MySQL from the docs', { serverType: 'MySQL', dbProtocol: 'MySQL', serviceName: 'Amazon Aurora MySQL' }, 'mysql'],
    ['RDS for SQL Server from the docs', { serverType: 'SQLSERVER', dbProtocol: 'SQLSERVER', serviceName: 'sqlserver-ee' }, 'sqlserver'],
    ['RDS for Oracle from the docs', { serverType: 'oracle', dbProtocol: 'oracle', serviceName: 'oracle-ee' }, 'oracle'],
    ['Oracle as the field table spells it', { serverType: 'ORACLE' }, 'oracle'],
    ['only dbProtocol', { serverType: null, dbProtocol: 'Postgres 3.0', serviceName: null }, 'postgresql'],
    ['only serviceName', { serviceName: 'sqlserver-se' }, 'sqlserver'],
    ['serverType wins over the others', { serverType: 'MySQL', dbProtocol: 'Postgres 3.0' }, 'mysql'],
    ['nothing recognisable', { serverType: 'DB2', dbProtocol: 42 }, 'unknown'],
    ['no hints at all', {}, 'unknown'],
  ];
  for (const [name, hints, engine] of cases) {
    it(`${name} → ${engine}`, () => {
      assert.equal(engineFromFields(hints), engine);
    });
  }

  it('reads 1.3 as Oracle and 1.4 as SQL Server, and no other version', () => {
    assert.equal(engineFromVersion('1.3'), 'oracle');
    assert.equal(engineFromVersion('1.4'), 'sqlserver');
    for (const version of ['1.0', '1.1', '1.2', '2.0', '']) assert.equal(engineFromVersion(version), 'unknown');
  });
});
