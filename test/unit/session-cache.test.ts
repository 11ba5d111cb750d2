/**
 * The executor's in-memory TLS sessions (transport/session-cache.ts): a session is offered on the
 * next dial to the same address with the same certificate and trust, only once the access point
 * behind it was verified, never after the certificate's notAfter (the material summary's, else read from the PEM's leaf), and
 * never for another certificate.
 */
import { EventEmitter } from 'node:events';
import type { TLSSocket } from 'node:tls';
import { beforeAll, describe, expect, it } from 'vitest';
import { DialSession } from '../../src/transport/session-cache.js';
import { createRoot, issueLeaf, type Issuer } from '../helpers/pki.js';

const HOUR = 3_600_000;
let root: Issuer;

beforeAll(async () => {
  root = await createRoot('Session Cache Root');
});

/** A dial that gets `ticket` from the access point on a socket (the socket's 'session' event). */
function dialGets(source: ConstructorParameters<typeof DialSession>[0], ticket: Buffer, verified: boolean): void {
  const dial = new DialSession(source);
  const socket = new EventEmitter();
  dial.watch(socket as unknown as TLSSocket);
  socket.emit('session', ticket);
  if (verified) dial.trusted();
}

describe('executor TLS session cache', () => {
  it('offers a verified access point its session until the certificate expires, and only for that certificate', async () => {
    const notAfter = Date.now() + 2 * HOUR;
    const leaf = await issueLeaf(root, { cn: 'e1', uris: ['spiffe://example.org/ah/agent/e1'], usage: 'client', notAfter });
    // A chain in the PEM: the leaf's notAfter counts, not the root's.
    const source = { address: '127.0.0.1:1', certPem: `${leaf.certPem}${root.pem}`, keyPem: leaf.keyPem, trust: { ca: 'x' } };
    dialGets(source, Buffer.from('ticket-1'), true);
    const next = new DialSession(source);
    expect(next.connectOptions().session?.toString()).toBe('ticket-1');
    // The certificate's notAfter has second precision.
    expect(next.connectOptions(Math.floor(notAfter / 1000) * 1000 - 1).session?.toString()).toBe('ticket-1');
    expect(next.connectOptions(notAfter + 1000)).toEqual({});
    const other = await issueLeaf(root, { cn: 'e1', uris: ['spiffe://example.org/ah/agent/e1'], usage: 'client', notAfter });
    expect(new DialSession({ ...source, certPem: other.certPem }).connectOptions()).toEqual({});
    expect(new DialSession({ ...source, trust: { ca: 'y' } }).connectOptions()).toEqual({});
  });

  it("with the material's summary, keys sessions by its fingerprint and bounds them by its notAfter", async () => {
    const leaf = await issueLeaf(root, { cn: 'e3', uris: ['spiffe://example.org/ah/agent/e3'], usage: 'client', notAfter: Date.now() + 2 * HOUR });
    const summary = { fingerprint: 'fp-e3', notAfter: Date.now() + HOUR };
    const source = { address: '127.0.0.1:3', certPem: leaf.certPem, keyPem: leaf.keyPem, trust: { ca: 'x' }, certificate: summary };
    dialGets(source, Buffer.from('ticket-3'), true);
    expect(new DialSession(source).connectOptions().session?.toString()).toBe('ticket-3');
    // The summary's notAfter bounds the session, not the PEM's.
    expect(new DialSession(source).connectOptions(summary.notAfter + 1)).toEqual({});
    // Another fingerprint is another certificate, whatever the PEM.
    expect(new DialSession({ ...source, certificate: { ...summary, fingerprint: 'fp-other' } }).connectOptions()).toEqual({});
    expect(new DialSession({ ...source, trust: { ca: 'y' } }).connectOptions()).toEqual({});
  });

  it('keeps nothing from an access point that was not verified, and forgets one that refused the link', async () => {
    const leaf = await issueLeaf(root, { cn: 'e2', uris: ['spiffe://example.org/ah/agent/e2'], usage: 'client', notAfter: Date.now() + HOUR });
    const source = { address: '127.0.0.1:2', certPem: leaf.certPem, keyPem: leaf.keyPem, trust: null };
    dialGets(source, Buffer.from('unverified'), false);
    expect(new DialSession(source).connectOptions()).toEqual({});
    dialGets(source, Buffer.from('ticket-2'), true);
    const refused = new DialSession(source);
    expect(refused.connectOptions().session?.toString()).toBe('ticket-2');
    refused.forget();
    expect(new DialSession(source).connectOptions()).toEqual({});
  });
});
