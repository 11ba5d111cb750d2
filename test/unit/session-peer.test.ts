/**
 * The executor keeps its TLS 1.3 sessions without the access point's certificate
 * (transport/session-peer.ts `withoutPeerCertificate`): such a session still resumes, over a real
 * TLS link, and the link counts as authorized; a TLS 1.2 session or bytes that are not a session
 * are kept as they are.
 */
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionPeer, withoutPeerCertificate } from '../../src/transport/session-peer.js';
import { createRoot, issueLeaf, type Issuer, type Leaf } from '../helpers/pki.js';

let root: Issuer;
let serverLeaf: Leaf;
let server: tls.Server;
let port: number;

beforeAll(async () => {
  root = await createRoot('Session Peer Root');
  serverLeaf = await issueLeaf(root, { cn: 'ap', dns: ['localhost'], usage: 'server' });
  server = tls.createServer({ cert: serverLeaf.certPem, key: serverLeaf.keyPem, minVersion: 'TLSv1.2' }, (s) => s.end('x'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface Dialled {
  reused: boolean;
  authorized: boolean;
  peerCertificate: boolean;
  session: Buffer | null;
}

/** One link to the test server, offering `session`: what the client saw, and the last session it got. */
function dial(maxVersion: 'TLSv1.2' | 'TLSv1.3', session?: Buffer): Promise<Dialled> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: root.pem, maxVersion, ...(session ? { session } : {}) });
    let seen: Omit<Dialled, 'session'> | null = null;
    let last: Buffer | null = null;
    socket.on('session', (s: Buffer) => (last = s));
    socket.once('secureConnect', () => {
      seen = { reused: socket.isSessionReused(), authorized: socket.authorized, peerCertificate: socket.getPeerX509Certificate() !== undefined };
    });
    socket.on('data', () => {});
    socket.once('error', reject);
    socket.once('close', () => (seen ? resolve({ ...seen, session: last }) : reject(new Error('closed before the handshake'))));
  });
}

describe('sessions without the peer certificate', () => {
  it('a TLS 1.3 session less its certificate resumes, authorized, with no certificate to read', async () => {
    const first = await dial('TLSv1.3');
    expect(first).toMatchObject({ reused: false, authorized: true, peerCertificate: true });
    const full = first.session!;
    expect(sessionPeer(full)?.der.length).toBeGreaterThan(0);

    const light = withoutPeerCertificate(full);
    expect(light.length).toBeLessThan(full.length);
    expect(sessionPeer(light)).toBeNull();
    // Kept for the certificate's life: in memory of its own, not a slice holding a pool block.
    expect(light.buffer.byteLength).toBe(light.length);
    const again = await dial('TLSv1.3', light);
    expect(again).toMatchObject({ reused: true, authorized: true, peerCertificate: false });
  });

  it('keeps a TLS 1.2 session and bytes that are not a session as they are', async () => {
    const tls12 = (await dial('TLSv1.2')).session!;
    expect(sessionPeer(tls12)).not.toBeNull();
    expect(withoutPeerCertificate(tls12)).toBe(tls12);
    const junk = Buffer.from('not a session');
    expect(withoutPeerCertificate(junk)).toBe(junk);
    const cut = (await dial('TLSv1.3')).session!.subarray(0, 40);
    expect(withoutPeerCertificate(cut)).toBe(cut);
  });
});
