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

/** The new certificate's SubjectPublicKeyInfo is read from its DER (x509/cert-profile.ts says why). */
function payload(nonce: string, newCertificate: X509Certificate): Buffer {
  const spki = certificateSpki(newCertificate.raw);
  return Buffer.concat([CONTEXT, Buffer.from(nonce, 'utf8'), Buffer.from([0]), createHash('sha256').update(spki).digest()]);
}

/** Ed25519 and Ed448 sign the message itself; every other key type signs its SHA-256. */
const digestFor = (key: KeyObject): string | null => (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256');

export function signContinuity(previousKeyPem: string, newCertificate: X509Certificate, nonce: string): ContinuityProof {
  const key = createPrivateKey(previousKeyPem);
  return { nonce, signature: sign(digestFor(key), payload(nonce, newCertificate), key).toString('base64') };
}

/** True when `proof` was made by the key of `previous` for `next` over `nonce`. Never throws. */
export function verifyContinuity(previous: X509Certificate, next: X509Certificate, proof: ContinuityProof): boolean {
  return verifyContinuityByKey(previous.publicKey, next, proof);
}

/** The same, with the previous certificate's public key alone (what the fleet-wide roster keeps of a link at another access point). */
export function verifyContinuityByKey(key: KeyObject, next: X509Certificate, proof: ContinuityProof): boolean {
  try {
    return verify(digestFor(key), payload(proof.nonce, next), key, Buffer.from(proof.signature, 'base64'));
  } catch {
    return false;
  }
}
