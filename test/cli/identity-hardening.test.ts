/**
 * Who may enroll as whom, tried as an attacker would against a running access point (files
 * identity with its own PKI): a leaf that is a CA and what it mints, SPIFFE IDs that are not
 * canonical, a name the certificate does not bear, a second holder of a connected identity, and
 * continuity proofs forged or real. Certificates are minted for each case; the executors are the
 * real CLI, the "attackers" raw TLS clients speaking the fleet protocol.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signContinuity } from '../../src/transport/continuity.js';
import { x509 } from '../../src/x509/peculiar.js';
import { runAh, startAh, stopAll, tempStateDir, type Daemon, type RunResult } from '../helpers/cli.js';
import { createIntermediate, createRoot, issueLeaf, writeIdentity, type Issuer, type Leaf } from '../helpers/pki.js';
import { RawFleetClient } from '../helpers/raw-fleet-client.js';
import { startWelcomeServer } from '../helpers/welcome-server.js';

afterAll(stopAll);

const PREFIX = 'spiffe://example.org/ah/agent/';
let root: Issuer;
let base: string;
let serial = 0;

interface AccessPointRun {
  daemon: Daemon;
  port: number;
  audit: string;
}

async function startAccessPoint(extra: string[] = []): Promise<AccessPointRun> {
  const leaf = await issueLeaf(root, { cn: 'access point', uris: ['spiffe://example.org/ah/serve'], dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  const p = writeIdentity(join(base, `ap-${++serial}`), leaf, root.pem);
  const audit = join(base, `audit-${serial}.jsonl`);
  const daemon = startAh([
    'agent',
    'access-point',
    '--fleet-listen',
    '127.0.0.1:0',
    '--identity',
    'files',
    '--cert',
    p.cert,
    '--key',
    p.key,
    '--ca',
    p.ca,
    '--executor-san-uri-prefix',
    PREFIX,
    '--heartbeat-interval',
    '500ms',
    '--audit-log',
    audit,
    '--state-dir',
    tempStateDir(),
    ...extra,
  ]);
  const line = await daemon.waitForLine((l) => typeof l.address === 'string' && l.component === 'ah_access_point' && 'provider' in l, 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()), audit };
}

async function executorFiles(cn: string, uri = `${PREFIX}${cn}`, opts: Parameters<typeof issueLeaf>[1] = {}, chain: Issuer[] = [], issuer = root) {
  const leaf = await issueLeaf(issuer, { cn, uris: [uri], usage: 'client', ...opts });
  return { leaf, paths: writeIdentity(join(base, `ex-${++serial}`), leaf, root.pem, chain) };
}

const filesArgs = (p: { cert: string; key: string; ca: string }) => ['--identity', 'files', '--cert', p.cert, '--key', p.key, '--ca', p.ca];
const enrollArgs = (port: number, name: string, p: { cert: string; key: string; ca: string }) => [
  'agent',
  'enroll',
  '--remote-server',
  `https://127.0.0.1:${port}`,
  '--name',
  name,
  ...filesArgs(p),
  '--expected-server-id',
  'spiffe://example.org/ah/serve',
  '--state-dir',
  tempStateDir(),
];
const enrollOnce = (port: number, name: string, p: { cert: string; key: string; ca: string }): Promise<RunResult> =>
  runAh([...enrollArgs(port, name, p), '--max-attempts', '1']);
const lines = (r: RunResult) => r.stderr.split('\n');
const auditRecords = (path: string) =>
  readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  base = tempStateDir('ah-hard-');
  root = await createRoot('Hardening Root CA');
});

describe('who may enroll as whom', () => {
  let ap: AccessPointRun;
  beforeAll(async () => {
    ap = await startAccessPoint();
  });
  afterAll(() => ap.daemon.stop());

  it('a leaf that is a CA is refused, and so is a chain through it', async () => {
    const caleaf = await executorFiles('caleaf', undefined, { ca: true, keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature });
    const r = await enrollOnce(ap.port, 'caleaf', caleaf.paths);
    expect(r.code).toBe(1);
    expect(lines(r)[0]).toBe('error: client certificate rejected: leaf certificate must not have CA flag set to true');

    // Its key mints good2; the chain [minted, caleaf] verifies to the real root, and is refused.
    const minted = await executorFiles('good2', undefined, {}, [caleaf.leaf.asIssuer], caleaf.leaf.asIssuer);
    const r2 = await enrollOnce(ap.port, 'good2', minted.paths);
    expect(r2.code).toBe(1);
    expect(lines(r2)[0]).toBe(
      'error: client certificate rejected: certificate 2 of the chain (above the leaf) carries a workload SPIFFE ID (spiffe://example.org/ah/agent/caleaf): a certificate that names a workload may not sign others',
    );
    const rejected = auditRecords(ap.audit).filter((a) => a.event === 'rejected' && a.code === 'ENROLL_CLIENT_CERT_INVALID');
    expect(rejected.map((a) => a.reason)).toEqual([expect.stringMatching(/CA flag/), expect.stringMatching(/carries a workload SPIFFE ID/)]);
    expect(auditRecords(ap.audit).some((a) => a.event === 'enrolled')).toBe(false);
  });

  it('a certificate without clientAuth is not "signed by unknown authority"', async () => {
    const serverOnly = await executorFiles('serveronly', undefined, { usage: 'server' });
    const r = await enrollOnce(ap.port, 'serveronly', serverOnly.paths);
    expect(r.code).toBe(1);
    expect(lines(r)[0]).toBe("error: client certificate rejected: certificate is not for client authentication (its extended key usage lacks 'clientAuth')");
  });

  it('SPIFFE IDs that are not canonical never alias a real executor; the reason names the rule', async () => {
    const cases: Array<[string, RegExp]> = [
      ['SPIFFE://EXAMPLE.ORG/ah/agent/good1', /scheme must be "spiffe" in lower case/],
      ['spiffe://example.org/ah/agent//good1', /empty segment/],
      ['spiffe://example.org/ah/agent/good1/', /must not end with "\/"/],
      ['spiffe://example.org/ah/agent/good1?x=1', /query is not allowed/],
    ];
    const runs = await Promise.all(cases.map(async ([uri]) => enrollOnce(ap.port, 'good1', (await executorFiles('good1', uri)).paths)));
    runs.forEach((r, i) => {
      expect(r.code, cases[i]![0]).toBe(1);
      expect(lines(r)[0]).toBe('error: certificate SAN does not match expected pattern');
      expect(lines(r)[1]).toMatch(cases[i]![1]);
    });
    // No URI SAN, two URI SANs and a SAN outside the prefix: one message, each with its own reason.
    const none = await enrollOnce(ap.port, 'good1', (await executorFiles('good1', undefined, { uris: [] })).paths);
    const two = await enrollOnce(ap.port, 'good1', (await executorFiles('good1', undefined, { uris: [`${PREFIX}good1`, `${PREFIX}good9`] })).paths);
    const outside = await enrollOnce(ap.port, 'good1', (await executorFiles('good1', 'spiffe://example.org/ah/other/good1')).paths);
    expect([none, two, outside].map((r) => lines(r)[0])).toEqual(Array(3).fill('error: certificate SAN does not match expected pattern'));
    expect(lines(none)[1]).toMatch(/^ {2}Reason: certificate contains no URI SAN/);
    expect(lines(two)[1]).toMatch(/^ {2}Reason: certificate contains more than one URI SAN/);
    expect(lines(outside)[1]).toBe(`  Reason: spiffe://example.org/ah/other/good1 is not under --executor-san-uri-prefix ${PREFIX}`);
  });

  it('the name in hello must be borne by the certificate', async () => {
    const r = await enrollOnce(ap.port, 'good1', (await executorFiles('good2')).paths);
    expect(r.code).toBe(1);
    expect(lines(r)[0]).toBe('error: executor name "good1" is not borne by its certificate spiffe://example.org/ah/agent/good2');
    // The CN or a DNS SAN may bear it too.
    const byDns = await executorFiles('other-cn', `${PREFIX}x-17`, { dns: ['web-1.example.org'] });
    const ex = startAh(enrollArgs(ap.port, 'WEB-1.example.org', byDns.paths));
    await ex.waitForLine((l) => l.executorId === `${PREFIX}x-17` && l.component === 'ah_executor', 'enrolled by its DNS SAN');
    await ex.stop();
  });
});

describe("the executor applies the same rules to the access point's chain", () => {
  /** An access point serving `leaf` with `chain` after it in its certificate file, trusted through the root. */
  async function servingChain(leaf: Leaf, chain: Issuer[] = []): Promise<{ daemon: Daemon; port: number }> {
    const p = writeIdentity(join(base, `ap-chain-${++serial}`), leaf, root.pem, chain);
    const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', ...filesArgs(p), '--state-dir', tempStateDir()]);
    const line = await daemon.waitForLine((l) => typeof l.address === 'string' && l.component === 'ah_access_point' && 'provider' in l, 'listening');
    return { daemon, port: Number(String(line.address).split(':').pop()) };
  }
  const apLeaf = (issuer: Issuer, more: Parameters<typeof issueLeaf>[1] = {}) =>
    issueLeaf(issuer, { cn: 'access point', uris: ['spiffe://example.org/ah/serve'], ips: ['127.0.0.1'], usage: 'server', ...more });

  it('refuses an access point whose leaf is a CA', async () => {
    const ap = await servingChain(await apLeaf(root, { ca: true, keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature }));
    const r = await enrollOnce(ap.port, 'good1', (await executorFiles('good1')).paths);
    expect(r.code).toBe(1);
    expect(lines(r).slice(0, 2)).toEqual([
      'error: tls handshake failed: certificate verify failed',
      '  Reason: access point certificate: leaf certificate must not have CA flag set to true',
    ]);
    await ap.daemon.stop();
  });

  it('refuses an access point whose intermediate names a workload, though OpenSSL verifies the chain', async () => {
    const rogue = await issueLeaf(root, {
      cn: 'rogue CA',
      uris: [`${PREFIX}rogue`],
      usage: 'both',
      ca: true,
      keyUsage: x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature,
    });
    const ap = await servingChain(await apLeaf(rogue.asIssuer), [rogue.asIssuer]);
    const r = await enrollOnce(ap.port, 'good1', (await executorFiles('good1')).paths);
    expect(r.code).toBe(1);
    expect(lines(r).slice(0, 2)).toEqual([
      'error: tls handshake failed: certificate verify failed',
      `  Reason: access point certificate: certificate 2 of the chain (above the leaf) carries a workload SPIFFE ID (${PREFIX}rogue): a certificate that names a workload may not sign others`,
    ]);
    await ap.daemon.stop();
  });

  it('takes the chain in the order of issuance, whatever order the server sends it in', async () => {
    // Our access point refuses such a file; a bare TLS server sends it as written: the leaf, a
    // stray leaf (not a CA), then the intermediate that issued the leaf. Read in the order sent,
    // the stray would be "certificate 2", a signer that is not a CA.
    const intermediate = await createIntermediate(root);
    const stray = (await issueLeaf(root, { cn: 'stray', usage: 'server' })).asIssuer;
    const leaf = await apLeaf(intermediate);
    const server = await startWelcomeServer({ certPem: leaf.certPem + stray.pem + intermediate.pem, keyPem: leaf.keyPem });
    try {
      const ex = startAh(enrollArgs(server.port, 'good1', (await executorFiles('good1')).paths));
      await ex.waitForLine((l) => l.event === 'enrolled', 'enrolled');
      expect(server.welcomed).toHaveLength(1);
      await ex.stop();
    } finally {
      await server.close();
    }
  });
});

describe('a second holder of a connected identity', () => {
  let ap: AccessPointRun;
  beforeAll(async () => {
    ap = await startAccessPoint();
  });
  afterAll(() => ap.daemon.stop());

  it('supersedes the first (audited with both addresses and serials); two that keep at it are named as an error', async () => {
    const a = await executorFiles('good1');
    const b = await executorFiles('good1');
    const backoff = ['--backoff-base', '300ms', '--backoff-max', '600ms'];
    const exA = startAh([...enrollArgs(ap.port, 'good1', a.paths), ...backoff], {}, 'holder A');
    await exA.waitForLine((l) => l.component === 'ah_executor' && l.executorId === `${PREFIX}good1`, 'A enrolled');
    const exB = startAh([...enrollArgs(ap.port, 'good1', b.paths), ...backoff], {}, 'holder B');
    const dup = await ap.daemon.waitForLine((l) => l.event === 'duplicate_identity', 'duplicate identity');
    expect(dup).toMatchObject({ executorId: `${PREFIX}good1`, serial: b.leaf.serial, previousSerial: a.leaf.serial });
    await exA.waitForLine((l) => l.code === 'ENROLL_SUPERSEDED', 'A told it was superseded');
    const record = auditRecords(ap.audit).find((r) => r.event === 'duplicate')!;
    expect(record).toMatchObject({ action: 'superseded', executorId: `${PREFIX}good1`, serial: b.leaf.serial, previousSerial: a.leaf.serial });
    expect(record.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(record.previousRemoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(record.remoteAddress).not.toBe(record.previousRemoteAddress);

    const flapping = await ap.daemon.waitForLine((l) => l.event === 'duplicate_identity_flapping', 'the two holders named as an error', 30_000);
    expect(flapping).toMatchObject({ code: 'ENROLL_DUPLICATE_IDENTITY_FLAPPING', executorId: `${PREFIX}good1`, level: 50 });
    expect(String(flapping.msg)).toBe(
      `identity ${PREFIX}good1 is held by two executors that keep superseding each other: ${flapping.first} and ${flapping.second}`,
    );
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', stateDirOf(ap.daemon)])).stdout) as { executors: Array<{ id: string }> };
    expect(fleet.executors.filter((e) => e.id === `${PREFIX}good1`).length).toBeLessThanOrEqual(1);
    await Promise.all([exA.stop(), exB.stop()]);
  });

  it('a rotation to a new key proves continuity: audited as rotated, never as a duplicate', async () => {
    const first = await executorFiles('good3');
    const ex = startAh([...enrollArgs(ap.port, 'good3', first.paths), '--files-poll-interval', '1s']);
    await ex.waitForLine((l) => l.component === 'ah_executor' && l.executorId === `${PREFIX}good3`, 'enrolled');
    const renewed = await issueLeaf(root, { cn: 'good3', uris: [`${PREFIX}good3`], usage: 'client' });
    writeIdentity(join(first.paths.cert, '..'), renewed, root.pem);
    await ap.daemon.waitForLine(
      (l) => l.serial === renewed.serial && l.component === 'ah_access_point' && l.executorId === `${PREFIX}good3`,
      'the rotated link admitted',
      30_000,
    );
    const records = auditRecords(ap.audit).filter((r) => r.executorId === `${PREFIX}good3`);
    expect(records.find((r) => r.event === 'rotated')).toMatchObject({ serial: renewed.serial, previousSerial: first.leaf.serial });
    expect(records.some((r) => r.event === 'duplicate')).toBe(false);
    await ex.stop();
  });

  it("a forged proof is a duplicate; a proof by the current holder's key is a rotation", async () => {
    const holder = await executorFiles('good5');
    const intruder = await executorFiles('good5');
    const heir = await executorFiles('good5');
    const first = await RawFleetClient.open(ap.port, holder.leaf);
    const welcome = await first.hello('good5', undefined, 0);
    expect(welcome.nonce).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    // The intruder saw the nonce but signs with its own key: not a proof.
    const forged = signContinuity(intruder.leaf.keyPem, new X509Certificate(intruder.leaf.certPem), welcome.nonce as string);
    const from = ap.daemon.lines.length;
    const second = await RawFleetClient.open(ap.port, intruder.leaf);
    const secondWelcome = await second.hello('good5', forged, 0);
    await ap.daemon.waitForNewLine(from, (l) => l.event === 'duplicate_identity' && l.serial === intruder.leaf.serial, 'forged proof taken as a duplicate');
    expect(await first.frame('goodbye')).toEqual({ type: 'goodbye', reason: 'superseded' });
    // The current holder hands over to a new certificate with a real proof.
    const proof = signContinuity(intruder.leaf.keyPem, new X509Certificate(heir.leaf.certPem), secondWelcome.nonce as string);
    const third = await RawFleetClient.open(ap.port, heir.leaf);
    await third.hello('good5', proof, 0);
    const rotated = auditRecords(ap.audit).filter((r) => r.executorId === `${PREFIX}good5` && r.serial === heir.leaf.serial);
    expect(rotated.map((r) => r.event)).toEqual(['rotated']);
    for (const c of [first, second, third]) c.close();
  });
});

describe('--duplicate-identity reject', () => {
  let ap: AccessPointRun;
  beforeAll(async () => {
    ap = await startAccessPoint(['--duplicate-identity', 'reject']);
  });
  afterAll(() => ap.daemon.stop());

  it('refuses a second holder, and lets a restarted executor with the same key back in while its old link is half-open', async () => {
    const a = await executorFiles('good4');
    const b = await executorFiles('good4');
    // The old link: welcomed, then silent (its process "died" without closing it).
    const halfOpen = await RawFleetClient.open(ap.port, a.leaf);
    await halfOpen.hello('good4', undefined, 0);
    const r = await enrollOnce(ap.port, 'good4', b.paths);
    expect(r.code).toBe(1);
    expect(lines(r)[0]).toMatch(
      /^error: identity spiffe:\/\/example\.org\/ah\/agent\/good4 is already connected from 127\.0\.0\.1:\d+; refused \(--duplicate-identity reject\)$/,
    );
    expect(auditRecords(ap.audit).find((x) => x.event === 'rejected' && x.code === 'ENROLL_DUPLICATE_IDENTITY')).toMatchObject({ serial: b.leaf.serial });
    const restarted = startAh(enrollArgs(ap.port, 'good4', a.paths));
    await restarted.waitForLine((l) => l.component === 'ah_executor' && l.executorId === `${PREFIX}good4`, 'the restarted executor enrolled');
    await restarted.stop();
    halfOpen.close();
  });
});

function stateDirOf(d: Daemon): string {
  const args = d.child.spawnargs;
  return args[args.indexOf('--state-dir') + 1]!;
}
