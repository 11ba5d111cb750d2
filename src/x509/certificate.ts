/**
 * Reading certificates with node:crypto, which parses and verifies about five times faster than
 * @peculiar/x509 (docs/toolchain-notes.md §node:crypto or @peculiar/x509); this runs on every
 * enrollment at the access point.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { IdentitySummary } from '../model/identity.js';
import { certificateProfile, certificateSerial, certificateValidity } from './cert-profile.js';

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The certificates of a PEM bundle, in order; text outside the blocks is ignored. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(PEM_CERT)?.map((block) => `${block}\n`) ?? [];
}

/** The DER of a PEM's first certificate (its leaf), or null when it holds none. */
export function firstCertificateDer(pem: string): Buffer | null {
  const [leaf] = splitPemCertificates(pem);
  return leaf ? Buffer.from(leaf.replace(/-----[^-]+-----|\s/g, ''), 'base64') : null;
}

export interface SubjectAltNames {
  readonly uris: string[];
  readonly dns: string[];
  readonly ips: string[];
}

/**
 * Node renders SANs as `URI:spiffe://a/b, DNS:x, IP Address:1.2.3.4`, quoting a value that holds
 * a comma or a quote as a JSON string (`URI:"spiffe://a,b"`).
 */
export function subjectAltNames(cert: X509Certificate): SubjectAltNames {
  const out: SubjectAltNames = { uris: [], dns: [], ips: [] };
  const text = cert.subjectAltName;
  if (!text) return out;
  const re = /(URI|DNS|IP Address|email|DirName|Registered ID|othername):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null && m[0] !== '') {
    const value = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
    if (m[1] === 'URI') out.uris.push(value);
    else if (m[1] === 'DNS') out.dns.push(value);
    else if (m[1] === 'IP Address') out.ips.push(value);
  }
  return out;
}

/**
 * A distinguished name (`cert.subject`, `cert.issuer`) as messages and records show it: node:crypto
 * puts one attribute on a line, we print `C=US, O=Acme, CN=ap`.
 */
export function distinguishedName(name: string): string {
  return name.replace(/\n/g, ', ');
}

/** SPKI pin in the form `--server-san pin=sha256:…` takes: base64 of SHA-256 over the SPKI DER. */
export function spkiPin(cert: X509Certificate): string {
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('base64')}`;
}

/** Hex SHA-256 of the DER: names one exact certificate. */
export function fingerprintOf(cert: X509Certificate): string {
  return createHash('sha256').update(cert.raw).digest('hex');
}

/** Read from the DER once per certificate object (x509/cert-profile.ts says why). */
const validities = new WeakMap<X509Certificate, { notBefore: number; notAfter: number }>();

function validityOf(cert: X509Certificate): { notBefore: number; notAfter: number } {
  let validity = validities.get(cert);
  if (!validity) {
    try {
      validity = certificateValidity(cert.raw);
    } catch {
      // A time OpenSSL reads and our reader does not (fractional seconds, say): Node's strings.
      validity = { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
    }
    validities.set(cert, validity);
  }
  return validity;
}

export function notBeforeOf(cert: X509Certificate): number {
  return validityOf(cert).notBefore;
}

export function notAfterOf(cert: X509Certificate): number {
  return validityOf(cert).notAfter;
}

export function serialOf(cert: X509Certificate): string {
  return cert.serialNumber.toUpperCase();
}

/** The single URI SAN if the certificate has exactly one (the SPIFFE rule), else null. */
export function spiffeIdOf(cert: X509Certificate): string | null {
  const { uris } = subjectAltNames(cert);
  return uris.length === 1 ? uris[0]! : null;
}

export function summarize(leaf: X509Certificate, provider: string): IdentitySummary {
  return {
    provider,
    serial: serialOf(leaf),
    fingerprint: fingerprintOf(leaf),
    spiffeId: spiffeIdOf(leaf),
    notBefore: notBeforeOf(leaf),
    notAfter: notAfterOf(leaf),
  };
}

/**
 * The summary of a PEM's first certificate, read from its DER (`summarizeDer`); a certificate our
 * readers cannot walk is parsed by OpenSSL instead.
 */
export function summarizePem(certPem: string, provider: string): IdentitySummary {
  const der = firstCertificateDer(certPem);
  try {
    if (der) return summarizeDer(der, provider);
  } catch {
    // Below: OpenSSL's parse, and its error if it cannot read it either.
  }
  return summarize(new X509Certificate(certPem), provider);
}

/**
 * What `summarize` says, from the DER alone: without the OpenSSL parse of an X509Certificate (~0.25
 * ms, a twelfth of an executor's CPU per enrollment; docs/performance.md §Reading certificates).
 * Throws CertificateProfileError for DER it cannot walk.
 */
export function summarizeDer(der: Buffer, provider: string): IdentitySummary {
  const { uris } = certificateProfile(der);
  const { notBefore, notAfter } = certificateValidity(der);
  return {
    provider,
    serial: certificateSerial(der),
    fingerprint: createHash('sha256').update(der).digest('hex'),
    spiffeId: uris.length === 1 ? uris[0]! : null,
    notBefore,
    notAfter,
  };
}

export function keyMatchesCertificate(cert: X509Certificate, key: KeyObject | string): boolean {
  const keyObject = typeof key === 'string' ? createPrivateKey(key) : key;
  return cert.checkPrivateKey(keyObject);
}

export function isValidAt(cert: X509Certificate, at: number): boolean {
  return notBeforeOf(cert) <= at && at <= notAfterOf(cert);
}

/** What `--show-cert` and `doctor` print. */
export interface CertificateDescription {
  readonly subject: string;
  readonly issuer: string;
  readonly sans: string[];
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly spkiSha256: string;
}

export function describe(cert: X509Certificate): CertificateDescription {
  const san = subjectAltNames(cert);
  return {
    subject: distinguishedName(cert.subject),
    issuer: distinguishedName(cert.issuer),
    sans: [...san.uris.map((u) => `URI:${u}`), ...san.dns.map((d) => `DNS:${d}`), ...san.ips.map((i) => `IP:${i}`)],
    serial: serialOf(cert),
    notBefore: new Date(notBeforeOf(cert)).toISOString(),
    notAfter: new Date(notAfterOf(cert)).toISOString(),
    spkiSha256: spkiPin(cert),
  };
}
