/**
 * Aurora MySQL's DAS escaping, undone for display and summaries.
 *
 * Aurora MySQL sends `commandText` as its audit log quotes it: every quote of
 * the SQL preceded by a backslash (a literal 'x' arrives as \'x\'). The audit
 * plugin this comes from (MariaDB server_audit, as ported to MySQL) escapes
 * backslash, newline, carriage return, tab, backspace and form feed the same
 * way, so those are undone too; the AWS documentation only shows quotes, so a
 * backslash before any other character is left as it is. The original text is
 * kept by the caller under the DAS field; this is only for reading.
 */

const UNESCAPED: Record<string, string> = {
  "'": "'",
  '"': '"',
  '\\': '\\',
  n: '\n',
  r: '\r',
  t: '\t',
  b: '\b',
  f: '\f',
};

/** The SQL as the client wrote it, from Aurora MySQL's DAS `commandText`. Total: any input, no throw. */
export function unescapeDasMysqlText(text: string): string {
  if (!text.includes('\\')) return text;
  let out = '';
  let from = 0;
  let i = text.indexOf('\\');
  while (i !== -1 && i + 1 < text.length) {
    const replacement = UNESCAPED[text[i + 1]!];
    if (replacement === undefined) {
      i = text.indexOf('\\', i + 1);
      continue;
    }
    out += text.slice(from, i) + replacement;
    from = i + 2;
    i = text.indexOf('\\', from);
  }
  return out + text.slice(from);
}
