// Certificates shared by both sides of the comparison: one server certificate (self-signed, the
// executors' trust anchor) and an executor CA that issues, per executor, a first certificate and
// the one it rotates to. All P-256, URI SAN spiffe://bench.local/ah/agent/executor-<i>; generated
// once per run, written to a JSON file. Both servers verify every executor chain against the CA in
// the handshake, as every mTLS server must.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { createSelfSigned } from '../dist/x509/self-signed.js';
import { summarizePem } from '../dist/x509/certificate.js';
import { webcrypto, x509 } from '../dist/x509/peculiar.js';

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const serial = () => {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString('hex');
};
const pkcs8Pem = async (key) => `${x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY')}\n`;

async function executorCa(notBefore) {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: 'CN=bench executor CA',
    notBefore: new Date(notBefore - 3_600_000),
    notAfter: new Date(notBefore + 7 * 86_400_000),
    signingAlgorithm: EC,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys, pem: `${cert.toString('pem')}\n` };
}

async function issueExecutor(ca, name, uri, notBefore, notAfter) {
  const keys = await webcrypto.subtle.generateKey(EC, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: ca.cert.subject,
    notBefore: new Date(Math.floor(notBefore / 1000) * 1000),
    notAfter: new Date(Math.floor(notAfter / 1000) * 1000),
    signingAlgorithm: EC,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: uri }]),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { certPem: `${cert.toString('pem')}\n`, keyPem: await pkcs8Pem(keys.privateKey) };
}

export async function generateMaterial({ n, notBefore, firstLifetimeMs, secondLifetimeMs }) {
  const server = await createSelfSigned({
    commonName: 'bench access point',
    uris: ['spiffe://bench.local/ah/access-point'],
    dnsNames: ['localhost'],
    ips: ['127.0.0.1'],
    notBefore: notBefore - 60_000,
    notAfter: notBefore + 24 * 3_600_000,
    usage: 'server',
  });
  const ca = await executorCa(notBefore);
  const executors = [];
  for (let i = 0; i < n; i++) {
    const name = `executor-${i}`;
    const uri = `spiffe://bench.local/ah/agent/${name}`;
    const first = await issueExecutor(ca, name, uri, notBefore, notBefore + firstLifetimeMs);
    const second = await issueExecutor(ca, name, uri, notBefore, notBefore + secondLifetimeMs);
    executors.push({ name, uri, first, second });
  }
  return { server, executorCaPem: ca.pem, executors };
}

const material = (pair, bundlePem, provider = 'bench') => ({
  certPem: pair.certPem,
  keyPem: pair.keyPem,
  bundlePem,
  summary: summarizePem(pair.certPem, provider),
});

/**
 * An identity provider over pre-made certificates: hands out `pairs` in order, the last one for
 * ever. It stands in for the dev provider so that both sides of the comparison use the very same
 * certificates and no certificate is generated while measuring.
 */
export class StaticProvider extends EventEmitter {
  kind = 'dev';
  canIssue = true;
  #pairs;
  #bundlePem;
  #next = 0;
  /** `bundlePem`: the peers' CA (the access point verifies executors by it; executors the access point). */
  constructor(pairs, bundlePem = null) {
    super();
    this.#pairs = pairs;
    this.#bundlePem = bundlePem;
  }
  async start() {
    this.emit('material', await this.issue());
  }
  async issue() {
    const pair = this.#pairs[Math.min(this.#next++, this.#pairs.length - 1)];
    return material(pair, this.#bundlePem);
  }
  /** New material pushed, as SPIRE or a rewritten file would: the executor rotates to it. */
  async push() {
    this.emit('material', await this.issue());
  }
  async stop() {}
}
