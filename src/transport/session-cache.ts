/**
 * The executor's TLS sessions, in memory only: the last one per access point address and identity
 * (a process may run several executors), offered on
 * the next dial so that a reconnect (after the access point restarts, say) is a resumption rather
 * than a full handshake. A session belongs to the certificate and trust it was made with: another
 * certificate (after a rotation) or another trust bundle never resumes it. It is kept only once the
 * access point behind it was verified, and forgotten when the access point refuses the link.
 */
import { createHash } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { certificateNotAfter } from '../x509/cert-profile.js';
import { firstCertificateDer } from '../x509/certificate.js';
import { withoutPeerCertificate } from './session-peer.js';

interface Kept {
  readonly session: Buffer;
  /** The executor's certificate's notAfter: the session is not offered after it. */
  readonly until: number;
}

/** By access point address and identity; the least recently kept forgotten first past the bound. */
const sessions = new Map<string, Kept>();
const MAX_SESSIONS = 16_384;
/**
 * What a dial needs of its certificate, worked out once per certificate and trust (not per dial:
 * a fleet's executors all redial at once when their access point restarts).
 */
const identities = new Map<string, { readonly digest: string; readonly notAfter: number }>();

export interface SessionSource {
  readonly address: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly trust: unknown;
}

/** One dial's view of the cache: what to offer, and what to keep of the sessions it gets. */
export class DialSession {
  /** Address and identity: sessions of another certificate or trust are never offered. */
  private readonly key: string;
  private pending: Buffer | null = null;
  private verified = false;

  private readonly notAfter: number;

  constructor(private readonly source: SessionSource) {
    const { digest, notAfter } = identityOf(source);
    this.key = `${source.address} ${digest}`;
    this.notAfter = notAfter;
  }

  /** `tls.connect` options: the session to resume, if one is kept for this address and identity. */
  connectOptions(now = Date.now()): { session?: Buffer } {
    const kept = sessions.get(this.key);
    if (!kept || kept.until <= now) return {};
    return { session: kept.session };
  }

  /** Collect the tickets the access point sends on this socket. */
  watch(socket: TLSSocket): void {
    socket.on('session', (session: Buffer) => {
      // Lighter to offer: OpenSSL parses a session whole on every dial (session-peer.ts).
      this.pending = withoutPeerCertificate(session);
      if (this.verified) this.keep();
    });
  }

  /**
   * True when the socket resumed a kept session: the access point was verified when the session
   * was made, and proves it is the same one by holding the session's secret.
   */
  resumed(socket: TLSSocket): boolean {
    return socket.isSessionReused() && this.connectOptions().session !== undefined;
  }

  /** The access point was verified: its sessions may be offered next time. */
  trusted(): void {
    this.verified = true;
    this.keep();
  }

  /** The access point refused this link: do not offer its session again. */
  forget(): void {
    this.verified = false;
    sessions.delete(this.key);
  }

  private keep(): void {
    if (!this.pending || !this.source.certPem) return;
    sessions.delete(this.key);
    sessions.set(this.key, { session: this.pending, until: this.notAfter });
    if (sessions.size > MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
    this.pending = null;
  }
}

function identityOf(source: SessionSource): { readonly digest: string; readonly notAfter: number } {
  const trust = JSON.stringify(source.trust);
  const cacheKey = `${source.certPem}\0${trust}`;
  let identity = identities.get(cacheKey);
  if (!identity) {
    identity = { digest: createHash('sha256').update(source.certPem).update('\0').update(trust).digest('base64'), notAfter: notAfter(source.certPem) };
    identities.set(cacheKey, identity);
    if (identities.size > MAX_SESSIONS) identities.delete(identities.keys().next().value!);
  }
  return identity;
}

/** The leaf's notAfter, read from its DER (an X509Certificate per session was the executor's largest cost in a re-join). */
function notAfter(certPem: string): number {
  try {
    const leaf = firstCertificateDer(certPem);
    return leaf ? certificateNotAfter(leaf) : 0;
  } catch {
    return 0;
  }
}
