/**
 * Lines written to a stream the way the line sinks (JSON lines, OTLP-shaped
 * stdout) write a batch: in chunks of about CHUNK_CHARS, and once the stream
 * asks to wait, after it drains. One string of a whole batch (a part of 12
 * records is a few hundred KB of lines) lands in V8's large-object space,
 * which made joining and encoding it about a sixth of `das-exporter
 * replay`'s main thread.
 */
import type { Writable } from 'node:stream';

/**
 * Characters of lines gathered before a chunk is cut: a chunk is this and
 * one more line, so below V8's 128 KiB threshold for large objects unless
 * that line is long (a long statement), which is then the size it is.
 */
export const CHUNK_CHARS = 32 * 1024;

/**
 * Writes `lineOf` of each value, each followed by a newline; resolves when
 * the stream can take more. All or nothing: every line is made before the
 * first is written, so a line that cannot be made (a throw) writes none, and
 * the pipeline's retry of the batch does not repeat lines.
 */
export async function writeLines<T>(out: Writable, values: Iterable<T>, lineOf: (value: T) => string): Promise<void> {
  const chunks: string[] = [];
  let chunk = '';
  for (const value of values) {
    chunk += lineOf(value) + '\n';
    if (chunk.length < CHUNK_CHARS) continue;
    chunks.push(chunk);
    chunk = '';
  }
  if (chunk !== '') chunks.push(chunk);
  let ok = true;
  for (const c of chunks) ok = out.write(c) && ok;
  if (!ok) await new Promise<void>((resolve) => out.once('drain', resolve));
}
