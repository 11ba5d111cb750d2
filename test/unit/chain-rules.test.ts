/**
 * The leaf and chain rules on real certificates minted for the test: a leaf that is a CA, a leaf
 * that may sign certificates or CRLs, one without digitalSignature or clientAuth, SAN shapes, and
 * chains whose "intermediate" is really a workload or no CA at all.
 */
import { X509Certificate } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { x509 } from '../../src/x509/peculiar.js';
import { certificateProfile, CertificateProfileError, EKU_CLIENT_AUTH, KeyUsage } from '../../src/x509/cert-profile.js';
import { checkPeerChain, isChainProblem, type PeerRole } from '../../src/x509/chain-rules.js';
import { createIntermediate, createRoot, issueLeaf, type Issuer, type LeafRequest } from '../helpers/pki.js';

const ID = 'spiffe://example.org/ah/agent/good1';
let root: Issuer;

const der = (pem: string) => new X509Certificate(pem).raw;
async function rule(req: LeafRequest, role: PeerRole = 'executor', issuers: Issuer[] = []): Promise<string | null> {
  const leaf = await issueLeaf(issuers[0] ?? root, { uris: [ID], usage: role === 'executor' ? 'client' : 'server', ...req });
  const checked = checkPeerChain([der(leaf.certPem), ...issuers.map((i) => der(i.pem)), der(root.pem)], role);
  return isChainProblem(checked) ? `${checked.kind}: ${checked.rule}` : null;
}

beforeAll(async () => {
  root = await createRoot('Rules Root CA');
});

describe('certificate profile from DER', () => {
  it('reads the flags @peculiar/x509 reads', async () => {
    const leaf = await issueLeaf(root, { uris: [ID], dns: ['good1.example.org'], usage: 'client' });
    const p = certificateProfile(der(leaf.certPem));
    const rootKeyId = new x509.X509Certificate(root.pem).getExtension(x509.SubjectKeyIdentifierExtension)!.keyId;
    expect(p).toEqual({
      ca: false,
      keyUsage: KeyUsage.digitalSignature,
      extendedKeyUsage: [EKU_CLIENT_AUTH],
      uris: [ID],
      dnsNames: ['good1.example.org'],
      authorityKeyId: rootKeyId.toUpperCase().match(/../g)!.join(':'),
    });
    const rootProfile = certificateProfile(der(root.pem));
    expect(rootProfile.ca).toBe(true);
    expect(rootProfile.keyUsage).toBe(KeyUsage.keyCertSign | KeyUsage.cRLSign);
    expect(() => certificateProfile(Buffer.from([0x30, 0x05, 0x30, 0x09]))).toThrow();
  });

  it('never throws anything but CertificateProfileError on damaged DER, and never reads past it', async () => {
    const good = der((await issueLeaf(root, { uris: [ID], usage: 'client' })).certPem);
    fc.assert(
      fc.property(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(good.length), (at, byte, cut) => {
        const damaged = Buffer.from(good.subarray(0, Math.max(1, cut)));
        if (at < damaged.length) damaged[at] = byte;
        try {
          certificateProfile(damaged);
        } catch (err) {
          expect(err).toBeInstanceOf(CertificateProfileError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('leaf and chain rules', () => {
  it('admits a proper leaf under a proper CA', async () => {
    expect(await rule({})).toBeNull();
    expect(await rule({}, 'executor', [await createIntermediate(root)])).toBeNull();
    expect(await rule({ uris: [] }, 'access-point')).toBeNull();
  });

  it('refuses leaves that can sign, or cannot', async () => {
    expect(await rule({ ca: true, keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature })).toBe(
      'profile: leaf certificate must not have CA flag set to true',
    );
    expect(await rule({ keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign })).toBe(
      "profile: leaf certificate must not have 'keyCertSign' set as key usage",
    );
    expect(await rule({ keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.cRLSign })).toBe(
      "profile: leaf certificate must not have 'cRLSign' set as key usage",
    );
    expect(await rule({ keyUsage: x509.KeyUsageFlags.keyEncipherment })).toBe("profile: leaf certificate must have 'digitalSignature' set as key usage");
    expect(await rule({ keyUsage: null })).toBe("profile: leaf certificate must have 'digitalSignature' set as key usage");
    expect(await rule({ usage: 'server' })).toMatch(/^profile: certificate is not for client authentication/);
    expect(await rule({ usage: 'client' }, 'access-point')).toMatch(/^profile: certificate is not for server authentication/);
  });

  it('names the SAN rule that failed', async () => {
    expect(await rule({ uris: [] })).toMatch(/^san: certificate contains no URI SAN/);
    expect(await rule({ uris: [ID, `${ID}2`] })).toMatch(/^san: certificate contains more than one URI SAN/);
    expect(await rule({ uris: ['SPIFFE://EXAMPLE.ORG/ah/agent/good1'] })).toMatch(/^san: .*scheme must be "spiffe" in lower case/);
    expect(await rule({ uris: ['spiffe://example.org/ah/agent/good1?x=1'] })).toMatch(/^san: .*query is not allowed/);
    expect(await rule({ uris: ['spiffe://example.org'] })).toMatch(/^san: .*must have a path/);
  });

  it('refuses a chain through a workload that is a CA, or through a non-CA', async () => {
    const caleaf = await issueLeaf(root, {
      uris: ['spiffe://example.org/ah/agent/caleaf'],
      ca: true,
      keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
    });
    expect(await rule({ uris: ['spiffe://example.org/ah/agent/good2'] }, 'executor', [caleaf.asIssuer])).toMatch(
      /^profile: certificate 2 of the chain .* carries a workload SPIFFE ID \(spiffe:\/\/example.org\/ah\/agent\/caleaf\)/,
    );
    const notCa = await issueLeaf(root, { uris: [], ca: false, keyUsage: x509.KeyUsageFlags.keyCertSign });
    expect(await rule({}, 'executor', [notCa.asIssuer])).toMatch(/^profile: certificate 2 of the chain .* is not a CA/);
    const caWithoutCertSign = await issueLeaf(root, { uris: [], ca: true, keyUsage: x509.KeyUsageFlags.digitalSignature });
    expect(await rule({}, 'executor', [caWithoutCertSign.asIssuer])).toMatch(/^profile: certificate 2 of the chain .* without 'keyCertSign'/);
  });
});
