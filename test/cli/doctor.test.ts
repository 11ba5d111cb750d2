/**
 * `ah agent doctor` against real setups, healthy and broken for real: certificates minted for the
 * test, PEM files on disk, access points as child processes over TLS on loopback (one of them two
 * days ahead under faketime), a fake SPIRE agent on a unix socket and a fake Vault over HTTP.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type RunResult } from '../helpers/cli.js';
import { fakeClock } from '../helpers/faketime.js';
import { skipWithout } from '../helpers/tools.js';
import { createRoot, issueLeaf, writeIdentity, type Issuer } from '../helpers/pki.js';
import { createTrustDomain, shortSocketDir, startFakeSpire, type FakeSpire } from '../support/fake-spire/index.js';
import { startFakeVault, type FakeVault } from '../support/fake-vault/index.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const PREFIX = 'spiffe://example.org/ah/agent/';
const EXECUTOR_ID = `${PREFIX}executor-1`;
const AP_ID = 'spiffe://example.org/ah/serve';

interface Check {
  name: string;
  title: string;
  status: 'pass' | 'fail' | 'skip';
  finding: string;
  error?: { code: string; params: Record<string, string>; message: string };
  details?: Record<string, any>;
}
interface Report {
  role: string;
  checks: Check[];
  summary: { pass: number; fail: number; skip: number };
  ok: boolean;
}

let root: Issuer;
let otherRoot: Issuer;
let base: string;

afterAll(stopAll);

beforeAll(async () => {
  base = tempStateDir('ah-doc-');
  root = await createRoot('Example Root CA');
  otherRoot = await createRoot('Unrelated Root CA');
});

type Paths = { cert: string; key: string; ca: string };

async function apIdentity(dir: string, opts: { notBefore?: number; notAfter?: number } = {}): Promise<Paths> {
  const leaf = await issueLeaf(root, {
    cn: 'access point',
    uris: [AP_ID],
    dns: ['localhost'],
    ips: ['127.0.0.1'],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter ?? Date.now() + 10 * DAY,
    usage: 'server',
  });
  return writeIdentity(join(base, dir), leaf, root.pem);
}

async function executorIdentity(dir: string, opts: { notBefore?: number; notAfter?: number; issuer?: Issuer; uri?: string } = {}): Promise<Paths> {
  const leaf = await issueLeaf(opts.issuer ?? root, {
    cn: 'executor-1',
    uris: [opts.uri ?? EXECUTOR_ID],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: 'client',
  });
  return writeIdentity(join(base, dir), leaf, root.pem);
}

async function filesAccessPoint(paths: Paths, env: Record<string, string> = {}): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh(
    [
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--cert',
      paths.cert,
      '--key',
      paths.key,
      '--ca',
      paths.ca,
      '--executor-san-uri-prefix',
      PREFIX,
      '--state-dir',
      tempStateDir(),
    ],
    env,
    'access point',
  );
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

const filesArgs = (p: Paths) => ['--identity', 'files', '--cert', p.cert, '--key', p.key, '--ca', p.ca];

function doctor(port: number, args: string[], env: Record<string, string> = {}, stateDir = tempStateDir()): Promise<RunResult> {
  return runAh(
    ['agent', 'doctor', '--remote-server', `https://127.0.0.1:${port}`, '--name', 'executor-1', '--connect-timeout', '10s', '--state-dir', stateDir, ...args],
    env,
  );
}

async function doctorJson(port: number, args: string[], env: Record<string, string> = {}, stateDir?: string): Promise<{ code: number | null; report: Report }> {
  const r = await doctor(port, [...args, '--json'], env, stateDir);
  expect(r.stderr).toBe('');
  return { code: r.code, report: JSON.parse(r.stdout) as Report };
}

const check = (report: Report, name: string): Check => {
  const found = report.checks.find((c) => c.name === name);
  if (!found) throw new Error(`no check ${name} in ${report.checks.map((c) => c.name).join(', ')}`);
  return found;
};

const statuses = (report: Report, names: string[]) => Object.fromEntries(names.map((n) => [n, check(report, n).status]));

/** A port nothing listens on: bound by the system, then released. */
async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const IDENTITY_CHECKS = ['identity.files', 'identity.parse', 'identity.key', 'identity.chain', 'identity.san', 'identity.validity'];

describe('ah agent doctor, files identity', () => {
  let ap: { daemon: Daemon; port: number };
  let healthy: Paths;
  beforeAll(async () => {
    ap = await filesAccessPoint(await apIdentity('ap'));
    healthy = await executorIdentity('healthy');
  });
  afterAll(() => ap.daemon.stop());

  it('passes every check on a healthy setup, shows the chain, enrolls up to welcome and leaves with a goodbye', async () => {
    const mark = ap.daemon.lines.length;
    const { code, report } = await doctorJson(ap.port, filesArgs(healthy));
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(code).toBe(0);
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => c.name)).toEqual([
      'dns',
      'tcp',
      'tls',
      ...IDENTITY_CHECKS,
      'spiffe.socket',
      'spiffe.header',
      'spiffe.svid',
      'vault.reachable',
      'vault.seal',
      'vault.token',
      'vault.issue',
      'exec.command',
      'enroll',
      'clock',
    ]);
    expect(statuses(report, ['dns', 'tcp', 'tls', ...IDENTITY_CHECKS, 'enroll', 'clock'])).toEqual(
      Object.fromEntries(['dns', 'tcp', 'tls', ...IDENTITY_CHECKS, 'enroll', 'clock'].map((n) => [n, 'pass'])),
    );
    expect(statuses(report, ['spiffe.socket', 'vault.issue'])).toEqual({ 'spiffe.socket': 'skip', 'vault.issue': 'skip' });
    const tls = check(report, 'tls');
    expect(tls.finding).toMatch(/^TLSv1\.3, ALPN ah-fleet\/1, chain of 2; verified: chains to --ca .*ca\.pem; names 127\.0\.0\.1$/);
    expect(tls.details!.chain[0]).toMatchObject({
      subject: 'CN=access point',
      issuer: 'CN=Example Root CA',
      sans: [`URI:${AP_ID}`, 'DNS:localhost', 'IP:127.0.0.1'],
    });
    expect(tls.details!.chain[0].spkiSha256).toMatch(/^sha256:[A-Za-z0-9+/]{43}=$/);
    // Completed with the root from --ca.
    expect(tls.details!.chain[1]).toMatchObject({ subject: 'CN=Example Root CA', issuer: 'CN=Example Root CA' });
    expect(check(report, 'identity.chain').finding).toBe(`executor-1 → Example Root CA (root in --ca ${healthy.ca})`);
    expect(check(report, 'identity.san').finding).toBe(`executor ID ${EXECUTOR_ID} (one URI SAN, as the access point requires)`);
    expect(check(report, 'identity.validity').finding).toMatch(/left of 1d1m, until .*; renews at 70% ±5% of its lifetime \(in /);
    expect(check(report, 'enroll').finding).toBe(`welcomed as ${EXECUTOR_ID} (heartbeat interval 5s); left with a goodbye`);
    expect(Math.abs(check(report, 'clock').details!.skewMs)).toBeLessThan(5_000);
    // The access point saw an enrollment that ended with the doctor's goodbye.
    await ap.daemon.waitForNewLine(
      mark,
      isEvent('executor_enrolled', (l) => l.name === 'executor-1' && l.executorId === EXECUTOR_ID),
      'the enrollment',
    );
    await ap.daemon.waitForNewLine(
      mark,
      isEvent('executor_left', (l) => l.executorId === EXECUTOR_ID && l.reason === 'goodbye: doctor check done'),
      'the goodbye',
    );
  });

  it('prints one line per check with its mark, the chain under the TLS check, and exits 0', async () => {
    const r = await doctor(ap.port, filesArgs(healthy));
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`ah agent doctor: executor executor-1 → https://127.0.0.1:${ap.port} (identity files)`);
    expect(lines.filter((l) => /^\[(pass|FAIL|skip)\] /.test(l))).toHaveLength(19);
    expect(r.stdout).toMatch(/^\[pass\] tcp connect +connected to 127\.0\.0\.1:\d+/m);
    expect(r.stdout).toMatch(/^ +#0 subject CN=access point$/m);
    expect(r.stdout).toMatch(/^ +#1 subject CN=Example Root CA +\(in --ca .*ca\.pem\)$/m);
    expect(r.stdout).toMatch(/^ +SPKI +sha256:/m);
    expect(r.stdout).toMatch(/^\[skip\] SPIFFE socket +the identity is files, not spiffe$/m);
    expect(r.stdout).toMatch(/19 checks: 11 passed, 0 failed, 8 skipped: all checks passed\n$/);
  });

  it("expired certificate: validity fails with the guide's message, and the access point refuses it too", async () => {
    const p = await executorIdentity('expired', { notBefore: Date.now() - 3 * DAY, notAfter: Date.now() - DAY });
    const { code, report } = await doctorJson(ap.port, filesArgs(p));
    expect(code).toBe(1);
    const validity = check(report, 'identity.validity');
    expect(validity).toMatchObject({ status: 'fail', error: { code: 'ENROLL_CERT_NOT_VALID_NOW', message: 'certificate has expired or is not yet valid' } });
    expect(validity.finding).toMatch(/^expired .* \(1d(\d+s)? ago\); compare with date -u$/);
    expect(check(report, 'enroll')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_CERT_NOT_VALID_NOW' } });
    // The rest still ran and passed.
    expect(statuses(report, ['tls', 'identity.files', 'identity.key', 'identity.chain'])).toEqual({
      tls: 'pass',
      'identity.files': 'pass',
      'identity.key': 'pass',
      'identity.chain': 'pass',
    });
    const human = await doctor(ap.port, filesArgs(p));
    expect(human.stdout).toMatch(/^\[FAIL\] validity and renewal +expired /m);
    expect(human.stdout).toMatch(/^ +error: certificate has expired or is not yet valid$/m);
    expect(human.stdout).toContain('Diagnosis: openssl x509 -in cert.pem -noout -enddate; compare with date -u');
  });

  it('a certificate past its renewal point that nothing renewed: the validity check says rotation is not happening', async () => {
    // Half a minute short of 4 h: the time left is printed to the nearest second, and a doctor that
    // runs within half a second of the certificate being made would otherwise say "4h".
    const p = await executorIdentity('overdue', { notBefore: Date.now() - 20 * HOUR, notAfter: Date.now() + 4 * HOUR - 30_000 });
    const { code, report } = await doctorJson(ap.port, filesArgs(p));
    expect(code).toBe(1);
    const validity = check(report, 'identity.validity');
    expect(validity).toMatchObject({ status: 'fail', error: { code: 'ENROLL_RENEWAL_OVERDUE' } });
    expect(validity.error!.message).toMatch(/^certificate serial [0-9A-F]+ is past its renewal point \(.*\): 3h59m(\d+s)? left$/);
    expect(check(report, 'enroll').status).toBe('pass');
    const human = await doctor(ap.port, filesArgs(p));
    expect(human.stdout).toContain('journalctl -u ah-executor | grep -i "rotat\\|renew"');
  });

  it("wrong key: the key check fails with the guide's message; no enrollment is attempted with it", async () => {
    const p = await executorIdentity('wrong-key');
    const other = await executorIdentity('wrong-key-other');
    const { code, report } = await doctorJson(ap.port, ['--identity', 'files', '--cert', p.cert, '--key', other.key, '--ca', p.ca]);
    expect(code).toBe(1);
    expect(check(report, 'identity.key')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_KEY_MISMATCH', message: 'private key does not match certificate' },
    });
    expect(check(report, 'enroll').status).toBe('skip');
    const human = await doctor(ap.port, ['--identity', 'files', '--cert', p.cert, '--key', other.key, '--ca', p.ca]);
    expect(human.stdout).toContain('openssl x509 -in cert.pem -noout -modulus | md5sum');
  });

  it('wrong CA for the access point: the TLS check and the enrollment fail with x509: certificate signed by unknown authority', async () => {
    const p = await executorIdentity('wrong-ca');
    writeFileSync(p.ca, otherRoot.pem);
    const { code, report } = await doctorJson(ap.port, filesArgs(p));
    expect(code).toBe(1);
    const tls = check(report, 'tls');
    expect(tls).toMatchObject({ status: 'fail', error: { code: 'ENROLL_SERVER_UNKNOWN_AUTHORITY', message: 'x509: certificate signed by unknown authority' } });
    // The chain is shown even though it does not verify.
    expect(tls.details!.chain[0].issuer).toBe('CN=Example Root CA');
    // Its own certificate, judged by the same bundle, is a lone leaf whose issuer that bundle lacks.
    expect(check(report, 'identity.chain')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_CHAIN_LONE_LEAF', message: 'unable to get local issuer certificate' },
    });
    expect(check(report, 'enroll')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_SERVER_UNKNOWN_AUTHORITY' } });
  });

  it('executor certificate alone, from a CA the access point does not trust: a lone leaf, named with its issuer before the access point refuses it', async () => {
    const p = await executorIdentity('other-issuer', { issuer: otherRoot });
    const { code, report } = await doctorJson(ap.port, filesArgs(p));
    expect(code).toBe(1);
    expect(check(report, 'tls').status).toBe('pass');
    const chain = check(report, 'identity.chain');
    expect(chain).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_CHAIN_LONE_LEAF', message: 'unable to get local issuer certificate', params: { issuer: 'CN=Unrelated Root CA' } },
    });
    expect(chain.error!.params.authorityKeyId).toMatch(/^([0-9A-F]{2}:){19}[0-9A-F]{2}$/);
    expect(check(report, 'enroll')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_CHAIN_LONE_LEAF', params: { peer: 'executor', issuer: 'CN=Unrelated Root CA' } },
    });
  });

  it("loose key mode (0644): the files check fails as ssh would, with the guide's chmod fix", async () => {
    const p = await executorIdentity('loose');
    chmodSync(p.key, 0o644);
    const { code, report } = await doctorJson(ap.port, filesArgs(p));
    expect(code).toBe(1);
    const files = check(report, 'identity.files');
    expect(files).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_KEY_FILE_MODE', message: `private key ${p.key} is readable by group or others (mode 0644)` },
    });
    expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['identity.files']);
    const human = await doctor(ap.port, filesArgs(p));
    expect(human.stdout).toContain('sudo chmod 600 /etc/ah/*-key.pem');
    chmodSync(p.key, 0o600);
    expect((await doctorJson(ap.port, filesArgs(p))).code).toBe(0);
  });

  it('unreadable key (the doctor runs as nobody; root reads anything): permission denied reading PATH', async () => {
    const p = await executorIdentity('perm');
    for (const f of [p.cert, p.ca]) chmodSync(f, 0o644);
    chmodSync(join(base, 'perm'), 0o755);
    chmodSync(base, 0o755);
    const r = await runAh(
      ['agent', 'doctor', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'executor-1', ...filesArgs(p), '--state-dir', tempStateDir(), '--json'],
      {},
      60_000,
      { uid: 65534, gid: 65534 },
    );
    const report = JSON.parse(r.stdout) as Report;
    expect(r.code).toBe(1);
    expect(check(report, 'identity.files')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_PERMISSION_DENIED', message: `permission denied reading ${p.key}` },
    });
    expect(statuses(report, ['identity.parse', 'identity.key', 'enroll'])).toEqual({ 'identity.parse': 'skip', 'identity.key': 'skip', enroll: 'skip' });
  });

  it('SAN outside --executor-san-uri-prefix: the SAN check says so before the access point does', async () => {
    const p = await executorIdentity('san', { uri: 'spiffe://example.org/ah/agent-evil/x' });
    const { report } = await doctorJson(ap.port, [...filesArgs(p), '--executor-san-uri-prefix', PREFIX]);
    expect(check(report, 'identity.san')).toMatchObject({
      status: 'fail',
      finding: `URI SAN spiffe://example.org/ah/agent-evil/x is not under --executor-san-uri-prefix ${PREFIX}`,
      error: { code: 'ENROLL_SAN_MISMATCH', message: 'certificate SAN does not match expected pattern' },
    });
    expect(check(report, 'enroll')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_SAN_MISMATCH' } });
  });

  it('does not take the link of an enrolled executor of the same name from the same state dir', async () => {
    const stateDir = tempStateDir();
    const apStart = ap.daemon.lines.length;
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'executor-1',
      ...filesArgs(healthy),
      '--state-dir',
      stateDir,
    ]);
    try {
      await ex.waitForLine(isEvent('enrolled'), 'enrolled');
      // The access point logs the admission a moment after the executor hears its welcome.
      const admitted = await ap.daemon.waitForNewLine(
        apStart,
        isEvent('executor_enrolled', (l) => l.executorId === `${PREFIX}executor-1`),
        'the admission',
      );
      const mark = ap.daemon.lines.indexOf(admitted) + 1;
      const { code, report } = await doctorJson(ap.port, filesArgs(healthy), {}, stateDir);
      expect(code).toBe(0);
      expect(check(report, 'enroll').status).toBe('skip');
      expect(check(report, 'enroll').finding).toMatch(/^executor executor-1 is running from .* and is enrolled with https:\/\/127\.0\.0\.1:\d+; a second link/);
      expect(check(report, 'clock').status).toBe('skip');
      expect(ap.daemon.lines.slice(mark).filter((l) => l.event === 'executor_enrolled' || l.event === 'executor_rotated')).toEqual([]);
    } finally {
      await ex.stop();
    }
  });

  it('nothing listening: TCP fails with connection refused, the checks that need a connection skip, the rest still run', async () => {
    const port = await freePort();
    const { code, report } = await doctorJson(port, filesArgs(healthy));
    expect(code).toBe(1);
    expect(check(report, 'dns').status).toBe('pass');
    expect(check(report, 'tcp')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_CONNECTION_REFUSED', message: `connection refused to 127.0.0.1:${port}` },
    });
    expect(statuses(report, ['tls', 'enroll', 'clock'])).toEqual({ tls: 'skip', enroll: 'skip', clock: 'skip' });
    expect(statuses(report, IDENTITY_CHECKS)).toEqual(Object.fromEntries(IDENTITY_CHECKS.map((n) => [n, 'pass'])));
    const human = await doctor(port, filesArgs(healthy));
    expect(human.stdout).toMatch(new RegExp(`^ +error: connection refused to 127\\.0\\.0\\.1:${port}$`, 'm'));
    expect(human.stdout).toContain('systemctl status ah-access-point      # Check if access point is running');
  });

  it('a name that does not resolve fails name resolution', async () => {
    const r = await runAh([
      'agent',
      'doctor',
      '--remote-server',
      'https://no-such-host.invalid:4433',
      ...filesArgs(healthy),
      '--connect-timeout',
      '10s',
      '--state-dir',
      tempStateDir(),
      '--json',
    ]);
    const report = JSON.parse(r.stdout) as Report;
    expect(r.code).toBe(1);
    expect(check(report, 'dns')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_NAME_NOT_RESOLVED' } });
    expect(check(report, 'dns').error!.message).toMatch(/^cannot resolve host no-such-host\.invalid: /);
  });

  it('--production on a sound executor setup: short certificate, audit log and metrics on; SAN validation is left to the access point', async () => {
    const p = await executorIdentity('prod', { notAfter: Date.now() + HOUR });
    const metrics: HttpServer = createHttpServer((req, res) => {
      res.writeHead(req.url === '/metrics' ? 200 : 404, { 'content-type': 'text/plain' });
      res.end('# HELP ah_up 1\n# TYPE ah_up gauge\nah_up 1\n');
    });
    await new Promise<void>((resolve) => metrics.listen(0, '127.0.0.1', resolve));
    const metricsPort = (metrics.address() as { port: number }).port;
    try {
      const audit = join(base, 'prod', 'audit.log');
      const { code, report } = await doctorJson(ap.port, [
        ...filesArgs(p),
        '--production',
        '--audit-log',
        audit,
        '--metrics-listen',
        `127.0.0.1:${metricsPort}`,
      ]);
      expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(code).toBe(0);
      expect(
        statuses(report, ['production.ca', 'production.ttl', 'production.rotation', 'production.audit-log', 'production.metrics', 'production.port']),
      ).toEqual({
        'production.ca': 'pass',
        'production.ttl': 'pass',
        'production.rotation': 'pass',
        'production.audit-log': 'pass',
        'production.metrics': 'pass',
        'production.port': 'pass',
      });
      expect(check(report, 'production.san-validation').status).toBe('skip');
      expect(check(report, 'production.metrics').finding).toBe(`http://127.0.0.1:${metricsPort}/metrics serves metrics (1 metric family)`);
      // Without them, and with a certificate for days and a late threshold: each item fails on its own.
      const bad = await doctorJson(ap.port, [...filesArgs(healthy), '--production', '--renewal-threshold', '0.9']);
      expect(bad.code).toBe(1);
      expect(Object.fromEntries(bad.report.checks.filter((c) => c.name.startsWith('production.')).map((c) => [c.name, c.error?.code ?? c.status]))).toEqual({
        'production.ca': 'pass',
        'production.ttl': 'pass',
        'production.rotation': 'ENROLL_PRODUCTION_ROTATION_THRESHOLD',
        'production.san-validation': 'skip',
        'production.audit-log': 'skip',
        'production.metrics': 'ENROLL_PRODUCTION_NO_METRICS',
        'production.port': 'pass',
      });
    } finally {
      await new Promise<void>((resolve) => metrics.close(() => resolve()));
    }
  });

  it("--access-point: checks the access point's own identity and what it serves; --production flags days-long certificates and a missing SAN prefix", async () => {
    const paths = await apIdentity('ap-self');
    const own = await filesAccessPoint(paths);
    try {
      const args = [
        'agent',
        'doctor',
        '--access-point',
        '--fleet-listen',
        `127.0.0.1:${own.port}`,
        '--cert',
        paths.cert,
        '--key',
        paths.key,
        '--ca',
        paths.ca,
        '--state-dir',
        tempStateDir(),
        '--json',
      ];
      const ok = await runAh([...args, '--executor-san-uri-prefix', PREFIX]);
      const report = JSON.parse(ok.stdout) as Report;
      expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(ok.code).toBe(0);
      expect(report.role).toBe('access-point');
      expect(check(report, 'tls').finding).toMatch(/it serves the configured certificate, valid now$/);
      expect(check(report, 'identity.san').finding).toBe(`names URI:${AP_ID}, DNS:localhost, IP:127.0.0.1`);
      expect(statuses(report, ['enroll', 'clock'])).toEqual({ enroll: 'skip', clock: 'skip' });
      const prod = JSON.parse((await runAh([...args, '--production'])).stdout) as Report;
      expect(check(prod, 'production.ttl')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_PRODUCTION_LONG_TTL' } });
      expect(check(prod, 'production.ttl').error!.message).toMatch(/^certificate lifetime is 2\d{2}h.*: production certificates should live hours, not days$/);
      expect(check(prod, 'production.san-validation')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_PRODUCTION_NO_SAN_VALIDATION' } });
      expect(check(prod, 'production.ca').status).toBe('pass');
      expect(check(prod, 'production.audit-log')).toMatchObject({
        status: 'fail',
        error: { code: 'ENROLL_PRODUCTION_NO_AUDIT_LOG', message: 'audit logging is not enabled: no --audit-log FILE' },
      });
      expect(check(prod, 'production.port').status).toBe('pass');
      const audit = join(base, 'ap-self', 'audit.log');
      const withPrefix = JSON.parse((await runAh([...args, '--production', '--executor-san-uri-prefix', PREFIX, '--audit-log', audit])).stdout) as Report;
      expect(check(withPrefix, 'production.san-validation')).toMatchObject({ status: 'pass', finding: `admits only executor URI SANs under ${PREFIX}` });
      expect(check(withPrefix, 'production.audit-log')).toMatchObject({ status: 'pass', finding: `${audit} can be created` });
    } finally {
      await own.daemon.stop();
    }
  });
});

describe('ah agent doctor, clock skew', () => {
  it.skipIf(skipWithout('faketime'))('an access point two days ahead (faketime): the clock check reads its welcome and flags the skew', async () => {
    const apPaths = await apIdentity('ap-ahead', { notAfter: Date.now() + 30 * DAY });
    const ap = await filesAccessPoint(apPaths, fakeClock('+2d'));
    try {
      // Valid in both clocks, so the enrollment itself gets as far as welcome.
      const p = await executorIdentity('skew', { notAfter: Date.now() + 10 * DAY });
      const { code, report } = await doctorJson(ap.port, filesArgs(p));
      expect(code).toBe(1);
      expect(check(report, 'enroll').status).toBe('pass');
      const clock = check(report, 'clock');
      expect(clock.status).toBe('fail');
      expect(clock.error!.code).toBe('ENROLL_CLOCK_SKEW');
      expect(clock.error!.message).toMatch(
        new RegExp(`^clock skew: the access point at 127\\.0\\.0\\.1:${ap.port} is (1d23h59m5\\ds|2d(\\d+s)?) ahead of this machine \\(more than 5s\\)$`),
      );
      expect(Math.abs(clock.details!.skewMs - 2 * DAY)).toBeLessThan(60_000);
      expect(report.checks.filter((c) => c.status === 'fail').map((c) => c.name)).toEqual(['clock']);
      const human = await doctor(ap.port, filesArgs(p));
      expect(human.stdout).toContain('sudo systemctl start systemd-timesyncd                     # Sync time');
      // A generous threshold lets it pass.
      expect((await doctorJson(ap.port, [...filesArgs(p), '--clock-skew-threshold', '3d'])).code).toBe(0);
    } finally {
      await ap.daemon.stop();
    }
  });
});

describe('ah agent doctor, dev identity', () => {
  it("passes against a dev access point without trusting it on the operator's behalf", async () => {
    const stateDir = tempStateDir();
    const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', tempStateDir()]);
    try {
      const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
      const port = Number(String(line.address).split(':').pop());
      const { code, report } = await doctorJson(port, [], {}, stateDir);
      expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
      expect(code).toBe(0);
      expect(check(report, 'tls').finding).toMatch(/dev identity: not trusted yet; the first enrollment trusts key sha256:\S+ on first use/);
      expect(check(report, 'enroll').status).toBe('pass');
      expect(existsSync(join(stateDir, 'known-access-points'))).toBe(false);
      // --production says what the dev identity is not.
      const prod = await doctorJson(port, ['--production'], {}, stateDir);
      expect(check(prod.report, 'production.ca')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_PRODUCTION_UNTRUSTED_CA' } });
    } finally {
      await ap.stop();
    }
  });
});

describe('ah agent doctor, SPIFFE identity', () => {
  let dir: ReturnType<typeof shortSocketDir>;
  let spireAp: FakeSpire;
  let spireEx: FakeSpire;
  let ap: Daemon;
  let port: number;

  beforeAll(async () => {
    dir = shortSocketDir('ahdoc-');
    const td = await createTrustDomain('example.org');
    spireAp = await startFakeSpire({ socketPath: dir.path('ap.sock'), trustDomain: td });
    spireEx = await startFakeSpire({ socketPath: dir.path('ex.sock'), trustDomain: td });
    await spireAp.register(AP_ID);
    await spireEx.register(EXECUTOR_ID);
    ap = startAh([
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--identity',
      'spiffe',
      '--spiffe-socket',
      spireAp.socketPath,
      '--state-dir',
      tempStateDir(),
    ]);
    const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    port = Number(String(line.address).split(':').pop());
  });

  afterAll(async () => {
    await ap?.stop();
    await spireAp?.close();
    await spireEx?.close();
    dir?.remove();
  });

  it('healthy: socket present, header accepted, SVID fetched and valid, and the SVID enrolls', async () => {
    const { code, report } = await doctorJson(port, ['--identity', 'spiffe', '--spiffe-socket', spireEx.target, '--expected-server-id', AP_ID]);
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(code).toBe(0);
    expect(statuses(report, ['spiffe.socket', 'spiffe.header', 'spiffe.svid', 'identity.chain', 'identity.san', 'enroll', 'tls'])).toEqual({
      'spiffe.socket': 'pass',
      'spiffe.header': 'pass',
      'spiffe.svid': 'pass',
      'identity.chain': 'pass',
      'identity.san': 'pass',
      enroll: 'pass',
      tls: 'pass',
    });
    expect(check(report, 'spiffe.svid').finding).toMatch(
      new RegExp(`^${EXECUTOR_ID}, serial [0-9A-F]+: X\\.509-SVID rules, chain to its bundle and key all verified; `),
    );
    expect(check(report, 'tls').finding).toContain(`SPIFFE ID ${AP_ID} as --expected-server-id`);
    expect(check(report, 'identity.files').status).toBe('skip');
  });

  it('missing socket: failed to connect to Workload API: PATH: no such file; what needs the SVID skips', async () => {
    const missing = dir.path('missing.sock');
    const { code, report } = await doctorJson(port, ['--identity', 'spiffe', '--spiffe-socket', missing, '--expected-server-id', AP_ID]);
    expect(code).toBe(1);
    expect(check(report, 'spiffe.socket')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_WORKLOAD_API_UNAVAILABLE', message: `failed to connect to Workload API: ${missing}: no such file` },
    });
    expect(statuses(report, ['spiffe.header', 'spiffe.svid', 'identity.parse', 'enroll'])).toEqual({
      'spiffe.header': 'skip',
      'spiffe.svid': 'skip',
      'identity.parse': 'skip',
      enroll: 'skip',
    });
    const human = await doctor(port, ['--identity', 'spiffe', '--spiffe-socket', missing, '--expected-server-id', AP_ID]);
    expect(human.stdout).toContain('systemctl status spire-agent     # Check SPIRE agent is running');
  });

  it('no registration entry: the header is accepted but no identity is issued', async () => {
    const spire = await startFakeSpire({ socketPath: dir.path('none.sock'), trustDomain: 'example.org' });
    try {
      const { code, report } = await doctorJson(port, ['--identity', 'spiffe', '--spiffe-socket', spire.target, '--expected-server-id', AP_ID]);
      expect(code).toBe(1);
      expect(check(report, 'spiffe.header').status).toBe('pass');
      expect(check(report, 'spiffe.svid')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_NO_IDENTITY_ISSUED', message: 'no identity issued' } });
    } finally {
      await spire.close();
    }
  });
});

describe('ah agent doctor, Vault identity', () => {
  let vault: FakeVault;
  let ap: Daemon;
  let port: number;
  const CREDS = { VAULT_ROLE_ID: 'executor-role-id', VAULT_SECRET_ID: 'executor-secret-id' };
  const vaultArgs = () => [
    '--identity',
    'vault',
    '--vault-addr',
    vault.url,
    '--vault-role',
    'executor',
    '--vault-uri-san',
    EXECUTOR_ID,
    '--vault-ttl',
    '1h',
    '--expected-server-id',
    AP_ID,
  ];

  beforeAll(async () => {
    vault = await startFakeVault({
      approle: [
        { roleId: CREDS.VAULT_ROLE_ID, secretId: CREDS.VAULT_SECRET_ID, roleName: 'executor', tokenTtl: '20m' },
        { roleId: 'ap-role-id', secretId: 'ap-secret-id', roleName: 'access-point', tokenTtl: '20m' },
      ],
      pki: { caKeyType: 'ec' },
      roles: {
        executor: { allowedDomains: ['executor-1'], allowBareDomains: true, allowedUriSans: [`${PREFIX}*`], keyType: 'ec', maxTtl: '2h' },
        'access-point': { allowAnyName: true, allowedUriSans: [AP_ID], keyType: 'ec' },
      },
    });
    ap = startAh(
      [
        'agent',
        'access-point',
        '--fleet-listen',
        '127.0.0.1:0',
        '--identity',
        'vault',
        '--vault-addr',
        vault.url,
        '--vault-role',
        'access-point',
        '--vault-uri-san',
        AP_ID,
        '--executor-san-uri-prefix',
        PREFIX,
        '--state-dir',
        tempStateDir(),
      ],
      { VAULT_ROLE_ID: 'ap-role-id', VAULT_SECRET_ID: 'ap-secret-id' },
    );
    const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    port = Number(String(line.address).split(':').pop());
  });

  afterAll(async () => {
    await ap?.stop();
    await vault?.stop();
  });

  it('healthy: reachable, unsealed, token with its TTL, the role issues, and the issued certificate enrolls', async () => {
    const logins = vault.requests.filter((r) => r.path === '/v1/auth/approle/login').length;
    const { code, report } = await doctorJson(port, vaultArgs(), CREDS);
    expect(report.checks.filter((c) => c.status === 'fail')).toEqual([]);
    expect(code).toBe(0);
    expect(
      statuses(report, ['vault.reachable', 'vault.seal', 'vault.token', 'vault.issue', 'identity.key', 'identity.chain', 'identity.san', 'enroll']),
    ).toEqual({
      'vault.reachable': 'pass',
      'vault.seal': 'pass',
      'vault.token': 'pass',
      'vault.issue': 'pass',
      'identity.key': 'pass',
      'identity.chain': 'pass',
      'identity.san': 'pass',
      enroll: 'pass',
    });
    expect(check(report, 'vault.token').finding).toMatch(/^AppRole login \(auth\/approle\): token valid, TTL (20m|19m5\ds), renewable/);
    expect(check(report, 'vault.issue').finding).toMatch(new RegExp(`^pki/issue/executor issued serial [0-9A-F]+ for ${EXECUTOR_ID}`));
    // One login per run: a secret ID with a use limit is not spent twice.
    expect(vault.requests.filter((r) => r.path === '/v1/auth/approle/login').length - logins).toBe(1);
    expect(JSON.stringify(report)).not.toContain(CREDS.VAULT_SECRET_ID);
  });

  it('sealed: vault is sealed, with the unseal fix; what needs a token skips', async () => {
    vault.seal();
    try {
      const { code, report } = await doctorJson(port, vaultArgs(), CREDS);
      expect(code).toBe(1);
      expect(check(report, 'vault.reachable').status).toBe('pass');
      expect(check(report, 'vault.seal')).toMatchObject({ status: 'fail', error: { code: 'ENROLL_VAULT_SEALED', message: 'vault is sealed' } });
      expect(statuses(report, ['vault.token', 'vault.issue', 'identity.parse', 'enroll'])).toEqual({
        'vault.token': 'skip',
        'vault.issue': 'skip',
        'identity.parse': 'skip',
        enroll: 'skip',
      });
      const human = await doctor(port, vaultArgs(), CREDS);
      expect(human.stdout).toContain('vault operator unseal <key1>');
    } finally {
      vault.unseal();
    }
  });

  it("bad credentials: vault authentication failed, in Vault's words", async () => {
    const { code, report } = await doctorJson(port, vaultArgs(), { ...CREDS, VAULT_SECRET_ID: 'wrong' });
    expect(code).toBe(1);
    expect(check(report, 'vault.token')).toMatchObject({
      status: 'fail',
      error: { code: 'ENROLL_VAULT_AUTH_FAILED', message: 'vault authentication failed: invalid role or secret ID' },
    });
    expect(check(report, 'vault.issue').status).toBe('skip');
  });
});

describe('ah agent doctor, usage', () => {
  it('needs --remote-server (or --access-point), exit 2 with one line', async () => {
    const r = await runAh(['agent', 'doctor', '--state-dir', tempStateDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain("required option '--remote-server <url>' not specified");
  });

  it('refuses flags that do not go together, as enroll does', async () => {
    const r = await runAh([
      'agent',
      'doctor',
      '--remote-server',
      'https://127.0.0.1:4433',
      '--cert',
      'x.pem',
      '--identity',
      'dev',
      '--state-dir',
      tempStateDir(),
    ]);
    expect(r.code).toBe(2);
    const bad = await runAh(['agent', 'doctor', '--remote-server', 'https://127.0.0.1:4433', '--clock-skew-threshold', 'soon']);
    expect(bad.code).toBe(2);
  });
});
