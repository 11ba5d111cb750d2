/**
 * How the access point decides whether to admit an executor, after the TLS handshake, so that it
 * can answer with a precise `reject` instead of a bare TLS alert. In order: a certificate at all,
 * trust (OpenSSL's verdict against `--ca`), validity, the leaf and chain rules (x509/chain-rules.ts),
 * the SPIFFE ID under `--executor-san-uri-prefix`, and the claimed name borne by the certificate.
 */
import type { X509Certificate } from 'node:crypto';
import { AhError } from '../errors/ah-error.js';
import type { ClientHandshake, PeerVerdict } from '../model/admission.js';

export type { ClientHandshake };
import { isValidAt, notAfterOf, serialOf } from '../x509/certificate.js';
import type { CertificateProfile } from '../x509/cert-profile.js';
import { checkPeerChain, isChainProblem } from '../x509/chain-rules.js';
import { loneLeaf, loneLeafError } from '../x509/lone-leaf.js';
import { parseSpiffeId, spiffeIdUnder, type SpiffeIdPrefix } from '../x509/spiffe-id.js';
import { VALIDITY_ERRORS } from '../x509/openssl-verify-codes.js';

export interface ExecutorPolicy {
  /**
   * Executors must chain to the CA the TLS server was given (`--ca`). False in dev mode, where any
   * certificate is admitted without CA verification.
   */
  readonly requireCa: boolean;
  /** `--executor-san-uri-prefix`: the executor's SPIFFE ID must lie under it. */
  readonly sanUriPrefix: SpiffeIdPrefix | null;
}

/** What the executor claims in its hello. */
export interface ExecutorClaim {
  readonly name: string;
}

/** OpenSSL's word for a certificate whose extended key usage does not allow the purpose. */
const PURPOSE_ERRORS = new Set(['INVALID_PURPOSE', 'UNSUPPORTED_CERTIFICATE_PURPOSE']);
/** OpenSSL's words for "the issuer of this certificate is neither in the chain nor in the bundle". */
const MISSING_ISSUER_ERRORS = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/** Returns the verdict or throws the catalog error the executor will read in its `reject`. */
export function verifyExecutor(socket: ClientHandshake, policy: ExecutorPolicy, now: number, claim: ExecutorClaim): PeerVerdict {
  const cert = socket.certificate;
  if (!cert) throw new AhError('ENROLL_CLIENT_CERT_REQUIRED');
  const chain = socket.chain();
  const checked = checkPeerChain(chain.length ? chain : [cert.raw], 'executor');
  if (policy.requireCa && !socket.authorized) {
    const reason = String(socket.authorizationError ?? '');
    if (VALIDITY_ERRORS.has(reason)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
    // A certificate that is trusted but not for this purpose is not "signed by unknown authority".
    if (PURPOSE_ERRORS.has(reason) && isChainProblem(checked)) throw new AhError('ENROLL_CLIENT_CERT_INVALID', { reason: checked.rule });
    if (PURPOSE_ERRORS.has(reason)) throw new AhError('ENROLL_CLIENT_CERT_INVALID', { reason: `OpenSSL refused the certificate's purpose (${reason})` });
    // OpenSSL found no issuer for it locally: a lone leaf is named as the incomplete chain it usually is.
    const lone = MISSING_ISSUER_ERRORS.has(reason) ? loneLeaf(chain.length ? chain : [cert.raw], []) : null;
    if (lone) throw loneLeafError(lone, 'executor', "the access point's --ca");
    throw new AhError('ENROLL_CLIENT_CERT_REJECTED', { reason });
  }
  if (!isValidAt(cert, now)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
  if (isChainProblem(checked)) {
    throw checked.kind === 'san'
      ? new AhError('ENROLL_SAN_MISMATCH', { reason: checked.rule })
      : new AhError('ENROLL_CLIENT_CERT_INVALID', { reason: checked.rule });
  }
  const executorId = checked.spiffeId!;
  if (policy.sanUriPrefix && !spiffeIdUnder(parseSpiffeId(executorId), policy.sanUriPrefix)) {
    throw new AhError('ENROLL_SAN_MISMATCH', { reason: `${executorId} is not under --executor-san-uri-prefix ${policy.sanUriPrefix.text}` });
  }
  if (!bearsName(cert, checked.profile, executorId, claim.name)) {
    throw new AhError('ENROLL_NAME_NOT_IN_CERTIFICATE', { name: JSON.stringify(claim.name), executorId });
  }
  return { executorId, certNotAfter: notAfterOf(cert), serial: serialOf(cert) };
}

/**
 * The name an executor claims must be one its certificate bears: the last segment of its SPIFFE
 * ID, a CN of its subject, or a DNS SAN (case-insensitive, as DNS names are).
 */
export function bearsName(cert: X509Certificate, profile: CertificateProfile, spiffeId: string, name: string): boolean {
  if (spiffeId.slice(spiffeId.lastIndexOf('/') + 1) === name) return true;
  if (commonNames(cert).includes(name)) return true;
  const lower = name.toLowerCase();
  return profile.dnsNames.some((d) => d.toLowerCase() === lower);
}

function commonNames(cert: X509Certificate): string[] {
  return cert.subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
}
