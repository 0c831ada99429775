/**
 * The values a policy's match keys take: an exact value, a glob (`*` any
 * characters, `?` one) or a `/regex/flags`. A key's values become one
 * predicate: a Set for the exact ones, one RegExp for the globs, then the
 * regexes each with its own flags.
 */

/**
 * One predicate for a key's values. `caseless`: the predicate is given the
 * value upper-cased (EventFacts does that once per event, not per rule), and
 * the key's regexes ignore case.
 */
export function textMatcher(values: readonly string[], caseless: boolean): (value: string) => boolean {
  const exact = new Set<string>();
  const globs: string[] = [];
  const wildcards: string[][] = [];
  const regexes: RegExp[] = [];
  for (const value of values) {
    const regex = parseRegex(value);
    if (regex) regexes.push(caseless && !regex.flags.includes('i') ? new RegExp(regex.source, `${regex.flags}i`) : regex);
    // `*` alone needs no regex: literal pieces in order (startsWith, indexOf, endsWith).
    else if (value.includes('*') && !value.includes('?')) wildcards.push((caseless ? value.toUpperCase() : value).split('*'));
    else if (value.includes('?')) globs.push(globSource(value));
    else exact.add(caseless ? value.toUpperCase() : value);
  }
  if (globs.length > 0) regexes.unshift(new RegExp(`^(?:${globs.join('|')})$`, caseless ? 'is' : 's'));
  if (regexes.length === 0 && wildcards.length === 0) return (v) => exact.has(v);
  return (v) => {
    if (exact.has(v)) return true;
    for (let i = 0; i < wildcards.length; i++) if (wildcardMatches(wildcards[i]!, v)) return true;
    for (let i = 0; i < regexes.length; i++) if (regexes[i]!.test(v)) return true;
    return false;
  };
}

/** Whether `value` is the pieces of a `*` glob joined by anything: the first a prefix, the last a suffix, the others in order between. */
function wildcardMatches(pieces: readonly string[], value: string): boolean {
  const last = pieces.length - 1;
  const head = pieces[0]!;
  const tail = pieces[last]!;
  if (value.length < head.length + tail.length || !value.startsWith(head) || !value.endsWith(tail)) return false;
  let at = head.length;
  const end = value.length - tail.length;
  for (let i = 1; i < last; i++) {
    const found = value.indexOf(pieces[i]!, at);
    if (found < 0 || found + pieces[i]!.length > end) return false;
    at = found + pieces[i]!.length;
  }
  return true;
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

