import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { signContinuity, spkiOf, verifyContinuity } from '../../src/transport/continuity.js';
import { skipWithout } from '../helpers/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'ah-continuity-'));

/** A self-signed certificate and its key, of this kind, made by openssl. */
function identity(name: string, keyArgs: readonly string[]): { cert: X509Certificate; keyPem: string } {
  const [certFile, keyFile] = [join(dir, `${name}.pem`), join(dir, `${name}.key`)];
  execFileSync('openssl', ['req', '-x509', '-nodes', ...keyArgs, '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${name}`, '-days', '1'], {
    stdio: 'ignore',
  });
  return { cert: new X509Certificate(readFileSync(certFile)), keyPem: readFileSync(keyFile, 'utf8') };
}

const KINDS = [
  ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
  ['RSA 2048', ['-newkey', 'rsa:2048']],
  ['Ed25519', ['-newkey', 'ed25519']],
  ['Ed448', ['-newkey', 'ed448']],
] as const;

describe.skipIf(skipWithout('openssl'))('continuity proof, checked with the keys as SPKI DER (what a link keeps)', () => {
  it.each(KINDS)('a %s key: the previous key proves the next, and nothing else passes', (name, args) => {
    const previous = identity(`${name.replace(/\W/g, '')}-previous`, args);
    const next = identity(`${name.replace(/\W/g, '')}-next`, args);
    const proof = signContinuity(previous.keyPem, next.cert, 'nonce-1');

    expect(verifyContinuity(spkiOf(previous.cert), spkiOf(next.cert), proof)).toBe(true);
    // Signed by another key, for another certificate, over another nonce: refused.
    expect(verifyContinuity(spkiOf(next.cert), spkiOf(next.cert), proof)).toBe(false);
    expect(verifyContinuity(spkiOf(previous.cert), spkiOf(previous.cert), proof)).toBe(false);
    expect(verifyContinuity(spkiOf(previous.cert), spkiOf(next.cert), { ...proof, nonce: 'nonce-2' })).toBe(false);
  });

  it('never throws: a key that does not parse, a signature that is not base64', () => {
    const previous = identity('garbage-previous', ['-newkey', 'ed25519']);
    const next = identity('garbage-next', ['-newkey', 'ed25519']);
    const proof = signContinuity(previous.keyPem, next.cert, 'n');
    expect(verifyContinuity(Buffer.from('not a key'), spkiOf(next.cert), proof)).toBe(false);
    expect(verifyContinuity(Buffer.alloc(0), spkiOf(next.cert), proof)).toBe(false);
    expect(verifyContinuity(spkiOf(previous.cert), spkiOf(next.cert), { nonce: 'n', signature: '%%%' })).toBe(false);
  });
});
