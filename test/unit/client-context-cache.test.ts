/**
 * The executor's TLS contexts: built once per identity material and reused for every dial that
 * presents it; new material (a rotation) or the same certificate with a new trust bundle gets a
 * context of its own, and the access point sees the certificate of the material dialled with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import { ClientContextCache } from '../../src/transport/client-context-cache.js';
import { FleetClientLink } from '../../src/transport/fleet-client.js';
import type { AhError } from '../../src/errors/ah-error.js';
import { createSelfSigned, type PemPair } from '../../src/x509/self-signed.js';
import { createRoot, issueLeaf, type Issuer, type Leaf } from '../helpers/pki.js';
import { startWelcomeServer, type WelcomeServer } from '../helpers/welcome-server.js';

let root: Issuer;
let first: Leaf;
let second: Leaf;
let serverPair: PemPair;
let server: WelcomeServer;

beforeAll(async () => {
  root = await createRoot('Executor CA');
  first = await issueLeaf(root, { cn: 'executor-1', uris: ['spiffe://example.org/ah/agent/executor-1'], usage: 'client' });
  second = await issueLeaf(root, { cn: 'executor-1', uris: ['spiffe://example.org/ah/agent/executor-1'], usage: 'client' });
  const now = Date.now();
  serverPair = await createSelfSigned({
    commonName: 'access point',
    uris: ['spiffe://example.org/ah/access-point'],
    ips: ['127.0.0.1'],
    notBefore: now - 60_000,
    notAfter: now + 3_600_000,
    usage: 'server',
  });
  server = await startWelcomeServer(serverPair, root.pem);
});
afterAll(() => server.close());

/** Dial once with the cached context for `material`; resolves with the welcome's executor id. */
function dial(cache: ClientContextCache, material: { certPem: string; keyPem: string }, bundlePem: string): Promise<string> {
  const link = new FleetClientLink({
    host: '127.0.0.1',
    port: server.port,
    address: `127.0.0.1:${server.port}`,
    certPem: material.certPem,
    keyPem: material.keyPem,
    trust: { kind: 'ca', bundlePem, host: '127.0.0.1' },
    hello: { name: 'executor-1', version: 'test', labels: {} },
    secureContext: cache.contextFor(material, { caPem: bundlePem }),
  });
  return new Promise((resolve, reject) => {
    link.once('welcome', (w) => {
      link.close('done');
      resolve(w.executorId);
    });
    link.once('failed', (e: AhError) => reject(e));
    link.start();
  });
}

describe('ClientContextCache', () => {
  it('builds one context per material across many dials, and a new one after a rotation', async () => {
    const built: SecureContextOptions[] = [];
    const cache = new ClientContextCache((options) => {
      built.push(options);
      return createSecureContext(options);
    });
    const material = { certPem: first.certPem, keyPem: first.keyPem };
    const before = server.welcomed.length;
    for (let i = 0; i < 5; i++) await dial(cache, material, serverPair.certPem);
    expect(built).toHaveLength(1);
    expect(server.welcomed.slice(before)).toEqual(Array(5).fill(first.serial));

    // The rotation: new material, a new context, and the access point sees the new certificate.
    const rotated = { certPem: second.certPem, keyPem: second.keyPem };
    for (let i = 0; i < 3; i++) await dial(cache, rotated, serverPair.certPem);
    expect(built).toHaveLength(2);
    expect(built[1]?.cert).toBe(second.certPem);
    expect(server.welcomed.slice(before + 5)).toEqual(Array(3).fill(second.serial));
  });

  it('builds a new context when the trust bundle changes under the same material', async () => {
    const built: SecureContextOptions[] = [];
    const cache = new ClientContextCache((options) => {
      built.push(options);
      return createSecureContext(options);
    });
    const material = { certPem: first.certPem, keyPem: first.keyPem };
    await dial(cache, material, serverPair.certPem);
    // A CA rotation's bundle: the old anchor and a new one.
    const bundle = `${serverPair.certPem}${root.pem}`;
    await dial(cache, material, bundle);
    await dial(cache, material, bundle);
    expect(built.map((b) => b.ca)).toEqual([serverPair.certPem, bundle]);
  });

  it('refuses a key that does not belong to the certificate when the context is built', () => {
    const cache = new ClientContextCache();
    expect(() => cache.contextFor({ certPem: first.certPem, keyPem: second.keyPem }, {})).toThrow(/key values mismatch/);
  });
});
