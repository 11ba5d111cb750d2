/**
 * The exec identity's pure parts: how CMD is split into words, how the command's PEM is sorted
 * into chain, key and CA bundle (the rule the README states), and what of its stderr may be logged.
 * The runs of real commands are in test/integration/exec-provider.test.ts.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { splitCommandLine, programOf } from '../../src/providers/exec/command-line.js';
import { materialFromOutput } from '../../src/providers/exec/pem-output.js';
import { stderrLines } from '../../src/providers/exec/stderr-lines.js';
import { createIntermediate, createRoot, issueLeaf, type Issuer, type Leaf } from '../helpers/pki.js';

const ID = 'spiffe://example.org/ah/agent/exec-1';

describe('--dynamic-cert-cmd split into words (no shell)', () => {
  it.each([
    ['/usr/bin/mint --host a', ['/usr/bin/mint', '--host', 'a']],
    ['mint \'two words\' "a \\"quoted\\" one" back\\ slash', ['mint', 'two words', 'a "quoted" one', 'back slash']],
    ["mint '' x", ['mint', '', 'x']],
    ["mint '$HOME|x'", ['mint', '$HOME|x']],
  ])('%s', (text, argv) => {
    expect(splitCommandLine(text)).toEqual({ ok: true, argv });
  });

  it.each([
    ['mint | tee x', "'|' means something only to a shell: add --dynamic-cert-shell, or quote it"],
    ['mint $TOKEN', "'$' means something only to a shell: add --dynamic-cert-shell, or quote it"],
    ["mint 'open", 'a single quote is not closed'],
    ['mint "open', 'a double quote is not closed'],
    ['   ', 'it is empty'],
    ['mint \\', 'it ends with a lone backslash'],
  ])('refuses %s', (text, problem) => {
    expect(splitCommandLine(text)).toEqual({ ok: false, problem });
  });

  it('names the program only, never its arguments or a shell assignment', () => {
    expect(programOf('/usr/bin/mint --token s3cret')).toBe('/usr/bin/mint');
    expect(programOf('TOKEN=s3cret mint | tee x')).toBe('mint');
  });
});

describe('the command output sorted into chain, key and CA bundle', () => {
  let root: Issuer;
  let int: Issuer;
  let leaf: Leaf;
  let other: Leaf;
  beforeAll(async () => {
    root = await createRoot('Exec Root');
    int = await createIntermediate(root, 'Exec Int');
    leaf = await issueLeaf(int, { cn: 'exec-1', uris: [ID] });
    other = await issueLeaf(int, { cn: 'exec-2', uris: ['spiffe://example.org/ah/agent/exec-2'] });
  });
  const names = (pem: string | null) =>
    (pem ?? '')
      .split(/(?<=-----END CERTIFICATE-----\n?)/)
      .filter((p) => p.includes('BEGIN'))
      .map((p) => new X509Certificate(p).subject);
  const sort = (text: string) => materialFromOutput(text, 'mint', ' (stderr: said so)');
  const error = (text: string) => {
    try {
      sort(text);
    } catch (err) {
      return { code: (err as { code: string }).code, message: (err as Error).message };
    }
    throw new Error('no error');
  };

  it('takes the blocks in any order: leaf and its issuers as the chain, self-signed roots as the bundle, one key', () => {
    for (const text of [
      leaf.keyPem + root.pem + leaf.certPem + int.pem,
      int.pem + root.pem + leaf.certPem + leaf.keyPem,
      `issued for exec-1\n${leaf.certPem}${int.pem}${root.pem}${root.pem}${leaf.keyPem}`,
    ]) {
      const m = sort(text);
      expect(names(m.certPem)).toEqual(['CN=exec-1', 'CN=Exec Int']);
      expect(names(m.bundlePem)).toEqual(['CN=Exec Root']);
      expect(m.summary).toMatchObject({ provider: 'exec', spiffeId: ID, serial: leaf.serial });
      expect(m.keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    }
  });

  it('keeps a second root (another CA the peer may use) in the bundle', async () => {
    const apRoot = await createRoot('Access Point Root');
    const m = sort(leaf.certPem + int.pem + root.pem + apRoot.pem + leaf.keyPem);
    expect(names(m.bundlePem)).toEqual(['CN=Exec Root', 'CN=Access Point Root']);
  });

  it('refuses what it cannot sort, each with its one line', async () => {
    const stranger = await createIntermediate(await createRoot('Elsewhere Root'), 'Elsewhere Int');
    const cases: Array<[string, string, string]> = [
      ['<html>502</html>\n', 'ENROLL_EXEC_BAD_OUTPUT', 'identity command mint printed no usable PEM: no PEM block in its output (17 bytes) (stderr: said so)'],
      [
        leaf.certPem.slice(0, 200),
        'ENROLL_EXEC_BAD_OUTPUT',
        'identity command mint printed no usable PEM: a PEM block is cut short (no END line) (200 bytes) (stderr: said so)',
      ],
      [leaf.certPem + root.pem, 'ENROLL_EXEC_NO_KEY', 'identity command mint printed no private key (stderr: said so)'],
      [leaf.keyPem, 'ENROLL_EXEC_BAD_OUTPUT', 'identity command mint printed no usable PEM: no CERTIFICATE block (stderr: said so)'],
      [
        leaf.keyPem + root.pem,
        'ENROLL_EXEC_AMBIGUOUS_PEM',
        'identity command mint printed PEM that cannot be sorted into chain, key and CA bundle: every certificate is a CA: no leaf (end-entity certificate)',
      ],
      [
        leaf.certPem + int.pem + root.pem + other.keyPem,
        'ENROLL_EXEC_KEY_MISMATCH',
        'identity command mint: private key does not match certificate (stderr: said so)',
      ],
      [
        leaf.certPem + int.pem + root.pem + leaf.keyPem + other.keyPem,
        'ENROLL_EXEC_AMBIGUOUS_PEM',
        "identity command mint printed PEM that cannot be sorted into chain, key and CA bundle: 2 private keys; print only the leaf's",
      ],
      [
        leaf.certPem + other.certPem + int.pem + root.pem + leaf.keyPem,
        'ENROLL_EXEC_AMBIGUOUS_PEM',
        'identity command mint printed PEM that cannot be sorted into chain, key and CA bundle: 2 leaf certificates (CN=exec-1, CN=exec-2); print one',
      ],
      [
        leaf.certPem + int.pem + stranger.pem + root.pem + leaf.keyPem,
        'ENROLL_EXEC_AMBIGUOUS_PEM',
        "identity command mint printed PEM that cannot be sorted into chain, key and CA bundle: CA certificate CN=Elsewhere Int is neither in the leaf's chain nor a self-signed root",
      ],
      [
        leaf.certPem + int.pem + leaf.keyPem,
        'ENROLL_EXEC_AMBIGUOUS_PEM',
        'identity command mint printed PEM that cannot be sorted into chain, key and CA bundle: no CA bundle: no self-signed root CA certificate',
      ],
      [
        `${leaf.certPem + root.pem}-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n`,
        'ENROLL_EXEC_BAD_OUTPUT',
        'identity command mint printed no usable PEM: the private key is encrypted; print it unencrypted (stderr: said so)',
      ],
      [
        `${leaf.certPem + root.pem + leaf.keyPem}-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n`,
        'ENROLL_EXEC_BAD_OUTPUT',
        'identity command mint printed no usable PEM: PEM block 4 is a X509 CRL, not a CERTIFICATE or a PRIVATE KEY (stderr: said so)',
      ],
    ];
    for (const [text, code, message] of cases) expect(error(text)).toEqual({ code, message });
  });
});

describe('what of the command stderr reaches the log', () => {
  it('keeps the first lines, without PEM blocks, lines naming a private key, or long base64 runs', () => {
    const text = [
      '',
      'contacting broker',
      '-----BEGIN PRIVATE KEY-----',
      'MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg',
      '-----END PRIVATE KEY-----',
      'key=-----BEGIN EC PRIVATE KEY----- MHcCAQEEI -----END EC PRIVATE KEY-----',
      'loaded the private key from /run/secrets',
      'MHcCAQEEIGx1c2VkIGFzIGEga2V5IGZyYWdtZW50IGhlcmUgYW5kIHRoZXJl',
      `a\u001b[31m red ${'x'.repeat(300)}`,
      'three',
      'four',
      'five',
      'six',
    ].join('\n');
    const lines = stderrLines(text);
    expect(lines).toEqual(['contacting broker', `${`a [31m red ${'x'.repeat(300)}`.slice(0, 200)}…`, 'three', 'four', 'five']);
    expect(lines.join('\n')).not.toMatch(/MIG|MHc|PRIVATE/);
  });
});
