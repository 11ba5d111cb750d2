/**
 * What the PKI engine's issue endpoint answered, checked before anything uses it (docs/vault-api.md
 * §PKI issue): a certificate and a private key, signed by the issuing CA it came with, at most one
 * URI SAN, and a key that belongs to the certificate. Anything else is said plainly: an HTML page
 * or a truncated body from a proxy, a 200 with no certificate.
 */
import { createPrivateKey, type X509Certificate } from 'node:crypto';
import { AhError } from '../../errors/ah-error.js';
import { keyMatchesCertificate, subjectAltNames } from '../../x509/certificate.js';
import { issuedBy, parseCertificates } from '../../x509/chain.js';

export interface IssuedMaterial {
  /** Leaf, then the intermediates: what a TLS peer is shown. */
  readonly certPem: string;
  readonly keyPem: string;
  /** The whole CA chain Vault returned: the trust bundle. */
  readonly bundlePem: string;
  readonly leaf: X509Certificate;
  /** Vault's `warnings` (a TTL clamped to the role's max, ...). */
  readonly warnings: string[];
}

export function verifyIssueResponse(body: unknown, where: { addr: string; path: string }): IssuedMaterial {
  const bad = (detail: string) => new AhError('ENROLL_VAULT_BAD_RESPONSE', { addr: where.addr, path: where.path, detail });
  if (!body || typeof body !== 'object') {
    throw bad(typeof body === 'string' ? `not JSON (${body.trim().slice(0, 60).replace(/\s+/g, ' ')}…)` : 'empty');
  }
  const b = body as { data?: Record<string, unknown>; warnings?: unknown };
  const d = b.data;
  if (!d || typeof d.certificate !== 'string' || !d.certificate.includes('BEGIN CERTIFICATE')) throw bad('the response has no certificate');
  if (typeof d.private_key !== 'string' || !d.private_key.includes('PRIVATE KEY')) throw bad('the response has no private key');
  let leaf: X509Certificate;
  let cas: X509Certificate[];
  try {
    leaf = parseCertificates(d.certificate)[0]!;
    const chainPems = Array.isArray(d.ca_chain) && d.ca_chain.length ? (d.ca_chain as string[]) : typeof d.issuing_ca === 'string' ? [d.issuing_ca] : [];
    cas = chainPems.flatMap((p) => parseCertificates(p));
  } catch (err) {
    throw bad(`a certificate does not parse: ${(err as Error).message}`);
  }
  if (cas.length === 0) throw bad('the response has no issuing_ca or ca_chain');
  if (!issuedBy(leaf, cas[0]!)) throw bad('the certificate is not signed by the issuing CA it came with');
  if (subjectAltNames(leaf).uris.length > 1) throw bad('the certificate has more than one URI SAN');
  let key: ReturnType<typeof createPrivateKey>;
  try {
    key = createPrivateKey(d.private_key);
  } catch (err) {
    throw bad(`the private key does not parse: ${(err as Error).message}`);
  }
  if (!keyMatchesCertificate(leaf, key)) throw new AhError('ENROLL_KEY_MISMATCH');
  const intermediates = cas.filter((c) => !issuedBy(c, c));
  return {
    certPem: [leaf, ...intermediates].map((c) => c.toString()).join(''),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    bundlePem: cas.map((c) => c.toString()).join(''),
    leaf,
    warnings: Array.isArray(b.warnings) ? b.warnings.map(String) : [],
  };
}
