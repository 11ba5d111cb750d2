/**
 * The lone leaf: a peer that sends only its own certificate, signed by an intermediate that is
 * neither sent along nor in our bundle. OpenSSL says UNABLE_TO_VERIFY_LEAF_SIGNATURE, which reads
 * like an unknown CA; usually it is the guide's "Certificate Chain Incomplete" (the server was
 * given cert.pem instead of fullchain.pem). Both sides of the fleet link name it the same way.
 */
import { X509Certificate } from 'node:crypto';
import { AhError } from '../errors/ah-error.js';
import { issuedBy } from './chain.js';
import { certificateProfile } from './cert-profile.js';

export interface LoneLeaf {
  /** The leaf's subject and the issuer it names, one line each (`CN=a, O=b`). */
  readonly subject: string;
  readonly issuer: string;
  /** The leaf's authority key identifier (hex, colon-separated), or null when it has none. */
  readonly authorityKeyId: string | null;
}

const oneLine = (name: string) => name.replace(/\n/g, ', ');

function authorityKeyIdOf(der: Uint8Array): string | null {
  try {
    return certificateProfile(der).authorityKeyId;
  } catch {
    return null;
  }
}

/**
 * The missing issuer when `chainDer` (as the peer sent it, leaf first) is one certificate, not
 * self-signed, that no certificate of `bundle` issued; else null.
 */
export function loneLeaf(chainDer: readonly Uint8Array[], bundle: readonly X509Certificate[]): LoneLeaf | null {
  if (chainDer.length !== 1) return null;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(chainDer[0]!);
  } catch {
    return null;
  }
  if (leaf.subject === leaf.issuer && issuedBy(leaf, leaf)) return null;
  if (bundle.some((anchor) => issuedBy(leaf, anchor))) return null;
  return { subject: oneLine(leaf.subject), issuer: oneLine(leaf.issuer), authorityKeyId: authorityKeyIdOf(chainDer[0]!) };
}

/** The catalog error for a lone leaf: `peer` sent it, `bundle` names the trust bundle that lacks its issuer. */
export function loneLeafError(lone: LoneLeaf, peer: 'access point' | 'executor', bundle: string): AhError {
  const keyId = lone.authorityKeyId ? `, authority key id ${lone.authorityKeyId}` : '';
  return new AhError('ENROLL_CHAIN_LONE_LEAF', {
    peer,
    subject: lone.subject,
    issuer: lone.issuer,
    authorityKeyId: lone.authorityKeyId ?? 'none',
    bundle,
    reason: `the ${peer} sent only its own certificate (${lone.subject}); its issuer ${lone.issuer}${keyId} is neither sent along nor in ${bundle}`,
  });
}
