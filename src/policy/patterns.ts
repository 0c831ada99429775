/**
 * The values a policy's match keys take: an exact value, a glob (`*` any
 * characters, `?` one) or a `/regex/flags`. A key's values become one
 * predicate: a Set for the exact ones, one RegExp for the globs, then the
 * regexes each with its own flags.
 */

/**
 * One predicate for a key's values: a Set for exact ones, one RegExp for the
 * globs and regexes together.
 */
export function textMatcher(values: readonly string[], caseless: boolean): (value: string) => boolean {
  const exact = new Set<string>();
  const globs: string[] = [];
  const regexes: RegExp[] = [];
  for (const value of values) {
    const regex = parseRegex(value);
    if (regex) regexes.push(regex);
    else if (/[*?]/.test(value)) globs.push(globSource(value));
    else exact.add(caseless ? value.toUpperCase() : value);
  }
  if (globs.length > 0) regexes.unshift(new RegExp(`^(?:${globs.join('|')})$`, caseless ? 'is' : 's'));
  const has = caseless ? (v: string) => exact.has(v.toUpperCase()) : (v: string) => exact.has(v);
  if (regexes.length === 0) return has;
  return (v) => {
    if (has(v)) return true;
    for (let i = 0; i < regexes.length; i++) if (regexes[i]!.test(v)) return true;
    return false;
  };
}

/** A `/regex/flags` value as a RegExp (flags i, m, s, u), else null; throws SyntaxError on a bad one. */
export function parseRegex(value: string): RegExp | null {
  const regex = /^\/(.+)\/([a-z]*)$/s.exec(value);
  if (!regex) return null;
  if (/[^imsu]/.test(regex[2]!)) throw new SyntaxError(`unsupported regex flags "${regex[2]}" (use i, m, s or u)`);
  return new RegExp(regex[1]!, regex[2]);
}

function globSource(glob: string): string {
  let out = '';
  for (const ch of glob) out += ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
  return out;
}

