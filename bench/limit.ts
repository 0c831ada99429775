/**
 * "The limit": what node:crypto, zlib and JSON.parse alone cost on the same
 * bytes, with nothing else: per message the data-key unwrap, HKDF, header
 * tag, AES-GCM of each frame, the ECDSA P-384 verification where signed,
 * then gunzip and JSON.parse. No checks beyond what the primitives need, no
 * error mapping, no events, no sinks: a floor to compare against, not a
 * decryptor (it trusts the message layout).
 */
import { createDecipheriv, createPublicKey, hkdfSync, verify } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gunzipSync } from 'node:zlib';
import { parseMessageHeader } from '../src/decrypt/message-header.ts';

const gunzipAsync = promisify(gunzip);
const SPKI_P384 = Buffer.from('3046301006072a8648ce3d020106052b81040022033200', 'hex');

function gcm(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, tag: Uint8Array, data?: Uint8Array): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv);
  d.setAAD(aad);
  d.setAuthTag(tag);
  const out = data === undefined ? Buffer.alloc(0) : d.update(data);
  d.final();
  return out;
}

/** Decrypts and authenticates a framed DAS message; `signature` says how the ECDSA check runs. */
export async function limitOpen(message: Buffer, wrappingKey: Uint8Array, mode: 'sync' | 'threadpool'): Promise<unknown> {
  const h = parseMessageHeader(message);
  const edk = h.encryptedDataKeys[0]!;
  const aad = message.subarray(22, 22 + message.readUInt16BE(20));
  const dataKey = gcm(wrappingKey, edk.providerInfoBytes.subarray(15), aad, edk.ciphertext.subarray(32), edk.ciphertext.subarray(0, 32));
  const info = Buffer.concat([message.subarray(2, 4), h.messageId]);
  const signed = h.suiteId === 0x0378;
  const key = Buffer.from(hkdfSync(signed ? 'sha384' : 'sha256', dataKey, Buffer.alloc(0), info, 32));
  gcm(key, h.headerIv, message.subarray(0, h.authenticatedLength), h.headerAuthTag);
  const parts: Buffer[] = [];
  let at = h.headerLength;
  const frameAad = Buffer.alloc(16 + 34 + 12);
  frameAad.set(h.messageId);
  for (;;) {
    const final = message.readUInt32BE(at) === 0xffffffff;
    const seq = final ? message.readUInt32BE(at + 4) : message.readUInt32BE(at);
    const ivAt = final ? at + 8 : at + 4;
    const length = final ? message.readUInt32BE(ivAt + 12) : h.frameLength;
    const contentAt = final ? ivAt + 16 : ivAt + 12;
    const end = frameAad.write(final ? 'AWSKMSEncryptionClient Final Frame' : 'AWSKMSEncryptionClient Frame', 16, 'latin1') + 16;
    frameAad.writeUInt32BE(seq, end);
    frameAad.writeUInt32BE(0, end + 4);
    frameAad.writeUInt32BE(length, end + 8);
    parts.push(gcm(key, message.subarray(ivAt, ivAt + 12), frameAad.subarray(0, end + 12), message.subarray(contentAt + length, contentAt + length + 16), message.subarray(contentAt, contentAt + length)));
    at = contentAt + length + 16;
    if (final) break;
  }
  const gz = Buffer.concat(parts);
  if (signed) {
    const publicKey = createPublicKey({ key: Buffer.concat([SPKI_P384, Buffer.from(h.encryptionContext['aws-crypto-public-key']!, 'base64')]), format: 'der', type: 'spki' });
    const signature = message.subarray(at + 2);
    const ok =
      mode === 'sync'
        ? verify('sha384', message.subarray(0, at), publicKey, signature)
        : await new Promise<boolean>((resolve, reject) => verify('sha384', message.subarray(0, at), publicKey, signature, (e, v) => (e ? reject(e) : resolve(v))));
    if (!ok) throw new Error('bad signature');
  }
  return JSON.parse((mode === 'sync' ? gunzipSync(gz) : await gunzipAsync(gz)).toString('utf8'));
}
