import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CertificateProfileError, certificateSpki } from '../../src/x509/cert-profile.js';
import { skipWithout } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'ah-spki-'));

/** A self-signed certificate for a key of this kind, made by openssl. */
function certificate(name: string, keyArgs: string[]): X509Certificate {
  const out = join(dir, `${name}.pem`);
  execFileSync('openssl', ['req', '-x509', '-nodes', ...keyArgs, '-keyout', join(dir, `${name}.key`), '-out', out, '-subj', `/CN=${name}`, '-days', '1'], {
    stdio: 'ignore',
  });
  return new X509Certificate(execFileSync('cat', [out]));
}

describe.skipIf(skipWithout('openssl'))('certificateSpki', () => {
  it.each([
    ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['EC P-384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384']],
    ['RSA 2048', ['-newkey', 'rsa:2048']],
    ['Ed25519', ['-newkey', 'ed25519']],
  ])('gives the bytes node:crypto exports for a %s key (what the continuity proof hashes on both sides)', (name, args) => {
    const cert = certificate(name.replace(/\W/g, ''), args);
    expect(certificateSpki(cert.raw).equals(cert.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('refuses what is not a certificate', () => {
    expect(() => certificateSpki(Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow(CertificateProfileError);
  });
});
