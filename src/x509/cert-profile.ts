/**
 * The few X.509 extensions that decide what a certificate may be used for: basic constraints,
 * key usage, extended key usage and the subject alternative names, read straight from the DER.
 *
 * Why not node:crypto or @peculiar/x509: Node exposes neither the key-usage bits nor a dependable
 * CA flag (OpenSSL reports cA=false for a certificate that has cA=true without keyCertSign), and
 * @peculiar/x509 parses the whole certificate about five times slower than we need on the access
 * point's enrollment path. A certificate reaching this has already been parsed by OpenSSL, so the
 * walk below only has to find four extensions; anything it cannot read is refused, not guessed.
 */

export interface CertificateProfile {
  /** basicConstraints cA (false when the extension is absent). */
  readonly ca: boolean;
  /** keyUsage bits as KeyUsage flags below, or null when the extension is absent. */
  readonly keyUsage: number | null;
  /** extendedKeyUsage OIDs in dotted form, or null when the extension is absent. */
  readonly extendedKeyUsage: readonly string[] | null;
  readonly uris: readonly string[];
  readonly dnsNames: readonly string[];
  /** authorityKeyIdentifier's keyIdentifier as `AB:CD:…`, or null. */
  readonly authorityKeyId: string | null;
}

/** RFC 5280 §4.2.1.3 bit positions, as flags. */
export const KeyUsage = {
  digitalSignature: 1 << 0,
  nonRepudiation: 1 << 1,
  keyEncipherment: 1 << 2,
  dataEncipherment: 1 << 3,
  keyAgreement: 1 << 4,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
  encipherOnly: 1 << 7,
  decipherOnly: 1 << 8,
} as const;

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const EKU_ANY = '2.5.29.37.0';

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_KEY_USAGE = '2.5.29.15';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_EXT_KEY_USAGE = '2.5.29.37';
const OID_AUTHORITY_KEY_ID = '2.5.29.35';

export class CertificateProfileError extends Error {}

interface Tlv {
  readonly tag: number;
  /** Offset of the tag (the element's first byte). */
  readonly headerStart: number;
  /** Offsets of the value within the buffer. */
  readonly start: number;
  readonly end: number;
}

function readTlv(der: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new CertificateProfileError('truncated DER');
  const tag = der[at]!;
  let length = der[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || start + octets > limit) throw new CertificateProfileError('bad DER length');
    length = 0;
    for (let i = 0; i < octets; i++) length = length * 256 + der[start + i]!;
    start += octets;
  }
  const end = start + length;
  if (end > limit) throw new CertificateProfileError('DER element runs past its container');
  return { tag, headerStart: at, start, end };
}

function children(der: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    out.push(child);
    at = child.end;
  }
  return out;
}

function oidText(der: Uint8Array, t: Tlv): string {
  const parts: number[] = [];
  let value = 0;
  for (let i = t.start; i < t.end; i++) {
    value = value * 128 + (der[i]! & 0x7f);
    if (!(der[i]! & 0x80)) {
      if (parts.length === 0) parts.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
      else parts.push(value);
      value = 0;
    }
  }
  return parts.join('.');
}

const latin1 = (der: Uint8Array, t: Tlv) => Buffer.from(der.buffer, der.byteOffset + t.start, t.end - t.start).toString('latin1');

/** Throws CertificateProfileError for DER it cannot walk or an extension that appears twice. */
export function certificateProfile(der: Uint8Array): CertificateProfile {
  const cert = readTlv(der, 0, der.length);
  const tbs = children(der, cert)[0];
  if (cert.tag !== 0x30 || !tbs || tbs.tag !== 0x30) throw new CertificateProfileError('not a certificate');
  const extensionsWrapper = children(der, tbs).find((t) => t.tag === 0xa3);
  let ca = false;
  let keyUsage: number | null = null;
  let extendedKeyUsage: string[] | null = null;
  const uris: string[] = [];
  const dnsNames: string[] = [];
  let authorityKeyId: string | null = null;
  if (extensionsWrapper) {
    const seen = new Set<string>();
    const list = children(der, extensionsWrapper)[0];
    if (list?.tag !== 0x30) throw new CertificateProfileError('bad extensions');
    for (const ext of children(der, list)) {
      const parts = children(der, ext);
      const oid = parts[0];
      const value = parts.at(-1);
      if (oid?.tag !== 0x06 || !value || value.tag !== 0x04) throw new CertificateProfileError('bad extension');
      const id = oidText(der, oid);
      if (seen.has(id)) throw new CertificateProfileError(`extension ${id} appears twice`);
      seen.add(id);
      const inner = readTlv(der, value.start, value.end);
      if (id === OID_BASIC_CONSTRAINTS) {
        const first = children(der, inner)[0];
        ca = first?.tag === 0x01 && first.end > first.start && der[first.start] !== 0;
      } else if (id === OID_KEY_USAGE) {
        if (inner.tag !== 0x03 || inner.end <= inner.start) throw new CertificateProfileError('bad keyUsage');
        let bits = 0;
        // BIT STRING: one byte of unused-bit count, then bit 0 is the top bit of the next byte.
        for (let i = inner.start + 1, n = 0; i < inner.end && n < 16; i++, n += 8) {
          const byte = der[i]!;
          for (let b = 0; b < 8; b++) if (byte & (0x80 >> b)) bits |= 1 << (n + b);
        }
        keyUsage = bits;
      } else if (id === OID_EXT_KEY_USAGE) {
        extendedKeyUsage = children(der, inner).map((t) => oidText(der, t));
      } else if (id === OID_AUTHORITY_KEY_ID) {
        // AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] IMPLICIT OCTET STRING OPTIONAL, … }
        const keyId = children(der, inner).find((t) => t.tag === 0x80);
        if (keyId) authorityKeyId = Buffer.from(der.subarray(keyId.start, keyId.end)).toString('hex').toUpperCase().match(/../g)!.join(':');
      } else if (id === OID_SUBJECT_ALT_NAME) {
        for (const name of children(der, inner)) {
          if (name.tag === 0x86) uris.push(latin1(der, name));
          else if (name.tag === 0x82) dnsNames.push(latin1(der, name));
        }
      }
    }
  }
  return { ca, keyUsage, extendedKeyUsage, uris, dnsNames, authorityKeyId };
}

/** TBSCertificate's fields after the optional `[0] version` (RFC 5280 §4.1): serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo. */
const TBS_SERIAL = 0;
const TBS_VALIDITY = 3;
const TBS_SPKI = 5;

/** Field `n` of a certificate's TBSCertificate, counted from serialNumber. Throws CertificateProfileError if it is not a certificate. */
function tbsField(der: Uint8Array, n: number): Tlv | undefined {
  const cert = readTlv(der, 0, der.length);
  const tbs = children(der, cert)[0];
  if (cert.tag !== 0x30 || !tbs || tbs.tag !== 0x30) throw new CertificateProfileError('not a certificate');
  const fields = children(der, tbs);
  return fields[fields[0]?.tag === 0xa0 ? n + 1 : n];
}

/**
 * A certificate's validity (epoch ms), read straight from its DER: TBSCertificate's `validity`
 * (RFC 5280 §4.1.2.5; UTCTime years 50–99 are 19xx). Building an X509Certificate costs Node 20
 * about 0.3 ms, and reading `validFrom`/`validTo` of one and parsing them another 11 µs: this is
 * a few microseconds. Throws CertificateProfileError.
 */
export function certificateValidity(der: Uint8Array): { notBefore: number; notAfter: number } {
  const validity = tbsField(der, TBS_VALIDITY);
  const [notBefore, notAfter] = validity?.tag === 0x30 ? children(der, validity) : [];
  return { notBefore: derTime(der, notBefore, 'notBefore'), notAfter: derTime(der, notAfter, 'notAfter') };
}

/**
 * A certificate's serial number as node:crypto's `serialNumber` spells it (upper-case hex, whole
 * bytes, no leading zero byte), from its DER. Throws CertificateProfileError, also for a serial
 * that is zero or negative (not a serial RFC 5280 allows; the caller asks OpenSSL instead).
 */
export function certificateSerial(der: Uint8Array): string {
  const serial = tbsField(der, TBS_SERIAL);
  if (serial?.tag !== 0x02 || serial.end <= serial.start || der[serial.start]! & 0x80) throw new CertificateProfileError('bad serialNumber');
  let start = serial.start;
  while (start < serial.end - 1 && der[start] === 0) start++;
  if (start === serial.end - 1 && der[start] === 0) throw new CertificateProfileError('zero serialNumber');
  return Buffer.from(der.buffer, der.byteOffset + start, serial.end - start)
    .toString('hex')
    .toUpperCase();
}

/** A certificate's notAfter (epoch ms), from its DER (see certificateValidity). */
export function certificateNotAfter(der: Uint8Array): number {
  return certificateValidity(der).notAfter;
}

function derTime(der: Uint8Array, t: Tlv | undefined, what: string): number {
  if (!t || (t.tag !== 0x17 && t.tag !== 0x18)) throw new CertificateProfileError('bad validity');
  const text = latin1(der, t);
  const m = (t.tag === 0x17 ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/ : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/).exec(text);
  if (!m) throw new CertificateProfileError(`bad ${what} ${JSON.stringify(text)}`);
  const year = t.tag === 0x17 ? (Number(m[1]) >= 50 ? 1900 : 2000) + Number(m[1]) : Number(m[1]);
  return Date.UTC(year, Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/**
 * A certificate's SubjectPublicKeyInfo, DER, as it stands in the certificate (RFC 5280 §4.1.2.7).
 * The continuity proof hashes it; `X509Certificate.publicKey.export()` gives the same bytes for
 * the keys certificates carry but costs about 0.3 ms a call in Node 20. Throws CertificateProfileError.
 */
export function certificateSpki(der: Uint8Array): Buffer {
  const spki = tbsField(der, TBS_SPKI);
  if (spki?.tag !== 0x30) throw new CertificateProfileError('bad subjectPublicKeyInfo');
  return Buffer.from(der.buffer, der.byteOffset + spki.headerStart, spki.end - spki.headerStart);
}
