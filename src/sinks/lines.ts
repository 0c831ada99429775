/**
 * Lines written to a stream the way the line sinks (JSON lines, OTLP-shaped
 * stdout) write a batch: in chunks of about CHUNK_CHARS, and once the stream
 * asks to wait, after it drains. One string of a whole batch (a part of 12
 * records is a few hundred KB of lines) lands in V8's large-object space,
 * which made joining and encoding it about a sixth of `das-exporter
 * replay`'s main thread.
 */
import type { Writable } from 'node:stream';

/** Characters of lines written at once: well below V8's 128 KiB threshold for large objects, even as UTF-16. */
export const CHUNK_CHARS = 32 * 1024;

/** Writes `lineOf` of each value, each followed by a newline; resolves when the stream can take more. */
export async function writeLines<T>(out: Writable, values: Iterable<T>, lineOf: (value: T) => string): Promise<void> {
  let chunk = '';
  let ok = true;
  for (const value of values) {
    chunk += lineOf(value) + '\n';
    if (chunk.length < CHUNK_CHARS) continue;
    ok = out.write(chunk) && ok;
    chunk = '';
  }
  if (chunk !== '') ok = out.write(chunk) && ok;
  if (!ok) await new Promise<void>((resolve) => out.once('drain', resolve));
}
