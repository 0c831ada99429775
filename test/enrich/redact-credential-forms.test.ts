/**
 * Every credential form of test/support/credential-forms.ts, on its engine:
 * the exact text `passwords` mode gives, whether it failed closed, and that
 * no other mode but `none` lets the password through, in the SQL as written
 * and in Aurora MySQL's DAS-escaped form.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { isPasswordStatement, redact, redactParams, scrubSecrets, MASKED_PARAM } from '../../src/enrich/redact.ts';
import { tokenize } from '../../src/enrich/sql-lexer.ts';
import { CREDENTIAL_FORMS } from '../support/credential-forms.ts';

const PW = 'zqHunter2x9';

/** As Aurora MySQL's DAS sends commandText: every quote preceded by a backslash. */
const dasEscaped = (sql: string): string => sql.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/"/g, '\\"');

describe('every documented credential form', () => {
  for (const engine of ['postgresql', 'mysql', 'sqlserver', 'oracle'] as const) {
    describe(engine, () => {
      for (const form of CREDENTIAL_FORMS.filter((f) => f.engine === engine)) {
        const sql = form.sql(PW);
        const context = { database: form.database ?? null };
        it(`${form.name}: ${form.failClosed ? 'fails closed' : 'masked'} in passwords mode`, () => {
          const result = redact(sql, engine, 'passwords', context);
          assert.equal(result.text, form.masked);
          assert.equal(result.failClosed, form.failClosed ?? false);
          assert.ok(isPasswordStatement(sql, engine, context), 'bind parameters of the statement are masked too');
          assert.deepEqual(redactParams(['p1'], sql, engine, 'passwords', context), [MASKED_PARAM]);
        });
        it(`${form.name}: no trace of the password in literals and all modes`, () => {
          assert.ok(!(redact(sql, engine, 'literals', context).text ?? '').includes(PW.slice(0, 6)));
          assert.equal(redact(sql, engine, 'all', context).text, null);
          assert.equal(redact(sql, engine, 'none', context).text, sql);
        });
        if (sql.includes(PW)) {
          it(`${form.name}: an error message quoting the statement is scrubbed with what was masked`, () => {
            const { secrets } = redact(sql, engine, 'passwords', context);
            const at = sql.indexOf(PW);
            // MySQL quotes up to 80 characters from the token it stopped at; PostgreSQL and SQL Server the token itself.
            for (const token of tokenize(sql, engine).filter((t) => t.start <= at)) {
              for (const message of [
                `You have an error in your SQL syntax; check the manual near '${sql.slice(token.start, token.start + 80)}' at line 1`,
                `syntax error at or near "${sql.slice(token.start, token.end)}"`,
              ]) {
                const scrubbed = scrubSecrets(message, secrets);
                assert.ok(!scrubbed.includes(PW.slice(0, 6)), scrubbed);
              }
            }
          });
        }
        if (engine === 'mysql') {
          it(`${form.name}: DAS-escaped`, () => {
            const result = redact(dasEscaped(sql), engine, 'passwords', context);
            assert.ok(!result.text!.includes(PW.slice(0, 6)), result.text!);
            assert.equal(result.failClosed, form.failClosed ?? false);
          });
        }
      }
    });
  }

  it("the README's Security section lists every form, with what passwords mode gives", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Security\n'), readme.indexOf('\n## ', readme.indexOf('\n## Security\n') + 1));
    const missing = CREDENTIAL_FORMS.filter((f) => !section.includes(`| ${f.name} | \`${f.sql('Secret1')}\` | \`${f.masked}\`${f.failClosed ? ' (fails closed)' : ''} |`));
    assert.deepEqual(missing.map((f) => `${f.engine}: ${f.name}`), []);
    const rows = section.split('\n').filter((line) => /^\| .* \| `.*` \| `.*`( \(fails closed\))? \|$/.test(line));
    assert.equal(rows.length, CREDENTIAL_FORMS.length, 'and no form the table does not have');
  });

  it('the table covers every engine and at least one fail-closed form of each', () => {
    for (const engine of ['postgresql', 'mysql', 'sqlserver', 'oracle'] as const) {
      assert.ok(CREDENTIAL_FORMS.some((f) => f.engine === engine && f.failClosed), engine);
    }
  });
});

describe('fail closed', () => {
  it('an unterminated string after a credential masks from the keyword to the end, whatever follows', () => {
    const result = redact("ALTER ROLE app PASSWORD 'it''s; SELECT 1; ALTER ROLE b PASSWORD 'x'", 'postgresql', 'passwords');
    assert.equal(result.failClosed, true);
    assert.equal(result.text, "ALTER ROLE app '***'");
  });
  it('an unterminated quote elsewhere in text that mentions a credential masks from the first mention', () => {
    // MySQL with NO_BACKSLASH_ESCAPES: the backslash does not escape, so the lexer pairs the quotes wrongly.
    const result = redact("CREATE USER a IDENTIFIED BY 'x\\'; CREATE USER b IDENTIFIED BY 'zqHunter2x9'", 'mysql', 'passwords');
    assert.equal(result.failClosed, true);
    assert.ok(!result.text!.includes('zqHunter'), result.text!);
    assert.equal(result.text, "CREATE USER a '***'");
  });
  it('the mask never starts in the middle of a word', () => {
    assert.equal(redact("SELECT compass FROM t WHERE x = 'abc", 'oracle', 'passwords').text, "SELECT '***'");
  });
  it('text without a credential is left alone, unterminated or not', () => {
    const result = redact("SELECT * FROM t WHERE note = 'it''s", 'postgresql', 'passwords');
    assert.deepEqual(result, { text: "SELECT * FROM t WHERE note = 'it''s", failClosed: false, secrets: [] });
  });
  it('PASSWORD = followed by nothing usable', () => {
    assert.deepEqual(redact('SET PASSWORD FOR app = ;', 'mysql', 'passwords').failClosed, true);
    assert.equal(redact('SET PASSWORD FOR app = ;', 'mysql', 'passwords').text, "SET PASSWORD FOR app = '***'");
  });
});

describe('scrubSecrets', () => {
  it('replaces every occurrence, case-insensitively, longest first', () => {
    assert.equal(scrubSecrets("near 'Hunter2' and hunter2x", ['hunter2', 'hunter2x']), "near '***' and ***");
  });
  it('ignores one-character secrets: one character is in any text', () => {
    assert.equal(scrubSecrets('a b c', ['a']), 'a b c');
  });
  it('escapes what a secret holds', () => {
    assert.equal(scrubSecrets('x.*y (z)', ['.*y (']), 'x***z)');
  });
});
