import assert from 'node:assert/strict';
import { dialectOf, identifierName, tokenize, tokenText, type SqlDialect, type TokenKind } from '../../src/enrich/sql-lexer.ts';
import { unescapeDasMysqlText } from '../../src/enrich/mysql-text.ts';

function kinds(text: string, dialect: SqlDialect): [TokenKind, string][] {
  return tokenize(text, dialect).map((t) => [t.kind, tokenText(text, t)]);
}

describe('tokenize', () => {
  const cases: [string, SqlDialect, string, [TokenKind, string][]][] = [
    ['a doubled quote stays in the string', 'postgresql', "'it''s'", [['string', "'it''s'"]]],
    ['MySQL backslash escapes', 'mysql', "'a\\'b' x", [['string', "'a\\'b'"], ['word', 'x']]],
    ['PostgreSQL plain strings have no backslash escape', 'postgresql', "'a\\' x", [['string', "'a\\'"], ['word', 'x']]],
    ['PostgreSQL E-strings do', 'postgresql', "E'a\\'b' x", [['string', "E'a\\'b'"], ['word', 'x']]],
    ['N, X and U& prefixes', 'postgresql', "N'a' X'0F' U&'d\\0061'", [['string', "N'a'"], ['string', "X'0F'"], ['string', "U&'d\\0061'"]]],
    ['dollar quoting with a tag', 'postgresql', "$fn$ SELECT 'x' $$ $fn$ y", [['string', "$fn$ SELECT 'x' $$ $fn$"], ['word', 'y']]],
    ['PostgreSQL placeholders and casts', 'postgresql', '$1::text', [['placeholder', '$1'], ['operator', '::'], ['word', 'text']]],
    ['Oracle q-quote', 'oracle', "q'[it's]' :name", [['string', "q'[it's]'"], ['placeholder', ':name']]],
    ['quoted identifiers', 'sqlserver', '[a]]b] "c""d"', [['quoted_identifier', '[a]]b]'], ['quoted_identifier', '"c""d"']]],
    ['MySQL double quotes are strings, backticks identifiers', 'mysql', '"s" `i`', [['string', '"s"'], ['quoted_identifier', '`i`']]],
    ['numbers', 'mysql', '1 1.5 .5 1e-3 0x1F', [['number', '1'], ['number', '1.5'], ['number', '.5'], ['number', '1e-3'], ['number', '0x1F']]],
    ['digits inside identifiers', 'postgresql', 't1.c2', [['word', 't1'], ['operator', '.'], ['word', 'c2']]],
    ['MySQL identifiers may start with a digit', 'mysql', '1st_table', [['word', '1st_table']]],
    ['comments', 'mysql', "-- a\n# b\n/* c */ x", [['comment', '-- a'], ['comment', '# b'], ['comment', '/* c */'], ['word', 'x']]],
    ['MySQL needs a space after --', 'mysql', '5--1', [['number', '5'], ['operator', '-'], ['operator', '-'], ['number', '1']]],
    ['nested PostgreSQL comments', 'postgresql', '/* a /* b */ c */ x', [['comment', '/* a /* b */ c */'], ['word', 'x']]],
    ['other engines do not nest', 'mysql', '/* a /* b */ x', [['comment', '/* a /* b */'], ['word', 'x']]],
    ['a MySQL executable comment is code between markers', 'mysql', '/*!50100 SELECT */', [['comment', '/*!50100'], ['word', 'SELECT'], ['comment', '*/']]],
    ['placeholders', 'sqlserver', '? @p1 @@version', [['placeholder', '?'], ['placeholder', '@p1'], ['variable', '@@version']]],
    ['a PostgreSQL ? is an operator', 'postgresql', "j ? 'k'", [['word', 'j'], ['operator', '?'], ['string', "'k'"]]],
    ['DAS-escaped MySQL strings', 'mysql', "a = \\'x\\'", [['word', 'a'], ['operator', '='], ['string', "\\'x\\'"]]],
    ['DAS-escaped newline outside strings is whitespace', 'mysql', 'a\\nb', [['word', 'a'], ['word', 'b']]],
    ['an unterminated string runs to the end', 'postgresql', "SELECT 'abc", [['word', 'SELECT'], ['string', "'abc"]]],
    ['an unterminated comment runs to the end', 'postgresql', 'SELECT /* abc', [['word', 'SELECT'], ['comment', '/* abc']]],
  ];
  for (const [name, dialect, text, expected] of cases) {
    it(name, () => assert.deepEqual(kinds(text, dialect), expected));
  }

  it('a pathological run of quotes and comment openers is handled in one pass', () => {
    const text = `${"'".repeat(50_001)}${'/*'.repeat(50_000)}${'$a$'.repeat(10_000)}`;
    for (const dialect of ['postgresql', 'mysql', 'sqlserver', 'oracle', 'generic'] as const) {
      const tokens = tokenize(text, dialect);
      assert.ok(tokens.length > 0);
      assert.equal(tokens[tokens.length - 1]!.end, text.length);
    }
  });
});

describe('identifierName', () => {
  it('removes quotes and undoes doubled quotes', () => {
    const text = '"a""b" [c]]d] `e``f` plain';
    assert.deepEqual(tokenize(text, 'sqlserver').map((t) => identifierName(text, t)), ['a"b', 'c]d', 'e`f', 'plain']);
  });
});

describe('dialectOf', () => {
  it('maps engines to dialects and unknown to generic', () => {
    assert.equal(dialectOf('postgresql'), 'postgresql');
    assert.equal(dialectOf('sqlserver'), 'sqlserver');
    assert.equal(dialectOf('unknown'), 'generic');
    assert.equal(dialectOf(null), 'generic');
  });
});

describe('unescapeDasMysqlText', () => {
  const cases: [string, string, string][] = [
    ['the documented quote escaping', "SELECT * FROM t WHERE a = \\'x\\'", "SELECT * FROM t WHERE a = 'x'"],
    ['double quotes', 'SELECT \\"x\\"', 'SELECT "x"'],
    ['an escaped backslash before an escaped quote (a MySQL \\\' in the SQL)', "SELECT \\'it\\\\\\'s\\'", "SELECT 'it\\'s'"],
    ['newlines and tabs', 'SELECT 1\\nFROM t\\twhere', 'SELECT 1\nFROM t\twhere'],
    ['any other backslash is kept', 'SELECT \\N, \\x', 'SELECT \\N, \\x'],
    ['a trailing backslash is kept', 'abc\\', 'abc\\'],
    ['text without backslashes is returned as is', 'SELECT 1', 'SELECT 1'],
  ];
  for (const [name, input, expected] of cases) it(name, () => assert.equal(unescapeDasMysqlText(input), expected));
});
