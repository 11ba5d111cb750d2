/** Self-signed P-256 certificates for the dev identity. */
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { webcrypto, x509 } from './peculiar.js';

const EC_P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGNING = { name: 'ECDSA', hash: 'SHA-256' } as const;

export interface SelfSignedRequest {
  readonly commonName: string;
  readonly uris?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
  /** Epoch ms; X.509 keeps whole seconds, so both are floored to the second. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** Reuse this PKCS#8 PEM key (the access point keeps its key so executors' trust holds). */
  readonly keyPem?: string;
  readonly usage: 'server' | 'client';
}

export interface PemPair {
  readonly certPem: string;
  readonly keyPem: string;
}

async function importOrGenerateKey(keyPem: string | undefined): Promise<webcrypto.CryptoKeyPair> {
  if (!keyPem) return (await webcrypto.subtle.generateKey(EC_P256, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const { createPrivateKey, createPublicKey } = await import('node:crypto');
  const priv = createPrivateKey(keyPem);
  const pkcs8 = priv.export({ type: 'pkcs8', format: 'der' });
  const spki = createPublicKey(priv).export({ type: 'spki', format: 'der' });
  return {
    privateKey: await webcrypto.subtle.importKey('pkcs8', pkcs8, EC_P256, true, ['sign']),
    publicKey: await webcrypto.subtle.importKey('spki', spki, EC_P256, true, ['verify']),
  } as webcrypto.CryptoKeyPair;
}

export async function createSelfSigned(req: SelfSignedRequest): Promise<PemPair> {
  const keys = await importOrGenerateKey(req.keyPem);
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // positive INTEGER
  const names: x509.JsonGeneralName[] = [
    ...(req.uris ?? []).map((value) => ({ type: 'url' as const, value })),
    ...(req.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(req.ips ?? []).filter((ip) => isIP(ip)).map((value) => ({ type: 'ip' as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial.toString('hex'),
    name: `CN=${req.commonName.replace(/[,+="\\<>;]/g, '_')}, O=Agent Harbor dev identity`,
    notBefore: new Date(Math.floor(req.notBefore / 1000) * 1000),
    notAfter: new Date(Math.floor(req.notAfter / 1000) * 1000),
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([req.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
      ...(names.length ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  const keyPem = req.keyPem ?? x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
  return { certPem: cert.toString('pem') + '\n', keyPem: keyPem.endsWith('\n') ? keyPem : `${keyPem}\n` };
}
