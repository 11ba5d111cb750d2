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
 * What a dial needs of a certificate given only as PEM, worked out once per certificate (not per
 * dial: a fleet's executors all redial at once when their access point restarts).
 */
const certificates = new Map<string, Certificate>();
/** Trust (as JSON) → its digest; a process holds a handful. */
const trustDigests = new Map<string, string>();

interface Certificate {
  /** Names the certificate: its leaf's SHA-256 (the material's fingerprint), or the PEM's. */
  readonly fingerprint: string;
  readonly notAfter: number;
}

export interface SessionSource {
  readonly address: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly trust: unknown;
  /** The certificate's fingerprint and notAfter when the caller has them (the material's summary). */
  readonly certificate?: Certificate;
}

/** One dial's view of the cache: what to offer, and what to keep of the sessions it gets. */
export class DialSession {
  /** Address and identity: sessions of another certificate or trust are never offered. */
  private readonly key: string;
  private pending: Buffer | null = null;
  private verified = false;

  private readonly notAfter: number;

  constructor(private readonly source: SessionSource) {
    const { fingerprint, notAfter } = source.certificate ?? certificateOf(source.certPem);
    this.key = `${source.address} ${fingerprint} ${trustDigest(source.trust)}`;
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

function certificateOf(certPem: string): Certificate {
  let certificate = certificates.get(certPem);
  if (!certificate) {
    certificate = { fingerprint: createHash('sha256').update(certPem).digest('base64'), notAfter: notAfter(certPem) };
    certificates.set(certPem, certificate);
    if (certificates.size > MAX_SESSIONS) certificates.delete(certificates.keys().next().value!);
  }
  return certificate;
}

function trustDigest(trust: unknown): string {
  const json = JSON.stringify(trust) ?? 'null';
  let digest = trustDigests.get(json);
  if (!digest) {
    digest = createHash('sha256').update(json).digest('base64');
    trustDigests.set(json, digest);
    if (trustDigests.size > 64) trustDigests.delete(trustDigests.keys().next().value!);
  }
  return digest;
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
