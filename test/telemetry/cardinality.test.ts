import assert from 'node:assert/strict';
import { OTHER, TopValues, capLength, classLabel, commandLabel } from '../../src/telemetry/cardinality.ts';

describe('label cardinality', () => {
  describe('TopValues', () => {
    it('keeps the first N distinct values and folds every later newcomer into __other__', () => {
      const users = new TopValues(2);
      assert.deepEqual(['alice', 'bob', 'carol', 'alice', 'dave', 'bob'].map((u) => users.label(u)), ['alice', 'bob', OTHER, 'alice', OTHER, 'bob']);
      assert.equal(users.size, 2);
    });

    it('lets a value that may not claim a slot read a kept value, and nothing else', () => {
      const users = new TopValues(5);
      users.label('app');
      assert.equal(users.label('app', false), 'app');
      assert.equal(users.label('admin', false), OTHER);
      assert.equal(users.size, 1);
      assert.equal(users.label('admin'), 'admin');
    });

    it('reads null and "" as the empty label value without using a slot', () => {
      const databases = new TopValues(1);
      assert.equal(databases.label(null), '');
      assert.equal(databases.label(''), '');
      assert.equal(databases.label('postgres'), 'postgres');
    });

    it('cuts long values before counting them, so two values with one prefix share a slot', () => {
      const users = new TopValues(1, 4);
      assert.equal(users.label('service-a'), 'serv');
      assert.equal(users.label('service-b'), 'serv');
      assert.equal(capLength('abcdef', 3), 'abc');
    });

    it('refuses a negative limit', () => {
      assert.throws(() => new TopValues(-1), /top-N limit/);
    });
  });

  describe('closed sets', () => {
    it('keeps documented classes in the engine spelling, whatever the case', () => {
      assert.equal(classLabel('READ'), 'READ');
      assert.equal(classLabel('MAIN'), 'MAIN');
      assert.equal(classLabel('standard'), 'Standard');
      assert.equal(classLabel('TABLE'), 'TABLE');
      assert.equal(classLabel('Database Vault'), 'Database Vault');
    });

    it('folds unknown classes and commands into __other__', () => {
      assert.equal(classLabel('SELECT * FROM secrets'), OTHER);
      assert.equal(commandLabel('FROBNICATE'), OTHER);
      assert.equal(commandLabel("select 'x'"), OTHER);
    });

    it('normalises commands: upper case, whitespace collapsed', () => {
      assert.equal(commandLabel('select'), 'SELECT');
      assert.equal(commandLabel(' create   table '), 'CREATE TABLE');
      assert.equal(commandLabel('AUTH FAILURE'), 'AUTH FAILURE');
      assert.equal(commandLabel('LOGIN FAILED'), 'LOGIN FAILED');
      assert.equal(commandLabel('create or replace view'), 'CREATE OR REPLACE VIEW');
    });

    it('reads a missing class or command as the empty label value', () => {
      assert.equal(classLabel(null), '');
      assert.equal(commandLabel('  '), '');
    });
  });
});

describe('the closed label sets cover what the demo simulates', () => {
  it('every class and command of the traffic simulator keeps its own label value', async () => {
    const { SIMULATED_CLASSES, SIMULATED_COMMANDS } = await import('../../src/demo/traffic.ts');
    for (const [engine, classes] of Object.entries(SIMULATED_CLASSES)) {
      for (const value of classes) assert.equal(classLabel(value), value, `${engine} class ${value}`);
    }
    for (const [engine, commands] of Object.entries(SIMULATED_COMMANDS)) {
      for (const value of commands as readonly string[]) assert.notEqual(commandLabel(value), OTHER, `${engine} command ${value}`);
    }
  });
});
