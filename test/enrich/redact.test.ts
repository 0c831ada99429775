import assert from 'node:assert/strict';
import type { Engine } from '../../src/events/model.ts';
import { isPasswordStatement, MASKED_PARAM, redact, redactParams, redactSql } from '../../src/enrich/redact.ts';

type Case = [name: string, engine: Engine, input: string, expected: string];

function table(title: string, cases: Case[]): void {
  describe(title, () => {
    for (const [name, engine, input, expected] of cases) {
      it(name, () => {
        assert.equal(redactSql(input, engine, 'passwords'), expected);
      });
    }
  });
}

describe('redactSql in passwords mode', () => {
  table('PostgreSQL', [
    ['CREATE USER … PASSWORD masks the password', 'postgresql', "CREATE USER app PASSWORD 'hunter2'", "CREATE USER app PASSWORD '***'"],
    ['ALTER ROLE … WITH ENCRYPTED PASSWORD keeps VALID UNTIL', 'postgresql',
      "ALTER ROLE app WITH ENCRYPTED PASSWORD 'hunter2' VALID UNTIL '2030-01-01'", "ALTER ROLE app WITH ENCRYPTED PASSWORD '***' VALID UNTIL '2030-01-01'"],
    ['UNENCRYPTED PASSWORD in lower case', 'postgresql', "alter user app unencrypted password 'hunter2'", "alter user app unencrypted password '***'"],
    ['a dollar-quoted password, quotes inside', 'postgresql', "CREATE ROLE app LOGIN PASSWORD $pw$it's 'secret'$pw$", "CREATE ROLE app LOGIN PASSWORD '***'"],
    ['an anonymous dollar quote', 'postgresql', 'ALTER USER app PASSWORD $$hunter2$$', "ALTER USER app PASSWORD '***'"],
    ['a SCRAM verifier', 'postgresql', "ALTER USER app PASSWORD 'SCRAM-SHA-256$4096:abc=$def=:ghi='", "ALTER USER app PASSWORD '***'"],
    ['newlines and comments between the tokens', 'postgresql', "ALTER USER app\n  WITH /* rotate */ PASSWORD\n  -- new one\n  'hunter2'", "ALTER USER app\n  WITH /* rotate */ PASSWORD\n  -- new one\n  '***'"],
    ['a placeholder is left for redactParams', 'postgresql', 'ALTER USER app PASSWORD $1', 'ALTER USER app PASSWORD $1'],
    ['PASSWORD NULL is not a secret', 'postgresql', 'ALTER ROLE app PASSWORD NULL', 'ALTER ROLE app PASSWORD NULL'],
    ['a libpq connection string with password=', 'postgresql', "SELECT dblink_connect('host=db user=u password=hunter2')", "SELECT dblink_connect('***')"],
    ['a user mapping option', 'postgresql', "CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'u', password 'hunter2')", "CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'u', password '***')"],
    ['the word password inside a string is not a keyword', 'postgresql', "SELECT 'PASSWORD' AS label, 'x'", "SELECT 'PASSWORD' AS label, 'x'"],
    ['a comment mentioning a password is not a keyword', 'postgresql', "SELECT 1 /* password 'x' */, 'y'", "SELECT 1 /* password 'x' */, 'y'"],
    ['two statements, both masked', 'postgresql', "CREATE ROLE a PASSWORD 'one'; ALTER ROLE b PASSWORD 'two';", "CREATE ROLE a PASSWORD '***'; ALTER ROLE b PASSWORD '***';"],
    ['a comparison with a password column', 'postgresql', "SELECT id FROM users WHERE password = 'hunter2'", "SELECT id FROM users WHERE password = '***'"],
    ['other statements are untouched', 'postgresql', "SELECT * FROM orders WHERE note = 'hunter2'", "SELECT * FROM orders WHERE note = 'hunter2'"],
  ]);

  table('MySQL', [
    ['CREATE USER … IDENTIFIED BY masks the password', 'mysql', "CREATE USER 'app'@'%' IDENTIFIED BY 'hunter2'", "CREATE USER 'app'@'%' IDENTIFIED BY '***'"],
    ['ALTER USER … IDENTIFIED WITH plugin BY', 'mysql', "ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY 'hunter2'", "ALTER USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY '***'"],
    ['IDENTIFIED WITH a quoted plugin AS a hash', 'mysql', "CREATE USER app IDENTIFIED WITH 'mysql_native_password' AS '*6C8989366EAF75BB670AD8EA7A7FC1176A95CEF4'", "CREATE USER app IDENTIFIED WITH 'mysql_native_password' AS '***'"],
    ['IDENTIFIED BY … REPLACE the current password', 'mysql', "ALTER USER app IDENTIFIED BY 'new' REPLACE 'old' RETAIN CURRENT PASSWORD", "ALTER USER app IDENTIFIED BY '***' REPLACE '***' RETAIN CURRENT PASSWORD"],
    ['IDENTIFIED BY RANDOM PASSWORD has nothing to mask', 'mysql', 'CREATE USER app IDENTIFIED BY RANDOM PASSWORD', 'CREATE USER app IDENTIFIED BY RANDOM PASSWORD'],
    ['the old IDENTIFIED BY PASSWORD hash form', 'mysql', "GRANT ALL ON db.* TO app IDENTIFIED BY PASSWORD '*6C89'", "GRANT ALL ON db.* TO app IDENTIFIED BY PASSWORD '***'"],
    ['GRANT … IDENTIFIED BY', 'mysql', "grant select on db.* to 'app'@'localhost' identified by 'hunter2'", "grant select on db.* to 'app'@'localhost' identified by '***'"],
    ['SET PASSWORD = literal', 'mysql', "SET PASSWORD = 'hunter2'", "SET PASSWORD = '***'"],
    ['SET PASSWORD FOR … masks the password and keeps the account', 'mysql', "SET PASSWORD FOR 'app'@'%' = 'hunter2'", "SET PASSWORD FOR 'app'@'%' = '***'"],
    ['SET PASSWORD FOR … = PASSWORD(…)', 'mysql', "SET PASSWORD FOR app = PASSWORD('hunter2')", "SET PASSWORD FOR app = PASSWORD('***')"],
    ['SET PASSWORD = OLD_PASSWORD(…)', 'mysql', "SET PASSWORD = OLD_PASSWORD('hunter2')", "SET PASSWORD = OLD_PASSWORD('***')"],
    ['CHANGE MASTER TO … MASTER_PASSWORD', 'mysql', "CHANGE MASTER TO MASTER_HOST='primary', MASTER_USER='repl', MASTER_PASSWORD='hunter2', MASTER_PORT=3306",
      "CHANGE MASTER TO MASTER_HOST='primary', MASTER_USER='repl', MASTER_PASSWORD='***', MASTER_PORT=3306"],
    ['CHANGE REPLICATION SOURCE TO … SOURCE_PASSWORD', 'mysql', "CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD = 'hunter2'", "CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD = '***'"],
    ['CREATE SERVER … OPTIONS(PASSWORD …)', 'mysql', "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'remote', HOST '10.0.0.1', PASSWORD 'hunter2')",
      "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'remote', HOST '10.0.0.1', PASSWORD '***')"],
    ['a double-quoted password', 'mysql', 'CREATE USER app IDENTIFIED BY "hunter2"', "CREATE USER app IDENTIFIED BY '***'"],
    ['a password with an escaped quote', 'mysql', "CREATE USER app IDENTIFIED BY 'it\\'s secret'", "CREATE USER app IDENTIFIED BY '***'"],
    ['DAS-escaped commandText', 'mysql', "CREATE USER \\'app\\'@\\'%\\' IDENTIFIED BY \\'hunter2\\'", "CREATE USER \\'app\\'@\\'%\\' IDENTIFIED BY '***'"],
    ['DAS-escaped password with an escaped quote inside', 'mysql', "ALTER USER app IDENTIFIED BY \\'it\\\\\\'s\\' ACCOUNT UNLOCK", "ALTER USER app IDENTIFIED BY '***' ACCOUNT UNLOCK"],
    ['a MySQL executable comment is code', 'mysql', "/*!80000 CREATE USER app IDENTIFIED BY 'hunter2' */", "/*!80000 CREATE USER app IDENTIFIED BY '***' */"],
    ['extra whitespace and a # comment', 'mysql', "CREATE   USER app\n\tIDENTIFIED # the password\n BY\n 'hunter2'", "CREATE   USER app\n\tIDENTIFIED # the password\n BY\n '***'"],
    ['a password policy clause has nothing to mask', 'mysql', 'ALTER USER app PASSWORD EXPIRE INTERVAL 90 DAY PASSWORD HISTORY 5', 'ALTER USER app PASSWORD EXPIRE INTERVAL 90 DAY PASSWORD HISTORY 5'],
    ['already masked by the audit log', 'mysql', 'CREATE USER app IDENTIFIED BY *****', 'CREATE USER app IDENTIFIED BY *****'],
  ]);

  table('SQL Server', [
    ['CREATE LOGIN … WITH PASSWORD', 'sqlserver', "CREATE LOGIN app WITH PASSWORD = 'hunter2'", "CREATE LOGIN app WITH PASSWORD = '***'"],
    ['ALTER LOGIN with N-string, MUST_CHANGE and OLD_PASSWORD', 'sqlserver', "ALTER LOGIN app WITH PASSWORD = N'new' MUST_CHANGE, OLD_PASSWORD = N'old', CHECK_POLICY = ON",
      "ALTER LOGIN app WITH PASSWORD = '***' MUST_CHANGE, OLD_PASSWORD = '***', CHECK_POLICY = ON"],
    ['a HASHED password', 'sqlserver', 'CREATE LOGIN app WITH PASSWORD = 0x0200A1B2C3 HASHED', "CREATE LOGIN app WITH PASSWORD = '***' HASHED"],
    ['CREATE USER … WITH PASSWORD in a contained database', 'sqlserver', "CREATE USER [app] WITH PASSWORD = 'hunter2', DEFAULT_SCHEMA = [dbo]", "CREATE USER [app] WITH PASSWORD = '***', DEFAULT_SCHEMA = [dbo]"],
    ['ALTER APPLICATION ROLE … PASSWORD', 'sqlserver', "ALTER APPLICATION ROLE reports WITH PASSWORD = 'hunter2'", "ALTER APPLICATION ROLE reports WITH PASSWORD = '***'"],
    ['sp_addlogin positional', 'sqlserver', "EXEC sp_addlogin 'app', 'hunter2', 'appdb'", "EXEC sp_addlogin 'app', '***', 'appdb'"],
    ['sp_addlogin named and schema-qualified', 'sqlserver', "EXECUTE master.dbo.sp_addlogin @loginame = N'app', @passwd = N'hunter2'", "EXECUTE master.dbo.sp_addlogin @loginame = N'app', @passwd = '***'"],
    ['sp_password masks old and new', 'sqlserver', "EXEC sp_password 'old', 'new', 'app'", "EXEC sp_password '***', '***', 'app'"],
    ['sp_password named', 'sqlserver', "EXEC sp_password @old = NULL, @new = 'new', @loginame = 'app'", "EXEC sp_password @old = NULL, @new = '***', @loginame = 'app'"],
    ['CREATE MASTER KEY ENCRYPTION BY PASSWORD', 'sqlserver', "CREATE MASTER KEY ENCRYPTION BY PASSWORD = 'hunter2'", "CREATE MASTER KEY ENCRYPTION BY PASSWORD = '***'"],
    ['CREATE CREDENTIAL … SECRET', 'sqlserver', "CREATE CREDENTIAL s3 WITH IDENTITY = 'S3 Access Key', SECRET = 'AKIA:hunter2'", "CREATE CREDENTIAL s3 WITH IDENTITY = 'S3 Access Key', SECRET = '***'"],
    ['batch without semicolons', 'sqlserver', "CREATE LOGIN a WITH PASSWORD = 'one'\nCREATE LOGIN b WITH PASSWORD = 'two'", "CREATE LOGIN a WITH PASSWORD = '***'\nCREATE LOGIN b WITH PASSWORD = '***'"],
    ['an OPENROWSET connection string with PWD=', 'sqlserver', "SELECT * FROM OPENROWSET('SQLNCLI', 'Server=s;UID=sa;PWD=hunter2;', 'SELECT 1')", "SELECT * FROM OPENROWSET('SQLNCLI', '***', 'SELECT 1')"],
  ]);

  table('Oracle', [
    ['CREATE USER … IDENTIFIED BY an unquoted password', 'oracle', 'CREATE USER scott IDENTIFIED BY tiger DEFAULT TABLESPACE users', "CREATE USER scott IDENTIFIED BY '***' DEFAULT TABLESPACE users"],
    ['ALTER USER … IDENTIFIED BY a quoted password REPLACE the old one', 'oracle', 'ALTER USER scott IDENTIFIED BY "Tiger#2" REPLACE tiger', "ALTER USER scott IDENTIFIED BY '***' REPLACE '***'"],
    ['a password that is itself a keyword', 'oracle', 'ALTER USER scott IDENTIFIED BY password ACCOUNT UNLOCK', "ALTER USER scott IDENTIFIED BY '***' ACCOUNT UNLOCK"],
    ['CREATE DATABASE LINK … IDENTIFIED BY', 'oracle', "CREATE PUBLIC DATABASE LINK remote CONNECT TO scott IDENTIFIED BY tiger USING 'orcl'", "CREATE PUBLIC DATABASE LINK remote CONNECT TO scott IDENTIFIED BY '***' USING 'orcl'"],
    ['ALTER ROLE … IDENTIFIED BY', 'oracle', 'ALTER ROLE admin IDENTIFIED BY s3cret', "ALTER ROLE admin IDENTIFIED BY '***'"],
    ['ALTER USER … IDENTIFIED BY VALUES', 'oracle', "ALTER USER scott IDENTIFIED BY VALUES 'S:8F2D;T:9A1B'", "ALTER USER scott IDENTIFIED BY VALUES '***'"],
    ['lower case across lines', 'oracle', 'alter user scott\nidentified\nby tiger', "alter user scott\nidentified\nby '***'"],
    ['IDENTIFIED EXTERNALLY has nothing to mask', 'oracle', 'CREATE USER ops$scott IDENTIFIED EXTERNALLY', 'CREATE USER ops$scott IDENTIFIED EXTERNALLY'],
  ]);

  table('unknown engine (all rules, generic lexing)', [
    ['PostgreSQL syntax', 'unknown', "ALTER USER app PASSWORD 'hunter2'", "ALTER USER app PASSWORD '***'"],
    ['MySQL syntax', 'unknown', "CREATE USER app IDENTIFIED BY 'hunter2'", "CREATE USER app IDENTIFIED BY '***'"],
  ]);
});

describe('redactSql in literals mode', () => {
  const cases: Case[] = [
    ['strings and numbers become ?', 'postgresql', "SELECT * FROM t WHERE a = 'x' AND b = 42 AND c = 1.5e3", 'SELECT * FROM t WHERE a = ? AND b = ? AND c = ?'],
    ['a doubled quote stays inside its literal', 'postgresql', "SELECT 'it''s' FROM t", 'SELECT ? FROM t'],
    ['MySQL backslash escapes stay inside the literal', 'mysql', "SELECT 'a\\'b', \"c\\\"d\" FROM t", 'SELECT ?, ? FROM t'],
    ['PostgreSQL E-string with a backslash-escaped quote', 'postgresql', "SELECT E'it\\'s' FROM t", 'SELECT ? FROM t'],
    ['dollar quotes', 'postgresql', "SELECT $q$it's$q$, $$x$$", 'SELECT ?, ?'],
    ['N, X and B prefixes', 'sqlserver', "SELECT N'héllo', 0xFF, X'0A' FROM t", 'SELECT ?, ?, ? FROM t'],
    ['Oracle q-quotes', 'oracle', "SELECT q'[it's]', q'{a'b}' FROM dual", 'SELECT ?, ? FROM dual'],
    ['negative numbers lose their sign, subtraction keeps its operator', 'mysql', 'SELECT -5, a - 5, a-5, (-3), x = -.5 FROM t', 'SELECT ?, a - ?, a-?, (?), x = ? FROM t'],
    ['numbers inside identifiers are untouched', 'mysql', 'SELECT t1.col2, `3d` FROM table1 t1 WHERE x1 = 1', 'SELECT t1.col2, `3d` FROM table1 t1 WHERE x1 = ?'],
    ['booleans become ?', 'postgresql', 'UPDATE t SET active = TRUE WHERE deleted = false', 'UPDATE t SET active = ? WHERE deleted = ?'],
    ['placeholders are kept', 'postgresql', 'SELECT * FROM t WHERE a = $1 AND b = 5', 'SELECT * FROM t WHERE a = $1 AND b = ?'],
    ['comments are kept, sqlcommenter included', 'postgresql', "SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/", "SELECT ? /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/"],
    ['an Oracle unquoted password is masked too', 'oracle', 'ALTER USER scott IDENTIFIED BY tiger', 'ALTER USER scott IDENTIFIED BY ?'],
    ['DAS-escaped MySQL literals', 'mysql', "SELECT * FROM t WHERE a = \\'x\\' AND b = 3", 'SELECT * FROM t WHERE a = ? AND b = ?'],
    ['typed literals keep their type keyword', 'postgresql', "SELECT DATE '2024-01-01', INTERVAL '1 day'", 'SELECT DATE ?, INTERVAL ?'],
  ];
  for (const [name, engine, input, expected] of cases) {
    it(name, () => {
      assert.equal(redactSql(input, engine, 'literals'), expected);
    });
  }
});

describe('redactSql modes none and all', () => {
  it('none returns the text as received', () => {
    assert.equal(redactSql("ALTER USER app PASSWORD 'x'", 'postgresql', 'none'), "ALTER USER app PASSWORD 'x'");
  });
  it('all returns null', () => {
    assert.equal(redactSql('SELECT 1', 'postgresql', 'all'), null);
  });
  it('null text stays null and empty text stays empty', () => {
    assert.equal(redactSql(null, 'mysql', 'passwords'), null);
    assert.equal(redactSql('', 'mysql', 'literals'), '');
  });
  it('passwords is the default mode', () => {
    assert.equal(redactSql("ALTER USER app PASSWORD 'x'", 'postgresql'), "ALTER USER app PASSWORD '***'");
  });
  it('the mask never hints at the length of the password', () => {
    const short = redactSql("ALTER USER a PASSWORD 'x'", 'postgresql');
    const long = redactSql(`ALTER USER a PASSWORD '${'x'.repeat(64)}'`, 'postgresql');
    assert.equal(short, long);
  });
});

describe('redactParams', () => {
  const params = ['hunter2', '42'];
  it('PostgreSQL ALTER USER x PASSWORD $1 masks the parameters in passwords mode', () => {
    assert.deepEqual(redactParams(params, 'ALTER USER app PASSWORD $1', 'postgresql', 'passwords'), [MASKED_PARAM, MASKED_PARAM]);
  });
  it('a statement naming a password column masks the parameters', () => {
    assert.deepEqual(redactParams(params, 'UPDATE users SET password_hash = $1 WHERE id = $2', 'postgresql', 'passwords'), [MASKED_PARAM, MASKED_PARAM]);
  });
  it('SQL Server sp_addlogin with parameters masks them', () => {
    assert.deepEqual(redactParams(params, 'EXEC sp_addlogin @p1, @p2', 'sqlserver', 'passwords'), [MASKED_PARAM, MASKED_PARAM]);
  });
  it('an ordinary statement keeps its parameters in passwords mode', () => {
    assert.deepEqual(redactParams(params, 'SELECT * FROM orders WHERE id = $1 AND n = $2', 'postgresql', 'passwords'), params);
  });
  it('a parameter holding a connection-string password is masked alone', () => {
    assert.deepEqual(redactParams(['host=db password=hunter2', '1'], 'SELECT dblink_connect($1, $2)', 'postgresql', 'passwords'), [MASKED_PARAM, '1']);
  });
  it('without text the parameters cannot be judged and are masked', () => {
    assert.deepEqual(redactParams(params, null, 'postgresql', 'passwords'), [MASKED_PARAM, MASKED_PARAM]);
  });
  it('literals and all mask every parameter, none keeps them', () => {
    assert.deepEqual(redactParams(params, 'SELECT $1, $2', 'postgresql', 'literals'), [MASKED_PARAM, MASKED_PARAM]);
    assert.deepEqual(redactParams(params, 'SELECT $1, $2', 'postgresql', 'all'), [MASKED_PARAM, MASKED_PARAM]);
    assert.deepEqual(redactParams(params, "ALTER USER a PASSWORD $1", 'postgresql', 'none'), params);
  });
  it('null params stay null', () => {
    assert.equal(redactParams(null, 'SELECT 1', 'mysql', 'literals'), null);
  });
});

describe('isPasswordStatement', () => {
  const yes: [string, Engine, string][] = [
    ['CREATE ROLE without a password clause', 'postgresql', 'CREATE ROLE app LOGIN'],
    ['ALTER LOGIN', 'sqlserver', 'ALTER LOGIN app ENABLE'],
    ['CHANGE REPLICATION SOURCE', 'mysql', 'CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?'],
    ['a password placeholder', 'mysql', 'SET PASSWORD FOR app = ?'],
  ];
  for (const [name, engine, text] of yes) it(`${name} is one`, () => assert.equal(isPasswordStatement(text, engine), true));
  it('a SELECT on orders is not', () => assert.equal(isPasswordStatement('SELECT * FROM orders WHERE id = $1', 'postgresql'), false));
});

describe('redactSql keeps the mask a token of its own', () => {
  it('a mask next to a quote or a prefix letter is set apart by a space (found by fast-check)', () => {
    assert.equal(redactSql('ALTER USER u IDENTIFIED BY q', 'oracle', 'passwords'), "ALTER USER u IDENTIFIED BY '***'");
    assert.equal(redactSql("ALTER USER u PASSWORD 'x'VALID UNTIL 'y'", 'postgresql', 'passwords'), "ALTER USER u PASSWORD '***' VALID UNTIL 'y'");
    assert.equal(redactSql('ALTER USER u IDENTIFIED BY"pw"', 'oracle', 'passwords'), "ALTER USER u IDENTIFIED BY '***'");
  });
  it("an unterminated E-string after IDENTIFIED AS fails closed from IDENTIFIED on (found by fast-check)", () => {
    assert.deepEqual(redact("IDENTIFIED AS E'", 'oracle', 'passwords').text, "'***'");
  });
});
