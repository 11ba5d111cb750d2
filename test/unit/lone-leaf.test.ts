/**
 * The lone leaf, judged from real certificates: one certificate, not self-signed, whose issuer the
 * bundle lacks, named with that issuer's subject and key id; anything else is not one.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatForTerminal } from '../../src/errors/ah-error.js';
import { loneLeaf, loneLeafError } from '../../src/x509/lone-leaf.js';
import { x509 } from '../../src/x509/peculiar.js';
import { createIntermediate, createRoot, issueLeaf, type Issuer, type Leaf } from '../helpers/pki.js';

let root: Issuer;
let intermediate: Issuer;
let leaf: Leaf;
const der = (pem: string) => new X509Certificate(pem).raw;
const keyId = (i: Issuer) => (i.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId.toUpperCase().match(/../g) ?? []).join(':');

beforeAll(async () => {
  root = await createRoot('Lone Root CA');
  intermediate = await createIntermediate(root, 'Lone Intermediate CA');
  leaf = await issueLeaf(intermediate, { cn: 'ap.example.com' });
});

describe('loneLeaf', () => {
  it('names the missing issuer of a leaf sent alone, with its authority key id', () => {
    expect(loneLeaf([der(leaf.certPem)], [new X509Certificate(root.pem)])).toEqual({
      subject: 'CN=ap.example.com',
      issuer: 'CN=Lone Intermediate CA',
      authorityKeyId: keyId(intermediate),
    });
  });

  it('is not one when the leaf comes with its chain, when the bundle holds its issuer, or when it is self-signed', () => {
    expect(loneLeaf([der(leaf.certPem), der(intermediate.pem)], [new X509Certificate(root.pem)])).toBeNull();
    expect(loneLeaf([der(leaf.certPem)], [new X509Certificate(intermediate.pem)])).toBeNull();
    expect(loneLeaf([der(root.pem)], [])).toBeNull();
    expect(loneLeaf([], [])).toBeNull();
  });

  it("prints the guide's line, the reason naming the issuer, and both fixes", () => {
    const lone = loneLeaf([der(leaf.certPem)], [])!;
    const text = formatForTerminal(loneLeafError(lone, 'access point', '--ca'));
    expect(text.split('\n').slice(0, 2)).toEqual([
      'error: unable to get local issuer certificate',
      `  Reason: the access point sent only its own certificate (CN=ap.example.com); its issuer CN=Lone Intermediate CA, authority key id ${keyId(intermediate)} is neither sent along nor in --ca`,
    ]);
    expect(text).toContain('cat cert.pem intermediate.pem > fullchain.pem');
    expect(text).toContain('Or add the CA that issued it (CN=Lone Intermediate CA) to --ca');
    expect(text).toContain('(code ENROLL_CHAIN_LONE_LEAF)');
  });
});
