/**
 * One small SQL tokenizer shared by redaction, query summaries and trace
 * context extraction.
 *
 * It is total and linear: every input (including garbage) yields tokens in
 * one left-to-right pass, nothing throws, no regular expression runs on the
 * text, and an unterminated string or comment simply runs to the end of the
 * input (so redaction over-masks rather than leaks). Tokens carry UTF-16
 * offsets into the original text so callers can rewrite it in place; the
 * gaps between tokens are whitespace (or, in the MySQL and generic dialects,
 * the DAS escapes `\n`, `\r`, `\t` outside strings).
 *
 * Aurora MySQL DAS sends commandText with its quotes backslash-escaped
 * (`\'x\'`). In the `mysql` and `generic` dialects a backslash-quote outside
 * any string opens such an escaped string, closed by the next backslash-quote,
 * so the escaped and the unescaped text lex to the same token kinds. Valid SQL
 * never has a backslash outside a string, so this costs nothing for it.
 */
import type { Engine } from '../events/model.ts';

export type SqlDialect = 'postgresql' | 'mysql' | 'sqlserver' | 'oracle' | 'generic';

export type TokenKind =
  /** `-- …`, `# …` (MySQL), `/* … *\/` (nested in PostgreSQL); MySQL `/*!NNNNN` and its `*\/` are comments around code. */
  | 'comment'
  /** Every literal string form: '…', N'…', E'…', X'…', B'…', U&'…', $tag$…$tag$, q'[…]', MySQL "…", DAS \'…\'. */
  | 'string'
  | 'number'
  /** Unquoted identifier or keyword. */
  | 'word'
  /** "…", `…`, […] (SQL Server). */
  | 'quoted_identifier'
  /** $1, ? (not PostgreSQL), :name / :1 (Oracle, generic), @p1 (SQL Server, generic). */
  | 'placeholder'
  /** @var and @@var (MySQL), @@var (SQL Server). */
  | 'variable'
  | 'operator';

export interface Token {
  kind: TokenKind;
  /** Offset of the first UTF-16 unit. */
  start: number;
  /** Offset one past the last UTF-16 unit. */
  end: number;
}

/** The lexer dialect for an engine; anything unrecognised lexes as `generic`. */
export function dialectOf(engine: Engine | SqlDialect | string | null | undefined): SqlDialect {
  switch (engine) {
    case 'postgresql':
    case 'mysql':
    case 'sqlserver':
    case 'oracle':
      return engine;
    default:
      return 'generic';
  }
}

export function tokenText(text: string, token: Token): string {
  return text.slice(token.start, token.end);
}

/**
 * The name an identifier token stands for: quotes removed and doubled quotes
 * undone for quoted identifiers, the text itself for words.
 */
export function identifierName(text: string, token: Token): string {
  const raw = text.slice(token.start, token.end);
  if (token.kind !== 'quoted_identifier' || raw.length < 2) return raw;
  const open = raw[0]!;
  const close = open === '[' ? ']' : open;
  const inner = raw.endsWith(close) ? raw.slice(1, -1) : raw.slice(1);
  return inner.split(close + close).join(close);
}

const TAB = 9;
const LF = 10;
const VT = 11;
const FF = 12;
const CR = 13;
const SPACE = 32;
const BANG = 33;
const DQUOTE = 34;
const HASH = 35;
const DOLLAR = 36;
const AMP = 38;
const SQUOTE = 39;
const STAR = 42;
const PLUS = 43;
const MINUS = 45;
const DOT = 46;
const SLASH = 47;
const COLON = 58;
const QUESTION = 63;
const AT = 64;
const LBRACKET = 91;
const BACKSLASH = 92;
const RBRACKET = 93;
const UNDERSCORE = 95;
const BACKTICK = 96;

function isSpace(c: number): boolean {
  return (
    c === SPACE || c === TAB || c === LF || c === CR || c === VT || c === FF ||
    c === 0xa0 || c === 0xfeff || c === 0x2028 || c === 0x2029 || c === 0x3000 || (c >= 0x2000 && c <= 0x200a)
  );
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHexDigit(c: number): boolean {
  return isDigit(c) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Non-ASCII characters other than whitespace count as letters: identifiers may be Unicode. */
function isWordStart(c: number): boolean {
  return isLetter(c) || c === UNDERSCORE || (c > 127 && !isSpace(c));
}

const TWO_CHAR_OPERATORS = new Set(['::', ':=', '<=', '>=', '<>', '!=', '||', '&&', '->', '=>', '<<', '>>', '#>', '@>', '<@', '~*', '!~', '**', '^=', '|/', '?|', '?&', '@@']);
const THREE_CHAR_OPERATORS = new Set(['<=>', '->>', '#>>', '!~*', '||/']);

/** Splits `text` into tokens; never throws, runs in time linear in `text.length`. */
export function tokenize(text: string, dialect: SqlDialect = 'generic'): Token[] {
  const tokens: Token[] = [];
  const n = text.length;
  const mysql = dialect === 'mysql';
  const pg = dialect === 'postgresql';
  const mssql = dialect === 'sqlserver';
  const oracle = dialect === 'oracle';
  const generic = dialect === 'generic';
  /** Whether a backslash escapes the next character inside a plain '…' string. */
  const backslashInStrings = mysql || generic;
  const dasAware = mysql || generic;
  let inExecutableComment = false;
  let lastKind: TokenKind | null = null;
  let lastText = '';
  let i = 0;

  const push = (kind: TokenKind, start: number, end: number): void => {
    const stop = Math.max(start + 1, Math.min(end, n));
    tokens.push({ kind, start, end: stop });
    lastKind = kind;
    lastText = kind === 'operator' ? text.slice(start, stop) : '';
    i = stop;
  };

  while (i < n) {
    const c = text.charCodeAt(i);
    if (isSpace(c)) {
      i++;
      continue;
    }
    const c1 = i + 1 < n ? text.charCodeAt(i + 1) : -1;
    const c2 = i + 2 < n ? text.charCodeAt(i + 2) : -1;

    // Comments.
    if (c === MINUS && c1 === MINUS && (!mysql || c2 === -1 || c2 <= SPACE)) {
      push('comment', i, lineEnd(text, i));
      continue;
    }
    if (c === HASH && mysql) {
      push('comment', i, lineEnd(text, i));
      continue;
    }
    if (c === SLASH && c1 === STAR) {
      if (mysql && c2 === BANG && !inExecutableComment) {
        // `/*!50100 code */` is code run by MySQL: only the markers are comment.
        let j = i + 3;
        while (j < n && isDigit(text.charCodeAt(j))) j++;
        inExecutableComment = true;
        push('comment', i, j);
        continue;
      }
      push('comment', i, blockCommentEnd(text, i, pg));
      continue;
    }
    if (inExecutableComment && c === STAR && c1 === SLASH) {
      inExecutableComment = false;
      push('comment', i, i + 2);
      continue;
    }

    // DAS-escaped MySQL text outside strings.
    if (c === BACKSLASH && dasAware) {
      if (c1 === SQUOTE || c1 === DQUOTE) {
        push('string', i, dasEscapedStringEnd(text, i + 2, c1));
        continue;
      }
      if (c1 === 110 /* n */ || c1 === 114 /* r */ || c1 === 116 /* t */) {
        i += 2; // an escaped newline or tab: whitespace
        continue;
      }
    }

    // Strings.
    if (c === SQUOTE) {
      push('string', i, quotedEnd(text, i + 1, SQUOTE, backslashInStrings));
      continue;
    }
    if (c === DQUOTE) {
      if (mysql) push('string', i, quotedEnd(text, i + 1, DQUOTE, true));
      else push('quoted_identifier', i, quotedEnd(text, i + 1, DQUOTE, false));
      continue;
    }
    if (isLetter(c)) {
      const prefixed = prefixedStringEnd(text, i, dialect);
      if (prefixed > 0) {
        push('string', i, prefixed);
        continue;
      }
    }
    if (c === DOLLAR && (pg || generic)) {
      if (isDigit(c1)) {
        let j = i + 1;
        while (j < n && isDigit(text.charCodeAt(j))) j++;
        push('placeholder', i, j);
        continue;
      }
      const dollarEnd = dollarQuotedEnd(text, i);
      if (dollarEnd > 0) {
        push('string', i, dollarEnd);
        continue;
      }
    }

    // Quoted identifiers.
    if (c === BACKTICK) {
      push('quoted_identifier', i, quotedEnd(text, i + 1, BACKTICK, false));
      continue;
    }
    if (c === LBRACKET && mssql) {
      push('quoted_identifier', i, quotedEnd(text, i + 1, RBRACKET, false));
      continue;
    }

    // Placeholders and variables.
    if (c === QUESTION && !pg) {
      push('placeholder', i, i + 1);
      continue;
    }
    if (c === COLON && (oracle || generic) && (isWordStart(c1) || isDigit(c1)) && lastText !== ':') {
      push('placeholder', i, wordEnd(text, i + 1, dialect));
      continue;
    }
    if (c === AT && !pg && !oracle) {
      if (c1 === AT && isWordStart(c2)) {
        push('variable', i, wordEnd(text, i + 2, dialect));
        continue;
      }
      if (isWordStart(c1)) {
        push(mysql ? 'variable' : 'placeholder', i, wordEnd(text, i + 1, dialect));
        continue;
      }
    }

    // Numbers.
    const afterOperand = lastKind === 'word' || lastKind === 'quoted_identifier' || (lastKind === 'operator' && (lastText === ')' || lastText === ']'));
    if (isDigit(c) || (c === DOT && isDigit(c1) && !afterOperand)) {
      const end = numberEnd(text, i);
      // MySQL identifiers may start with digits (`1st_table`).
      if (mysql && end < n && (isWordStart(text.charCodeAt(end)) || text.charCodeAt(end) === DOLLAR) && !text.slice(i, end).includes('.')) {
        push('word', i, wordEnd(text, end, dialect));
      } else {
        push('number', i, end);
      }
      continue;
    }

    // Words: keywords and unquoted identifiers (`#temp` tables in SQL Server).
    if (isWordStart(c) || (c === HASH && mssql)) {
      push('word', i, wordEnd(text, i + 1, dialect));
      continue;
    }

    // Operators and punctuation.
    const three = text.slice(i, i + 3);
    if (three.length === 3 && THREE_CHAR_OPERATORS.has(three)) {
      push('operator', i, i + 3);
      continue;
    }
    const two = text.slice(i, i + 2);
    if (two.length === 2 && TWO_CHAR_OPERATORS.has(two)) {
      push('operator', i, i + 2);
      continue;
    }
    // Keep surrogate pairs whole.
    const width = c >= 0xd800 && c <= 0xdbff && c1 >= 0xdc00 && c1 <= 0xdfff ? 2 : 1;
    push('operator', i, i + width);
  }
  return tokens;
}

function lineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from);
  return lf === -1 ? text.length : lf;
}

/** End of a block comment opened at `from`; PostgreSQL nests them. Unterminated: end of text. */
function blockCommentEnd(text: string, from: number, nested: boolean): number {
  const n = text.length;
  if (!nested) {
    const close = text.indexOf('*/', from + 2);
    return close === -1 ? n : close + 2;
  }
  let depth = 1;
  let j = from + 2;
  while (j < n) {
    const c = text.charCodeAt(j);
    if (c === SLASH && text.charCodeAt(j + 1) === STAR) {
      depth++;
      j += 2;
    } else if (c === STAR && text.charCodeAt(j + 1) === SLASH) {
      depth--;
      j += 2;
      if (depth === 0) return j;
    } else {
      j++;
    }
  }
  return n;
}

/** End of a string/identifier whose body starts at `from`, closed by `quote` (doubled quote = literal quote). */
function quotedEnd(text: string, from: number, quote: number, backslashEscapes: boolean): number {
  const n = text.length;
  let j = from;
  while (j < n) {
    const c = text.charCodeAt(j);
    if (backslashEscapes && c === BACKSLASH) {
      j += 2;
      continue;
    }
    if (c === quote) {
      if (text.charCodeAt(j + 1) === quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    j++;
  }
  return n;
}

/**
 * End of a DAS-escaped MySQL string whose body starts at `from`. In DAS text
 * `\'` is a quote of the SQL and `\\` a backslash of the SQL, which (MySQL
 * string rules) escapes the SQL character after it.
 */
function dasEscapedStringEnd(text: string, from: number, quote: number): number {
  const n = text.length;
  let j = from;
  while (j < n) {
    if (text.charCodeAt(j) !== BACKSLASH) {
      j++;
      continue;
    }
    const next = text.charCodeAt(j + 1);
    if (next === quote) {
      if (text.charCodeAt(j + 2) === BACKSLASH && text.charCodeAt(j + 3) === quote) {
        j += 4; // a doubled quote inside the string
        continue;
      }
      return j + 2;
    }
    if (next === BACKSLASH) {
      j += 2;
      // The SQL backslash escapes the next SQL character, itself one or two DAS characters.
      j += text.charCodeAt(j) === BACKSLASH ? 2 : 1;
      continue;
    }
    j += 2;
  }
  return n;
}

/** Strings with a letter prefix: N'…', E'…', X'…', B'…', U&'…', q'[…]', nq'[…]'. Returns 0 when `at` starts none. */
function prefixedStringEnd(text: string, at: number, dialect: SqlDialect): number {
  const c = text.charCodeAt(at) | 0x20; // lower case
  const c1 = text.charCodeAt(at + 1);
  const pg = dialect === 'postgresql';
  const oracle = dialect === 'oracle';
  const generic = dialect === 'generic';
  const mysql = dialect === 'mysql';
  if (c1 === SQUOTE) {
    if (c === 110 /* n */ || c === 120 /* x */ || c === 98 /* b */) {
      return quotedEnd(text, at + 2, SQUOTE, mysql || generic);
    }
    if (c === 101 /* e */ && (pg || generic)) return quotedEnd(text, at + 2, SQUOTE, true);
    if (c === 113 /* q */ && (oracle || generic)) return alternativeQuoteEnd(text, at + 2);
  }
  if (c === 117 /* u */ && c1 === AMP && text.charCodeAt(at + 2) === SQUOTE && (pg || generic)) {
    return quotedEnd(text, at + 3, SQUOTE, false);
  }
  if (c === 110 /* n */ && (text.charCodeAt(at + 1) | 0x20) === 113 /* q */ && text.charCodeAt(at + 2) === SQUOTE && (oracle || generic)) {
    return alternativeQuoteEnd(text, at + 3);
  }
  return 0;
}

/** Oracle q'X…X' where `from` points at the delimiter X; brackets close with their partner. */
function alternativeQuoteEnd(text: string, from: number): number {
  const n = text.length;
  if (from >= n) return n;
  const open = text[from]!;
  const close = open === '[' ? ']' : open === '{' ? '}' : open === '(' ? ')' : open === '<' ? '>' : open;
  const end = text.indexOf(close + "'", from + 1);
  return end === -1 ? n : end + 2;
}

/** PostgreSQL $$…$$ or $tag$…$tag$ starting at `at`; 0 when `at` does not open one. */
function dollarQuotedEnd(text: string, at: number): number {
  const n = text.length;
  let j = at + 1;
  if (j < n && text.charCodeAt(j) !== DOLLAR) {
    if (!isWordStart(text.charCodeAt(j))) return 0;
    while (j < n && (isWordStart(text.charCodeAt(j)) || isDigit(text.charCodeAt(j)))) j++;
    if (j >= n || text.charCodeAt(j) !== DOLLAR) return 0;
  }
  if (j >= n) return 0;
  const tag = text.slice(at, j + 1);
  const close = text.indexOf(tag, j + 1);
  return close === -1 ? n : close + tag.length;
}

function wordEnd(text: string, from: number, dialect: SqlDialect): number {
  const n = text.length;
  const hashInside = dialect === 'sqlserver' || dialect === 'oracle';
  let j = from;
  while (j < n) {
    const c = text.charCodeAt(j);
    if (isWordStart(c) || isDigit(c) || c === DOLLAR || (c === HASH && hashInside)) j++;
    else break;
  }
  return j;
}

function numberEnd(text: string, at: number): number {
  const n = text.length;
  const c = text.charCodeAt(at);
  const c1 = text.charCodeAt(at + 1) | 0x20;
  if (c === 48 && c1 === 120 /* x */) {
    let j = at + 2;
    while (j < n && isHexDigit(text.charCodeAt(j))) j++;
    return j;
  }
  if (c === 48 && c1 === 98 /* b */ && (text.charCodeAt(at + 2) === 48 || text.charCodeAt(at + 2) === 49)) {
    let j = at + 2;
    while (j < n && (text.charCodeAt(j) === 48 || text.charCodeAt(j) === 49)) j++;
    return j;
  }
  let j = digitsEnd(text, at, at);
  if (j < n && text.charCodeAt(j) === DOT) j = digitsEnd(text, j + 1, at);
  const e = text.charCodeAt(j) | 0x20;
  if (e === 101 /* e */) {
    const sign = text.charCodeAt(j + 1);
    const k = sign === PLUS || sign === MINUS ? j + 2 : j + 1;
    if (isDigit(text.charCodeAt(k))) j = digitsEnd(text, k, at);
  }
  return j;
}

/** Past the digits from `j` on (an underscore between digits included, once the number has begun at `at`). */
function digitsEnd(text: string, j: number, at: number): number {
  const n = text.length;
  while (j < n && (isDigit(text.charCodeAt(j)) || (text.charCodeAt(j) === UNDERSCORE && isDigit(text.charCodeAt(j + 1)) && j > at))) j++;
  return j;
}
