/**
 * Every certificate, files-provider and mTLS error of the troubleshooting guide, made for real:
 * certificates minted for the test, PEM files on disk, the CLI as child processes over TLS on
 * loopback. Each executor runs with --max-attempts 1 and its first stderr line is compared exactly.
 */
import { chmodSync, chownSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type RunResult } from '../helpers/cli.js';
import { fakeClock } from '../helpers/faketime.js';
import { skipWithout } from '../helpers/tools.js';
import { createIntermediate, createRoot, issueLeaf, writeIdentity, type Issuer } from '../helpers/pki.js';

afterAll(stopAll);

const DAY = 86_400_000;
const PREFIX = 'spiffe://example.org/ah/agent/';
const AP_ID = 'spiffe://example.org/ah/serve';

let root: Issuer;
let otherRoot: Issuer;
let intermediate: Issuer;
let base: string;

const files = (name: string) => join(base, name);

beforeAll(async () => {
  base = tempStateDir('ah-pki-');
  root = await createRoot('Example Root CA');
  otherRoot = await createRoot('Unrelated Root CA');
  intermediate = await createIntermediate(root, 'Example Intermediate CA');
});

async function apIdentity(
  dir: string,
  opts: { notBefore?: number; notAfter?: number; dns?: string[]; ips?: string[]; uris?: string[]; viaIntermediate?: boolean } = {},
) {
  const issuer = opts.viaIntermediate ? intermediate : root;
  const leaf = await issueLeaf(issuer, {
    cn: 'access point',
    uris: opts.uris ?? [AP_ID],
    dns: opts.dns ?? ['localhost'],
    ips: opts.ips ?? ['127.0.0.1'],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter ?? Date.now() + 10 * DAY,
    usage: 'server',
  });
  return writeIdentity(files(dir), leaf, root.pem, opts.viaIntermediate ? [intermediate] : []);
}

async function executorIdentity(dir: string, opts: { uri?: string; notBefore?: number; notAfter?: number; issuer?: Issuer } = {}) {
  const leaf = await issueLeaf(opts.issuer ?? root, {
    cn: 'executor-1',
    uris: [opts.uri ?? `${PREFIX}executor-1`],
    notBefore: opts.notBefore,
    notAfter: opts.notAfter,
    usage: 'client',
  });
  return writeIdentity(files(dir), leaf, root.pem);
}

async function accessPoint(
  paths: { cert: string; key: string; ca: string },
  extra: string[] = [],
  env: Record<string, string> = {},
): Promise<{ daemon: Daemon; port: number }> {
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
      ...extra,
    ],
    env,
    'access point',
  );
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

function enroll(port: number, args: string[], extras: Parameters<typeof runAh>[3] = {}, stateDir = tempStateDir()): Promise<RunResult> {
  return runAh(
    ['agent', 'enroll', '--remote-server', `https://127.0.0.1:${port}`, '--name', 'executor-1', '--max-attempts', '1', '--state-dir', stateDir, ...args],
    {},
    60_000,
    extras,
  );
}

const filesArgs = (p: { cert: string; key: string; ca: string }) => ['--identity', 'files', '--cert', p.cert, '--key', p.key, '--ca', p.ca];
const firstLine = (r: RunResult) => r.stderr.split('\n')[0];

describe('files identity on both sides', () => {
  let ap: { daemon: Daemon; port: number };
  beforeAll(async () => {
    ap = await accessPoint(await apIdentity('ap'));
  });
  afterAll(() => ap.daemon.stop());

  it("enrolls with certificates from the operator's CA (aliases --cert-file --key-file --ca-file too)", async () => {
    const p = await executorIdentity('ok');
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'executor-1',
      '--identity',
      'files',
      '--cert-file',
      p.cert,
      '--key-file',
      p.key,
      '--ca-file',
      p.ca,
      '--state-dir',
      tempStateDir(),
    ]);
    const line = await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    expect(line.executorId).toBe(`${PREFIX}executor-1`);
    await ex.stop();
  });

  it('own certificate expired: certificate has expired or is not yet valid', async () => {
    const p = await executorIdentity('expired', { notBefore: Date.now() - 3 * DAY, notAfter: Date.now() - DAY });
    const r = await enroll(ap.port, filesArgs(p));
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: certificate has expired or is not yet valid');
    expect(r.stderr).toContain('openssl x509 -in cert.pem -noout -enddate');
  });

  it('own certificate not yet valid (clock skew): the same message', async () => {
    const p = await executorIdentity('future', { notBefore: Date.now() + DAY, notAfter: Date.now() + 2 * DAY });
    const r = await enroll(ap.port, filesArgs(p));
    expect(firstLine(r)).toBe('error: certificate has expired or is not yet valid');
    expect(r.code).toBe(1);
  });

  it('key of another certificate: private key does not match certificate', async () => {
    const p = await executorIdentity('mismatch');
    const other = await executorIdentity('mismatch-other');
    const r = await enroll(ap.port, ['--identity', 'files', '--cert', p.cert, '--key', other.key, '--ca', p.ca]);
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: private key does not match certificate');
    expect(r.stderr).toContain('openssl x509 -in cert.pem -noout -modulus | md5sum');
  });

  it('missing file: no such file: PATH', async () => {
    const p = await executorIdentity('missing');
    const absent = files('nowhere/cert.pem');
    const r = await enroll(ap.port, ['--identity', 'files', '--cert', absent, '--key', p.key, '--ca', p.ca]);
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe(`error: no such file: ${absent}`);
    expect(r.stderr).toContain(`ls -la ${files('nowhere')}`);
  });

  it('unreadable key: permission denied reading PATH (the executor runs as nobody; root reads anything)', async () => {
    const p = await executorIdentity('perm');
    chmodSync(p.key, 0o600); // owned by root, so not readable by nobody
    for (const f of [p.cert, p.ca]) chmodSync(f, 0o644);
    chmodSync(files('perm'), 0o755);
    chmodSync(base, 0o755);
    const stateDir = tempStateDir();
    chownSync(stateDir, 65534, 65534);
    const r = await enroll(ap.port, filesArgs(p), { uid: 65534, gid: 65534 }, stateDir);
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe(`error: permission denied reading ${p.key}`);
    expect(r.stderr).toContain('sudo chmod 600 /etc/ah/*-key.pem');
  });

  it('executor presents no certificate: client certificate required', async () => {
    const p = await executorIdentity('anon');
    const r = await enroll(ap.port, ['--identity', 'files', '--ca', p.ca]);
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: client certificate required');
  });

  it('executor URI SAN outside --executor-san-uri-prefix: certificate SAN does not match expected pattern', async () => {
    for (const uri of ['spiffe://example.org/ah/agent-evil/x', 'spiffe://example.org/ah/agentx', 'spiffe://example.org/other/executor-1']) {
      const p = await executorIdentity(`san-${uri.length}`, { uri });
      const mark = ap.daemon.lines.length;
      const r = await enroll(ap.port, filesArgs(p));
      expect(r.code, uri).toBe(1);
      expect(firstLine(r)).toBe('error: certificate SAN does not match expected pattern');
      // The access point says who it refused, and why, at warn.
      const logged = await ap.daemon.waitForNewLine(mark, (l) => l.code === 'ENROLL_SAN_MISMATCH', 'the rejection');
      expect(logged.level).toBe(40);
      expect(logged.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(logged.subject).toBe('CN=executor-1');
      expect(logged.sans).toBe(`URI:${uri}`);
    }
  });

  it('access point outside --server-san: certificate SAN does not match expected pattern', async () => {
    const p = await executorIdentity('server-san');
    const r = await enroll(ap.port, [...filesArgs(p), '--server-san', 'dns=ap.example.com,uri=spiffe://example.org/other']);
    expect(firstLine(r)).toBe('error: certificate SAN does not match expected pattern');
    const ok = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'executor-1',
      ...filesArgs(p),
      '--server-san',
      `dns=ap.example.com,uri=${AP_ID}`,
      '--state-dir',
      tempStateDir(),
    ]);
    await ok.waitForLine(isEvent('enrolled'), 'enrolled with a matching --server-san');
    await ok.stop();
  });

  it('access point SPIFFE ID differs from --expected-server-id', async () => {
    const p = await executorIdentity('server-id');
    const r = await enroll(ap.port, [...filesArgs(p), '--expected-server-id', 'spiffe://other.org/ah/serve']);
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe(`error: server SPIFFE ID mismatch: expected spiffe://other.org/ah/serve, got ${AP_ID}`);
  });

  it("executor's --ca unrelated to the access point's chain: x509: certificate signed by unknown authority", async () => {
    const p = await executorIdentity('unknown-ca');
    writeFileSync(p.ca, otherRoot.pem);
    const r = await enroll(ap.port, filesArgs(p));
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: x509: certificate signed by unknown authority');
  });

  it('the status shows lastError with the code while the executor retries', async () => {
    const p = await executorIdentity('retrying', { uri: 'spiffe://example.org/ah/agent-evil/x' });
    const stateDir = tempStateDir();
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'retrying',
      ...filesArgs(p),
      '--backoff-base',
      '200ms',
      '--state-dir',
      stateDir,
    ]);
    await ex.waitForLine((l) => l.code === 'ENROLL_SAN_MISMATCH' && l.level === 40, 'a retry');
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    expect(status.state).toMatch(/^(disconnected|handshaking)$/);
    expect(status.lastError).toEqual({ code: 'ENROLL_SAN_MISMATCH', message: 'certificate SAN does not match expected pattern' });
    expect(status.attempts).toBeGreaterThanOrEqual(1);
    await ex.stop();
  });
});

describe('errors that need their own access point', () => {
  it("access point does not trust the executor's CA: client certificate rejected: certificate signed by unknown authority", async () => {
    const apPaths = await apIdentity('ap-other-ca');
    writeFileSync(apPaths.ca, otherRoot.pem); // it trusts another CA for executors
    const ap = await accessPoint(apPaths);
    const p = await executorIdentity('rejected');
    const r = await enroll(ap.port, filesArgs(p));
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: client certificate rejected: certificate signed by unknown authority');
    expect(r.stderr).toContain("ah agent access-point --ca /path/to/executor-ca.pem ...   # Access point must trust executor's CA");
    await ap.daemon.stop();
  });

  it("the access point's certificate expired: it keeps listening, says so, executors read the expiry message, and renewed files fix it", async () => {
    const apPaths = await apIdentity('ap-expired', { notBefore: Date.now() - 3 * DAY, notAfter: Date.now() - DAY });
    const ap = await accessPoint(apPaths);
    const startLine = await ap.daemon.waitForLine(isEvent('access_point_certificate_invalid'), 'an error about its own certificate');
    expect(startLine).toMatchObject({ level: 50, code: 'ENROLL_CERT_NOT_VALID_NOW', serial: expect.any(String) });
    expect(Date.parse(String(startLine.notAfter))).toBeLessThan(Date.now());
    const p = await executorIdentity('vs-expired-ap');
    const mark = ap.daemon.lines.length;
    const r = await enroll(ap.port, filesArgs(p));
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: certificate has expired or is not yet valid');
    await ap.daemon.waitForNewLine(
      mark,
      isEvent('access_point_certificate_invalid', (l) => l.level === 50),
      'the per-handshake error',
    );
    // Renewed files are picked up without a restart, and executors enroll.
    const renewed = await issueLeaf(root, {
      cn: 'access point',
      uris: [AP_ID],
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      notAfter: Date.now() + 10 * DAY,
      usage: 'server',
    });
    writeFileSync(`${apPaths.key}.tmp`, renewed.keyPem);
    writeFileSync(`${apPaths.cert}.tmp`, renewed.certPem);
    renameSync(`${apPaths.key}.tmp`, apPaths.key);
    renameSync(`${apPaths.cert}.tmp`, apPaths.cert);
    await ap.daemon.waitForLine(
      isEvent('access_point_certificate_renewed', (l) => l.serial === renewed.serial),
      'the renewed certificate',
    );
    const ok = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'executor-1',
      ...filesArgs(p),
      '--state-dir',
      tempStateDir(),
    ]);
    await ok.waitForLine(isEvent('enrolled'), 'enrolled once the access point renewed');
    await ok.stop();
    await ap.daemon.stop();
  });

  it.skipIf(skipWithout('faketime'))(
    "the executor's certificate expired as the access point judges it (its clock two days ahead): the reject carries the guide's message",
    async () => {
      const apPaths = await apIdentity('ap-ahead', { notAfter: Date.now() + 30 * DAY });
      const ap = await accessPoint(apPaths, [], fakeClock('+2d'));
      const p = await executorIdentity('judged', { notAfter: Date.now() + DAY });
      const mark = ap.daemon.lines.length;
      const r = await enroll(ap.port, filesArgs(p));
      expect(r.code).toBe(1);
      expect(firstLine(r)).toBe('error: certificate has expired or is not yet valid');
      const refused = await ap.daemon.waitForNewLine(
        mark,
        isEvent('executor_rejected', (l) => l.code === 'ENROLL_CERT_NOT_VALID_NOW'),
        'the rejection',
      );
      expect(refused).toMatchObject({ level: 40, remoteAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/) });
      // The catalog's message for the code ends the line.
      expect(refused.msg).toMatch(/: certificate has expired or is not yet valid$/);
      await ap.daemon.stop();
    },
  );

  it("--ca with only the intermediate: unable to get local issuer certificate; the guide's ca-chain.pem fixes it", async () => {
    const ap = await accessPoint(await apIdentity('ap-chain', { viaIntermediate: true }));
    const p = await executorIdentity('chain');
    writeFileSync(p.ca, intermediate.pem);
    const r = await enroll(ap.port, filesArgs(p));
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: unable to get local issuer certificate');
    expect(r.stderr).toContain('cat intermediate-ca.pem root-ca.pem > ca-chain.pem');
    // The guide's fix, literally.
    const dir = files('chain');
    writeFileSync(join(dir, 'intermediate-ca.pem'), intermediate.pem);
    writeFileSync(join(dir, 'root-ca.pem'), root.pem);
    const { execSync } = await import('node:child_process');
    execSync('cat intermediate-ca.pem root-ca.pem > ca-chain.pem', { cwd: dir });
    const ok = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'executor-1',
      '--identity',
      'files',
      '--cert',
      p.cert,
      '--key',
      p.key,
      '--ca',
      join(dir, 'ca-chain.pem'),
      '--state-dir',
      tempStateDir(),
    ]);
    await ok.waitForLine(isEvent('enrolled'), 'enrolled with the complete chain');
    await ok.stop();
    await ap.daemon.stop();
  });

  it('access point certificate not naming the host of --remote-server: tls handshake failed: certificate verify failed', async () => {
    const ap = await accessPoint(await apIdentity('ap-wrong-name', { dns: ['ap.example.com'], ips: [] }));
    const p = await executorIdentity('wrong-name');
    const r = await enroll(ap.port, filesArgs(p));
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: tls handshake failed: certificate verify failed');
    expect(r.stderr).toContain('openssl verify -CAfile ca.pem server-cert.pem');
    await ap.daemon.stop();
  });
});
