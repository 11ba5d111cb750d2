/**
 * The peer certificate inside an OpenSSL session (`SSL_SESSION` as Node hands it to `newSession`
 * and to a client's 'session' event): its `[3] peer` field. The access point reads it to know whose
 * session it is storing and until when it may be resumed, since Node's `newSession` does not say
 * which socket it came from. Only the DER and its notAfter are read: an X509Certificate per
 * session was a quarter of the access point's CPU per enrollment. The executor drops it from the
 * sessions it keeps (`withoutPeerCertificate`).
 */
import { certificateNotAfter } from '../x509/cert-profile.js';

const SEQUENCE = 0x30;
const PEER_TAG = 0xa3;

export interface SessionPeer {
  /** The executor certificate, DER. */
  readonly der: Buffer;
  /** Its notAfter, epoch ms. */
  readonly notAfter: number;
}

/**
 * The executor's certificate in a serialized session, or null (none, or not a session). `last`: a
 * peer read before, returned as is when the session holds the same certificate (no parse).
 */
export function sessionPeer(session: Buffer, last: SessionPeer | null = null): SessionPeer | null {
  try {
    const outer = element(session, 0);
    if (session[0] !== SEQUENCE) return null;
    for (let at = outer.contentStart; at < outer.end; ) {
      const e = element(session, at);
      if (session[at] !== PEER_TAG) {
        at = e.end;
        continue;
      }
      const der = session.subarray(e.contentStart, e.end);
      return last?.der.equals(der) ? last : { der, notAfter: certificateNotAfter(der) };
    }
  } catch {
    // Not DER we can read: no peer.
  }
  return null;
}

/** The session's protocol version field (SSL_SESSION_ASN1's `ssl_version`) for TLS 1.3, as DER. */
const TLS13_VERSION_FIELD = Buffer.from([0x02, 0x02, 0x03, 0x04]);

/**
 * A TLS 1.3 session as the executor keeps it: without the `[3] peer` field (the access point's
 * certificate). Offering a session makes OpenSSL parse it whole on every dial, and a certificate is
 * most of that parse (~110 µs of ~150 in OpenSSL 3, docs/performance.md §Reading certificates);
 * a fleet redials at once when its access point restarts. Nothing reads that certificate on a
 * resumed link: the access point proves itself by holding the session's secret, and Node counts a
 * resumed TLS 1.3 link without a peer certificate as authorized. Anything else is returned as is.
 */
export function withoutPeerCertificate(session: Buffer): Buffer {
  try {
    if (session[0] !== SEQUENCE) return session;
    const outer = element(session, 0);
    const fields: Buffer[] = [];
    let stripped = false;
    for (let at = outer.contentStart; at < outer.end; ) {
      const e = element(session, at);
      if (session[at] === PEER_TAG) stripped = true;
      else fields.push(session.subarray(at, e.end));
      at = e.end;
    }
    // Field 2 is the protocol version: only TLS 1.3 resumes without the certificate this way.
    if (!stripped || !fields[1]?.equals(TLS13_VERSION_FIELD)) return session;
    const content = Buffer.concat(fields);
    const length = derLength(content.length);
    // Memory of its own: a slice of Node's 8 KB buffer pool (what Buffer.concat gives below 4 KB)
    // would keep the whole pool block alive for as long as the session is kept.
    const out = Buffer.allocUnsafeSlow(1 + length.length + content.length);
    out[0] = SEQUENCE;
    length.copy(out, 1);
    content.copy(out, 1 + length.length);
    return out;
  } catch {
    return session;
  }
}

/** A DER length. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** A DER element at `at`: where its content starts and where it ends. */
function element(buf: Buffer, at: number): { contentStart: number; end: number } {
  let i = at + 1;
  const first = buf[i++];
  if (first === undefined) throw new RangeError('truncated');
  let length = first;
  if (first & 0x80) {
    const n = first & 0x7f;
    if (n === 0 || n > 4) throw new RangeError('unsupported length');
    length = 0;
    for (let k = 0; k < n; k++) length = length * 256 + buf[i++]!;
  }
  if (i + length > buf.length) throw new RangeError('truncated');
  return { contentStart: i, end: i + length };
}
