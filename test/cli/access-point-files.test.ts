/**
 * The access point's own files identity when its files go wrong: missing or unreadable at start
 * (the guide's message, exit 1, never listening: systemd restarts it), gone while running, or
 * replaced by an older certificate (refused; the identity in use stays, and the log says which
 * serial is kept and which was refused). Real PEM files, the CLI as a child process.
 */
import { chmodSync, chownSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine, type RunResult } from '../helpers/cli.js';
import { createRoot, issueLeaf, writeIdentity, type Issuer } from '../helpers/pki.js';

afterAll(stopAll);

const DAY = 86_400_000;
let root: Issuer;
let base: string;

beforeAll(async () => {
  base = tempStateDir('ah-apf-');
  chmodSync(base, 0o755);
  root = await createRoot();
});

const apLeaf = (notAfter: number) => issueLeaf(root, { cn: 'ap', uris: ['spiffe://example.org/ah/serve'], ips: ['127.0.0.1'], usage: 'server', notAfter });

const apArgs = (p: { cert: string; key: string; ca: string }, stateDir = tempStateDir()) => [
  'agent',
  'access-point',
  '--fleet-listen',
  '127.0.0.1:0',
  '--cert',
  p.cert,
  '--key',
  p.key,
  '--ca',
  p.ca,
  '--state-dir',
  stateDir,
];

const firstLine = (r: RunResult) => r.stderr.split('\n')[0];
const logLines = (r: RunResult): LogLine[] =>
  r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LogLine);

/** Exited by itself with 1, said why in the log, and never got as far as listening. */
function expectGaveUpBeforeListening(r: RunResult, code: string) {
  expect(r.code).toBe(1);
  const lines = logLines(r);
  expect(lines.filter((l) => l.event === 'identity_unavailable').map((l) => l.code)).toEqual([code]);
  // The listening line is the one that carries the bound address.
  expect(lines.filter((l) => 'address' in l)).toEqual([]);
}

describe('access point: identity files missing or unreadable at start', () => {
  it('missing --cert: no such file: PATH, exit 1, not listening', async () => {
    const p = writeIdentity(join(base, 'no-cert'), await apLeaf(Date.now() + 10 * DAY), root.pem);
    const absent = join(base, 'nowhere', 'cert.pem');
    const r = await runAh(apArgs({ ...p, cert: absent }), {}, 30_000);
    expect(firstLine(r)).toBe(`error: no such file: ${absent}`);
    expect(r.stderr).toContain(`ls -la ${join(base, 'nowhere')}`);
    expectGaveUpBeforeListening(r, 'ENROLL_FILE_NOT_FOUND');
  });

  it('missing --key: no such file: PATH, exit 1, not listening', async () => {
    const p = writeIdentity(join(base, 'no-key'), await apLeaf(Date.now() + 10 * DAY), root.pem);
    rmSync(p.key);
    const r = await runAh(apArgs(p), {}, 30_000);
    expect(firstLine(r)).toBe(`error: no such file: ${p.key}`);
    expectGaveUpBeforeListening(r, 'ENROLL_FILE_NOT_FOUND');
  });

  it('unreadable --key: permission denied reading PATH, exit 1, not listening (run as nobody; root reads anything)', async () => {
    const dir = join(base, 'perm');
    const p = writeIdentity(dir, await apLeaf(Date.now() + 10 * DAY), root.pem);
    chmodSync(dir, 0o755);
    chmodSync(p.key, 0o600); // owned by root
    for (const f of [p.cert, p.ca]) chmodSync(f, 0o644);
    const stateDir = tempStateDir();
    chownSync(stateDir, 65534, 65534);
    const r = await runAh(apArgs(p, stateDir), {}, 30_000, { uid: 65534, gid: 65534 });
    expect(firstLine(r)).toBe(`error: permission denied reading ${p.key}`);
    expect(r.stderr).toContain('sudo chmod 600 /etc/ah/*-key.pem');
    expectGaveUpBeforeListening(r, 'ENROLL_PERMISSION_DENIED');
  });
});

/** The serial of the certificate the access point serves to a new connection. */
function servedSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['ah-fleet/1'] }, () => {
      resolve(s.getPeerX509Certificate()!.serialNumber.toUpperCase());
      s.destroy();
    });
    s.once('error', reject);
  });
}

describe('access point: identity files changed while running', () => {
  let ap: Daemon;
  let port: number;
  let paths: { cert: string; key: string; ca: string };
  let current: string;

  beforeAll(async () => {
    const leaf = await apLeaf(Date.now() + 10 * DAY);
    current = leaf.serial;
    paths = writeIdentity(join(base, 'running'), leaf, root.pem);
    ap = startAh([...apArgs(paths), '--files-poll-interval', '5s']);
    const line = await ap.waitForLine((l) => typeof l.address === 'string', 'listening');
    port = Number(String(line.address).split(':').pop());
  });
  afterAll(() => ap.stop());

  it('an older certificate is refused: the log names the serial kept and the one refused, and the current one is served', async () => {
    const older = await apLeaf(Date.now() + 5 * DAY);
    const mark = ap.lines.length;
    writeFileSync(`${paths.key}.tmp`, older.keyPem, { mode: 0o600 });
    writeFileSync(`${paths.cert}.tmp`, older.certPem);
    renameSync(`${paths.key}.tmp`, paths.key);
    renameSync(`${paths.cert}.tmp`, paths.cert);
    const refused = await ap.waitForNewLine(
      mark,
      (l) => l.event === 'identity_refused' && l.code === 'ENROLL_RENEWED_NOT_NEWER',
      'the older certificate refused',
    );
    expect(refused).toMatchObject({ level: 40, serial: current, refusedSerial: older.serial });
    expect(await servedSerial(port)).toBe(current);
  });

  it('a file that disappears keeps the identity in use (and names it, not a refused one)', async () => {
    const mark = ap.lines.length;
    rmSync(paths.cert);
    const gone = await ap.waitForNewLine(mark, (l) => l.event === 'identity_refused' && l.code === 'ENROLL_FILE_NOT_FOUND', 'the missing file');
    expect(gone).toMatchObject({ level: 40, serial: current });
    expect(await servedSerial(port)).toBe(current);
    expect(ap.child.exitCode).toBeNull();
  });
});
