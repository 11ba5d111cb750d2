/**
 * `summarizeDer` reads an identity's summary from the certificate's DER (x509/certificate.ts): it
 * must say exactly what `summarize` says from node:crypto's parse, for the serials, SANs and
 * times certificates come with. `summarizePem` reads a PEM's first certificate with it.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateProfileError } from '../../src/x509/cert-profile.js';
import { summarize, summarizeDer, summarizePem } from '../../src/x509/certificate.js';
import { skipWithout } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'ah-summary-'));

/** A self-signed P-256 certificate made by openssl with these extra arguments. */
function certificate(name: string, args: string[]): string {
  const out = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-nodes',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-keyout',
      join(dir, `${name}.key`),
      '-out',
      out,
      '-subj',
      `/CN=${name}`,
      ...args,
    ],
    { stdio: 'ignore' },
  );
  return readFileSync(out, 'utf8');
}

describe.skipIf(skipWithout('openssl'))('summarizeDer', () => {
  it.each([
    [
      'a SPIFFE ID and a serial with its top bit set (DER adds a zero byte)',
      ['-days', '1', '-set_serial', '0x80a1b2c3d4e5f60718293a4b5c6d7e8f', '-addext', 'subjectAltName=URI:spiffe://example.org/ah/agent/e1'],
    ],
    ['a short serial', ['-days', '1', '-set_serial', '0x0a', '-addext', 'subjectAltName=URI:spiffe://example.org/ah/agent/e2,DNS:e2.example.org']],
    [
      'two URI SANs (no single SPIFFE ID)',
      ['-days', '1', '-set_serial', '7', '-addext', 'subjectAltName=URI:spiffe://example.org/a,URI:spiffe://example.org/b'],
    ],
    ['no SAN and a notAfter past 2049 (GeneralizedTime)', ['-days', '10000', '-set_serial', '0x1234']],
  ])('says what node:crypto says, for %s', (_what, args) => {
    const pem = certificate(`c${args.length}${args[3]}`.replace(/\W/g, ''), args);
    const cert = new X509Certificate(pem);
    expect(summarizeDer(cert.raw, 'dev')).toEqual(summarize(cert, 'dev'));
  });

  it('refuses DER it cannot walk (summarizePem then asks OpenSSL)', () => {
    expect(() => summarizeDer(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]), 'dev')).toThrow(CertificateProfileError);
  });

  it('summarizePem reads the first certificate of a chain', () => {
    const leaf = certificate('leaf', ['-days', '1', '-set_serial', '0x42', '-addext', 'subjectAltName=URI:spiffe://example.org/ah/agent/leaf']);
    const other = certificate('other', ['-days', '2', '-set_serial', '0x43']);
    expect(summarizePem(`${leaf}${other}`, 'files')).toEqual(summarize(new X509Certificate(leaf), 'files'));
  });
});
