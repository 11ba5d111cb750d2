/**
 * The doctor's pure judgements: chain verification to a CA bundle (and why not), SAN policy,
 * lifetime against the renewal threshold, key file modes; and the one-line rendering of a check.
 */
import { X509Certificate } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderResult } from '../../src/doctor/render.js';
import { formatMode, keyModeTooOpen, lifetimeOf, sanProblem, verifyChainTo } from '../../src/doctor/verify.js';
import { createIntermediate, createRoot, issueLeaf, type Issuer } from '../helpers/pki.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const x = (pem: string) => new X509Certificate(pem);

let root: Issuer;
let other: Issuer;
let intermediate: Issuer;

beforeAll(async () => {
  root = await createRoot('Root');
  other = await createRoot('Other Root');
  intermediate = await createIntermediate(root, 'Intermediate');
});

describe('verifyChainTo', () => {
  it('verifies a leaf to its root, directly or through an intermediate from the cert file or the bundle', async () => {
    const direct = x((await issueLeaf(root)).certPem);
    expect(verifyChainTo([direct], [x(root.pem)], Date.now())).toMatchObject({ ok: true });
    const leaf = x((await issueLeaf(intermediate)).certPem);
    const viaFile = verifyChainTo([leaf, x(intermediate.pem)], [x(root.pem)], Date.now());
    expect(viaFile.ok && viaFile.path.map((c) => c.subject)).toEqual(['CN=leaf', 'CN=Intermediate', 'CN=Root']);
    expect(verifyChainTo([leaf], [x(intermediate.pem), x(root.pem)], Date.now())).toMatchObject({ ok: true });
  });

  it('tells a bundle that holds only the intermediate (incomplete) from an unrelated one (unknown)', async () => {
    const leaf = x((await issueLeaf(intermediate)).certPem);
    expect(verifyChainTo([leaf], [x(intermediate.pem)], Date.now())).toMatchObject({ ok: false, reason: 'incomplete' });
    expect(verifyChainTo([leaf, x(intermediate.pem)], [x(other.pem)], Date.now())).toMatchObject({ ok: false, reason: 'unknown' });
  });

  it('refuses a cert file whose certificates are out of order, and a CA outside its validity', async () => {
    const leaf = x((await issueLeaf(intermediate)).certPem);
    expect(verifyChainTo([leaf, x(other.pem)], [x(root.pem)], Date.now())).toMatchObject({ ok: false, reason: 'broken' });
    const direct = x((await issueLeaf(root)).certPem);
    expect(verifyChainTo([direct], [x(root.pem)], Date.now() + 400 * DAY)).toMatchObject({ ok: false, reason: 'ca-not-valid' });
  });
});

describe('sanProblem', () => {
  it('wants exactly one URI SAN for an executor, under the prefix at a segment boundary', async () => {
    const cert = async (uris: string[]) => x((await issueLeaf(root, { uris })).certPem);
    const policy = { role: 'executor' as const, prefix: 'spiffe://example.org/ah/agent/' };
    expect(sanProblem(await cert(['spiffe://example.org/ah/agent/e1']), policy)).toBeNull();
    expect(sanProblem(await cert(['spiffe://example.org/ah/agent-evil/x']), policy)).toMatch(/is not under --executor-san-uri-prefix/);
    expect(sanProblem(await cert([]), policy)).toMatch(/no URI SAN/);
    expect(sanProblem(await cert(['spiffe://a/x', 'spiffe://a/y']), policy)).toMatch(/2 URI SANs/);
    expect(sanProblem(await cert(['spiffe://example.org/ah/agent/e1']), { role: 'executor', exactUri: 'spiffe://example.org/ah/agent/e2' })).toMatch(
      /not the requested/,
    );
  });

  it('wants at least one name for an access point', async () => {
    expect(sanProblem(x((await issueLeaf(root, { dns: ['ap.example.com'] })).certPem), { role: 'access-point' })).toBeNull();
    expect(sanProblem(x((await issueLeaf(root)).certPem), { role: 'access-point' })).toMatch(/no SAN/);
  });
});

describe('lifetimeOf', () => {
  it('places the renewal point at the threshold and flags a certificate past it (with the jitter) as overdue', async () => {
    const now = Date.now();
    const cert = x((await issueLeaf(root, { notBefore: now - 8 * HOUR, notAfter: now + 2 * HOUR })).certPem);
    const life = lifetimeOf(cert, now, 0.7);
    expect(life.state).toBe('valid');
    expect(life.lifetimeMs).toBe(10 * HOUR);
    expect(life.renewAt).toBe(Date.parse(cert.validFrom) + 7 * HOUR);
    expect(life.overdue).toBe(true); // 80% > 75%
    expect(lifetimeOf(cert, now, 0.8).overdue).toBe(false); // 80% < 85%
    expect(lifetimeOf(cert, now + 3 * HOUR, 0.7).state).toBe('expired');
    expect(lifetimeOf(cert, now - 9 * HOUR, 0.7).state).toBe('not-yet-valid');
  });
});

describe('key file modes', () => {
  it('allows only the owner, as ssh does', () => {
    expect(keyModeTooOpen(0o100600)).toBe(false);
    expect(keyModeTooOpen(0o100400)).toBe(false);
    expect(keyModeTooOpen(0o100640)).toBe(true);
    expect(keyModeTooOpen(0o100644)).toBe(true);
    expect(keyModeTooOpen(0o100604)).toBe(true);
    expect(formatMode(0o100644)).toBe('0644');
  });
});

describe('renderResult', () => {
  it("prints the mark, the title and the finding on one line, then the guide's block under a failure", () => {
    const text = renderResult({
      name: 'tcp',
      title: 'tcp connect',
      status: 'fail',
      finding: 'cannot connect to ap:4433: nothing listens there (connection refused)',
      error: { code: 'ENROLL_CONNECTION_REFUSED', params: { address: 'ap:4433' } },
    });
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/^\[FAIL\] tcp connect +cannot connect to ap:4433: nothing listens there \(connection refused\)$/);
    expect(lines[1]).toBe('         error: connection refused to ap:4433');
    expect(lines).toContain('             sudo firewall-cmd --add-port=4433/tcp --permanent && sudo firewall-cmd --reload   # Open firewall (Linux)');
    expect(renderResult({ name: 'dns', title: 'name resolution', status: 'pass', finding: 'ok' })).toMatch(/^\[pass\] name resolution +ok$/);
  });
});
