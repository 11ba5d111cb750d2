/**
 * The peer certificate inside an OpenSSL session (`SSL_SESSION` as Node hands it to `newSession`):
 * its `[3] peer` field. The access point reads it to know whose session it is storing and until
 * when it may be resumed, since Node's `newSession` does not say which socket it came from.
 */
import { X509Certificate } from 'node:crypto';

const SEQUENCE = 0x30;
const PEER_TAG = 0xa3;

/**
 * The executor's certificate in a serialized session, or null (none, or not a session). `last`: a
 * certificate read before, returned as is when the session holds the same one (no parse).
 */
export function sessionPeer(session: Buffer, last: X509Certificate | null = null): X509Certificate | null {
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
      return last?.raw.equals(der) ? last : new X509Certificate(der);
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
