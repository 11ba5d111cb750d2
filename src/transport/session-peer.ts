/**
 * The peer certificate inside an OpenSSL session (`SSL_SESSION` as Node hands it to `newSession`):
 * its `[3] peer` field. The access point reads it to know whose session it is storing and until
 * when it may be resumed, since Node's `newSession` does not say which socket it came from. Only
 * the DER and its notAfter are read: an X509Certificate per session was a quarter of the access
 * point's CPU per enrollment.
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
