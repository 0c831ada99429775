/**
 * DAS timestamp text. Simulated time is kept as integer epoch microseconds so
 * no float ever rounds a timestamp; SQL Server's seventh digit (100 ns ticks)
 * is supplied by the caller.
 */

/** `2019-10-30 00:39:49.940668+00` (PostgreSQL, MySQL). */
export function formatMicros(micros: number): string {
  return `${datePart(micros)}.${String(micros % 1_000_000).padStart(6, '0')}+00`;
}

/** `2022-10-06 21:24:59.9422268+00` (SQL Server): `tick` is the 100 ns digit, 0–9. */
export function formatTicks(micros: number, tick: number): string {
  return `${datePart(micros)}.${String(micros % 1_000_000).padStart(6, '0')}${tick}+00`;
}

function datePart(micros: number): string {
  if (!Number.isSafeInteger(micros) || micros < 0) throw new RangeError(`not a timestamp in epoch microseconds: ${micros}`);
  const iso = new Date(Math.floor(micros / 1000)).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}
