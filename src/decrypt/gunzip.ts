/**
 * Decompresses a decrypted DAS payload (gzip) without trusting its size. The
 * work runs on the libuv thread pool, and output stops at a cap so a gzip
 * bomb becomes a `too_large` record instead of an out-of-memory crash.
 */
import { gunzip, gunzipSync } from 'node:zlib';
import { DasError } from '../errors.ts';

/** A DAS record is at most about 1 MB compressed; 64 MiB leaves room for very compressible SQL. */
export const DEFAULT_MAX_GUNZIP_BYTES = 64 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b] as const;
const MIN_CHUNK = 64 * 1024;
const MAX_CHUNK = 1024 * 1024;

export async function gunzipCapped(bytes: Uint8Array, maxBytes: number = DEFAULT_MAX_GUNZIP_BYTES): Promise<Buffer> {
  const options = checked(bytes, maxBytes);
  return new Promise((resolve, reject) => {
    gunzip(bytes, options, (error, result) => {
      if (error === null) resolve(result);
      else reject(toDasError(error, maxBytes));
    });
  });
}

/** The same, on the calling thread: for worker threads, where a thread-pool round trip only adds latency. */
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
  // zlib's default 16 KiB chunks cost one thread-pool round trip each, which
  // dominated the decode path in the benchmark; JSON inflates about tenfold.
  return { maxOutputLength: maxBytes, chunkSize: Math.min(MAX_CHUNK, Math.max(MIN_CHUNK, bytes.length * 8)) };
}

function toDasError(error: Error & { code?: string }, maxBytes: number): DasError {
  if (error.code === 'ERR_BUFFER_TOO_LARGE') {
    return new DasError('too_large', `payload decompresses to more than ${maxBytes} bytes`, { cause: error });
  }
  // Z_DATA_ERROR (bad deflate data, checksum) or Z_BUF_ERROR (stream ends early).
  return new DasError('not_gzip', `gzip stream is corrupt or truncated: ${error.message}`, { cause: error });
}
