/**
 * Every place each engine's documented syntax puts a credential, as a
 * statement with the secret left open: the table the redaction tests check
 * exactly, and the grammar the property tests draw statements from. The
 * README's Security section lists these forms.
 *
 * Sources: PostgreSQL CREATE/ALTER ROLE, CREATE USER MAPPING, CREATE SERVER,
 * CREATE SUBSCRIPTION, psql `\password` (it sends ALTER USER … PASSWORD with
 * a SCRAM verifier), dblink, aws_commons; MySQL 8.0 CREATE/ALTER USER, SET
 * PASSWORD, GRANT (5.7), PASSWORD(), CHANGE MASTER / CHANGE REPLICATION
 * SOURCE, START REPLICA, CREATE SERVER, the mysql.user table, and the Amazon
 * RDS procedures mysql.rds_set_external_master/source; SQL Server CREATE/ALTER
 * LOGIN, CREATE USER, CREATE CREDENTIAL, master keys, certificates, symmetric
 * keys, BACKUP … MEDIAPASSWORD, sp_addlogin, sp_password,
 * sp_addlinkedsrvlogin, sp_setapprole; Oracle CREATE/ALTER USER, ALTER ROLE,
 * SET ROLE, CREATE DATABASE LINK, ADMINISTER KEY MANAGEMENT, DBMS_CREDENTIAL.
 */
import type { Engine } from '../../src/events/model.ts';

export interface CredentialForm {
  engine: Exclude<Engine, 'unknown'>;
  /** The form, as the engine's documentation names it. */
  name: string;
  /** The statement with `pw` where the credential goes. `pw` is letters and digits, starting with a letter. */
  sql: (pw: string) => string;
  /** What `passwords` mode makes of it, whatever `pw` is. */
  masked: string;
  /** The session's database, when it decides what a table is (MySQL `user` in database `mysql`). */
  database?: string;
  /** The text cannot be read with confidence: masked from the credential keyword on, and counted. */
  failClosed?: boolean;
}

const pg = (name: string, sql: (pw: string) => string, masked: string, extra: Partial<CredentialForm> = {}): CredentialForm => ({ engine: 'postgresql', name, sql, masked, ...extra });
const my = (name: string, sql: (pw: string) => string, masked: string, extra: Partial<CredentialForm> = {}): CredentialForm => ({ engine: 'mysql', name, sql, masked, ...extra });
const ms = (name: string, sql: (pw: string) => string, masked: string, extra: Partial<CredentialForm> = {}): CredentialForm => ({ engine: 'sqlserver', name, sql, masked, ...extra });
const ora = (name: string, sql: (pw: string) => string, masked: string, extra: Partial<CredentialForm> = {}): CredentialForm => ({ engine: 'oracle', name, sql, masked, ...extra });

/** `sql` as dynamic SQL `depth` times over: each level's quotes doubled into the next one's string. */
function nested(sql: string, depth: number, wrap: (quoted: string, level: number) => string): string {
  let out = sql;
  for (let level = 0; level < depth; level++) out = wrap(out.replace(/'/g, "''"), level);
  return out;
}

export const CREDENTIAL_FORMS: readonly CredentialForm[] = [
  // PostgreSQL
  pg('CREATE ROLE … PASSWORD', (pw) => `CREATE ROLE app LOGIN PASSWORD '${pw}'`, "CREATE ROLE app LOGIN PASSWORD '***'"),
  pg('CREATE USER … WITH ENCRYPTED PASSWORD', (pw) => `CREATE USER app WITH ENCRYPTED PASSWORD '${pw}'`, "CREATE USER app WITH ENCRYPTED PASSWORD '***'"),
  pg('ALTER ROLE … PASSWORD … VALID UNTIL', (pw) => `ALTER ROLE app WITH PASSWORD '${pw}' VALID UNTIL 'infinity'`, "ALTER ROLE app WITH PASSWORD '***' VALID UNTIL 'infinity'"),
  pg('psql \\password (ALTER USER … PASSWORD with a SCRAM verifier)', (pw) => `ALTER USER app PASSWORD 'SCRAM-SHA-256$4096:${pw}==$${pw}:${pw}='`, "ALTER USER app PASSWORD '***'"),
  pg('a dollar-quoted password', (pw) => `ALTER ROLE app PASSWORD $q$${pw}$q$`, "ALTER ROLE app PASSWORD '***'"),
  pg('an E-string password', (pw) => `ALTER ROLE app PASSWORD E'${pw}\\'x'`, "ALTER ROLE app PASSWORD '***'"),
  pg('CREATE USER MAPPING … OPTIONS (password …)', (pw) => `CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'u', password '${pw}')`, "CREATE USER MAPPING FOR app SERVER remote OPTIONS (user 'u', password '***')"),
  pg('ALTER USER MAPPING … OPTIONS (SET password …)', (pw) => `ALTER USER MAPPING FOR app SERVER remote OPTIONS (SET password '${pw}')`, "ALTER USER MAPPING FOR app SERVER remote OPTIONS (SET password '***')"),
  pg('CREATE SERVER … OPTIONS (password …)', (pw) => `CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', password '${pw}')`, "CREATE SERVER remote FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'h', password '***')"),
  pg('CREATE SUBSCRIPTION … CONNECTION with password=', (pw) => `CREATE SUBSCRIPTION s CONNECTION 'host=h dbname=d password=${pw}' PUBLICATION p`, "CREATE SUBSCRIPTION s CONNECTION '***' PUBLICATION p"),
  pg('dblink_connect with a conninfo password', (pw) => `SELECT dblink_connect('c', 'host=h user=u password=${pw}')`, "SELECT dblink_connect('c', '***')"),
  pg('a connection URI with user:password@', (pw) => `SELECT dblink_connect('postgresql://u:${pw}@h:5432/d')`, "SELECT dblink_connect('***')"),
  pg('aws_commons.create_aws_credentials(access, secret, token)', (pw) => `SELECT aws_commons.create_aws_credentials('AKIAEXAMPLE', '${pw}', '')`, "SELECT aws_commons.create_aws_credentials('AKIAEXAMPLE', '***', '***')"),
  pg('pgcrypto crypt(password, salt)', (pw) => `SELECT crypt('${pw}', gen_salt('bf'))`, "SELECT crypt('***', gen_salt('bf'))"),
  pg('UPDATE pg_authid SET rolpassword', (pw) => `UPDATE pg_authid SET rolpassword = 'md5${pw}' WHERE rolname = 'app'`, "UPDATE pg_authid SET rolpassword = '***' WHERE rolname = 'app'"),
  pg('a positional row into pg_authid', (pw) => `INSERT INTO pg_authid VALUES (16384, 'app', '${pw}')`, "INSERT INTO pg_authid VALUES '***'", { failClosed: true }),
  pg('a DO block running ALTER ROLE … PASSWORD', (pw) => `DO $$BEGIN EXECUTE 'ALTER ROLE app PASSWORD ''${pw}'''; END$$`, "DO '***'"),
  pg('set_config of a setting named …password', (pw) => `SELECT set_config('app.password', '${pw}', false)`, "SELECT set_config('app.password', '***', false)"),
  pg('an unquoted password (a syntax error PostgreSQL never runs)', (pw) => `ALTER ROLE app PASSWORD ${pw}`, "ALTER ROLE app PASSWORD '***'", { failClosed: true }),
  pg('dynamic SQL nested deeper than is read', (pw) => nested(`ALTER ROLE app PASSWORD '${pw}'`, 5, (s, level) => `DO $l${level}$BEGIN EXECUTE '${s}'; END$l${level}$`), "DO '***'", { failClosed: true }),
  pg('an unterminated password string', (pw) => `ALTER ROLE app PASSWORD '${pw}`, "ALTER ROLE app '***'", { failClosed: true }),

  // MySQL
  my('CREATE USER … IDENTIFIED BY', (pw) => `CREATE USER 'app'@'%' IDENTIFIED BY '${pw}'`, "CREATE USER 'app'@'%' IDENTIFIED BY '***'"),
  my('CREATE USER … IDENTIFIED WITH plugin BY', (pw) => `CREATE USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY '${pw}'`, "CREATE USER 'app'@'%' IDENTIFIED WITH caching_sha2_password BY '***'"),
  my('CREATE USER … IDENTIFIED WITH plugin AS hash', (pw) => `CREATE USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '*${pw}'`, "CREATE USER 'app'@'%' IDENTIFIED WITH mysql_native_password AS '***'"),
  my('CREATE USER … IDENTIFIED BY PASSWORD hash (5.7)', (pw) => `CREATE USER 'app'@'%' IDENTIFIED BY PASSWORD '*${pw}'`, "CREATE USER 'app'@'%' IDENTIFIED BY PASSWORD '***'"),
  my('ALTER USER … IDENTIFIED BY … REPLACE current', (pw) => `ALTER USER app IDENTIFIED BY '${pw}' REPLACE 'old${pw}' RETAIN CURRENT PASSWORD`, "ALTER USER app IDENTIFIED BY '***' REPLACE '***' RETAIN CURRENT PASSWORD"),
  my('ALTER USER … MODIFY 2 FACTOR IDENTIFIED BY', (pw) => `ALTER USER app MODIFY 2 FACTOR IDENTIFIED BY '${pw}'`, "ALTER USER app MODIFY 2 FACTOR IDENTIFIED BY '***'"),
  my('CREATE USER … INITIAL AUTHENTICATION IDENTIFIED BY', (pw) => `CREATE USER app IDENTIFIED WITH authentication_ldap_sasl INITIAL AUTHENTICATION IDENTIFIED BY '${pw}'`, "CREATE USER app IDENTIFIED WITH authentication_ldap_sasl INITIAL AUTHENTICATION IDENTIFIED BY '***'"),
  my('GRANT … IDENTIFIED BY (5.7)', (pw) => `GRANT ALL ON shop.* TO 'app'@'%' IDENTIFIED BY '${pw}'`, "GRANT ALL ON shop.* TO 'app'@'%' IDENTIFIED BY '***'"),
  my('SET PASSWORD = literal', (pw) => `SET PASSWORD = '${pw}'`, "SET PASSWORD = '***'"),
  my('SET PASSWORD FOR account = literal', (pw) => `SET PASSWORD FOR 'app'@'%' = '${pw}'`, "SET PASSWORD FOR 'app'@'%' = '***'"),
  my('SET PASSWORD FOR account = PASSWORD(…)', (pw) => `SET PASSWORD FOR app = PASSWORD('${pw}')`, "SET PASSWORD FOR app = PASSWORD('***')"),
  my('SET PASSWORD … REPLACE current', (pw) => `SET PASSWORD FOR app = '${pw}' REPLACE 'old${pw}' RETAIN CURRENT PASSWORD`, "SET PASSWORD FOR app = '***' REPLACE '***' RETAIN CURRENT PASSWORD"),
  my('the PASSWORD() function', (pw) => `SELECT PASSWORD('${pw}')`, "SELECT PASSWORD('***')"),
  my('a positional row into mysql.user', (pw) => `INSERT INTO mysql.user VALUES ('%', 'app', '${pw}', 'Y')`, "INSERT INTO mysql.user VALUES '***'", { failClosed: true }),
  my('REPLACE INTO mysql.user positionally', (pw) => `REPLACE INTO mysql.user VALUES ('%', 'app', '${pw}')`, "REPLACE INTO mysql.user VALUES '***'", { failClosed: true }),
  my('a positional row into user, in database mysql', (pw) => `INSERT INTO user VALUES ('%', 'app', '${pw}')`, "INSERT INTO user VALUES '***'", { database: 'mysql', failClosed: true }),
  my('INSERT INTO mysql.user (…, authentication_string) VALUES', (pw) => `INSERT INTO mysql.user (Host, User, authentication_string) VALUES ('%', 'app', '${pw}')`, "INSERT INTO mysql.user (Host, User, authentication_string) VALUES ('%', 'app', '***')"),
  my('INSERT INTO mysql.user (…, Password) VALUES (…, PASSWORD(…))', (pw) => `INSERT INTO mysql.user (Host, User, Password) VALUES ('%', 'app', PASSWORD('${pw}'))`, "INSERT INTO mysql.user (Host, User, Password) VALUES ('%', 'app', PASSWORD('***'))"),
  my('UPDATE mysql.user SET authentication_string', (pw) => `UPDATE mysql.user SET authentication_string = '${pw}' WHERE User = 'app'`, "UPDATE mysql.user SET authentication_string = '***' WHERE User = 'app'"),
  my('UPDATE mysql.user SET Password = PASSWORD(…)', (pw) => `UPDATE mysql.user SET Password = PASSWORD('${pw}') WHERE User = 'app'`, "UPDATE mysql.user SET Password = PASSWORD('***') WHERE User = 'app'"),
  my('CHANGE MASTER TO … MASTER_PASSWORD', (pw) => `CHANGE MASTER TO MASTER_HOST='primary', MASTER_USER='repl', MASTER_PASSWORD='${pw}', MASTER_PORT=3306`, "CHANGE MASTER TO MASTER_HOST='primary', MASTER_USER='repl', MASTER_PASSWORD='***', MASTER_PORT=3306"),
  my('CHANGE REPLICATION SOURCE TO … SOURCE_PASSWORD', (pw) => `CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD='${pw}'`, "CHANGE REPLICATION SOURCE TO SOURCE_USER='repl', SOURCE_PASSWORD='***'"),
  my('START REPLICA USER … PASSWORD', (pw) => `START REPLICA USER='repl' PASSWORD='${pw}'`, "START REPLICA USER='repl' PASSWORD='***'"),
  my('CREATE SERVER … OPTIONS (PASSWORD …)', (pw) => `CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'remote', HOST 'h', PASSWORD '${pw}')`, "CREATE SERVER s FOREIGN DATA WRAPPER mysql OPTIONS (USER 'remote', HOST 'h', PASSWORD '***')"),
  my('CALL mysql.rds_set_external_master(host, port, user, password, …)', (pw) => `CALL mysql.rds_set_external_master('primary', 3306, 'repl', '${pw}', 'mysql-bin.000001', 4, 0)`, "CALL mysql.rds_set_external_master('primary', 3306, 'repl', '***', 'mysql-bin.000001', 4, 0)"),
  my('CALL mysql.rds_set_external_source(host, port, user, password, …)', (pw) => `CALL mysql.rds_set_external_source('primary', 3306, 'repl', '${pw}', 'mysql-bin.000001', 4, 1)`, "CALL mysql.rds_set_external_source('primary', 3306, 'repl', '***', 'mysql-bin.000001', 4, 1)"),
  my('CALL mysql.rds_set_external_master_with_auto_position(…)', (pw) => `CALL mysql.rds_set_external_master_with_auto_position('primary', 3306, 'repl', '${pw}', 0, 0)`, "CALL mysql.rds_set_external_master_with_auto_position('primary', 3306, 'repl', '***', 0, 0)"),
  my('AES_ENCRYPT(text, key)', (pw) => `SELECT AES_ENCRYPT('card', '${pw}')`, "SELECT AES_ENCRYPT('card', '***')"),
  my('PREPARE … FROM a string holding ALTER USER … IDENTIFIED BY', (pw) => `PREPARE s FROM 'ALTER USER app IDENTIFIED BY ''${pw}'''`, "PREPARE s FROM '***'"),
  my('PREPARE … FROM a positional row into user, in database mysql', (pw) => `PREPARE s FROM 'INSERT INTO user VALUES (''%'', ''app'', ''${pw}'')'`, "PREPARE s FROM '***'", { database: 'mysql', failClosed: true }),
  my('nothing after IDENTIFIED BY', () => 'ALTER USER app IDENTIFIED BY', "ALTER USER app IDENTIFIED BY '***'", { failClosed: true }),
  my('an unterminated password string', (pw) => `ALTER USER app IDENTIFIED BY '${pw}`, "ALTER USER app '***'", { failClosed: true }),

  // SQL Server
  ms('CREATE LOGIN … WITH PASSWORD', (pw) => `CREATE LOGIN app WITH PASSWORD = '${pw}'`, "CREATE LOGIN app WITH PASSWORD = '***'"),
  ms('CREATE LOGIN … WITH PASSWORD = N\'…\' MUST_CHANGE', (pw) => `CREATE LOGIN [app] WITH PASSWORD = N'${pw}' MUST_CHANGE, CHECK_EXPIRATION = ON`, "CREATE LOGIN [app] WITH PASSWORD = '***' MUST_CHANGE, CHECK_EXPIRATION = ON"),
  ms('CREATE LOGIN … WITH PASSWORD = hash HASHED', () => 'CREATE LOGIN app WITH PASSWORD = 0x0200A1B2C3D4E5F6 HASHED', "CREATE LOGIN app WITH PASSWORD = '***' HASHED"),
  ms('ALTER LOGIN … WITH PASSWORD … OLD_PASSWORD', (pw) => `ALTER LOGIN app WITH PASSWORD = '${pw}' OLD_PASSWORD = 'old${pw}'`, "ALTER LOGIN app WITH PASSWORD = '***' OLD_PASSWORD = '***'"),
  ms('CREATE USER … WITH PASSWORD (contained database)', (pw) => `CREATE USER app WITH PASSWORD = '${pw}', DEFAULT_SCHEMA = dbo`, "CREATE USER app WITH PASSWORD = '***', DEFAULT_SCHEMA = dbo"),
  ms('CREATE APPLICATION ROLE … WITH PASSWORD', (pw) => `CREATE APPLICATION ROLE reports WITH PASSWORD = '${pw}'`, "CREATE APPLICATION ROLE reports WITH PASSWORD = '***'"),
  ms('CREATE CREDENTIAL … SECRET', (pw) => `CREATE CREDENTIAL s3 WITH IDENTITY = 'S3 Access Key', SECRET = '${pw}'`, "CREATE CREDENTIAL s3 WITH IDENTITY = 'S3 Access Key', SECRET = '***'"),
  ms('CREATE DATABASE SCOPED CREDENTIAL … SECRET', (pw) => `CREATE DATABASE SCOPED CREDENTIAL c WITH IDENTITY = 'u', SECRET = '${pw}'`, "CREATE DATABASE SCOPED CREDENTIAL c WITH IDENTITY = 'u', SECRET = '***'"),
  ms('CREATE MASTER KEY ENCRYPTION BY PASSWORD', (pw) => `CREATE MASTER KEY ENCRYPTION BY PASSWORD = '${pw}'`, "CREATE MASTER KEY ENCRYPTION BY PASSWORD = '***'"),
  ms('OPEN MASTER KEY DECRYPTION BY PASSWORD', (pw) => `OPEN MASTER KEY DECRYPTION BY PASSWORD = '${pw}'`, "OPEN MASTER KEY DECRYPTION BY PASSWORD = '***'"),
  ms('CREATE CERTIFICATE … ENCRYPTION BY PASSWORD', (pw) => `CREATE CERTIFICATE c ENCRYPTION BY PASSWORD = '${pw}' WITH SUBJECT = 'reports'`, "CREATE CERTIFICATE c ENCRYPTION BY PASSWORD = '***' WITH SUBJECT = 'reports'"),
  ms('BACKUP CERTIFICATE … WITH PRIVATE KEY (… ENCRYPTION BY PASSWORD)', (pw) => `BACKUP CERTIFICATE c TO FILE = 'c.cer' WITH PRIVATE KEY (FILE = 'c.pvk', ENCRYPTION BY PASSWORD = '${pw}')`, "BACKUP CERTIFICATE c TO FILE = 'c.cer' WITH PRIVATE KEY (FILE = '***', ENCRYPTION BY PASSWORD = '***')"),
  ms('CREATE SYMMETRIC KEY … KEY_SOURCE, IDENTITY_VALUE', (pw) => `CREATE SYMMETRIC KEY k WITH ALGORITHM = AES_256, KEY_SOURCE = '${pw}', IDENTITY_VALUE = 'id${pw}' ENCRYPTION BY PASSWORD = 'p${pw}'`, "CREATE SYMMETRIC KEY k WITH ALGORITHM = AES_256, KEY_SOURCE = '***', IDENTITY_VALUE = '***' ENCRYPTION BY PASSWORD = '***'"),
  ms('BACKUP DATABASE … MEDIAPASSWORD', (pw) => `BACKUP DATABASE shop TO DISK = 'shop.bak' WITH MEDIAPASSWORD = '${pw}'`, "BACKUP DATABASE shop TO DISK = 'shop.bak' WITH MEDIAPASSWORD = '***'"),
  ms('EXEC sp_addlogin login, password', (pw) => `EXEC sp_addlogin 'app', '${pw}', 'shop'`, "EXEC sp_addlogin 'app', '***', 'shop'"),
  ms('EXEC master..sp_addlogin @passwd =', (pw) => `EXEC master..sp_addlogin @loginame = N'app', @passwd = N'${pw}'`, "EXEC master..sp_addlogin @loginame = N'app', @passwd = '***'"),
  ms('sp_password old, new, login', (pw) => `EXEC sp_password 'old${pw}', '${pw}', 'app'`, "EXEC sp_password '***', '***', 'app'"),
  ms('sp_addlinkedsrvlogin positional remote password', (pw) => `EXEC sp_addlinkedsrvlogin 'remote', 'false', NULL, 'ru', '${pw}'`, "EXEC sp_addlinkedsrvlogin 'remote', 'false', NULL, 'ru', '***'"),
  ms('sp_addlinkedsrvlogin @rmtpassword =', (pw) => `EXEC sp_addlinkedsrvlogin @rmtsrvname = 'remote', @rmtuser = 'ru', @rmtpassword = '${pw}'`, "EXEC sp_addlinkedsrvlogin @rmtsrvname = 'remote', @rmtuser = 'ru', @rmtpassword = '***'"),
  ms('sp_setapprole with an ODBC {Encrypt …}', (pw) => `EXEC sp_setapprole 'reports', {Encrypt N'${pw}'}, 'odbc'`, "EXEC sp_setapprole 'reports', {Encrypt '***'}, 'odbc'"),
  ms('sp_setapprole as the first statement of a batch, without EXEC', (pw) => `sp_setapprole 'reports', '${pw}'`, "sp_setapprole 'reports', '***'"),
  ms('ENCRYPTBYPASSPHRASE(passphrase, text)', (pw) => `SELECT ENCRYPTBYPASSPHRASE('${pw}', 'card')`, "SELECT ENCRYPTBYPASSPHRASE('***', '***')"),
  ms('sp_executesql of CREATE LOGIN … WITH PASSWORD', (pw) => `EXEC sp_executesql N'CREATE LOGIN app WITH PASSWORD = ''${pw}'''`, "EXEC sp_executesql '***'"),
  ms('EXEC (string) of ALTER LOGIN … WITH PASSWORD', (pw) => `EXEC ('ALTER LOGIN app WITH PASSWORD = ''${pw}''')`, "EXEC ('***')"),
  ms('an unterminated password string', (pw) => `CREATE LOGIN app WITH PASSWORD = '${pw}`, "CREATE LOGIN app WITH '***'", { failClosed: true }),

  // Oracle
  ora('CREATE USER … IDENTIFIED BY an unquoted password', (pw) => `CREATE USER scott IDENTIFIED BY ${pw} DEFAULT TABLESPACE users`, "CREATE USER scott IDENTIFIED BY '***' DEFAULT TABLESPACE users"),
  ora('CREATE USER … IDENTIFIED BY "quoted password"', (pw) => `CREATE USER scott IDENTIFIED BY "${pw}#1"`, "CREATE USER scott IDENTIFIED BY '***'"),
  ora('ALTER USER … IDENTIFIED BY … REPLACE old', (pw) => `ALTER USER scott IDENTIFIED BY "${pw}" REPLACE old${pw}`, "ALTER USER scott IDENTIFIED BY '***' REPLACE '***'"),
  ora('ALTER USER … IDENTIFIED BY VALUES hash', (pw) => `ALTER USER scott IDENTIFIED BY VALUES 'S:${pw};T:${pw}'`, "ALTER USER scott IDENTIFIED BY VALUES '***'"),
  ora('a q-quoted password', (pw) => `ALTER USER scott IDENTIFIED BY q'[${pw}]'`, "ALTER USER scott IDENTIFIED BY '***'"),
  ora('ALTER ROLE … IDENTIFIED BY', (pw) => `ALTER ROLE admin IDENTIFIED BY ${pw}`, "ALTER ROLE admin IDENTIFIED BY '***'"),
  ora('SET ROLE … IDENTIFIED BY', (pw) => `SET ROLE admin IDENTIFIED BY ${pw}`, "SET ROLE admin IDENTIFIED BY '***'"),
  ora('CREATE DATABASE LINK … CONNECT TO … IDENTIFIED BY', (pw) => `CREATE PUBLIC DATABASE LINK remote CONNECT TO scott IDENTIFIED BY ${pw} USING 'orcl'`, "CREATE PUBLIC DATABASE LINK remote CONNECT TO scott IDENTIFIED BY '***' USING 'orcl'"),
  ora('CREATE SHARED DATABASE LINK … AUTHENTICATED BY … IDENTIFIED BY', (pw) => `CREATE SHARED DATABASE LINK l CONNECT TO u IDENTIFIED BY ${pw} AUTHENTICATED BY v IDENTIFIED BY b${pw} USING 'orcl'`, "CREATE SHARED DATABASE LINK l CONNECT TO u IDENTIFIED BY '***' AUTHENTICATED BY v IDENTIFIED BY '***' USING 'orcl'"),
  ora('ADMINISTER KEY MANAGEMENT … IDENTIFIED BY old SET new', (pw) => `ADMINISTER KEY MANAGEMENT ALTER KEYSTORE PASSWORD IDENTIFIED BY old${pw} SET ${pw} WITH BACKUP`, "ADMINISTER KEY MANAGEMENT ALTER KEYSTORE PASSWORD IDENTIFIED BY '***' SET '***' WITH BACKUP"),
  ora('DBMS_CREDENTIAL.CREATE_CREDENTIAL positional', (pw) => `BEGIN DBMS_CREDENTIAL.CREATE_CREDENTIAL('c', 'scott', '${pw}'); END;`, "BEGIN DBMS_CREDENTIAL.CREATE_CREDENTIAL('c', 'scott', '***'); END;"),
  ora('DBMS_CREDENTIAL.CREATE_CREDENTIAL password =>', (pw) => `BEGIN DBMS_CREDENTIAL.CREATE_CREDENTIAL(credential_name => 'c', username => 'scott', password => '${pw}'); END;`, "BEGIN DBMS_CREDENTIAL.CREATE_CREDENTIAL(credential_name => 'c', username => 'scott', password => '***'); END;"),
  ora('EXECUTE IMMEDIATE of ALTER USER … IDENTIFIED BY', (pw) => `BEGIN EXECUTE IMMEDIATE 'ALTER USER scott IDENTIFIED BY ${pw}'; END;`, "BEGIN EXECUTE IMMEDIATE '***'; END;"),
  ora('EXECUTE IMMEDIATE nested in EXECUTE IMMEDIATE', (pw) => `BEGIN EXECUTE IMMEDIATE 'BEGIN EXECUTE IMMEDIATE ''ALTER USER scott IDENTIFIED BY ${pw}''; END;'; END;`, "BEGIN EXECUTE IMMEDIATE '***'; END;"),
  ora('an unterminated quoted password', (pw) => `ALTER USER scott IDENTIFIED BY "${pw}`, "ALTER USER scott '***'", { failClosed: true }),
];
