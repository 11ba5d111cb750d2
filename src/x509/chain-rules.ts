/**
 * What a peer's chain must look like before we take its leaf as an identity, on both sides of the
 * fleet link and whatever the provider. The leaf rules are the X.509-SVID ones (docs/spiffe-id.md):
 * a leaf is not a CA, cannot sign certificates or CRLs, can sign (digitalSignature), and names its
 * workload in one canonical URI SAN. Every certificate above the leaf must be a proper signing CA
 * and must not itself carry a workload SPIFFE ID: a "leaf" that is a CA could otherwise mint the
 * identities of other executors (its chain would verify, since it is signed by the real CA).
 */
import { certificateProfile, CertificateProfileError, EKU_ANY, EKU_CLIENT_AUTH, EKU_SERVER_AUTH, KeyUsage, type CertificateProfile } from './cert-profile.js';
import { workloadIdProblem } from './spiffe-id.js';

/** Which rule failed, and how the catalog files it. */
export interface ChainProblem {
  /** `san`: the identity named by the leaf; `profile`: what the certificates may be used for. */
  readonly kind: 'san' | 'profile';
  readonly rule: string;
}

export type PeerRole = 'executor' | 'access-point';

export interface CheckedLeaf {
  readonly profile: CertificateProfile;
  /** The canonical SPIFFE ID of the leaf (executors always have one; an access point may not). */
  readonly spiffeId: string | null;
}

const profileOf = (der: Uint8Array, what: string): CertificateProfile | ChainProblem => {
  try {
    return certificateProfile(der);
  } catch (err) {
    if (err instanceof CertificateProfileError) return { kind: 'profile', rule: `${what} cannot be read: ${err.message}` };
    throw err;
  }
};

const isProblem = (v: CertificateProfile | ChainProblem): v is ChainProblem => 'rule' in v;

function leafUsageProblem(p: CertificateProfile, role: PeerRole): string | null {
  if (p.ca) return 'leaf certificate must not have CA flag set to true';
  if (p.keyUsage === null || !(p.keyUsage & KeyUsage.digitalSignature)) return "leaf certificate must have 'digitalSignature' set as key usage";
  if (p.keyUsage & KeyUsage.keyCertSign) return "leaf certificate must not have 'keyCertSign' set as key usage";
  if (p.keyUsage & KeyUsage.cRLSign) return "leaf certificate must not have 'cRLSign' set as key usage";
  const purpose = role === 'executor' ? EKU_CLIENT_AUTH : EKU_SERVER_AUTH;
  if (p.extendedKeyUsage && !p.extendedKeyUsage.includes(purpose) && !p.extendedKeyUsage.includes(EKU_ANY)) {
    return role === 'executor'
      ? "certificate is not for client authentication (its extended key usage lacks 'clientAuth')"
      : "certificate is not for server authentication (its extended key usage lacks 'serverAuth')";
  }
  return null;
}

/** The leaf's identity: executors need exactly one canonical workload SPIFFE ID; an access point at most one. */
function leafSanProblem(p: CertificateProfile, role: PeerRole): { problem: string | null; spiffeId: string | null } {
  if (p.uris.length > 1) return { problem: `certificate contains more than one URI SAN (${p.uris.join(', ')})`, spiffeId: null };
  const uri = p.uris[0];
  if (uri === undefined)
    return { problem: role === 'executor' ? 'certificate contains no URI SAN (an executor is named by its SPIFFE ID)' : null, spiffeId: null };
  if (role === 'access-point' && !/^spiffe:/i.test(uri)) return { problem: null, spiffeId: null };
  const problem = workloadIdProblem(uri);
  return problem ? { problem: `URI SAN ${JSON.stringify(uri)} is not a valid SPIFFE ID: ${problem}`, spiffeId: null } : { problem: null, spiffeId: uri };
}

function issuerProblem(p: CertificateProfile, position: number): string | null {
  const which = `certificate ${position + 1} of the chain (above the leaf)`;
  if (!p.ca) return `${which} signs the leaf but is not a CA (basicConstraints CA:TRUE is required)`;
  if (p.keyUsage !== null && !(p.keyUsage & KeyUsage.keyCertSign)) return `${which} is a CA without 'keyCertSign' key usage`;
  const workload = p.uris.find((u) => /^[a-z][a-z0-9+.-]*:\/\/[^/]*\/./i.test(u));
  if (workload) return `${which} carries a workload SPIFFE ID (${workload}): a certificate that names a workload may not sign others`;
  return null;
}

/**
 * Check a peer's chain, leaf first (DER). Returns the checked leaf, or the first rule it breaks.
 * Trust (does the chain end in our bundle) is OpenSSL's job and is decided before this.
 */
export function checkPeerChain(chainDer: readonly Uint8Array[], role: PeerRole): CheckedLeaf | ChainProblem {
  const [leafDer, ...issuers] = chainDer;
  if (!leafDer) return { kind: 'profile', rule: 'no certificate' };
  const leaf = profileOf(leafDer, 'the leaf certificate');
  if (isProblem(leaf)) return leaf;
  const usage = leafUsageProblem(leaf, role);
  if (usage) return { kind: 'profile', rule: usage };
  const san = leafSanProblem(leaf, role);
  if (san.problem) return { kind: 'san', rule: san.problem };
  for (const [i, der] of issuers.entries()) {
    const p = profileOf(der, `certificate ${i + 2} of the chain`);
    if (isProblem(p)) return p;
    const problem = issuerProblem(p, i + 1);
    if (problem) return { kind: 'profile', rule: problem };
  }
  return { profile: leaf, spiffeId: san.spiffeId };
}

export function isChainProblem(v: CheckedLeaf | ChainProblem): v is ChainProblem {
  return 'rule' in v;
}
