import assert from 'node:assert/strict';
import type { Engine } from '../../src/events/model.ts';
import type { SqlDialect } from '../../src/enrich/sql-lexer.ts';
import { MAX_SUMMARY_LENGTH, QuerySummaries, summarize, type QuerySummary } from '../../src/enrich/summary.ts';

type Case = [name: string, engine: Engine | SqlDialect, text: string, operation: string | null, collection: string | null, summary: string | null];

function table(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const [name, engine, text, operation, collection, summary] of cases) {
      it(name, () => {
        const expected: Omit<QuerySummary, 'collections' | 'operations'> = { operation, collection, summary };
        const { collections: _c, operations: _o, ...got } = summarize(text, engine);
        assert.deepEqual(got, expected);
      });
    }
  });
}

describe('summarize', () => {
  table('the OpenTelemetry semantic-convention examples', [
    ['a single operation', 'generic', 'SELECT *\nFROM   wuser_table\nWHERE  username = ?', 'SELECT', 'wuser_table', 'SELECT wuser_table'],
    ['INSERT … SELECT', 'generic', 'INSERT INTO shipping_details\n (order_id,\n address)\nSELECT order_id,\n address\nFROM orders\nWHERE order_id = ?',
      'INSERT', null, 'INSERT shipping_details SELECT orders'],
    ['two tables in FROM', 'generic', 'SELECT * FROM songs, artists WHERE songs.artist_id == artists.id', 'SELECT', null, 'SELECT songs artists'],
    ['an anonymous table', 'generic', 'SELECT order_date FROM (SELECT * FROM orders o JOIN customers c ON o.customer_id = c.customer_id)',
      'SELECT', null, 'SELECT SELECT orders customers'],
  ]);

  table('DML', [
    ['a join with aliases', 'postgresql', 'SELECT o.id FROM orders AS o LEFT OUTER JOIN customers c ON c.id = o.customer_id', 'SELECT', null, 'SELECT orders customers'],
    ['lower case is upper-cased for the operation, names kept as written', 'postgresql', 'select * from Orders where id = 1', 'SELECT', 'Orders', 'SELECT Orders'],
    ['a schema-qualified quoted name', 'postgresql', 'SELECT * FROM "Sales"."Order Items"', 'SELECT', 'Sales.Order Items', 'SELECT Sales.Order Items'],
    ['a subquery in WHERE', 'postgresql', 'SELECT * FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE vip)', 'SELECT', null, 'SELECT orders SELECT customers'],
    ['a CTE: its name is not a target', 'postgresql', 'WITH recent AS (SELECT * FROM orders WHERE ts > now()) SELECT count(*) FROM recent', 'SELECT', 'orders', 'SELECT orders SELECT'],
    ['two CTEs and a join with a real table', 'postgresql',
      'WITH RECURSIVE a (n) AS (SELECT 1), b AS NOT MATERIALIZED (SELECT * FROM items) SELECT * FROM a JOIN b ON true JOIN prices p ON p.id = b.id',
      'SELECT', null, 'SELECT SELECT items SELECT prices'],
    ['a writable CTE', 'postgresql', 'WITH moved AS (DELETE FROM queue RETURNING *) INSERT INTO archive SELECT * FROM moved', 'INSERT', null, 'DELETE queue INSERT archive SELECT'],
    ['UNION', 'mysql', 'SELECT a FROM t1 UNION ALL SELECT a FROM t2', 'SELECT', null, 'SELECT t1 SELECT t2'],
    ['function calls with FROM are not tables', 'postgresql', "SELECT EXTRACT(YEAR FROM created_at), substring(name FROM 1 FOR 3) FROM users", 'SELECT', 'users', 'SELECT users'],
    ['a table function is not a collection', 'postgresql', 'SELECT * FROM generate_series(1, 10) g', 'SELECT', null, 'SELECT'],
    ['SELECT without FROM', 'postgresql', 'SELECT 1', 'SELECT', null, 'SELECT'],
    ['UPDATE … FROM', 'postgresql', 'UPDATE accounts a SET balance = b.total FROM balances b WHERE a.id = b.id', 'UPDATE', null, 'UPDATE accounts balances'],
    ['UPDATE with a subquery', 'mysql', 'UPDATE t SET x = (SELECT max(y) FROM u) WHERE id = 1', 'UPDATE', null, 'UPDATE t SELECT u'],
    ['MySQL multi-table UPDATE', 'mysql', 'UPDATE items, month SET items.price = month.price WHERE items.id = month.id', 'UPDATE', null, 'UPDATE items month'],
    ['MySQL multi-table DELETE lists each table once', 'mysql', 'DELETE t1 FROM t1 INNER JOIN t2 ON t1.id = t2.id', 'DELETE', null, 'DELETE t1 t2'],
    ['DELETE … USING', 'postgresql', 'DELETE FROM films USING producers WHERE producer_id = producers.id', 'DELETE', null, 'DELETE films producers'],
    ['INSERT … VALUES … ON DUPLICATE KEY UPDATE is one INSERT', 'mysql', 'INSERT INTO t (a, b) VALUES (1, 2) ON DUPLICATE KEY UPDATE b = 3', 'INSERT', 't', 'INSERT t'],
    ['INSERT … ON CONFLICT DO UPDATE is one INSERT', 'postgresql', 'INSERT INTO t (id) VALUES ($1) ON CONFLICT (id) DO UPDATE SET n = t.n + 1', 'INSERT', 't', 'INSERT t'],
    ['REPLACE INTO', 'mysql', "REPLACE INTO kv (k, v) VALUES ('a', 'b')", 'REPLACE', 'kv', 'REPLACE kv'],
    ['SELECT … FOR UPDATE', 'postgresql', 'SELECT * FROM jobs WHERE id = $1 FOR UPDATE SKIP LOCKED', 'SELECT', 'jobs', 'SELECT jobs'],
    ['MERGE', 'sqlserver', 'MERGE INTO dbo.target AS t USING dbo.source AS s ON t.id = s.id WHEN MATCHED THEN UPDATE SET t.v = s.v WHEN NOT MATCHED THEN INSERT (id, v) VALUES (s.id, s.v);',
      'MERGE', null, 'MERGE dbo.target dbo.source'],
    ['VALUES as a statement', 'postgresql', 'VALUES (1, 2), (3, 4)', 'VALUES', null, 'VALUES'],
    ['Oracle DUAL is not a table', 'oracle', 'SELECT SYSDATE FROM DUAL', 'SELECT', null, 'SELECT'],
    ['Oracle database link', 'oracle', 'SELECT * FROM scott.emp@remote', 'SELECT', 'scott.emp@remote', 'SELECT scott.emp@remote'],
    ['Oracle bind variables', 'oracle', 'SELECT ename FROM emp WHERE empno = :empno', 'SELECT', 'emp', 'SELECT emp'],
    ['SQL Server brackets', 'sqlserver', 'select * from [testDB].[dbo].[TestTable]', 'SELECT', 'testDB.dbo.TestTable', 'SELECT testDB.dbo.TestTable'],
    ['SQL Server TOP and a table hint', 'sqlserver', 'SELECT TOP 10 * FROM [Sales].[Orders] WITH (NOLOCK) WHERE [Total] > @p1', 'SELECT', 'Sales.Orders', 'SELECT Sales.Orders'],
    ['SQL Server temp table', 'sqlserver', 'SELECT * INTO #tmp FROM dbo.orders', 'SELECT', null, 'SELECT #tmp dbo.orders'],
    ['a MySQL backtick-quoted name', 'mysql', 'SELECT * FROM `shop`.`order items`', 'SELECT', 'shop.order items', 'SELECT shop.order items'],
  ]);

  table('comments and escaping', [
    ['a sqlcommenter comment at the end', 'postgresql',
      "SELECT * FROM orders /*controller='index',traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/", 'SELECT', 'orders', 'SELECT orders'],
    ['comments before and inside', 'mysql', '-- report\n/* a */ SELECT /* b */ * FROM # c\n orders', 'SELECT', 'orders', 'SELECT orders'],
    ['a nested PostgreSQL comment', 'postgresql', '/* outer /* inner */ still comment FROM secrets */ SELECT * FROM orders', 'SELECT', 'orders', 'SELECT orders'],
    ['MySQL DAS-escaped text', 'mysql', "SELECT * FROM orders WHERE note = \\'FROM secrets\\' AND id IN (SELECT id FROM vip)", 'SELECT', null, 'SELECT orders SELECT vip'],
    ['MySQL DAS-escaped newlines', 'mysql', 'SELECT *\\nFROM orders\\nWHERE id = 1', 'SELECT', 'orders', 'SELECT orders'],
    ['a literal that looks like SQL is not SQL', 'postgresql', "SELECT 'DELETE FROM users' FROM logs", 'SELECT', 'logs', 'SELECT logs'],
  ]);

  table('DDL', [
    ['CREATE TABLE from the PostgreSQL docs', 'postgresql', 'create table my_table (id serial primary key, name varchar(32));', 'CREATE TABLE', 'my_table', 'CREATE TABLE my_table'],
    ['CREATE TABLE from the MySQL docs', 'mysql', 'CREATE TABLE test1 (id INT)', 'CREATE TABLE', 'test1', 'CREATE TABLE test1'],
    ['CREATE TEMPORARY TABLE IF NOT EXISTS', 'mysql', 'CREATE TEMPORARY TABLE IF NOT EXISTS tmp (a int)', 'CREATE TABLE', 'tmp', 'CREATE TABLE tmp'],
    ['CREATE TABLE … AS SELECT', 'postgresql', 'CREATE TABLE archive AS SELECT * FROM orders WHERE ts < now()', 'CREATE TABLE', null, 'CREATE TABLE archive SELECT orders'],
    ['CREATE OR REPLACE VIEW', 'postgresql', 'CREATE OR REPLACE VIEW v_orders AS SELECT * FROM orders', 'CREATE VIEW', null, 'CREATE VIEW v_orders SELECT orders'],
    ['CREATE MATERIALIZED VIEW', 'postgresql', 'CREATE MATERIALIZED VIEW mv AS SELECT 1', 'CREATE MATERIALIZED VIEW', 'mv', 'CREATE MATERIALIZED VIEW mv SELECT'],
    ['CREATE UNIQUE INDEX CONCURRENTLY names the table', 'postgresql', 'CREATE UNIQUE INDEX CONCURRENTLY idx_email ON public.users (lower(email))', 'CREATE INDEX', 'public.users', 'CREATE INDEX public.users'],
    ['ALTER TABLE with a foreign key', 'postgresql', 'ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (cid) REFERENCES customers (id) ON DELETE CASCADE', 'ALTER TABLE', 'orders', 'ALTER TABLE orders'],
    ['DROP TABLE with two tables', 'mysql', 'DROP TABLE IF EXISTS a, b CASCADE', 'DROP TABLE', null, 'DROP TABLE a b'],
    ['CREATE DATABASE is not a collection', 'mysql', 'CREATE DATABASE shop', 'CREATE DATABASE', null, 'CREATE DATABASE shop'],
    ['TRUNCATE', 'postgresql', 'TRUNCATE TABLE ONLY events RESTART IDENTITY', 'TRUNCATE', 'events', 'TRUNCATE events'],
    ['a MySQL procedure body is one statement', 'mysql', 'CREATE DEFINER=`admin`@`%` PROCEDURE p(IN x INT) BEGIN SELECT * FROM t WHERE id = x; UPDATE u SET n = 1; END',
      'CREATE PROCEDURE', null, 'CREATE PROCEDURE p'],
    ['a SQL Server procedure', 'sqlserver', 'CREATE OR ALTER PROC dbo.usp_orders AS SELECT * FROM dbo.orders', 'CREATE PROCEDURE', null, 'CREATE PROCEDURE dbo.usp_orders'],
    ['an unknown object type gives the verb alone', 'postgresql', 'CREATE TEXT SEARCH CONFIGURATION x (COPY = english)', 'CREATE', null, 'CREATE'],
  ]);

  table('DCL, users and passwords (no names, no literals)', [
    ['CREATE USER names no one', 'postgresql', "CREATE USER alice WITH PASSWORD 'hunter2'", 'CREATE USER', null, 'CREATE USER'],
    ['ALTER USER … IDENTIFIED BY (Oracle)', 'oracle', 'ALTER USER scott IDENTIFIED BY tiger', 'ALTER USER', null, 'ALTER USER'],
    ['CREATE LOGIN', 'sqlserver', "CREATE LOGIN app WITH PASSWORD = 'x'", 'CREATE LOGIN', null, 'CREATE LOGIN'],
    ['SET PASSWORD FOR', 'mysql', "SET PASSWORD FOR 'bob'@'%' = 'x'", 'SET PASSWORD', null, 'SET PASSWORD'],
    ['GRANT on a table', 'postgresql', 'GRANT SELECT, UPDATE (price) ON TABLE orders TO reporting', 'GRANT', 'orders', 'GRANT orders'],
    ['GRANT on a MySQL database', 'mysql', "GRANT ALL PRIVILEGES ON shop.* TO 'app'@'%'", 'GRANT', null, 'GRANT shop.*'],
    ['GRANT on a schema', 'postgresql', 'GRANT USAGE ON SCHEMA reporting TO analyst', 'GRANT', null, 'GRANT reporting'],
    ['GRANT on all tables in a schema', 'postgresql', 'GRANT SELECT ON ALL TABLES IN SCHEMA public TO ro', 'GRANT', null, 'GRANT public'],
    ['GRANT a role', 'postgresql', 'GRANT admin TO alice', 'GRANT', null, 'GRANT'],
    ['REVOKE … FROM', 'mysql', "REVOKE INSERT ON shop.orders FROM 'app'@'%'", 'REVOKE', 'shop.orders', 'REVOKE shop.orders'],
    ['SQL Server GRANT ON OBJECT::', 'sqlserver', 'GRANT SELECT ON OBJECT::dbo.orders TO app', 'GRANT', 'dbo.orders', 'GRANT dbo.orders'],
  ]);

  table('procedures, transactions and session commands', [
    ['CALL', 'mysql', "CALL shop.place_order(1, 'x')", 'CALL', null, 'CALL shop.place_order'],
    ['SQL Server EXEC with a return value', 'sqlserver', 'EXEC @rc = dbo.usp_cleanup @days = 30', 'EXECUTE', null, 'EXECUTE dbo.usp_cleanup'],
    ['PostgreSQL EXECUTE of a prepared statement has no target', 'postgresql', 'EXECUTE fetch_order(42)', 'EXECUTE', null, 'EXECUTE'],
    ['BEGIN', 'postgresql', 'BEGIN', 'BEGIN', null, 'BEGIN'],
    ['START TRANSACTION', 'mysql', 'START TRANSACTION READ ONLY', 'START TRANSACTION', null, 'START TRANSACTION'],
    ['COMMIT', 'mysql', 'commit', 'COMMIT', null, 'COMMIT'],
    ['SET a variable', 'mysql', "SET autocommit = 1", 'SET', null, 'SET'],
    ['SET NAMES', 'mysql', "SET NAMES 'utf8mb4'", 'SET NAMES', null, 'SET NAMES'],
    ['SET SESSION TRANSACTION', 'mysql', 'SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', 'SET TRANSACTION', null, 'SET TRANSACTION'],
    ['USE names the database', 'mysql', 'USE shop', 'USE', null, 'USE shop'],
    ['SHOW', 'mysql', "SHOW VARIABLES LIKE 'x%'", 'SHOW', null, 'SHOW'],
    ['EXPLAIN ANALYZE a query', 'postgresql', 'EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM orders', 'EXPLAIN', 'orders', 'EXPLAIN SELECT orders'],
    ['DESCRIBE a table', 'mysql', 'DESCRIBE orders', 'DESCRIBE', 'orders', 'DESCRIBE orders'],
    ['LOCK TABLES', 'mysql', 'LOCK TABLES t1 READ, t2 AS b WRITE', 'LOCK', null, 'LOCK t1 t2'],
    ['COPY a table', 'postgresql', 'COPY orders (id, total) FROM STDIN WITH (FORMAT csv)', 'COPY', 'orders', 'COPY orders'],
    ['an Oracle PL/SQL block is one statement', 'oracle', 'BEGIN update_stats(1); commit; END;', 'BEGIN', null, 'BEGIN'],
  ]);

  table('several statements', [
    ['a transaction in one text', 'postgresql', 'BEGIN; UPDATE accounts SET b = b - 1 WHERE id = 1; COMMIT;', 'BATCH', 'accounts', 'BEGIN UPDATE accounts COMMIT'],
    ['the same operation twice', 'mysql', 'SELECT * FROM a; SELECT * FROM b', 'BATCH SELECT', null, 'SELECT a SELECT b'],
    ['a trailing semicolon is not a second statement', 'mysql', 'SELECT * FROM a;', 'SELECT', 'a', 'SELECT a'],
  ]);

  table('nothing to summarize', [
    ['an AUX event whose commandText is an object name', 'mysql', 'test1', null, null, null],
    ['only a comment', 'postgresql', '/* nothing */', null, null, null],
    ['empty text', 'postgresql', '', null, null, null],
  ]);

  it('never exceeds 255 characters and cuts between targets', () => {
    const tables = Array.from({ length: 60 }, (_, i) => `table_number_${i}`);
    const result = summarize(`SELECT * FROM ${tables.join(', ')}`, 'postgresql');
    assert.ok(result.summary !== null && result.summary.length <= MAX_SUMMARY_LENGTH);
    assert.ok(result.summary!.startsWith('SELECT table_number_0 table_number_1'));
    assert.match(result.summary!, /table_number_\d+$/);
  });

  it('collections: every table the text touches, qualified as written, each once (what policies match objects on)', () => {
    assert.deepEqual(summarize('SELECT c.pan FROM payments.cards c JOIN orders o ON o.card = c.id JOIN payments.cards d ON d.id = o.id', 'postgresql').collections, ['payments.cards', 'orders']);
    assert.deepEqual(summarize('INSERT INTO audit_copy SELECT * FROM `shop`.`customers`', 'mysql').collections, ['audit_copy', 'shop.customers']);
    assert.deepEqual(summarize('SELECT 1', 'postgresql').collections, []);
  });

  it("operations: each statement's operation once, so a batch's GRANT is seen", () => {
    assert.deepEqual(summarize('SELECT 1; GRANT SELECT ON t TO bob; SELECT 2', 'mysql').operations, ['SELECT', 'GRANT']);
    assert.deepEqual(summarize('DELETE FROM t', 'postgresql').operations, ['DELETE']);
  });

  it('null text gives nulls', () => {
    assert.deepEqual(summarize(null, 'mysql'), { operation: null, collection: null, summary: null, collections: [], operations: [] });
  });
});

describe('recent summaries (QuerySummaries)', () => {
  it('answers a repeated text from the cache, per dialect, and forgets texts not used lately', () => {
    const summaries = new QuerySummaries();
    const first = summaries.summarize('SELECT * FROM orders WHERE id = 1', 'postgresql');
    assert.equal(summaries.summarize('SELECT * FROM orders WHERE id = 1', 'postgresql'), first, 'the same object: from the cache');
    assert.deepEqual(first, summarize('SELECT * FROM orders WHERE id = 1', 'postgresql'), 'what summarize says');
    assert.notEqual(summaries.summarize('SELECT * FROM orders WHERE id = 1', 'mysql'), first, 'another dialect, another entry');

    // A text kept in use survives any number of new ones; one left alone is summarized again later.
    const kept = summaries.summarize('DELETE FROM carts WHERE id = 2', 'postgresql');
    const forgotten = summaries.summarize('UPDATE users SET name = 3', 'postgresql');
    for (let i = 0; i < 10_000; i++) {
      summaries.summarize(`SELECT ${i} FROM t${i}`, 'postgresql');
      if (i % 500 === 0) assert.equal(summaries.summarize('DELETE FROM carts WHERE id = 2', 'postgresql'), kept, `kept after ${i} new texts`);
    }
    const again = summaries.summarize('UPDATE users SET name = 3', 'postgresql');
    assert.notEqual(again, forgotten, 'summarized again: the cache is bounded');
    assert.deepEqual(again, forgotten);
  });

  it('keeps every text of a workload of 2,000 distinct statements, used in turn (as an LRU of 2,048 would)', () => {
    const summaries = new QuerySummaries();
    const texts = Array.from({ length: 2000 }, (_, i) => `SELECT * FROM orders_${i} WHERE id = $1`);
    const first = texts.map((t) => summaries.summarize(t, 'postgresql'));
    for (let pass = 0; pass < 3; pass++) {
      const missed = texts.filter((t, i) => summaries.summarize(t, 'postgresql') !== first[i]).length;
      assert.equal(missed, 0, `pass ${pass}: every text from the cache`);
    }
  });

  it('does not keep a long text, and answers it all the same', () => {
    const summaries = new QuerySummaries();
    const text = `SELECT * FROM orders WHERE note = '${'x'.repeat(3000)}'`;
    const one = summaries.summarize(text, 'postgresql');
    assert.notEqual(summaries.summarize(text, 'postgresql'), one);
    assert.deepEqual(summaries.summarize(text, 'postgresql'), summarize(text, 'postgresql'));
  });
});
