/**
 * `ah agent support-bundle` against a real fleet on one temp state dir: a dev access point, an
 * enrolled dev executor and one that cannot reach its access point (stuck retrying), all logging
 * at debug into files given with --log-file, one of them salted with real secrets (the executor's
 * own private key, a Vault token, a secret ID, an Authorization header). The archive is opened
 * with the system tar and each part checked; then the cases without daemons, with bad flags and
 * with an --out that cannot be written or already exists.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VERSION } from '../../src/version.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { newTokenId } from '../support/fake-vault/tokens.js';
import { createIntermediate, createRoot, issueLeaf } from '../helpers/pki.js';

/** Generous: on a loaded machine a daemon start or a CLI run can take many times its usual second. */
const BOUND_MS = 60_000;

afterAll(stopAll);

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Every file of a directory tree, by path relative to it. */
function filesUnder(dir: string, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of readdirSync(join(dir, prefix))) {
    const rel = prefix ? `${prefix}/${name}` : name;
    if (statSync(join(dir, rel)).isDirectory()) for (const [k, v] of filesUnder(dir, rel)) out.set(k, v);
    else out.set(rel, readFileSync(join(dir, rel), 'utf8'));
  }
  return out;
}

/** Unpack with the system tar; the single top directory's files. */
function unpack(archive: string): { root: string; files: Map<string, string>; listing: string } {
  const into = tempStateDir('ah-sb-x-');
  execFileSync('tar', ['-xzf', archive, '-C', into]);
  const [top, ...more] = readdirSync(into);
  expect(more).toEqual([]);
  return { root: top!, files: filesUnder(join(into, top!)), listing: execFileSync('tar', ['-tvzf', archive], { encoding: 'utf8' }) };
}

const logOf = (d: Daemon) => `${d.lines.map((l) => JSON.stringify(l)).join('\n')}\n`;

describe('support bundle of a running fleet', () => {
  let stateDir: string;
  let work: string;
  let ap: Daemon;
  let web: Daemon;
  let stuck: Daemon;
  const token = newTokenId();
  const secretId = randomUUID();
  const roleId = randomUUID();
  const legacyToken = `s.${randomUUID().replace(/-/g, '').slice(0, 24)}`;
  const bearer = `${randomUUID()}${randomUUID()}`.replace(/-/g, '');

  beforeAll(async () => {
    stateDir = tempStateDir();
    work = tempStateDir('ah-sb-');
    const debug = ['--state-dir', stateDir, '--log-level', 'debug'];
    ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', ...debug], {}, 'access point');
    const listening = await ap.waitForLine(isEvent('access_point_listening'), 'listening', BOUND_MS);
    web = startAh(['agent', 'enroll', '--remote-server', `https://${listening.address}`, '--name', 'web-1', ...debug], {}, 'web-1');
    await web.waitForLine(isEvent('enrolled'), 'web-1 enrolled', BOUND_MS);
    const nowhere = await closedPort();
    stuck = startAh(
      ['agent', 'enroll', '--remote-server', `https://127.0.0.1:${nowhere}`, '--name', 'stuck-1', '--backoff-base', '10ms', '--backoff-max', '50ms', ...debug],
      {},
      'stuck-1',
    );
    // Enough refused attempts in a row for replay to call it a retry storm.
    await eventually(
      () => stuck.lines.filter((l) => l.code === 'ENROLL_CONNECTION_REFUSED').length,
      (n) => n >= 5,
      'five refused attempts of stuck-1',
      { timeoutMs: BOUND_MS },
    );
  }, 3 * BOUND_MS);

  it(
    'holds versions, status, fleet, the fleet doctor, certificates, configuration, logs and the stuck actor, redacted',
    async () => {
      const keyPem = readFileSync(join(stateDir, 'dev', 'executor.web-1', 'key.pem'), 'utf8');
      const keyBody = keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
      const salted = [
        JSON.stringify({ level: 20, time: Date.now(), component: 'ah_provider', msg: 'dump', keyPem, headers: { 'X-Vault-Token': token } }),
        `${new Date().toISOString()} curl -H "Authorization: Bearer ${bearer}" -d secret_id=${secretId} https://vault:8200/v1/auth/approle/login`,
        JSON.stringify({ level: 20, time: Date.now(), msg: 'login answer', auth: { client_token: legacyToken }, request: { role_id: roleId } }),
        `${new Date().toISOString()} env VAULT_ROLE_ID=${roleId} VAULT_TOKEN=${legacyToken}`,
        keyPem,
      ].join('\n');
      const logs = { ap: join(work, 'access-point.log'), web: join(work, 'web-1.log'), stuck: join(work, 'stuck-1.log') };
      writeFileSync(logs.ap, logOf(ap));
      writeFileSync(logs.web, `${logOf(web)}${salted}\n`);
      writeFileSync(logs.stuck, logOf(stuck));
      const out = join(work, 'bundle.tar.gz');
      const certFile = join(stateDir, 'dev', 'executor.web-1', 'cert.pem');
      const keyFile = join(stateDir, 'dev', 'executor.web-1', 'key.pem');
      // The daemons' own configuration file, with a secret in it (0600, as the loader demands).
      const configFile = join(work, 'config.toml');
      writeFileSync(configFile, `[agent.enroll]\nrenewal-threshold = 0.6\nvault-secret-id = "${secretId}"\n`, { mode: 0o600 });

      const r = await runAh(
        [
          'agent',
          'support-bundle',
          '--state-dir',
          stateDir,
          '--out',
          out,
          '--log-file',
          logs.ap,
          '--log-file',
          logs.web,
          '--log-file',
          logs.stuck,
          '--cert',
          certFile,
          '--cert',
          keyFile,
          '--config',
          configFile,
        ],
        {},
        2 * BOUND_MS,
      );
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^wrote ${out}: \\d+ files`));
      expect(statSync(out).mode & 0o777).toBe(0o600);

      const { root, files, listing } = unpack(out);
      expect(root).toMatch(/^ah-support-\d{8}T\d{6}Z$/);
      // Every entry 0600 (directories 0700), owned by 0/0.
      for (const line of listing.trim().split('\n')) expect(line).toMatch(/^(-rw-------|drwx------) 0\/0 /);

      const versions = JSON.parse(files.get('versions.json')!);
      expect(versions).toMatchObject({ ah: VERSION, node: process.version, nodeOpenssl: process.versions.openssl });

      const status = JSON.parse(files.get('status.json')!) as Array<Record<string, any>>;
      const webStatus = status.find((s) => s.name === 'web-1')!;
      expect(webStatus).toMatchObject({ state: 'enrolled', identity: { provider: 'dev', spiffeId: 'spiffe://dev.local/ah/agent/web-1' } });
      expect(webStatus.certificate.serial).toBe(webStatus.identity.serial);
      // Retrying: between two attempts, or in one.
      const stuckStatus = status.find((s) => s.name === 'stuck-1')!;
      expect(['disconnected', 'handshaking']).toContain(stuckStatus.state);
      expect(stuckStatus.lastError.code).toBe('ENROLL_CONNECTION_REFUSED');

      const fleet = JSON.parse(files.get('fleet.json')!);
      expect(fleet.executors).toEqual([expect.objectContaining({ id: 'spiffe://dev.local/ah/agent/web-1', name: 'web-1', state: 'active' })]);
      expect(fleet.summary.total).toBe(1);
      expect(JSON.parse(files.get('access-point-status.json')!)).toMatchObject({ role: 'access-point', devMode: true, executors: 1 });
      expect(JSON.parse(files.get('doctor-fleet.json')!)).toMatchObject({ executors: 1, stateDir });

      const certs = JSON.parse(files.get('certificates.json')!);
      const inUse = certs.inUse.find((c: any) => c.role === 'executor' && c.name === 'web-1');
      expect(inUse.certificate).toMatchObject({ spiffeId: 'spiffe://dev.local/ah/agent/web-1', serial: webStatus.identity.serial });
      expect(inUse.certificate.spkiSha256).toMatch(/\S{20,}/);
      expect(inUse.certificate.sans).toContain('URI:spiffe://dev.local/ah/agent/web-1');
      const apCert = certs.inUse.find((c: any) => c.role === 'access-point');
      expect(apCert.certificate).toMatchObject({ spiffeId: 'spiffe://dev.local/ah/access-point' });
      expect(certs.files).toEqual([
        expect.objectContaining({ path: certFile, kind: 'cert', certificates: [expect.objectContaining({ serial: expect.any(String) })] }),
        { path: keyFile, kind: 'cert', certificates: [], problem: 'no CERTIFICATE block in it' },
      ]);
      expect(files.get('certificates.json')).not.toContain('PRIVATE KEY');

      const config = JSON.parse(files.get('configuration.json')!);
      // Merged by the configuration module, with where each value came from; the secret's value is not there.
      const enroll = config.groups['agent.enroll'].settings;
      expect(enroll).toContainEqual({ key: 'renewal-threshold', value: 0.6, source: `--config ${configFile}:2` });
      expect(enroll).toContainEqual(expect.objectContaining({ key: 'vault-secret-id', value: '[redacted]' }));
      expect(config.daemons.settings).toContainEqual({ key: 'state-dir', value: stateDir, source: 'flag' });
      expect(config.daemons.settings).toContainEqual(
        expect.objectContaining({ key: 'executor.web-1.remote-server', value: expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/) }),
      );

      // The logs, each with its own lines; the salt in web-1's log is gone, its other lines are not.
      expect(files.get('logs/web-1.log')).toContain('"event":"enrolled"');
      expect(files.get('logs/stuck-1.log')).toContain('ENROLL_CONNECTION_REFUSED');
      for (const [path, text] of files) {
        for (const secret of [token, secretId, roleId, legacyToken, bearer, ...keyBody]) expect(text.includes(secret), `${secret} in ${path}`).toBe(false);
      }
      expect(files.get('logs/web-1.log')).toContain('-----BEGIN PRIVATE KEY-----[redacted]-----END PRIVATE KEY-----');

      // Replay and the stuck actor's page.
      expect(files.get('replay/stuck-1.log.txt')).toContain('executor:stuck-1');
      const page = files.get('stuck/stuck-1.log/executor_stuck-1.html');
      // When there is none (seen once in a clean-clone run), say what the replay made of the log.
      expect(page, `no page for stuck-1; the bundle's replay report:\n${files.get('replay/stuck-1.log.txt')}`).toMatch(/^<!doctype html>/);
      expect(page).toContain('ENROLL_CONNECTION_REFUSED');
      expect([...files.keys()].filter((p) => p.startsWith('stuck/web-1.log/'))).toEqual([]);

      // The README names every file and says what is missing.
      const readme = files.get('README.txt')!;
      for (const path of files.keys()) if (path !== 'README.txt') expect(readme).toContain(`  ${path}  `);
      expect(readme).toContain("each executor's own doctor report");
    },
    3 * BOUND_MS,
  );
});

describe('support bundle without daemons and with bad input', () => {
  it('makes the archive anyway, and says in its README what is missing', async () => {
    const dir = tempStateDir('ah-sb-');
    const out = join(dir, 'b.tar.gz');
    const r = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out], {}, BOUND_MS);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/parts? not available/);
    const { files } = unpack(out);
    expect(JSON.parse(files.get('versions.json')!).ah).toBe(VERSION);
    expect(files.has('status.json')).toBe(false);
    expect(files.has('fleet.json')).toBe(false);
    const readme = files.get('README.txt')!;
    expect(readme).toContain('executor status (ah agent status --json): no executor answers on');
    expect(readme).toContain('access point status and fleet (ah agent fleet --json): no access point answers on');
  });

  it('describes every certificate of a CA bundle and of a certificate file that also holds its key, and never the key', async () => {
    const dir = tempStateDir('ah-sb-');
    const root = await createRoot('Bundle Root CA');
    const intermediate = await createIntermediate(root, 'Bundle Intermediate CA');
    const leaf = await issueLeaf(intermediate, { cn: 'ap', uris: ['spiffe://example.org/ah/access-point'], dns: ['ap.example.org'], usage: 'server' });
    const ca = join(dir, 'ca.pem');
    const combined = join(dir, 'ap.pem');
    writeFileSync(ca, `${root.pem}${intermediate.pem}`);
    writeFileSync(combined, `${leaf.certPem}${leaf.keyPem}`);
    const out = join(dir, 'b.tar.gz');
    const r = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out, '--ca', ca, '--cert', combined]);
    expect(r.code).toBe(0);
    const { files } = unpack(out);
    const certs = JSON.parse(files.get('certificates.json')!);
    expect(certs.files).toEqual([
      {
        path: combined,
        kind: 'cert',
        certificates: [
          expect.objectContaining({ subject: 'CN=ap', spiffeId: 'spiffe://example.org/ah/access-point', sans: expect.arrayContaining(['DNS:ap.example.org']) }),
        ],
      },
      {
        path: ca,
        kind: 'ca',
        certificates: [
          expect.objectContaining({ subject: 'CN=Bundle Root CA' }),
          expect.objectContaining({ subject: 'CN=Bundle Intermediate CA', issuer: 'CN=Bundle Root CA' }),
        ],
      },
    ]);
    const keyBody = leaf.keyPem.split('\n').filter((l) => l && !l.startsWith('-----'));
    for (const [path, text] of files) {
      // Never read: not even a redacted block of it.
      expect(text, path).not.toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
      for (const line of keyBody) expect(text.includes(line), path).toBe(false);
    }
  });

  it('takes the journal of both units when journalctl has it, and cuts every log to --since', async () => {
    // A journalctl of our own on PATH: it records how it was asked and answers as journald would with `-o cat`.
    const dir = tempStateDir('ah-sb-');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const now = Date.now();
    const line = (minutesAgo: number, event: string) =>
      JSON.stringify({ level: 30, time: now - minutesAgo * 60_000, component: 'ah_executor', event, msg: event });
    writeFileSync(join(dir, 'journal.txt'), `${line(20, 'from_journal')}\nStarted ah-executor.service\n`);
    writeFileSync(join(bin, 'journalctl'), `#!/bin/sh\nprintf '%s\\n' "$@" > "${join(dir, 'argv.txt')}"\ncat "${join(dir, 'journal.txt')}"\n`, { mode: 0o755 });
    const file = join(dir, 'executor.log');
    writeFileSync(file, [line(90, 'too_old'), '  continuation of the old line', line(10, 'recent'), '  continuation of the recent line'].join('\n'));
    const out = join(dir, 'b.tar.gz');
    const r = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out, '--since', '30m', '--log-file', file], {
      PATH: `${bin}:${process.env.PATH}`,
    });
    expect(r.code).toBe(0);
    const argv = readFileSync(join(dir, 'argv.txt'), 'utf8').trim().split('\n');
    expect(argv.slice(0, 4)).toEqual(['-u', 'ah-executor', '-u', 'ah-access-point']);
    expect(argv[argv.indexOf('--since') + 1]).toMatch(/^@\d+$/);
    expect(Math.abs(Number(argv[argv.indexOf('--since') + 1]!.slice(1)) * 1000 - (now - 30 * 60_000))).toBeLessThan(60_000);
    expect(argv).toEqual(expect.arrayContaining(['-o', 'cat']));
    const { files } = unpack(out);
    expect(files.get('logs/journal.log')).toContain('"event":"from_journal"');
    expect(files.get('logs/executor.log')!.trim().split('\n')).toEqual([line(10, 'recent'), '  continuation of the recent line']);
  });

  it('says why when journalctl fails', async () => {
    const dir = tempStateDir('ah-sb-');
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'journalctl'), '#!/bin/sh\necho "No journal files were opened due to insufficient permissions." >&2\nexit 1\n', { mode: 0o755 });
    const out = join(dir, 'b.tar.gz');
    const r = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.code).toBe(0);
    expect(unpack(out).files.get('README.txt')).toContain(
      '  - system journal (journalctl -u ah-executor -u ah-access-point): journalctl failed: No journal files were opened due to insufficient permissions.\n',
    );
  });

  it('says so when there is no journalctl', async () => {
    const dir = tempStateDir('ah-sb-');
    const out = join(dir, 'b.tar.gz');
    // No journalctl on this PATH (the command runs as process.execPath, so it needs none).
    const r = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out], { PATH: join(dir, 'empty') });
    expect(r.code).toBe(0);
    expect(unpack(out).files.get('README.txt')).toContain(
      '  - system journal (journalctl -u ah-executor -u ah-access-point): journalctl is not installed on this machine\n',
    );
  });

  it.each([
    ['10x', /^error: option '--since <duration>' argument '10x' is invalid\./],
    ['5s', /^error: option '--since <duration>' argument '5s' is invalid\. out of range: use /],
    ['31d', /^error: option '--since <duration>' argument '31d' is invalid\. out of range: use /],
  ])('refuses --since %s in one line, exit 2', async (since, line) => {
    const dir = tempStateDir('ah-sb-');
    const r = await runAh(['agent', 'support-bundle', '--state-dir', dir, '--out', join(dir, 'b.tar.gz'), '--since', since]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(line);
    expect(existsSync(join(dir, 'b.tar.gz'))).toBe(false);
  });

  it('says in one line that --out cannot be written: no such directory, or no permission', async () => {
    const dir = tempStateDir('ah-sb-');
    const missing = join(dir, 'no-such-dir', 'b.tar.gz');
    const r = await runAh(['agent', 'support-bundle', '--state-dir', dir, '--out', missing]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: cannot write the support bundle ${missing}: no such directory\n`);

    const closed = join(dir, 'closed');
    mkdirSync(closed, { mode: 0o755 });
    chmodSync(dir, 0o755);
    const denied = join(closed, 'b.tar.gz');
    const asNobody = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', denied], { HOME: '/nonexistent' }, 60_000, {
      uid: 65534,
      gid: 65534,
    });
    expect(asNobody.code).toBe(1);
    expect(asNobody.stderr).toBe(`error: cannot write the support bundle ${denied}: permission denied\n`);
    expect(existsSync(denied)).toBe(false);
  });

  it('never overwrites an existing --out without --force; with it, replaces it whole, 0600', async () => {
    const dir = tempStateDir('ah-sb-');
    const out = join(dir, 'b.tar.gz');
    writeFileSync(out, 'precious', { mode: 0o644 });
    const r = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: ${out} exists: give --force to replace it, or another --out\n`);
    expect(readFileSync(out, 'utf8')).toBe('precious');

    const forced = await runAh(['agent', 'support-bundle', '--state-dir', join(dir, 'none'), '--out', out, '--force']);
    expect(forced.code).toBe(0);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(unpack(out).files.has('README.txt')).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['b.tar.gz']);
  });
});
