/**
 * The `key=value` lists of flags and environment variables (`--resource-id`,
 * `--service-name`), parsed before validation.
 */

/** `[stream=]id` values; an id without a stream applies to every stream (key `*`). */
export function parseResourceIds(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.lastIndexOf('=');
    if (eq === -1) out['*'] = value.trim();
    else out[value.slice(0, eq).trim()] = value.slice(eq + 1).trim();
  }
  return out;
}

/** `key=value` pairs (e.g. `--service-name cluster-ABC=orders`); a pair without `=` is kept under the empty key, which validation refuses. */
export function parsePairs(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const value of values) {
    const eq = value.indexOf('=');
    if (eq === -1) out[''] = value;
    else out[value.slice(0, eq).trim()] = value.slice(eq + 1).trim();
  }
  return out;
}

