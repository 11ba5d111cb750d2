/**
 * What the identity command printed, sorted into chain, key and CA bundle. The blocks may come in
 * any order; each is told apart by its PEM label and, for certificates, by what it is:
 *
 * - the key: the one `PRIVATE KEY` (or `RSA PRIVATE KEY`, `EC PRIVATE KEY`) block, unencrypted;
 * - the leaf: the one certificate that is not a CA (no basicConstraints CA:TRUE);
 * - the chain: the leaf, then the CA certificate that signed it, then the one that signed that,
 *   and so on, stopping before a self-signed certificate;
 * - the CA bundle: the self-signed CA certificates (the roots), at least one.
 *
 * Anything else is refused rather than guessed: a second key or leaf, two CAs that could each
 * sign the same certificate, a CA certificate that is neither in the chain nor self-signed, a PEM
 * block of another kind (`EC PARAMETERS`, which `openssl ecparam -genkey` prints, is skipped).
 * Text between blocks is ignored, as RFC 7468 allows. The result then passes the files provider's
 * checks: the key is the leaf's, the chain hangs together.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { AhError } from '../../errors/ah-error.js';
import { distinguishedName, fingerprintOf, keyMatchesCertificate, summarize } from '../../x509/certificate.js';
import { chainBreak, issuedBy } from '../../x509/chain.js';
import type { IdentityMaterial } from '../identity-provider.js';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([\s\S]*?)-----END \1-----/g;
const KEY_LABELS = new Set(['PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY']);
const SKIPPED_LABELS = new Set(['EC PARAMETERS']);

interface Blocks {
  readonly certificates: X509Certificate[];
  readonly keys: string[];
}

type Fail = (code: 'ENROLL_EXEC_BAD_OUTPUT' | 'ENROLL_EXEC_AMBIGUOUS_PEM', detail: string) => AhError;

function readBlocks(stdout: string, fail: Fail): Blocks {
  const certificates: X509Certificate[] = [];
  const keys: string[] = [];
  const seen = new Set<string>();
  let count = 0;
  for (const m of stdout.matchAll(BLOCK)) {
    count++;
    const label = m[1]!;
    if (KEY_LABELS.has(label)) keys.push(m[0]);
    else if (label === 'ENCRYPTED PRIVATE KEY') throw fail('ENROLL_EXEC_BAD_OUTPUT', 'the private key is encrypted; print it unencrypted');
    else if (label === 'CERTIFICATE') {
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(m[0]);
      } catch (err) {
        throw fail('ENROLL_EXEC_BAD_OUTPUT', `PEM block ${count} (CERTIFICATE) does not parse (${(err as Error).message})`);
      }
      // The same certificate twice (a root printed as part of the chain and of the bundle) is one.
      if (!seen.has(fingerprintOf(cert))) certificates.push(cert);
      seen.add(fingerprintOf(cert));
    } else if (!SKIPPED_LABELS.has(label)) {
      throw fail('ENROLL_EXEC_BAD_OUTPUT', `PEM block ${count} is a ${label}, not a CERTIFICATE or a PRIVATE KEY`);
    }
  }
  if (count === 0) {
    const cut = /-----BEGIN [A-Z0-9 ]+-----/.test(stdout) ? 'a PEM block is cut short (no END line)' : 'no PEM block in its output';
    throw fail('ENROLL_EXEC_BAD_OUTPUT', `${cut} (${Buffer.byteLength(stdout)} bytes)`);
  }
  if (certificates.length === 0) throw fail('ENROLL_EXEC_BAD_OUTPUT', 'no CERTIFICATE block');
  return { certificates, keys };
}

const nameOf = (c: X509Certificate) => distinguishedName(c.subject);
const selfSigned = (c: X509Certificate) => issuedBy(c, c);

/** The leaf, then each CA that signs the one before, up to (not including) a self-signed root. */
function chainFrom(leaf: X509Certificate, cas: X509Certificate[], fail: Fail): X509Certificate[] {
  const chain = [leaf];
  const unused = new Set(cas.filter((c) => !selfSigned(c)));
  for (;;) {
    const last = chain[chain.length - 1]!;
    const issuers = [...unused].filter((c) => issuedBy(last, c));
    if (issuers.length > 1)
      throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', `${issuers.map(nameOf).join(' and ')} could each be the issuer of ${nameOf(last)}; print one`);
    if (issuers.length === 0) return chain;
    chain.push(issuers[0]!);
    unused.delete(issuers[0]!);
  }
}

/**
 * The material in the command's output, or the catalog's error for what is wrong with it.
 * `stderr` is the suffix naming the command's first stderr line, for the messages that carry it.
 */
export function materialFromOutput(stdout: string, command: string, stderr: string): IdentityMaterial {
  const fail: Fail = (code, detail) =>
    code === 'ENROLL_EXEC_BAD_OUTPUT' ? new AhError(code, { command, detail, stderr }) : new AhError(code, { command, detail });
  const { certificates, keys } = readBlocks(stdout, fail);
  if (keys.length === 0) throw new AhError('ENROLL_EXEC_NO_KEY', { command, stderr });
  if (keys.length > 1) throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', `${keys.length} private keys; print only the leaf's`);
  let key: KeyObject;
  try {
    key = createPrivateKey(keys[0]!);
  } catch (err) {
    throw fail('ENROLL_EXEC_BAD_OUTPUT', `the private key does not parse (${((err as Error).message || 'not a key').replace(/^error:\w+:/, '')})`);
  }
  const leaves = certificates.filter((c) => !c.ca);
  if (leaves.length === 0) throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', 'every certificate is a CA: no leaf (end-entity certificate)');
  if (leaves.length > 1) throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', `${leaves.length} leaf certificates (${leaves.map(nameOf).join(', ')}); print one`);
  const leaf = leaves[0]!;
  if (!keyMatchesCertificate(leaf, key)) throw new AhError('ENROLL_EXEC_KEY_MISMATCH', { command, stderr });
  const cas = certificates.filter((c) => c.ca);
  const chain = chainFrom(leaf, cas, fail);
  const roots = cas.filter(selfSigned);
  const stray = cas.find((c) => !chain.includes(c) && !roots.includes(c));
  if (stray) throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', `CA certificate ${nameOf(stray)} is neither in the leaf's chain nor a self-signed root`);
  if (roots.length === 0) throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', 'no CA bundle: no self-signed root CA certificate');
  // Built to hang together; checked the files provider's way all the same.
  const broken = chainBreak(chain);
  if (broken) throw fail('ENROLL_EXEC_AMBIGUOUS_PEM', broken);
  return {
    certPem: chain.map((c) => c.toString()).join(''),
    keyPem: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    bundlePem: roots.map((c) => c.toString()).join(''),
    summary: summarize(leaf, 'exec'),
  };
}
