/**
 * The client certificate of a server-side TLS socket, read once and shared. Node 20 hands the
 * intermediates the client sent to the first X509Certificate `getPeerX509Certificate()` returns
 * (as its `issuerCertificate`) and to no later one, and `getPeerCertificate(true)` stops reporting
 * them too; so everything that reads a link's peer (session resumption remembering the chain, the
 * executor policy checking it) must read this one object.
 */
import type { X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';

/** Kept on the socket itself, not in a WeakMap (docs/performance.md §Ephemerons). */
const READ = Symbol('ah.peerCertificate');
type ReadSocket = TLSSocket & { [READ]?: X509Certificate | null };

export function peerCertificate(socket: TLSSocket): X509Certificate | undefined {
  const s = socket as ReadSocket;
  if (s[READ] === undefined) s[READ] = socket.getPeerX509Certificate() ?? null;
  return s[READ] ?? undefined;
}

/** The link no longer needs its peer's certificate objects (ServerLink.releaseCertificate says why). */
export function forgetPeerCertificate(socket: TLSSocket): void {
  (socket as ReadSocket)[READ] = null;
}

/**
 * The certificates the client sent, leaf first (DER), from the shared peer certificate's
 * `issuerCertificate` links (~8 µs, where `getPeerCertificate(true)` costs ~180 µs on a new link).
 */
export function sentChain(leaf: X509Certificate | undefined): Buffer[] {
  const out: Buffer[] = [];
  const seen = new Set<string>();
  for (let c = leaf; c && out.length < 16 && !seen.has(c.fingerprint256); c = c.issuerCertificate) {
    seen.add(c.fingerprint256);
    out.push(c.raw);
  }
  return out;
}
