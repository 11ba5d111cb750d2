/**
 * A resumed TLS session skips OpenSSL's verification of the client chain: the session carries the
 * verdict of the handshake that made it, against the bundle of that day. The access point checks
 * a resumed link's chain against the bundle in force now, and says what is wrong in OpenSSL's words
 * (`authorizationError`), so that executor-policy.ts decides on it exactly as on a full handshake.
 */
import { X509Certificate } from 'node:crypto';
import { notAfterOf, notBeforeOf } from '../x509/certificate.js';

export interface ChainCheck {
  /** The chain that was followed, leaf first, up to the bundle certificate that vouches for it. */
  readonly chain: Buffer[];
  /** null when the chain verifies; else OpenSSL's name for the first problem. */
  readonly error: string | null;
  /** When every certificate of the chain is valid (ms): the latest notBefore, the earliest notAfter. */
  readonly validity: { readonly from: number; readonly to: number };
}

/** At most this many issuers between a leaf and its trust anchor. */
const MAX_DEPTH = 8;

/**
 * Follows leaf → issuers (from `sent`, then the bundle) until a certificate of the bundle; each
 * link must be issued by and signed with the next, and each certificate valid at `now`.
 *
 * `signaturesVerified`: this chain's signatures were verified against this very bundle before (the
 * session's full handshake): a signature is a fact of the bytes, so an issuer is then recognised by
 * its name and key identifier alone, unless two candidates claim the same certificate (a CA
 * renewed under the same name), where the signatures decide as always. Validity is checked anew.
 */
export function checkChainAgainstBundle(
  leaf: X509Certificate,
  sent: readonly Buffer[],
  bundle: readonly X509Certificate[],
  now: number,
  signaturesVerified = false,
): ChainCheck {
  const candidates = sent.map((der) => new X509Certificate(der));
  const issuerOf = (subject: X509Certificate, among: readonly X509Certificate[]): X509Certificate | undefined => {
    if (signaturesVerified) {
      const named = among.filter((c) => !c.raw.equals(subject.raw) && namesIssuer(c, subject));
      if (named.length === 1) return named[0];
    }
    return among.find((c) => !c.raw.equals(subject.raw) && issues(c, subject));
  };
  const chain: Buffer[] = [];
  const validity = { from: -Infinity, to: Infinity };
  const result = (error: string | null): ChainCheck => ({ chain, error, validity });
  const add = (cert: X509Certificate): string | null => {
    chain.push(cert.raw);
    validity.from = Math.max(validity.from, notBeforeOf(cert));
    validity.to = Math.min(validity.to, notAfterOf(cert));
    return validityError(cert, now);
  };
  let current = leaf;
  const leafError = add(leaf);
  if (leafError) return result(leafError);
  for (let depth = 0; depth <= MAX_DEPTH; depth++) {
    if (bundle.some((b) => b.raw.equals(current.raw))) return result(null);
    const anchor = issuerOf(current, bundle);
    if (anchor) return result(add(anchor));
    const next = issuerOf(current, candidates);
    if (!next) return result(unknownIssuer(current, depth));
    const error = add(next);
    if (error) return result(error);
    current = next;
  }
  return result('CERT_CHAIN_TOO_LONG');
}

function issues(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** OpenSSL's X509_check_issued: names, key identifiers, key usage; no signature. */
function namesIssuer(issuer: X509Certificate, subject: X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer);
  } catch {
    return false;
  }
}

function validityError(cert: X509Certificate, now: number): string | null {
  if (now < notBeforeOf(cert)) return 'CERT_NOT_YET_VALID';
  if (now > notAfterOf(cert)) return 'CERT_HAS_EXPIRED';
  return null;
}

/** The names OpenSSL gives the same situations in a full handshake. */
function unknownIssuer(cert: X509Certificate, depth: number): string {
  if (cert.checkIssued(cert)) return depth === 0 ? 'DEPTH_ZERO_SELF_SIGNED_CERT' : 'SELF_SIGNED_CERT_IN_CHAIN';
  return depth === 0 ? 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' : 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY';
}
