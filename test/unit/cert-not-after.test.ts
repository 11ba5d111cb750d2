import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CertificateProfileError, certificateNotAfter, certificateValidity } from '../../src/x509/cert-profile.js';
import { notAfterOf, notBeforeOf } from '../../src/x509/certificate.js';
import { createSelfSigned } from '../../src/x509/self-signed.js';

const derOf = (pem: string) => new X509Certificate(pem).raw;

describe('certificateValidity / certificateNotAfter', () => {
  it.each([
    ['a UTCTime (before 2050)', Date.UTC(2031, 4, 17, 8, 9, 10)],
    ['a GeneralizedTime (2050 and after)', Date.UTC(2061, 0, 2, 3, 4, 5)],
    ['the last second of 2049', Date.UTC(2049, 11, 31, 23, 59, 59)],
  ])('reads %s as node:crypto does', async (_what, notAfter) => {
    const { certPem } = await createSelfSigned({ commonName: 't', uris: ['spiffe://t/x'], notBefore: Date.UTC(2020, 0, 1), notAfter, usage: 'client' });
    expect(certificateNotAfter(derOf(certPem))).toBe(notAfter);
    expect(certificateNotAfter(derOf(certPem))).toBe(Date.parse(new X509Certificate(certPem).validTo));
    expect(certificateValidity(derOf(certPem))).toEqual({ notBefore: Date.UTC(2020, 0, 1), notAfter });
    const cert = new X509Certificate(certPem);
    expect([notBeforeOf(cert), notAfterOf(cert)]).toEqual([Date.parse(cert.validFrom), Date.parse(cert.validTo)]);
  });

  it('refuses what is not a certificate', () => {
    expect(() => certificateNotAfter(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(CertificateProfileError);
    expect(() => certificateNotAfter(Buffer.from('not der'))).toThrow(CertificateProfileError);
  });
});
