/**
 * The continuity proof that tells a rotation from a second holder of an identity (docs/fleet-link.md).
 *
 * Every `welcome` carries a fresh nonce. When an executor rotates, the hello of its new link says
 * which link it continues (by that nonce) and signs, with the key of the certificate that link was
 * opened with, the nonce and the SHA-256 of the new certificate's public key. The access point
 * checks the signature with the public key of the link it already has: only the holder of the
 * previous key, who was on that very link, can produce it. A new link for a connected identity
 * without such a proof is a duplicate identity, not a rotation.
 */
import { createHash, createPrivateKey, randomBytes, sign, verify, type KeyObject, type X509Certificate } from 'node:crypto';
import { certificateSpki } from '../x509/cert-profile.js';

/** Domain separation: this signature can never be mistaken for any other use of the key. */
const CONTEXT = Buffer.from('ah-fleet/1 continuity proof\0', 'latin1');

export interface ContinuityProof {
  /** The nonce of the welcome on the link being continued. */
  readonly nonce: string;
  /** base64 signature by the previous certificate's key. */
  readonly signature: string;
}

const NONCE_BYTES = 18;
/** Random bytes drawn 256 nonces at a time: one call into OpenSSL per nonce was a cost per enrollment. */
let pool = Buffer.alloc(0);
let offset = 0;

export function newNonce(): string {
  if (offset + NONCE_BYTES > pool.length) {
    pool = randomBytes(NONCE_BYTES * 256);
    offset = 0;
  }
  const nonce = pool.toString('base64url', offset, offset + NONCE_BYTES);
  offset += NONCE_BYTES;
  return nonce;
}

/**
 * A public key as its SubjectPublicKeyInfo, DER, the bytes a certificate carries (read from the DER,
 * x509/cert-profile.ts says why). The access point keeps a link's key in this form rather than as a
 * KeyObject or the X509Certificate it came from: those wrap OpenSSL objects that V8 frees in weak
 * callbacks inside the GC pause; held for a link's life they are freed by a full GC, and ten
 * thousand at once (a rotation storm's old links) made a pause of several hundred milliseconds
 * (docs/performance.md §OpenSSL objects that V8 frees).
 */
export type Spki = Buffer;

export function spkiOf(certificate: X509Certificate): Spki {
  try {
    return certificateSpki(certificate.raw);
  } catch {
    // A certificate OpenSSL reads and our DER reader does not: node:crypto's export, slower, same bytes.
    return certificate.publicKey.export({ type: 'spki', format: 'der' });
  }
}

function payload(nonce: string, nextSpki: Spki): Buffer {
  return Buffer.concat([CONTEXT, Buffer.from(nonce, 'utf8'), Buffer.from([0]), createHash('sha256').update(nextSpki).digest()]);
}

/** Ed25519 and Ed448 sign the message itself; every other key type signs its SHA-256. */
const digestFor = (key: KeyObject): string | null => (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256');

/** The same for a key as SPKI DER: its algorithm is id-Ed25519 (1.3.101.112) or id-Ed448 (.113), RFC 8410. */
const ED_ALGORITHM = Buffer.from([0x30, 0x05, 0x06, 0x03, 0x2b, 0x65]);
const digestForSpki = (spki: Spki): string | null => (spki.subarray(2, 8).equals(ED_ALGORITHM) && (spki[8] === 0x70 || spki[8] === 0x71) ? null : 'sha256');

export function signContinuity(previousKeyPem: string, newCertificate: X509Certificate, nonce: string): ContinuityProof {
  const key = createPrivateKey(previousKeyPem);
  return { nonce, signature: sign(digestFor(key), payload(nonce, spkiOf(newCertificate)), key).toString('base64') };
}

/** True when `proof` was made by the key `previous` for the key `next` over `nonce`. Never throws. */
export function verifyContinuity(previous: Spki, next: Spki, proof: ContinuityProof): boolean {
  try {
    return verify(digestForSpki(previous), payload(proof.nonce, next), { key: previous, format: 'der', type: 'spki' }, Buffer.from(proof.signature, 'base64'));
  } catch {
    return false;
  }
}
