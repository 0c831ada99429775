/**
 * Lines written to a stream the way the line sinks (JSON lines, OTLP-shaped
 * stdout, the demo's terminal lines) write a batch: in chunks of about CHUNK_CHARS, and once the stream
 * asks to wait, after it drains. One string of a whole batch (a part of 12
 * records is a few hundred KB of lines) lands in V8's large-object space,
 * which made joining and encoding it about a sixth of `das-exporter
 * replay`'s main thread.
 */

/**
 * Characters of lines gathered before a chunk is cut: a chunk is this and
 * one more line, so below V8's 128 KiB threshold for large objects unless
 * that line is long (a long statement), which is then the size it is.
 */
export const CHUNK_CHARS = 32 * 1024;

/**
 * `lineOf` of each value, each followed by a newline, gathered into chunks
 * of about CHUNK_CHARS. Every line is made before any is written, so a line
 * that cannot be made (a throw) writes none, and the pipeline's retry of the
 * batch does not repeat lines.
 */
export function chunkLines<T>(values: Iterable<T>, lineOf: (value: T) => string): string[] {
  const chunks: string[] = [];
  let chunk = '';
  for (const value of values) {
    chunk += lineOf(value) + '\n';
    if (chunk.length < CHUNK_CHARS) continue;
    chunks.push(chunk);
    chunk = '';
  }
  if (chunk !== '') chunks.push(chunk);
  return chunks;
}

/** Writes the chunks; false when the stream asks to wait for 'drain'. */
export function writeChunks(out: Pick<NodeJS.WritableStream, 'write'>, chunks: readonly string[]): boolean {
  let ok = true;
  for (const chunk of chunks) ok = out.write(chunk) && ok;
  return ok;
}

/** `chunkLines`, written (all or nothing); resolves when the stream can take more. */
export async function writeLines<T>(out: Pick<NodeJS.WritableStream, 'write' | 'once'>, values: Iterable<T>, lineOf: (value: T) => string): Promise<void> {
  if (!writeChunks(out, chunkLines(values, lineOf))) await new Promise<void>((resolve) => out.once('drain', resolve));
}
