import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Engine } from '../../src/events/model.ts';
import { tokenize, type SqlDialect } from '../../src/enrich/sql-lexer.ts';
import { unescapeDasMysqlText } from '../../src/enrich/mysql-text.ts';
import { redactParams, redactSql, type RedactionMode } from '../../src/enrich/redact.ts';
import { MAX_SUMMARY_LENGTH, summarize } from '../../src/enrich/summary.ts';
import { extractTraceContext } from '../../src/enrich/trace-context.ts';

const ENGINES: Engine[] = ['postgresql', 'mysql', 'sqlserver', 'oracle', 'unknown'];
const DIALECTS: SqlDialect[] = ['postgresql', 'mysql', 'sqlserver', 'oracle', 'generic'];
const engine = fc.constantFrom(...ENGINES);

/** Strings rich in the characters SQL lexing cares about, plus arbitrary Unicode. */
const sqlish = fc.oneof(
  fc.string({ unit: fc.constantFrom(...`'"\`[]$\\/*-#;:?@(),.=+ \n\tabcEXNqQ019_`.split('')), maxLength: 80 }),
  fc.array(fc.constantFrom('SELECT', 'FROM', 'password', 'IDENTIFIED', 'BY', 'WITH', 'AS', "'x'", '$$', '$a$', '/*', '*/', '--', '\\\'', ',', '(', ')', ';', '=', 'JOIN', 't1', '-', '5', 'q\'[', ']\'', 'E\'', 'REPLACE', 'SET', 'FOR', 'PASSWORD', '@passwd', 'sp_password', ' ', '\n'), { maxLength: 30 }).map((parts) => parts.join(' ')),
  fc.string({ unit: 'binary', maxLength: 60 }),
);

const RUNS = { numRuns: 1000 };

describe('properties', () => {
  it('the lexer never throws and its tokens are ordered, inside the text, and not overlapping', () => {
    fc.assert(
      fc.property(sqlish, fc.constantFrom(...DIALECTS), (text, dialect) => {
        let at = 0;
        for (const token of tokenize(text, dialect)) {
          assert.ok(token.start >= at && token.end > token.start && token.end <= text.length);
          // What lies between tokens is whitespace (or a DAS \n, \r, \t escape).
          assert.match(text.slice(at, token.start), /^(?:\s|\\[nrt])*$/u);
          at = token.end;
        }
      }),
      RUNS,
    );
  });

  it('redaction, summaries, unescaping and trace extraction never throw on arbitrary text', () => {
    const modes: RedactionMode[] = ['none', 'passwords', 'literals', 'all'];
    fc.assert(
      fc.property(sqlish, engine, fc.constantFrom(...modes), fc.array(fc.string(), { maxLength: 3 }), (text, e, mode, params) => {
        redactSql(text, e, mode);
        redactParams(params, text, e, mode);
        const s = summarize(text, e);
        if (s.summary !== null) assert.ok(s.summary.length <= MAX_SUMMARY_LENGTH);
        unescapeDasMysqlText(text);
        extractTraceContext(text, text);
      }),
      RUNS,
    );
  });

  it('redaction is idempotent on the counterexamples fuzzing found', () => {
    const found: [string, Engine, RedactionMode][] = [
      // Seed 885313767: the masked hash became a placeholder, and PASSWORD itself was then taken for the secret.
      ['IDENTIFIED BY PASSWORD 5', 'postgresql', 'literals'],
      ["GRANT ALL ON db.* TO app IDENTIFIED BY PASSWORD '*6C89'", 'mysql', 'literals'],
    ];
    for (const [text, e, mode] of found) {
      const once = redactSql(text, e, mode);
      assert.equal(redactSql(once, e, mode), once, text);
    }
  });

  it('redaction is idempotent', () => {
    fc.assert(
      fc.property(sqlish, engine, fc.constantFrom<RedactionMode>('passwords', 'literals'), (text, e, mode) => {
        const once = redactSql(text, e, mode);
        assert.equal(redactSql(once, e, mode), once);
      }),
      RUNS,
    );
  });

  /** A random value that cannot occur in the SQL around it. */
  const secret = fc.stringMatching(/^[a-z]{6,12}$/).map((s) => `zq${s}`);

  it('in literals mode no string literal content survives, whatever the quoting', () => {
    const quoted: [Engine, (s: string) => string][] = [
      ['postgresql', (s) => `'${s}''${s}'`],
      ['postgresql', (s) => `$tag$${s}'$tag$`],
      ['postgresql', (s) => `E'${s}\\'${s}'`],
      ['mysql', (s) => `'${s}\\'${s}'`],
      ['mysql', (s) => `"${s}"`],
      ['mysql', (s) => `\\'${s}\\'`],
      ['sqlserver', (s) => `N'${s}'`],
      ['oracle', (s) => `q'[${s}']'`],
      ['unknown', (s) => `'${s}'`],
    ];
    fc.assert(
      fc.property(secret, fc.constantFrom(...quoted), fc.constantFrom('SELECT * FROM t WHERE a = ', 'INSERT INTO t VALUES (1, ', 'UPDATE t SET a = '), (value, [e, quote], prefix) => {
        const sql = `${prefix}${quote(value)} /* c */`;
        const redacted = redactSql(sql, e, 'literals')!;
        assert.ok(!redacted.includes(value), `${sql} → ${redacted}`);
        const summary = summarize(sql, e).summary ?? '';
        assert.ok(!summary.includes(value));
      }),
      RUNS,
    );
  });

  it('in passwords mode the password never survives, in any engine syntax', () => {
    const statements: [Engine, (s: string) => string][] = [
      ['postgresql', (s) => `ALTER USER app WITH PASSWORD '${s}'`],
      ['postgresql', (s) => `CREATE ROLE app PASSWORD $x$${s}$x$`],
      ['mysql', (s) => `CREATE USER 'u'@'%' IDENTIFIED BY '${s}'`],
      ['mysql', (s) => `ALTER USER u IDENTIFIED BY \\'${s}\\'`],
      ['mysql', (s) => `SET PASSWORD FOR u = PASSWORD('${s}')`],
      ['sqlserver', (s) => `CREATE LOGIN l WITH PASSWORD = N'${s}'`],
      ['sqlserver', (s) => `EXEC sp_addlogin 'l', '${s}'`],
      ['oracle', (s) => `ALTER USER scott IDENTIFIED BY ${s}`],
      ['oracle', (s) => `CREATE DATABASE LINK l CONNECT TO u IDENTIFIED BY "${s}" USING 'x'`],
    ];
    fc.assert(
      fc.property(secret, fc.constantFrom(...statements), fc.constantFrom(' ', '\n  ', ' /* note */ '), (value, [e, make], gap) => {
        const sql = make(value).replace(/ /g, gap);
        const redacted = redactSql(sql, e, 'passwords')!;
        assert.ok(!redacted.includes(value), `${sql} → ${redacted}`);
        assert.ok(!(summarize(sql, e).summary ?? '').includes(value));
      }),
      RUNS,
    );
  });

  it('a sqlcommenter traceparent is found wherever the comment is and whatever else it holds', () => {
    const hex = (length: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${length}}$`)).filter((s) => !/^0+$/.test(s));
    const otherPair = fc.tuple(fc.stringMatching(/^[a-z_]{1,10}$/), fc.string({ maxLength: 20 })).filter(([k]) => !k.startsWith('trace'));
    fc.assert(
      fc.property(hex(32), hex(16), fc.integer({ min: 0, max: 255 }), fc.array(otherPair, { maxLength: 4 }), fc.boolean(), fc.boolean(), (traceId, spanId, flags, others, atStart, dasEscaped) => {
        const traceparent = `00-${traceId}-${spanId}-${flags.toString(16).padStart(2, '0')}`;
        const pairs = [...others.map(([k, v]) => [k, v] as const), ['traceparent', traceparent] as const]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([k, v]) => `${encodeURIComponent(k)}='${encodeURIComponent(v).replace(/'/g, "\\'")}'`)
          .join(',');
        const comment = `/*${pairs}*/`;
        let sql = atStart ? `${comment} SELECT * FROM t WHERE a = 'x'` : `SELECT * FROM t WHERE a = 'x' ${comment}`;
        if (dasEscaped) sql = sql.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
        assert.deepEqual(extractTraceContext(sql, null), { traceId, spanId, traceFlags: flags });
      }),
      RUNS,
    );
  });
});
