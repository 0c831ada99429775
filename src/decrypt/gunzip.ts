/**
 * Decompresses a decrypted DAS payload (gzip) without trusting its size:
 * output stops at a cap, so a gzip bomb becomes a `too_large` record instead
 * of an out-of-memory crash.
 *
 * It runs on the calling thread. zlib's thread-pool variant was measured to
 * cost the calling thread more than inflating there does: its completion path
 * (`processChunk`) took 12.9 % of `das-exporter replay`'s main thread, about
 * 235 µs a record, against about 67 µs for the whole inflation of the same
 * 2 KB → 27 KB record; replay ran 9 % faster without it.
 */
import { gunzipSync } from 'node:zlib';
import { DasError } from '../errors.ts';

/** A DAS record is at most about 1 MB compressed; 64 MiB leaves room for very compressible SQL. */
export const DEFAULT_MAX_GUNZIP_BYTES = 64 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 1024 * 1024;

export function gunzipCappedSync(bytes: Uint8Array, maxBytes: number = DEFAULT_MAX_GUNZIP_BYTES): Buffer {
  const options = checked(bytes, maxBytes);
  try {
    return gunzipSync(bytes, options);
  } catch (error) {
    throw toDasError(error as Error & { code?: string }, maxBytes);
  }
}

function checked(bytes: Uint8Array, maxBytes: number): { maxOutputLength: number; chunkSize: number } {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) {
    throw new RangeError(`maxBytes must be a positive integer (actual: ${maxBytes})`);
  }
  if (bytes[0] !== GZIP_MAGIC[0] || bytes[1] !== GZIP_MAGIC[1]) {
    throw new DasError('not_gzip', 'payload does not start with the gzip magic bytes 1f 8b');
  }
  // Output in one chunk for most records (JSON inflates about tenfold), not zlib's default 16 KiB ones.
  return { maxOutputLength: maxBytes, chunkSize: Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, bytes.length * 8)) };
}

function toDasError(error: Error & { code?: string }, maxBytes: number): DasError {
  if (error.code === 'ERR_BUFFER_TOO_LARGE') {
    return new DasError('too_large', `payload decompresses to more than ${maxBytes} bytes`, { cause: error });
  }
  // Z_DATA_ERROR (bad deflate data, checksum) or Z_BUF_ERROR (stream ends early).
  return new DasError('not_gzip', `gzip stream is corrupt or truncated: ${error.message}`, { cause: error });
}
