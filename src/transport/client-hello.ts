/**
 * What the access point needs to read of a TLS 1.3 ClientHello before OpenSSL does: the legacy
 * session ID and the pre_shared_key identities. With stateful resumption the PSK identity is our
 * session ID, but Node asks for a session (`resumeSession`) by the legacy session ID, which a
 * TLS 1.3 client fills with random bytes; reading both from the same ClientHello ties them.
 * Anything that is not a well-formed ClientHello yields null: OpenSSL will say what is wrong.
 */

export interface ClientHelloIds {
  /** legacy_session_id, hex (what Node's `resumeSession` is called with). */
  readonly legacySessionId: string;
  /** pre_shared_key identities, hex, in the client's order. */
  readonly pskIdentities: readonly string[];
}

const HANDSHAKE_RECORD = 0x16;
const CLIENT_HELLO = 0x01;
const PRE_SHARED_KEY = 41;
const RECORD_HEADER = 5;

/**
 * Bytes needed before the first record is complete: 0 when it is (or when the bytes are not a TLS
 * handshake record at all, so there is nothing to wait for).
 */
export function missingBytes(buf: Buffer): number {
  if (buf.length >= 1 && buf[0] !== HANDSHAKE_RECORD) return 0;
  if (buf.length < RECORD_HEADER) return RECORD_HEADER - buf.length;
  return Math.max(0, RECORD_HEADER + buf.readUInt16BE(3) - buf.length);
}

/** The ids of the ClientHello in the first record of `buf`, or null. */
export function parseClientHello(buf: Buffer): ClientHelloIds | null {
  try {
    if (buf[0] !== HANDSHAKE_RECORD || missingBytes(buf) > 0) return null;
    const end = RECORD_HEADER + buf.readUInt16BE(3);
    const r = new Reader(buf.subarray(RECORD_HEADER, end));
    if (r.u8() !== CLIENT_HELLO) return null;
    r.skip(3 + 2 + 32); // handshake length, legacy_version, random
    const legacySessionId = r.bytes(r.u8()).toString('hex');
    r.skip(r.u16()); // cipher_suites
    r.skip(r.u8()); // legacy_compression_methods
    const extensions = new Reader(r.bytes(r.u16()));
    const pskIdentities: string[] = [];
    while (extensions.left > 0) {
      const type = extensions.u16();
      const body = new Reader(extensions.bytes(extensions.u16()));
      if (type !== PRE_SHARED_KEY) continue;
      const identities = new Reader(body.bytes(body.u16()));
      while (identities.left > 0) {
        pskIdentities.push(identities.bytes(identities.u16()).toString('hex'));
        identities.skip(4); // obfuscated_ticket_age
      }
    }
    return { legacySessionId, pskIdentities };
  } catch {
    return null;
  }
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  get left(): number {
    return this.buf.length - this.at;
  }
  u8(): number {
    return this.bytes(1)[0]!;
  }
  u16(): number {
    return this.bytes(2).readUInt16BE(0);
  }
  skip(n: number): void {
    this.bytes(n);
  }
  bytes(n: number): Buffer {
    if (n > this.left) throw new RangeError('truncated ClientHello');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
}
