/**
 * Whether two key lists are the same names in the same order: how the
 * per-shape caches (unknown event fields, attribute names of native and extra
 * fields) tell that an object has the shape of the one before. Object.keys of
 * objects JSON.parse made from one engine's events are such lists.
 */
export function sameKeys(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
