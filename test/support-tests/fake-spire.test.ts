/**
 * The fake SPIRE agent, checked from the outside: a plain grpc-js client loaded from the same
 * workload.proto talks to it over a real unix socket, and every behaviour that mimics SPIRE is
 * held to docs/workload-api.md (exact codes and details, header check, full-state pushes,
 * concatenated DER, PKCS#8, redaction, vanishing). Waits are on events with bounds, never sleeps.
 */
import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { x509 } from '../../src/x509/peculiar.js';
import { spawnTracked } from '../helpers/processes.js';
import {
  RawWorkloadClient,
  SVID_DEFECTS,
  createTrustDomain,
  shortSocketDir,
  splitDerCertificates,
  startFakeSpire,
  type FakeSpire,
  type FakeSpireOptions,
  type SvidDefect,
} from '../support/fake-spire/index.js';
import type { X509SvidMessage } from '../support/fake-spire/proto.js';

const TD = 'example.org';
const EXECUTOR = 'spiffe://example.org/ah/agent/executor-1';
const SERVER = 'spiffe://example.org/ah/serve';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function agent(options: Partial<FakeSpireOptions> = {}): Promise<FakeSpire> {
  const dir = shortSocketDir('fs-');
  const spire = await startFakeSpire({ socketPath: dir.path(), trustDomain: TD, ...options });
  cleanups.push(async () => {
    await spire.close();
    dir.remove();
  });
  return spire;
}

function client(target: string | FakeSpire): RawWorkloadClient {
  const c = new RawWorkloadClient(typeof target === 'string' ? target : target.target);
  cleanups.push(() => c.close());
  return c;
}

/** The certificates of a concatenated DER field, parsed by Node and by @peculiar/x509. */
function certs(field: Buffer) {
  return splitDerCertificates(field).map((der) => ({ node: new X509Certificate(der), pec: new x509.X509Certificate(der) }));
}

function uriSans(cert: x509.X509Certificate): string[] {
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  return (san?.names.items ?? []).filter((n) => n.type === 'url').map((n) => n.value);
}

function keyUsage(cert: x509.X509Certificate) {
  const ext = cert.getExtension(x509.KeyUsagesExtension);
  const has = (flag: x509.KeyUsageFlags) => ext !== null && (ext.usages & flag) !== 0;
  return {
    present: ext !== null,
    critical: ext?.critical ?? false,
    digitalSignature: has(x509.KeyUsageFlags.digitalSignature),
    keyCertSign: has(x509.KeyUsageFlags.keyCertSign),
    cRLSign: has(x509.KeyUsageFlags.cRLSign),
  };
}

/**
 * Parse one X509SVID message the way the product must (§What SPIRE puts in the fields): split,
 * parse, import the key.
 */
function open(svid: X509SvidMessage) {
  const chain = certs(svid.x509_svid);
  const bundle = certs(svid.bundle);
  const key = createPrivateKey({ key: svid.x509_svid_key, format: 'der', type: 'pkcs8' });
  return { chain, leaf: chain[0]!, bundle, key };
}

describe('security header', () => {
  it('refuses every method without exactly one `workload.spiffe.io: true`, before anything else', async () => {
    // Unregistered on purpose: the header check comes first, so no PERMISSION_DENIED leaks out.
    const spire = await agent();
    const c = client(spire);
    const refused = { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' };

    for (const header of ['none', ['false'], ['TRUE'], ['true', 'true']] as const) {
      const x509Stream = c.fetchX509Svid(header);
      expect(await x509Stream.status()).toEqual(refused);
      expect(x509Stream.messages).toHaveLength(0);
    }
    expect(await c.fetchX509Bundles('none').status()).toEqual(refused);
    expect(await c.stream('FetchJWTBundles', 'none').status()).toEqual(refused);
    expect(await c.stream('FetchWITSVID', 'none').status()).toEqual(refused);
    expect((await c.unary('FetchJWTSVID', { audience: ['x'] }, 'none')).error).toEqual(refused);
    expect((await c.unary('ValidateJWTSVID', {}, 'none')).error).toEqual(refused);

    expect(spire.stats.headersRejected).toBe(9);
    expect(spire.stats.headersSeen).toBe(0);
  });

  it('counts the calls that carry it', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    await stream.next();
    expect(spire.stats).toMatchObject({ headersSeen: 1, headersRejected: 0, callsTotal: 1, x509StreamsOpen: 1, connectionsOpen: 1 });
  });
});

describe('FetchX509SVID first message (§Messages, §Streams, §X.509-SVID rules)', () => {
  it('is a conforming X.509-SVID: leaf-only DER chain, PKCS#8 key that matches, concatenated bundle', async () => {
    const spire = await agent();
    const registered = await spire.register(EXECUTOR, { ttlMs: 120_000, hint: 'executor' });
    const message = await client(spire).fetchX509Svid().next();

    expect(message.svids).toHaveLength(1);
    expect(message.crl).toEqual([]);
    expect(message.federated_bundles).toEqual({});
    const svid = message.svids[0]!;
    expect(svid.spiffe_id).toBe(EXECUTOR);
    expect(svid.hint).toBe('executor');

    const { chain, leaf, bundle, key } = open(svid);
    expect(chain).toHaveLength(1); // root-signed: no intermediates
    expect(leaf.node.serialNumber.toLowerCase()).toBe(registered.serial);
    expect(leaf.node.ca).toBe(false);
    expect(leaf.node.subjectAltName).toBe(`URI:${EXECUTOR}`);
    expect(uriSans(leaf.pec)).toEqual([EXECUTOR]);
    const bc = leaf.pec.getExtension(x509.BasicConstraintsExtension)!;
    expect(bc.ca).toBe(false);
    expect(keyUsage(leaf.pec)).toEqual({ present: true, critical: true, digitalSignature: true, keyCertSign: false, cRLSign: false });
    expect(leaf.pec.getExtension(x509.ExtendedKeyUsageExtension)!.usages).toEqual(
      expect.arrayContaining([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    );
    const lifetime = leaf.pec.notAfter.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(110_000);
    expect(lifetime).toBeLessThanOrEqual(120_000);

    expect(key.asymmetricKeyType).toBe('ec');
    expect(leaf.node.checkPrivateKey(key)).toBe(true);

    expect(bundle).toHaveLength(1);
    expect(bundle[0]!.node.ca).toBe(true);
    expect(bundle[0]!.node.subjectAltName).toBe(`URI:spiffe://${TD}`);
    expect(keyUsage(bundle[0]!.pec)).toMatchObject({ keyCertSign: true, critical: true });
    expect(bundle[0]!.node.toString()).toBe(new X509Certificate(spire.caPem()).toString());
    expect(svid.bundle.equals(Buffer.from(new X509Certificate(spire.bundlePem()).raw))).toBe(true);
    expect(leaf.node.checkIssued(bundle[0]!.node)).toBe(true);
    expect(leaf.node.verify(bundle[0]!.node.publicKey)).toBe(true);
  });

  it('carries leaf then intermediate, concatenated, when the trust domain signs through an intermediate', async () => {
    const spire = await agent({ trustDomainOptions: { intermediate: true } });
    await spire.register(EXECUTOR);
    const svid = (await client(spire).fetchX509Svid().next()).svids[0]!;
    const { chain, bundle, leaf } = open(svid);

    expect(chain).toHaveLength(2);
    expect(chain[1]!.node.ca).toBe(true);
    expect(bundle).toHaveLength(1);
    expect(leaf.node.verify(chain[1]!.node.publicKey)).toBe(true);
    expect(chain[1]!.node.verify(bundle[0]!.node.publicKey)).toBe(true);
    expect(leaf.node.verify(bundle[0]!.node.publicKey)).toBe(false);
    // Why clients must split: Node parses only the first certificate of the buffer
    // (§What SPIRE puts in the fields).
    expect(new X509Certificate(svid.x509_svid).serialNumber).toBe(leaf.node.serialNumber);
  });

  it('serves the identities in registration order, the first as default, and drops a duplicate hint', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR, { hint: 'main' });
    await spire.register('spiffe://example.org/ah/agent/second', { hint: 'other' });
    await spire.register('spiffe://example.org/ah/agent/third', { hint: 'main' });
    const message = await client(spire).fetchX509Svid().next();
    expect(message.svids.map((s) => [s.spiffe_id, s.hint])).toEqual([
      [EXECUTOR, 'main'],
      ['spiffe://example.org/ah/agent/second', 'other'],
    ]);
  });
});

describe('pushes on the open stream (§Streams: every message is the full state)', () => {
  it('pushes a new full-state message per rotation, with a new key and serial', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    const first = open((await stream.next()).svids[0]!);

    await spire.rotate();
    const second = await stream.next();
    expect(second.svids).toHaveLength(1);
    const rotated = open(second.svids[0]!);
    expect(rotated.leaf.node.serialNumber).not.toBe(first.leaf.node.serialNumber);
    expect(rotated.leaf.node.checkPrivateKey(rotated.key)).toBe(true);
    expect(rotated.leaf.node.checkPrivateKey(first.key)).toBe(false);
    expect(second.svids[0]!.bundle.equals(Buffer.concat(first.bundle.map((b) => Buffer.from(b.node.raw))))).toBe(true);

    const pushed = spire.nextX509Push();
    const [snapshot] = await spire.rotate(EXECUTOR);
    const third = open((await stream.next()).svids[0]!);
    expect(third.leaf.node.serialNumber.toLowerCase()).toBe(snapshot!.serial);
    expect((await pushed).svids[0]!.x509_svid.equals(Buffer.from(third.leaf.node.raw))).toBe(true);
    expect(spire.stats.x509MessagesSent).toBe(3);
  });

  it('adds an identity with a push, and redacts a removed one by leaving it out', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    await stream.next();

    await spire.register('spiffe://example.org/ah/agent/second');
    expect((await stream.next()).svids.map((s) => s.spiffe_id)).toEqual([EXECUTOR, 'spiffe://example.org/ah/agent/second']);
    await spire.unregister('spiffe://example.org/ah/agent/second');
    expect((await stream.next()).svids.map((s) => s.spiffe_id)).toEqual([EXECUTOR]);
  });

  it('re-issues at half-life by itself with autoRotate', async () => {
    const spire = await agent({ autoRotate: true });
    await spire.register(EXECUTOR, { ttlMs: 2_000 });
    const stream = client(spire).fetchX509Svid();
    const first = open((await stream.next()).svids[0]!);
    const second = open((await stream.next(10_000)).svids[0]!);
    expect(second.leaf.node.serialNumber).not.toBe(first.leaf.node.serialNumber);
  });
});

describe('CA rotation', () => {
  it('publishes old+new, re-issues under the new CA, then drops the old one', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    const before = open((await stream.next()).svids[0]!);
    const oldCa = before.bundle[0]!.node;

    const rotation = await spire.rotateCa();
    expect(new X509Certificate(rotation.previousCaPem).raw.equals(oldCa.raw)).toBe(true);
    const newCa = new X509Certificate(rotation.newCaPem);

    // 1. prepared: the bundle gains the new CA, the SVID is still the old one.
    const prepared = open((await stream.next()).svids[0]!);
    expect(prepared.bundle.map((b) => b.node.raw)).toEqual([oldCa.raw, newCa.raw]);
    expect(prepared.leaf.node.serialNumber).toBe(before.leaf.node.serialNumber);
    // 2. activated: a new SVID signed by the new CA, both CAs still trusted.
    const activated = open((await stream.next()).svids[0]!);
    expect(activated.bundle.map((b) => b.node.raw)).toEqual([oldCa.raw, newCa.raw]);
    expect(activated.leaf.node.verify(newCa.publicKey)).toBe(true);
    expect(activated.leaf.node.verify(oldCa.publicKey)).toBe(false);
    expect(before.leaf.node.verify(oldCa.publicKey)).toBe(true);
    // 3. the overlap ends: only the new CA.
    await spire.dropOldCa();
    await rotation.oldCaDropped;
    const dropped = open((await stream.next()).svids[0]!);
    expect(dropped.bundle.map((b) => b.node.raw)).toEqual([newCa.raw]);
    expect(dropped.leaf.node.serialNumber).toBe(activated.leaf.node.serialNumber);
    expect(new X509Certificate(spire.caPem()).raw.equals(newCa.raw)).toBe(true);
  });

  it('drops the old CA by itself after overlapMs', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    await stream.next();
    const rotation = await spire.rotateCa({ overlapMs: 200 });
    await rotation.oldCaDropped;
    const bundles = [];
    for (let i = 0; i < 3; i++) bundles.push(splitDerCertificates((await stream.next()).svids[0]!.bundle).length);
    expect(bundles).toEqual([2, 2, 1]);
  });

  it('reaches every agent of a shared trust domain, and their SVIDs chain to the same CA', async () => {
    const td = await createTrustDomain(TD);
    cleanups.push(() => td.dispose());
    const executorAgent = await agent({ trustDomain: td });
    const serverAgent = await agent({ trustDomain: td });
    await executorAgent.register(EXECUTOR);
    await serverAgent.register(SERVER);
    const a = client(executorAgent).fetchX509Svid();
    const b = client(serverAgent).fetchX509Svid();
    await a.next();
    await b.next();

    const rotation = await td.rotateCa();
    await td.dropOldCa();
    await rotation.oldCaDropped;
    const newCa = new X509Certificate(rotation.newCaPem);
    for (const stream of [a, b]) {
      await stream.next(); // prepared
      const activated = open((await stream.next()).svids[0]!);
      expect(activated.leaf.node.verify(newCa.publicKey)).toBe(true);
      expect(open((await stream.next()).svids[0]!).bundle).toHaveLength(1);
    }
  });
});

describe('no registration entry (§Status codes)', () => {
  const denied = { code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' };

  it('answers PERMISSION_DENIED "no identity issued" on the SVID, bundle and JWT calls', async () => {
    const spire = await agent();
    const c = client(spire);
    const stream = c.fetchX509Svid();
    expect(await stream.status()).toEqual(denied);
    expect(stream.messages).toHaveLength(0);
    expect(await c.fetchX509Bundles().status()).toEqual(denied);
    expect(await c.stream('FetchJWTBundles').status()).toEqual(denied);
    expect((await c.unary('FetchJWTSVID', { audience: ['ah'] })).error).toEqual(denied);
    expect(spire.stats.permissionDenied).toBe(4);
  });

  it('ends an open stream with it when the entry goes away, and serves again once registered', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const c = client(spire);
    const stream = c.fetchX509Svid();
    await stream.next();
    await spire.unregister();
    expect(await stream.status()).toEqual(denied);
    expect(spire.stats.x509StreamsOpen).toBe(0);

    await spire.register(EXECUTOR);
    expect((await c.fetchX509Svid().next()).svids[0]!.spiffe_id).toBe(EXECUTOR);
  });

  it('still serves the own bundle with allowUnauthenticatedVerifiers', async () => {
    const other = await createTrustDomain('other.org');
    const spire = await agent({ allowUnauthenticatedVerifiers: true, federatesWith: [other] });
    const message = await client(spire).fetchX509Bundles().next();
    expect(Object.keys(message.bundles)).toEqual([`spiffe://${TD}`]);
    expect(message.bundles[`spiffe://${TD}`]!.equals(spire.trustDomain.bundleDer())).toBe(true);
  });
});

describe('federated bundles and FetchX509Bundles', () => {
  it('sends a federated bundle keyed by trust domain ID, follows its CA rotation, and redacts it', async () => {
    const other = await createTrustDomain('other.org');
    cleanups.push(() => other.dispose());
    const spire = await agent({ federatesWith: [other] });
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    const first = await stream.next();
    expect(Object.keys(first.federated_bundles)).toEqual(['spiffe://other.org']);
    expect(first.federated_bundles['spiffe://other.org']!.equals(other.bundleDer())).toBe(true);
    expect(certs(first.federated_bundles['spiffe://other.org']!)[0]!.node.subjectAltName).toBe('URI:spiffe://other.org');

    await other.rotateCa();
    const afterRotation = await stream.next();
    expect(splitDerCertificates(afterRotation.federated_bundles['spiffe://other.org']!)).toHaveLength(2);

    await spire.unfederate(other);
    const redacted = await stream.next();
    expect(redacted.federated_bundles).toEqual({});
    expect(redacted.svids).toHaveLength(1);
  });

  it('streams own + federated bundles and skips a message equal to the last one', async () => {
    const other = await createTrustDomain('other.org');
    const spire = await agent({ federatesWith: [other] });
    await spire.register(EXECUTOR);
    const c = client(spire);
    const bundles = c.fetchX509Bundles();
    const first = await bundles.next();
    expect(Object.keys(first.bundles).sort()).toEqual(['spiffe://example.org', 'spiffe://other.org']);
    expect(first.crl).toEqual([]);

    // An SVID rotation changes no bundle: nothing is sent on this stream (SPIRE's proto.Equal).
    await spire.rotate();
    await spire.rotateCa();
    const second = await bundles.next();
    expect(splitDerCertificates(second.bundles['spiffe://example.org']!)).toHaveLength(2);
    expect(spire.stats.bundleMessagesSent).toBe(2);
  });
});

describe('vanishing and coming back', () => {
  it('drops the stream (UNAVAILABLE) and removes the socket when stopped; returns on the same path with new SVIDs', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    const before = open((await stream.next()).svids[0]!);

    await spire.stop();
    expect(await stream.status()).toEqual({ code: grpc.status.UNAVAILABLE, details: 'Connection dropped' });
    expect(existsSync(spire.socketPath)).toBe(false);
    // What a client sees with nothing there (§Status codes, last row).
    expect(await client(spire).fetchX509Svid().status()).toEqual({
      code: grpc.status.UNAVAILABLE,
      details: `No connection established. Last error: Error: connect ENOENT ${spire.socketPath}. Resolution note: `,
    });

    await spire.start();
    expect(statSync(spire.socketPath).isSocket()).toBe(true);
    const after = open((await client(spire).fetchX509Svid().next()).svids[0]!);
    expect(after.leaf.node.serialNumber).not.toBe(before.leaf.node.serialNumber);
    expect(after.bundle[0]!.node.raw.equals(before.bundle[0]!.node.raw)).toBe(true);

    await spire.restart({ keepSvids: true });
    const kept = open((await client(spire).fetchX509Svid().next()).svids[0]!);
    expect(kept.leaf.node.serialNumber).toBe(after.leaf.node.serialNumber);
  });

  it('can leave a dead socket file behind (ECONNREFUSED), and replaces it on start', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    await spire.stop({ leaveStaleSocket: true });
    expect(statSync(spire.socketPath).isSocket()).toBe(true);
    const end = await client(spire).fetchX509Svid().status();
    expect(end.code).toBe(grpc.status.UNAVAILABLE);
    expect(end.details).toContain(`connect ECONNREFUSED ${spire.socketPath}`);

    await spire.start();
    expect((await client(spire).fetchX509Svid().next()).svids[0]!.spiffe_id).toBe(EXECUTOR);
  });

  it('can end streams with UNAVAILABLE while staying up', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const c = client(spire);
    const stream = c.fetchX509Svid();
    await stream.next();
    expect(await spire.breakStreams()).toBe(1);
    expect(await stream.status()).toEqual({ code: grpc.status.UNAVAILABLE, details: 'could not serialize response: injected by fake-spire' });
    expect((await c.fetchX509Svid().next()).svids[0]!.spiffe_id).toBe(EXECUTOR);
  });

  it('refuses with UNAVAILABLE "workload attestation failed" while attestation fails', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const c = client(spire);
    spire.failAttestation();
    expect(await c.fetchX509Svid().status()).toEqual({ code: grpc.status.UNAVAILABLE, details: 'workload attestation failed' });
    spire.failAttestation(false);
    expect((await c.fetchX509Svid().next()).svids).toHaveLength(1);
  });
});

describe('fault injection', () => {
  it('spoils x509_svid of the next push only', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    const good = (await stream.next()).svids[0]!;

    expect(await spire.pushGarbage()).toBe(1);
    const bad = (await stream.next()).svids[0]!;
    expect(bad.spiffe_id).toBe(EXECUTOR);
    expect(bad.x509_svid.equals(good.x509_svid)).toBe(false);
    expect(() => new X509Certificate(bad.x509_svid)).toThrow();
    expect(() => splitDerCertificates(bad.x509_svid)).toThrow(/not a DER SEQUENCE/);
    expect(bad.x509_svid_key.equals(good.x509_svid_key)).toBe(true);
    expect(bad.bundle.equals(good.bundle)).toBe(true);
    expect(spire.stats.garbageMessagesSent).toBe(1);

    await spire.rotate();
    expect(open((await stream.next()).svids[0]!).chain).toHaveLength(1);
  });

  it('puts the garbage in the first message of the next stream when none is open', async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const garbage = Buffer.from('junk');
    expect(await spire.pushGarbage({ bytes: garbage })).toBe(0);
    const c = client(spire);
    expect((await c.fetchX509Svid().next()).svids[0]!.x509_svid.equals(garbage)).toBe(true);
    expect(open((await c.fetchX509Svid().next()).svids[0]!).chain).toHaveLength(1);
  });

  const violates: Record<SvidDefect, (svid: ReturnType<typeof open>, bundleCa: X509Certificate) => boolean> = {
    'no-uri-san': (s) => uriSans(s.leaf.pec).length === 0,
    'two-uri-sans': (s) => uriSans(s.leaf.pec).length === 2,
    'root-path': (s) => uriSans(s.leaf.pec)[0] === `spiffe://${TD}`,
    // Node's `ca` also wants keyCertSign (OpenSSL's X509_check_ca), so read the extension itself.
    'ca-leaf': (s) => s.leaf.pec.getExtension(x509.BasicConstraintsExtension)?.ca === true,
    'no-digital-signature': (s) => !keyUsage(s.leaf.pec).digitalSignature,
    'key-cert-sign': (s) => keyUsage(s.leaf.pec).keyCertSign,
    'crl-sign': (s) => keyUsage(s.leaf.pec).cRLSign,
    'mismatched-key': (s) => !s.leaf.node.checkPrivateKey(s.key),
    expired: (s) => s.leaf.pec.notAfter.getTime() < Date.now(),
    'untrusted-issuer': (s, ca) => !s.leaf.node.verify(ca.publicKey),
  };

  it.each(SVID_DEFECTS.map((d) => [d]))('pushes an SVID with defect %s on request, then a conforming one', async (defect) => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const stream = client(spire).fetchX509Svid();
    await stream.next();
    const ca = new X509Certificate(spire.caPem());
    const [snapshot] = await spire.rotate(undefined, { defect });
    expect(snapshot!.defect).toBe(defect);
    const bad = open((await stream.next()).svids[0]!);
    expect(violates[defect](bad, ca)).toBe(true);

    await spire.rotate();
    const good = open((await stream.next()).svids[0]!);
    for (const check of Object.values(violates)) expect(check(good, ca)).toBe(false);
  });
});

describe('other methods (§Status codes)', () => {
  it("answers the JWT request checks and the WIT methods with SPIRE's words", async () => {
    const spire = await agent();
    await spire.register(EXECUTOR);
    const c = client(spire);
    expect((await c.unary('FetchJWTSVID', { audience: [] })).error).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'audience must be specified' });
    expect((await c.unary('ValidateJWTSVID', { audience: '', svid: 'x' })).error).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'audience must be specified',
    });
    expect((await c.unary('ValidateJWTSVID', { audience: 'ah', svid: '' })).error).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'svid must be specified',
    });
    expect(await c.stream('FetchWITSVID').status()).toEqual({ code: grpc.status.UNIMPLEMENTED, details: 'fetching WIT-SVIDs is not implemented' });
    expect(await c.stream('FetchWITBundles').status()).toEqual({ code: grpc.status.UNIMPLEMENTED, details: 'fetching WIT bundles is not implemented' });
    expect((await c.unary('FetchJWTSVID', { audience: ['ah'], spiffe_id: 'http://example.org/x' })).error).toEqual({
      code: grpc.status.INVALID_ARGUMENT,
      details: 'invalid requested SPIFFE ID: scheme is missing or invalid',
    });
    expect((await c.unary('FetchJWTSVID', { audience: ['ah'], spiffe_id: 'spiffe://example.org/not-mine' })).error).toEqual({
      code: grpc.status.PERMISSION_DENIED,
      details: 'no identity issued',
    });
    // Beyond the fake: said so plainly rather than faked.
    expect((await c.unary('FetchJWTSVID', { audience: ['ah'] })).error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

describe('socket path', () => {
  it('takes unix:/// targets, refuses relative and over-long paths and non-socket files', async () => {
    const dir = shortSocketDir('fs-');
    cleanups.push(() => dir.remove());
    const spire = await startFakeSpire({ socketPath: `unix://${dir.path('a.sock')}`, trustDomain: TD });
    cleanups.push(() => spire.close());
    expect(spire.socketPath).toBe(dir.path('a.sock'));
    expect(spire.target).toBe(`unix://${dir.path('a.sock')}`);

    await expect(startFakeSpire({ socketPath: 'relative/agent.sock', trustDomain: TD })).rejects.toThrow(/must be absolute/);
    await expect(startFakeSpire({ socketPath: `/tmp/${'x'.repeat(110)}.sock`, trustDomain: TD })).rejects.toThrow(/sun_path/);
    writeFileSync(dir.path('file'), 'not a socket');
    await expect(startFakeSpire({ socketPath: dir.path('file'), trustDomain: TD })).rejects.toThrow(/not a socket/);
    await expect(spire.register('spiffe://other.org/x')).rejects.toThrow(/not in trust domain/);
    await expect(spire.register('spiffe://example.org/x/')).rejects.toThrow(/trailing slash/);
  });
});

describe('cli.ts', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('starts from the command line, serves the identity, obeys stdin commands and quits', async () => {
    const dir = shortSocketDir('fs-');
    cleanups.push(() => dir.remove());
    const socket = dir.path();
    const cli = fileURLToPath(new URL('../support/fake-spire/cli.ts', import.meta.url));
    const child = spawnTracked(process.execPath, ['--import', 'tsx', cli, '--socket', socket, '--trust-domain', TD, '--spiffe-id', EXECUTOR, '--ttl', '30s'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    children.push(child);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    const stderr: string[] = [];
    createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
    const ready = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`cli not ready within 30 s; stderr:\n${stderr.join('\n')}`)), 30_000);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        if (line.includes('ready')) {
          clearTimeout(timer);
          resolve(line);
        }
      });
    });
    expect(ready).toContain(`SPIFFE_ENDPOINT_SOCKET=unix://${socket}`);

    const stream = client(socket).fetchX509Svid();
    const first = open((await stream.next()).svids[0]!);
    expect(uriSans(first.leaf.pec)).toEqual([EXECUTOR]);
    const lifetime = first.leaf.pec.notAfter.getTime() - Date.now();
    expect(lifetime).toBeGreaterThan(20_000);
    expect(lifetime).toBeLessThanOrEqual(30_000);

    child.stdin!.write('rotate\n');
    const second = open((await stream.next()).svids[0]!);
    expect(second.leaf.node.serialNumber).not.toBe(first.leaf.node.serialNumber);

    child.stdin!.write('quit\n');
    expect(await exited).toBe(0);
    expect(await stream.status()).toMatchObject({ code: grpc.status.UNAVAILABLE });
    expect(existsSync(socket)).toBe(false);
  });
});
