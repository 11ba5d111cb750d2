/**
 * A small PKI for tests: roots, intermediates and leaves with chosen names and validity, signed
 * for real (P-256, @peculiar/x509), written as the PEM files operators hand to `--cert --key --ca`.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { webcrypto, x509 } from '../../src/x509/peculiar.js';

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface Issuer {
  readonly name: string;
  readonly cert: x509.X509Certificate;
  readonly keys: CryptoKeyPair;
  readonly pem: string;
}

export interface Leaf {
  readonly certPem: string;
  readonly keyPem: string;
  readonly serial: string;
  /** The same certificate and key as an issuer, to sign with it (a "leaf" that is really a CA). */
  readonly asIssuer: Issuer;
}

type CryptoKeyPair = { privateKey: webcrypto.CryptoKey; publicKey: webcrypto.CryptoKey };

const serial = () => {
  const b = randomBytes(16);
  // Positive, and no leading zero byte: Node prints serials without one.
  b[0] = (b[0]! & 0x7f) | 0x10;
  return b.toString('hex');
};

async function keys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function keyPem(k: CryptoKeyPair): Promise<string> {
  return `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', k.privateKey), 'PRIVATE KEY')}\n`;
}

export async function createRoot(name = 'Test Root CA', validity = { notBefore: Date.now() - DAY, notAfter: Date.now() + 365 * DAY }): Promise<Issuer> {
  const k = await keys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    notBefore: new Date(validity.notBefore),
    notAfter: new Date(validity.notAfter),
    signingAlgorithm: ALG,
    keys: k,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
    ],
  });
  return { name, cert, keys: k, pem: `${cert.toString('pem')}\n` };
}

export async function createIntermediate(parent: Issuer, name = 'Test Intermediate CA'): Promise<Issuer> {
  const k = await keys();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: parent.cert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 180 * DAY),
    signingAlgorithm: ALG,
    publicKey: k.publicKey,
    signingKey: parent.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(parent.keys.publicKey),
    ],
  });
  return { name, cert, keys: k, pem: `${cert.toString('pem')}\n` };
}

export interface LeafRequest {
  readonly cn?: string;
  readonly uris?: string[];
  readonly dns?: string[];
  readonly ips?: string[];
  readonly notBefore?: number;
  readonly notAfter?: number;
  readonly usage?: 'server' | 'client' | 'both';
  /** basicConstraints cA (default false): a hostile "leaf" that can sign. */
  readonly ca?: boolean;
  /** keyUsage flags (default digitalSignature); null leaves the extension out. */
  readonly keyUsage?: number | null;
}

export async function issueLeaf(issuer: Issuer, req: LeafRequest = {}): Promise<Leaf> {
  const k = await keys();
  const names: x509.JsonGeneralName[] = [
    ...(req.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(req.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const usage = req.usage ?? 'both';
  const eku = [...(usage !== 'client' ? [x509.ExtendedKeyUsage.serverAuth] : []), ...(usage !== 'server' ? [x509.ExtendedKeyUsage.clientAuth] : [])];
  const sn = serial();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: sn,
    subject: `CN=${req.cn ?? 'leaf'}`,
    issuer: issuer.cert.subject,
    notBefore: new Date(req.notBefore ?? Date.now() - 60_000),
    notAfter: new Date(req.notAfter ?? Date.now() + DAY),
    signingAlgorithm: ALG,
    publicKey: k.publicKey,
    signingKey: issuer.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(req.ca ?? false, undefined, true),
      ...(req.keyUsage === null ? [] : [new x509.KeyUsagesExtension(req.keyUsage ?? x509.KeyUsageFlags.digitalSignature, true)]),
      new x509.ExtendedKeyUsageExtension(eku),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(k.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  });
  const certPem = `${cert.toString('pem')}\n`;
  return { certPem, keyPem: await keyPem(k), serial: sn.toUpperCase(), asIssuer: { name: req.cn ?? 'leaf', cert, keys: k, pem: certPem } };
}

/** Write cert.pem (leaf, then `chain`), key.pem (0600) and ca.pem into `dir`; returns the paths. */
export function writeIdentity(dir: string, leaf: Leaf, caPem: string, chain: Issuer[] = []): { cert: string; key: string; ca: string } {
  mkdirSync(dir, { recursive: true });
  const paths = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem'), ca: join(dir, 'ca.pem') };
  writeFileSync(paths.cert, leaf.certPem + chain.map((c) => c.pem).join(''));
  writeFileSync(paths.key, leaf.keyPem, { mode: 0o600 });
  writeFileSync(paths.ca, caPem);
  return paths;
}
