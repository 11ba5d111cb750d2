/**
 * Chains and trust bundles with node:crypto. Two questions: does a chain hang together (each
 * certificate signed by the next), and when a peer's chain does not verify against our bundle, is
 * that because the bundle holds only part of it (the guide's "unable to get local issuer
 * certificate": e.g. the intermediate without the root) or because nothing in it is related at all
 * ("x509: certificate signed by unknown authority")? OpenSSL reports both as the same error.
 */
import { X509Certificate } from 'node:crypto';
import { distinguishedName, fingerprintOf, splitPemCertificates } from './certificate.js';

/** Every certificate of a PEM bundle; throws with a reason when there is none or one is bad. */
export function parseCertificates(pem: string): X509Certificate[] {
  const blocks = splitPemCertificates(pem);
  if (blocks.length === 0) throw new Error('no PEM certificate found');
  return blocks.map((block, i) => {
    try {
      return new X509Certificate(block);
    } catch (err) {
      throw new Error(`certificate ${i + 1} does not parse (${(err as Error).message})`);
    }
  });
}

/** `issuer` signed `cert`. */
export function issuedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** Null when each certificate is signed by the one after it, else which link breaks. */
export function chainBreak(chain: X509Certificate[]): string | null {
  for (let i = 0; i + 1 < chain.length; i++) {
    if (!issuedBy(chain[i]!, chain[i + 1]!)) {
      return `certificate ${i + 1} (${distinguishedName(chain[i]!.subject)}) is not issued by certificate ${i + 2} (${distinguishedName(chain[i + 1]!.subject)})`;
    }
  }
  return null;
}

/** The bundle holds a certificate of the chain, or the issuer of one of them. */
export function bundleTouchesChain(chain: X509Certificate[], bundle: X509Certificate[]): boolean {
  const inChain = new Set(chain.map(fingerprintOf));
  return bundle.some((anchor) => inChain.has(fingerprintOf(anchor)) || chain.some((c) => issuedBy(c, anchor)));
}
