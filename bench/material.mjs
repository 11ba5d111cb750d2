// Certificates shared by both sides of the comparison: one server certificate and, per executor,
// a first certificate and the one it rotates to. All P-256, self-signed, URI SAN
// spiffe://bench.local/ah/agent/executor-<i>; generated once per run, written to a JSON file.
import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { createSelfSigned } from '../dist/x509/self-signed.js';
import { summarize } from '../dist/x509/certificate.js';

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
  const executors = [];
  for (let i = 0; i < n; i++) {
    const uris = [`spiffe://bench.local/ah/agent/executor-${i}`];
    const first = await createSelfSigned({ commonName: `executor-${i}`, uris, notBefore, notAfter: notBefore + firstLifetimeMs, usage: 'client' });
    const second = await createSelfSigned({ commonName: `executor-${i}`, uris, notBefore, notAfter: notBefore + secondLifetimeMs, usage: 'client' });
    executors.push({ name: `executor-${i}`, uri: uris[0], first, second });
  }
  return { server, executors };
}

const material = (pair, provider = 'bench') => ({
  certPem: pair.certPem,
  keyPem: pair.keyPem,
  bundlePem: null,
  summary: summarize(new X509Certificate(pair.certPem), provider),
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
  #next = 0;
  constructor(pairs) {
    super();
    this.#pairs = pairs;
  }
  async start() {
    this.emit('material', await this.issue());
  }
  async issue() {
    const pair = this.#pairs[Math.min(this.#next++, this.#pairs.length - 1)];
    return material(pair);
  }
  /** New material pushed, as SPIRE or a rewritten file would: the executor rotates to it. */
  async push() {
    this.emit('material', await this.issue());
  }
  async stop() {}
}
