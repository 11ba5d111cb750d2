/**
 * A resumed link's chain, checked against the bundle in force (transport/resumed-chain.ts). When the
 * session's record says its signatures were verified against this very bundle, issuers are
 * recognised by name and key identifier without verifying signatures again; these tests hold that
 * shortcut to the full check's answers where it could go wrong: a root renewed under the same name
 * (one expired, one valid), a leaf without an authority key identifier (the name alone matches two
 * roots: the signatures decide), and a leaf whose issuer is not in the bundle at all.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkChainAgainstBundle } from '../../src/transport/resumed-chain.js';
import { webcrypto, x509 } from '../../src/x509/peculiar.js';
import { createRoot, issueLeaf, type Issuer } from '../helpers/pki.js';

const DAY = 86_400_000;
const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const now = Date.now();
let oldRoot: Issuer;
let newRoot: Issuer;
let otherRoot: Issuer;

beforeAll(async () => {
  // The same name twice: the fleet's root renewed with a new key; the old one has expired.
  oldRoot = await createRoot('Fleet Root', { notBefore: now - 400 * DAY, notAfter: now - DAY });
  newRoot = await createRoot('Fleet Root', { notBefore: now - DAY, notAfter: now + 365 * DAY });
  otherRoot = await createRoot('Other Root');
});

const cert = (pem: string) => new X509Certificate(pem);

/** A leaf signed by `issuer` with no authority key identifier: only its issuer name points at a root. */
async function leafWithoutAkid(issuer: Issuer): Promise<X509Certificate> {
  const keys = await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify']);
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: `1${randomBytes(8).toString('hex')}`,
    subject: 'CN=e-no-akid',
    issuer: issuer.cert.subject,
    notBefore: new Date(now - DAY),
    notAfter: new Date(now + DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'spiffe://example.org/ah/agent/e-no-akid' }])],
  });
  return cert(leaf.toString('pem'));
}

describe('a resumed chain whose signatures were verified against this bundle before', () => {
  it('ends at the renewed root, not at the expired one of the same name, as the full check does', async () => {
    const leaf = cert((await issueLeaf(newRoot, { cn: 'e1', uris: ['spiffe://example.org/ah/agent/e1'], usage: 'client' })).certPem);
    const bundle = [cert(oldRoot.pem), cert(newRoot.pem)];
    for (const signaturesVerified of [false, true]) {
      const check = checkChainAgainstBundle(leaf, [], bundle, now, signaturesVerified);
      expect(check.error, `signaturesVerified=${signaturesVerified}`).toBeNull();
      expect(check.chain.at(-1)!.equals(bundle[1]!.raw)).toBe(true);
    }
  });

  it('lets the signatures decide when the name alone names two roots (a leaf without key identifiers)', async () => {
    const leaf = await leafWithoutAkid(newRoot);
    // The expired root first: picked by name alone, the chain would be "expired".
    const bundle = [cert(oldRoot.pem), cert(newRoot.pem)];
    const full = checkChainAgainstBundle(leaf, [], bundle, now, false);
    const shortcut = checkChainAgainstBundle(leaf, [], bundle, now, true);
    expect(full.error).toBeNull();
    expect(shortcut).toEqual(full);
    // Signed by the expired root, the same leaf is refused either way, in OpenSSL's words.
    const byOld = await leafWithoutAkid(oldRoot);
    expect(checkChainAgainstBundle(byOld, [], bundle, now, true).error).toBe('CERT_HAS_EXPIRED');
    expect(checkChainAgainstBundle(byOld, [], bundle, now, false).error).toBe('CERT_HAS_EXPIRED');
  });

  it('never finds an issuer the bundle does not hold', async () => {
    const leaf = cert((await issueLeaf(otherRoot, { cn: 'e2', uris: ['spiffe://example.org/ah/agent/e2'], usage: 'client' })).certPem);
    const check = checkChainAgainstBundle(leaf, [], [cert(newRoot.pem)], now, true);
    expect(check.error).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
  });
});
