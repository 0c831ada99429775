import assert from 'node:assert/strict';
import { extractTraceContext, isValidTracestate, parseSqlCommenter, parseTraceparent } from '../../src/enrich/trace-context.ts';

const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;

describe('extractTraceContext', () => {
  const found: [string, string, string | null, { traceFlags: number; traceState?: string }][] = [
    ['traceparent alone, appended', `SELECT * FROM orders /*traceparent='${TRACEPARENT}'*/`, null, { traceFlags: 1 }],
    ['with the other sqlcommenter keys, sorted as the spec writes them', `SELECT * FROM FOO /*action='%2Fparam*d',controller='index',framework='spring',traceparent='${TRACEPARENT}',tracestate='congo%3Dt61rcWkgMzE%2Crojo%3D00f067aa0ba902b7'*/`,
      null, { traceFlags: 1, traceState: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7' }],
    ['the comment at the start', `/*traceparent='${TRACEPARENT}'*/ SELECT 1`, null, { traceFlags: 1 }],
    ['the comment in the middle, before the semicolon', `SELECT 1 /*traceparent='${TRACEPARENT}'*/;`, null, { traceFlags: 1 }],
    ['spaces around the pairs', `SELECT 1 /* traceparent = '${TRACEPARENT}' , route='%2Fapi' */`, null, { traceFlags: 1 }],
    ['a URL-encoded traceparent', `SELECT 1 /*traceparent='00%2D${TRACE_ID}%2D${SPAN_ID}%2D00'*/`, null, { traceFlags: 0 }],
    ['Aurora MySQL DAS escaping', `SELECT 1 /*controller=\\'index\\',traceparent=\\'${TRACEPARENT}\\'*/`, null, { traceFlags: 1 }],
    ['a value with an escaped quote before it', `SELECT 1 /*action='it\\'s',traceparent='${TRACEPARENT}'*/`, null, { traceFlags: 1 }],
    ['an unsampled trace', `SELECT 1 /*traceparent='00-${TRACE_ID}-${SPAN_ID}-00'*/`, null, { traceFlags: 0 }],
    ['the client application as a bare traceparent', 'SELECT 1', TRACEPARENT, { traceFlags: 1 }],
    ['the client application with surrounding spaces', 'SELECT 1', `  ${TRACEPARENT} `, { traceFlags: 1 }],
    ['a later version with more fields (W3C forward compatibility)', `SELECT 1 /*traceparent='cc-${TRACE_ID}-${SPAN_ID}-01-what-the-future-holds'*/`, null, { traceFlags: 1 }],
    ['an invalid tracestate is dropped, the traceparent kept', `SELECT 1 /*traceparent='${TRACEPARENT}',tracestate='NOT VALID'*/`, null, { traceFlags: 1 }],
  ];
  for (const [name, text, clientApplication, rest] of found) {
    it(`finds ${name}`, () => {
      assert.deepEqual(extractTraceContext(text, clientApplication), { traceId: TRACE_ID, spanId: SPAN_ID, ...rest });
    });
  }

  it('prefers the comment to the client application', () => {
    const other = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00`;
    assert.equal(extractTraceContext(`SELECT 1 /*traceparent='${TRACEPARENT}'*/`, other)?.traceId, TRACE_ID);
  });

  it('takes the last valid sqlcommenter comment', () => {
    const first = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-00`;
    assert.equal(extractTraceContext(`/*traceparent='${first}'*/ SELECT 1 /*traceparent='${TRACEPARENT}'*/`, null)?.traceId, TRACE_ID);
  });

  const absent: [string, string | null, string | null][] = [
    ['no comment and no client application', 'SELECT 1', null],
    ['a comment without traceparent', "SELECT 1 /*controller='index'*/", null],
    ['traceparent inside a string literal, not a comment', `SELECT '/*traceparent=''${TRACEPARENT}''*/'`, null],
    ['traceparent in a -- comment (sqlcommenter uses block comments)', `SELECT 1 -- traceparent='${TRACEPARENT}'`, null],
    ['an unquoted value', `SELECT 1 /*traceparent=${TRACEPARENT}*/`, null],
    ['version ff', `SELECT 1 /*traceparent='ff-${TRACE_ID}-${SPAN_ID}-01'*/`, null],
    ['an all-zero trace id', `SELECT 1 /*traceparent='00-${'0'.repeat(32)}-${SPAN_ID}-01'*/`, null],
    ['an all-zero span id', `SELECT 1 /*traceparent='00-${TRACE_ID}-${'0'.repeat(16)}-01'*/`, null],
    ['upper-case hex', `SELECT 1 /*traceparent='00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01'*/`, null],
    ['version 00 with extra fields', `SELECT 1 /*traceparent='${TRACEPARENT}-extra'*/`, null],
    ['a short trace id', `SELECT 1 /*traceparent='00-${TRACE_ID.slice(1)}-${SPAN_ID}-01'*/`, null],
    ['a later version followed by something other than a dash', `SELECT 1 /*traceparent='01-${TRACE_ID}-${SPAN_ID}-01x'*/`, null],
    ['a client application that is not a traceparent', 'SELECT 1', 'psql'],
    ['a client application with a traceparent inside other text', 'SELECT 1', `app ${TRACEPARENT}`],
    ['null text and null client application', null, null],
  ];
  for (const [name, text, clientApplication] of absent) {
    it(`rejects ${name}`, () => {
      assert.equal(extractTraceContext(text, clientApplication), null);
    });
  }
});

describe('parseTraceparent', () => {
  it('reads the W3C example', () => {
    assert.deepEqual(parseTraceparent(TRACEPARENT), { traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: 1 });
  });
  it('keeps every flag bit', () => {
    assert.equal(parseTraceparent(`00-${TRACE_ID}-${SPAN_ID}-03`)?.traceFlags, 3);
  });
  it('accepts a later version of exactly 55 characters', () => {
    assert.equal(parseTraceparent(`01-${TRACE_ID}-${SPAN_ID}-01`)?.spanId, SPAN_ID);
  });
  it('rejects a non-hex version', () => {
    assert.equal(parseTraceparent(`0g-${TRACE_ID}-${SPAN_ID}-01`), null);
  });
});

describe('parseSqlCommenter', () => {
  it('URL-decodes keys and values and unescapes quotes', () => {
    const pairs = parseSqlCommenter("%2Fparam%20first='value',action='it\\'s%20here'");
    assert.equal(pairs.get('/param first'), 'value');
    assert.equal(pairs.get('action'), "it's here");
  });
  it('skips a pair with a broken URL encoding and keeps the rest', () => {
    const pairs = parseSqlCommenter("bad='%E0%A4%A',good='yes'");
    assert.equal(pairs.has('bad'), false);
    assert.equal(pairs.get('good'), 'yes');
  });
  it('an ordinary comment has no pairs', () => {
    assert.equal(parseSqlCommenter(' just a note, nothing else ').size, 0);
  });
});

describe('isValidTracestate', () => {
  const valid = ['congo=t61rcWkgMzE', 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE', 'tenant@vendor=x', 'a=1, ,b=2', ''];
  const invalid = ['Upper=x', 'a=1,a=2', 'noequals', 'a=has,comma=x=y', `a=${'x'.repeat(257)}`, Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',')];
  for (const value of valid) it(`accepts ${JSON.stringify(value)}`, () => assert.equal(isValidTracestate(value), true));
  for (const value of invalid) it(`rejects ${JSON.stringify(value.slice(0, 40))}`, () => assert.equal(isValidTracestate(value), false));
});
