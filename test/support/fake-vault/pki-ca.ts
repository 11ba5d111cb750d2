/**
 * A real certificate authority for the fake PKI engine: a root, optionally an intermediate that
 * does the issuing (the guide's `pki_int` setup), and leaf signing.
 *
 * Shapes follow what Vault's PKI engine produces (docs/vault-api.md §PKI issue): CA certificates
 * carry BasicConstraints cA=true and KeyUsage keyCertSign|cRLSign (critical); leaves carry KeyUsage
 * (critical) from the role, EKU serverAuth/clientAuth, SKI/AKI and a SAN extension, and **no**
 * BasicConstraints unless the role asks (`basic_constraints_valid_for_non_ca`). Serial numbers are
 * random and below 2^159 like `certutil.GenerateSerialNumber`. Keys default to Vault's own default,
 * RSA 2048 (`key_type=rsa`, `key_bits=0`→2048), with SHA-256 signatures.
 */
import { generateKeyPair, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { webcrypto, x509 } from '../../../src/x509/peculiar.js';

const generateKeyPairAsync = promisify(generateKeyPair);

export type KeyType = 'rsa' | 'ec';

/** Vault's default key_bits per type (`key_bits=0`). */
export function defaultKeyBits(type: KeyType): number {
  return type === 'rsa' ? 2048 : 256;
}

const EC_CURVES: Record<number, string> = { 224: 'secp224r1', 256: 'prime256v1', 384: 'secp384r1', 521: 'secp521r1' };
const WEB_CURVES: Record<number, string> = { 256: 'P-256', 384: 'P-384', 521: 'P-521' };

/** Refuse sizes Vault refuses (`certutil.ValidateKeyTypeLength`). */
export function checkKeyBits(type: KeyType, bits: number): void {
  const ok = type === 'rsa' ? [2048, 3072, 4096, 8192].includes(bits) : bits in EC_CURVES;
  if (!ok) throw new Error(`fake-vault: unsupported bit length for ${type} key: ${bits}`);
}

/** A leaf key pair, generated per issue request like Vault's `issue` endpoint does. */
export interface LeafKey {
  readonly type: KeyType;
  readonly privateKey: KeyObject;
  readonly spkiDer: Buffer;
}

export async function generateLeafKey(type: KeyType, bits: number): Promise<LeafKey> {
  const { privateKey, publicKey } =
    type === 'rsa'
      ? await generateKeyPairAsync('rsa', { modulusLength: bits, publicExponent: 0x10001 })
      : await generateKeyPairAsync('ec', { namedCurve: EC_CURVES[bits]! });
  return { type, privateKey, spkiDer: publicKey.export({ type: 'spki', format: 'der' }) };
}

/** PEM the way Vault returns it: Go's `pem.EncodeToMemory`, then `strings.TrimSpace`. */
export function pem(der: ArrayBuffer | Uint8Array, label: string): string {
  const b64 = Buffer.from(der instanceof ArrayBuffer ? new Uint8Array(der) : der).toString('base64');
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----`;
}

/** A CA certificate with its signing key (kept inside the fake; never returned to clients). */
export interface CaCert {
  /** Vault's issuer_id (a UUID) and issuer_name (may be empty). */
  readonly id: string;
  readonly name: string;
  readonly cert: x509.X509Certificate;
  readonly der: Buffer;
  readonly pem: string;
  readonly signingKey: webcrypto.CryptoKey;
  readonly publicKey: webcrypto.CryptoKey;
  readonly selfSigned: boolean;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** Random serial below 2^159 (20 bytes, top bit clear, no leading zero byte so DER stays minimal). */
export function newSerialHex(): string {
  const bytes = randomBytes(20);
  bytes[0] = bytes[0]! & 0x7f || 0x01;
  return bytes.toString('hex');
}

/** Vault's `serial_number` form: colon-separated lowercase hex pairs (`39:dd:2e:…`). */
export function colonHex(hex: string): string {
  return (hex.match(/../g) ?? []).join(':');
}

/** Whole seconds: X.509 validity has no sub-second part, so compute with what the cert will hold. */
export function floorSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

async function caKeys(type: KeyType, bits: number): Promise<webcrypto.CryptoKeyPair> {
  const alg =
    type === 'rsa'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: bits, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : { name: 'ECDSA', namedCurve: WEB_CURVES[bits] ?? 'P-256' };
  return (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
}

export interface CaParams {
  readonly commonName: string;
  readonly keyType: KeyType;
  readonly keyBits: number;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly issuerName?: string;
}

async function caExtensions(keys: webcrypto.CryptoKeyPair, parent: CaCert | null): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(parent ? parent.publicKey : keys.publicKey),
  ];
}

function toCa(cert: x509.X509Certificate, keys: webcrypto.CryptoKeyPair, selfSigned: boolean, name: string): CaCert {
  const der = Buffer.from(cert.rawData);
  return {
    id: randomUUID(),
    name,
    cert,
    der,
    pem: pem(der, 'CERTIFICATE'),
    signingKey: keys.privateKey,
    publicKey: keys.publicKey,
    selfSigned,
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
  };
}

/** `pki/root/generate/internal`: a self-signed root. */
export async function createRoot(p: CaParams): Promise<CaCert> {
  const keys = await caKeys(p.keyType, p.keyBits);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerialHex(),
    name: [{ CN: [p.commonName] }],
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    keys,
    extensions: await caExtensions(keys, null),
  });
  return toCa(cert, keys, true, p.issuerName ?? '');
}

/** `pki_int/intermediate/generate` + `pki/root/sign-intermediate` + `set-signed`, in one step. */
export async function createIntermediate(parent: CaCert, p: CaParams): Promise<CaCert> {
  const keys = await caKeys(p.keyType, p.keyBits);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: newSerialHex(),
    subject: [{ CN: [p.commonName] }],
    issuer: parent.cert.subjectName,
    notBefore: p.notBefore,
    // biome-ignore lint/complexity/useMathMinMax: Dates, not numbers.
    notAfter: p.notAfter > parent.notAfter ? parent.notAfter : p.notAfter,
    publicKey: keys.publicKey,
    signingKey: parent.signingKey,
    extensions: await caExtensions(keys, parent),
  });
  return toCa(cert, keys, false, p.issuerName ?? '');
}

/** What goes into one leaf certificate; validated by the caller against the role first. */
export interface LeafParams {
  readonly serialHex: string;
  readonly subject: x509.JsonName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spkiDer: Buffer;
  readonly dnsNames: readonly string[];
  readonly emails: readonly string[];
  readonly ips: readonly string[];
  readonly uris: readonly string[];
  readonly keyUsage: number;
  readonly extKeyUsage: readonly string[];
  readonly basicConstraints: boolean;
}

/** Sign a leaf with the issuing CA. */
export async function signLeaf(ca: CaCert, p: LeafParams): Promise<x509.X509Certificate> {
  const names: x509.JsonGeneralName[] = [
    ...p.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...p.emails.map((value) => ({ type: 'email' as const, value })),
    ...p.ips.filter((ip) => isIP(ip)).map((value) => ({ type: 'ip' as const, value })),
    ...p.uris.map((value) => ({ type: 'url' as const, value })),
  ];
  const extensions: x509.Extension[] = [];
  if (p.keyUsage !== 0) extensions.push(new x509.KeyUsagesExtension(p.keyUsage, true));
  if (p.extKeyUsage.length > 0) extensions.push(new x509.ExtendedKeyUsageExtension([...p.extKeyUsage]));
  if (p.basicConstraints) extensions.push(new x509.BasicConstraintsExtension(false, undefined, true));
  extensions.push(await x509.SubjectKeyIdentifierExtension.create(new Uint8Array(p.spkiDer)));
  extensions.push(await x509.AuthorityKeyIdentifierExtension.create(ca.publicKey));
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  return x509.X509CertificateGenerator.create({
    serialNumber: p.serialHex,
    subject: p.subject,
    issuer: ca.cert.subjectName,
    notBefore: p.notBefore,
    notAfter: p.notAfter,
    publicKey: new Uint8Array(p.spkiDer),
    signingKey: ca.signingKey,
    extensions,
  });
}

/** A server certificate for the fake's own HTTPS listener (`tls: true`), signed by its own root. */
export async function listenerCertificate(root: CaCert, notAfter: Date): Promise<{ certPem: string; keyPem: string }> {
  const key = await generateLeafKey('ec', 256);
  const cert = await signLeaf(root, {
    serialHex: newSerialHex(),
    subject: [{ CN: ['localhost'] }],
    notBefore: floorSecond(Date.now() - 30_000),
    notAfter,
    spkiDer: key.spkiDer,
    dnsNames: ['localhost'],
    emails: [],
    ips: ['127.0.0.1', '::1'],
    uris: [],
    keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    extKeyUsage: [x509.ExtendedKeyUsage.serverAuth],
    basicConstraints: false,
  });
  return {
    certPem: `${pem(Buffer.from(cert.rawData), 'CERTIFICATE')}\n`,
    keyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}
