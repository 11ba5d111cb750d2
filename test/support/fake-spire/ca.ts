/**
 * A certificate authority that mints real X.509-SVIDs, the way a SPIRE server's X509 CA does, with
 * @peculiar/x509 on Node's WebCrypto. Everything is P-256 / ECDSA-SHA256 (SPIRE's default key
 * type).
 *
 * What the certificates look like is driven by docs/workload-api.md §X.509-SVID rules:
 * - signing certificates: `cA=true`, key usage `keyCertSign` (+ `cRLSign`), critical; the URI SAN,
 *   if any, is the trust domain ID with no path;
 * - leaves: `cA=false`, key usage critical with `digitalSignature` and without `keyCertSign` /
 *   `cRLSign`, EKU `serverAuth` + `clientAuth`, exactly one URI SAN which is the SPIFFE ID.
 * The remaining template details (subject `C=US, O=SPIFFE` for CAs and `C=US, O=SPIRE` for SVIDs,
 * `keyEncipherment | keyAgreement` next to `digitalSignature`, NotBefore backdated 10 s, SVID
 * lifetime capped at the CA's) follow SPIRE's credential templates as we remember them;
 * docs/workload-api.md does not pin them down and no client should depend on them.
 *
 * A test that needs an SVID breaking one of those rules asks for it by name (`SvidDefect`): SPIRE
 * would never send one, but the client must refuse it, and this is how we prove that it does.
 */
import { createHash, randomBytes } from 'node:crypto';
import { webcrypto, x509 } from '../../../src/x509/peculiar.js';
import { trustDomainId } from './spiffe-id.js';

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;
const BACKDATE_MS = 10_000;

/**
 * Ways to make an SVID that a validator must reject (docs/workload-api.md §X.509-SVID rules), for
 * fault tests.
 */
export type SvidDefect =
  /** No URI SAN at all (only a DNS name): "certificate contains no URI SAN". */
  | 'no-uri-san'
  /** A second URI SAN: "certificate contains more than one URI SAN". */
  | 'two-uri-sans'
  /** URI SAN `spiffe://<td>` with no path: "leaf certificate SPIFFE ID must have a non-root path". */
  | 'root-path'
  /** `cA=true` on the leaf: "leaf certificate must not have CA flag set to true". */
  | 'ca-leaf'
  /** Key usage without digitalSignature. */
  | 'no-digital-signature'
  /** Key usage with keyCertSign on the leaf. */
  | 'key-cert-sign'
  /** Key usage with cRLSign on the leaf. */
  | 'crl-sign'
  /** `x509_svid_key` holds a different key than the leaf's: "leaf certificate does not match private key". */
  | 'mismatched-key'
  /** NotAfter one minute in the past. */
  | 'expired'
  /** Signed by a CA that is in no bundle. */
  | 'untrusted-issuer';

export const SVID_DEFECTS: readonly SvidDefect[] = [
  'no-uri-san',
  'two-uri-sans',
  'root-path',
  'ca-leaf',
  'no-digital-signature',
  'key-cert-sign',
  'crl-sign',
  'mismatched-key',
  'expired',
  'untrusted-issuer',
];

export interface IssueRequest {
  readonly ttlMs: number;
  /** Extra DNS SANs; the first also becomes the subject CN, as SPIRE does with an entry's DNS names. */
  readonly dnsNames?: readonly string[];
  readonly defect?: SvidDefect;
  /** Epoch ms; defaults to now. */
  readonly now?: number;
}

export interface IssuedSvid {
  readonly spiffeId: string;
  readonly leaf: x509.X509Certificate;
  /**
   * Leaf first, then the intermediates up to (not including) the root: `x509_svid`
   * (§What SPIRE puts in the fields).
   */
  readonly chainDer: readonly Buffer[];
  /** DER PKCS#8, unencrypted: `x509_svid_key` (§What SPIRE puts in the fields). */
  readonly keyPkcs8: Buffer;
  /** Lowercase hex, as @peculiar/x509 prints it. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly defect: SvidDefect | null;
}

function randomSerial(): string {
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive INTEGER without a padding byte
  serial[0]! |= 0x01; // and never a leading zero octet, so hex round-trips unchanged
  return serial.toString('hex');
}

async function newKeyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

async function pkcs8Of(key: webcrypto.CryptoKey): Promise<Buffer> {
  return Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
}

/** Whole seconds: X.509 time has no fraction, and tests compare these with parsed certificates. */
const second = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

export function pemOf(der: Uint8Array, label = 'CERTIFICATE'): string {
  return `${x509.PemConverter.encode(new Uint8Array(der), label)}\n`;
}

export class CertificateAuthority {
  readonly der: Buffer;

  private constructor(
    readonly trustDomain: string,
    readonly cert: x509.X509Certificate,
    private readonly keys: webcrypto.CryptoKeyPair,
    /** The CA that signed this one; null for a root. */
    readonly parent: CertificateAuthority | null,
  ) {
    this.der = Buffer.from(cert.rawData);
  }

  get pem(): string {
    return pemOf(this.der);
  }

  get notAfter(): Date {
    return this.cert.notAfter;
  }

  /** The root this CA chains to (itself for a root): what goes into the bundle. */
  get root(): CertificateAuthority {
    return this.parent ? this.parent.root : this;
  }

  /** A self-signed CA for `trustDomain`; its URI SAN is the trust domain ID (§X.509-SVID rules). */
  static async createRoot(trustDomain: string, opts: { ttlMs: number; now?: number }): Promise<CertificateAuthority> {
    const now = opts.now ?? Date.now();
    const keys = await newKeyPair();
    const serialNumber = randomSerial();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber,
      // The serial in the subject keeps successive CAs of one trust domain distinguishable by
      // name, which path building needs while old and new CA share the bundle (rotateCa).
      name: `C=US, O=SPIFFE, 2.5.4.5=${BigInt(`0x${serialNumber}`).toString()}`,
      notBefore: second(now - BACKDATE_MS),
      notAfter: second(now + opts.ttlMs),
      signingAlgorithm: SIGNING,
      keys,
      extensions: await CertificateAuthority.caExtensions(trustDomain, keys.publicKey),
    });
    return new CertificateAuthority(trustDomain, cert, keys, null);
  }

  /**
   * An intermediate signed by this CA, as a SPIRE server under an UpstreamAuthority has: SVIDs it
   * signs carry it after the leaf in `x509_svid`, and the bundle holds only the root
   * (§What SPIRE puts in the fields).
   */
  async createIntermediate(opts: { ttlMs: number; now?: number }): Promise<CertificateAuthority> {
    const now = opts.now ?? Date.now();
    const keys = await newKeyPair();
    const serialNumber = randomSerial();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber,
      subject: `C=US, O=SPIFFE, OU=intermediate, 2.5.4.5=${BigInt(`0x${serialNumber}`).toString()}`,
      issuer: this.cert.subjectName,
      notBefore: second(now - BACKDATE_MS),
      notAfter: this.capped(now + opts.ttlMs),
      signingAlgorithm: SIGNING,
      publicKey: keys.publicKey,
      signingKey: this.keys.privateKey,
      extensions: [
        ...(await CertificateAuthority.caExtensions(this.trustDomain, keys.publicKey)),
        await x509.AuthorityKeyIdentifierExtension.create(this.keys.publicKey),
      ],
    });
    return new CertificateAuthority(this.trustDomain, cert, keys, this);
  }

  /** The certificates that follow a leaf signed by this CA: this CA and its parents, root excluded. */
  chainAboveLeaf(): Buffer[] {
    const chain: Buffer[] = [];
    for (let ca: CertificateAuthority | null = this; ca?.parent; ca = ca.parent) chain.push(ca.der);
    return chain;
  }

  async issueSvid(spiffeId: string, req: IssueRequest): Promise<IssuedSvid> {
    const now = req.now ?? Date.now();
    const defect = req.defect ?? null;
    // An issuer in no bundle: a throwaway root of the same trust domain name.
    const issuer = defect === 'untrusted-issuer' ? await CertificateAuthority.createRoot(this.trustDomain, { ttlMs: req.ttlMs + 60_000, now }) : this;
    const keys = await newKeyPair();
    const dnsNames = [...(req.dnsNames ?? [])];

    const uris = (() => {
      switch (defect) {
        case 'no-uri-san':
          return [];
        case 'two-uri-sans':
          return [spiffeId, `${spiffeId}-second`];
        case 'root-path':
          return [trustDomainId(this.trustDomain)];
        default:
          return [spiffeId];
      }
    })();
    if (defect === 'no-uri-san' && dnsNames.length === 0) dnsNames.push('no-uri-san.invalid');

    let usage = x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement;
    if (defect === 'no-digital-signature') usage = x509.KeyUsageFlags.keyEncipherment | x509.KeyUsageFlags.keyAgreement;
    if (defect === 'key-cert-sign') usage |= x509.KeyUsageFlags.keyCertSign;
    if (defect === 'crl-sign') usage |= x509.KeyUsageFlags.cRLSign;

    const names: x509.JsonGeneralName[] = [
      ...uris.map((value) => ({ type: 'url' as const, value })),
      ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ];
    const notAfter = defect === 'expired' ? second(now - 60_000) : issuer.capped(now + req.ttlMs);
    const notBefore = defect === 'expired' ? second(now - req.ttlMs - 60_000) : second(now - BACKDATE_MS);
    const subject = dnsNames.length > 0 ? `CN=${dnsNames[0]}, C=US, O=SPIRE` : 'C=US, O=SPIRE';

    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject,
      issuer: issuer.cert.subjectName,
      notBefore,
      notAfter,
      signingAlgorithm: SIGNING,
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      extensions: [
        new x509.BasicConstraintsExtension(defect === 'ca-leaf', undefined, true),
        new x509.KeyUsagesExtension(usage, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        // Non-critical is allowed because the subject is not empty (§X.509-SVID rules).
        new x509.SubjectAlternativeNameExtension(names),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
      ],
    });
    const keyPkcs8 = defect === 'mismatched-key' ? await pkcs8Of((await newKeyPair()).privateKey) : await pkcs8Of(keys.privateKey);
    return {
      spiffeId,
      leaf,
      chainDer: [Buffer.from(leaf.rawData), ...issuer.chainAboveLeaf()],
      keyPkcs8,
      serial: leaf.serialNumber,
      notBefore: leaf.notBefore,
      notAfter: leaf.notAfter,
      defect,
    };
  }

  /** Nothing this CA signs outlives it (SPIRE caps SVID lifetimes at the CA's NotAfter). */
  private capped(ms: number): Date {
    return second(Math.min(ms, this.cert.notAfter.getTime()));
  }

  private static async caExtensions(trustDomain: string, publicKey: webcrypto.CryptoKey): Promise<x509.Extension[]> {
    return [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: trustDomainId(trustDomain) }]),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ];
  }
}

/** A short stable label for logs: the first bytes of the certificate's SHA-256. */
export function fingerprint(der: Buffer): string {
  return createHash('sha256').update(der).digest('hex').slice(0, 12);
}

export function svidChainPem(svid: IssuedSvid): string {
  return svid.chainDer.map((der) => pemOf(der)).join('');
}

export function svidKeyPem(svid: IssuedSvid): string {
  return pemOf(svid.keyPkcs8, 'PRIVATE KEY');
}
