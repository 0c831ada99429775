/**
 * Turns the signer's public key of a signed Encryption SDK message (the
 * base64 compressed P-384 point in the encryption context under
 * `aws-crypto-public-key`) into a node:crypto KeyObject, the way the
 * library reads it: lenient base64 (Buffer), exactly 49 bytes, prefix 02 or
 * 03. OpenSSL decompresses the point from a SubjectPublicKeyInfo built here
 * and refuses an x that is not on the curve.
 */
import { createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { DasError } from '../../errors.ts';

export const ENCODED_SIGNER_KEY = 'aws-crypto-public-key';

const COMPRESSED_POINT_BYTES = 49;

// SEQUENCE { SEQUENCE { id-ecPublicKey 1.2.840.10045.2.1, secp384r1 1.3.132.0.34 }, BIT STRING (0 unused) point }
const SPKI_PREFIX = Buffer.from('3046301006072a8648ce3d020106052b81040022033200', 'hex');

/** Throws unless `encoded` decodes to 49 bytes starting 02 or 03: what the library checks before any key is unwrapped. */
export function checkCompressedPoint(encoded: string): Buffer {
  const point = Buffer.from(encoded, 'base64');
  if (point.length !== COMPRESSED_POINT_BYTES) {
    throw new DasError('unsupported_message', `signer public key is ${point.length} bytes, not a ${COMPRESSED_POINT_BYTES}-byte compressed P-384 point`);
  }
  if (point[0] !== 0x02 && point[0] !== 0x03) {
    throw new DasError('unsupported_message', 'signer public key is not a compressed point (prefix 02 or 03)');
  }
  return point;
}

/** The verification key; a point that is not on P-384 is `unsupported_message`. */
export function p384PublicKey(encoded: string): KeyObject {
  const point = checkCompressedPoint(encoded);
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, point]), format: 'der', type: 'spki' });
  } catch (error) {
    throw new DasError('unsupported_message', 'signer public key is not a point on P-384', { cause: error });
  }
}
