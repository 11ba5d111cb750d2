/**
 * Hot reload of the files identity while enrolled, for the three ways writers replace files
 * (docs/toolchain-notes.md §Watching certificate files): in place, rename-over, and the Kubernetes
 * `..data` symlink swap. Each new certificate must be rotated to make-before-break, with no link
 * dropped, no heartbeat late, and no torn write ever reaching TLS. The access point swaps its own
 * certificate for new connections without closing the links it has.
 */
import { mkdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { createRoot, issueLeaf, writeIdentity, type Issuer } from '../helpers/pki.js';

afterAll(stopAll);

const HEARTBEAT_MS = 500;
const TIMER_SLACK_MS = 250;
const EXECUTOR = 'spiffe://example.org/ah/agent/reloader';

let root: Issuer;
let base: string;
let ap: Daemon;
let apPaths: { cert: string; key: string; ca: string };
let port: number;

const rotationTo = (serial: string) => isEvent('rotation_complete', (l) => l.serial === serial);
// Each new certificate outlives the last (a renewal must end later; X.509 times have whole seconds).
let issued = 0;
const newExecutorLeaf = () => issueLeaf(root, { cn: 'reloader', uris: [EXECUTOR], usage: 'client', notAfter: Date.now() + 86_400_000 + ++issued * 60_000 });

beforeAll(async () => {
  base = tempStateDir('ah-reload-');
  root = await createRoot();
  const apLeaf = await issueLeaf(root, { cn: 'ap', uris: ['spiffe://example.org/ah/serve'], ips: ['127.0.0.1'], usage: 'server' });
  apPaths = writeIdentity(join(base, 'ap'), apLeaf, root.pem);
  ap = startAh([
    'agent',
    'access-point',
    '--fleet-listen',
    '127.0.0.1:0',
    '--heartbeat-interval',
    `${HEARTBEAT_MS}ms`,
    '--cert',
    apPaths.cert,
    '--key',
    apPaths.key,
    '--ca',
    apPaths.ca,
    '--state-dir',
    tempStateDir(),
  ]);
  const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
  port = Number(String(line.address).split(':').pop());
});

function enrollFrom(paths: { cert: string; key: string; ca: string }, stateDir = tempStateDir()): Daemon {
  return startAh([
    'agent',
    'enroll',
    '--remote-server',
    `https://127.0.0.1:${port}`,
    '--name',
    'reloader',
    '--cert',
    paths.cert,
    '--key',
    paths.key,
    '--ca',
    paths.ca,
    '--state-dir',
    stateDir,
    '--log-level',
    'info,ah_machine=debug,ah_transport=debug',
    // The watch sees each change within a second; the poll is the product's own safety net, made
    // shorter than the tests' waits so a loaded CI machine cannot turn a late event into a failure.
    '--files-poll-interval',
    '5s',
  ]);
}

/** Let a few heartbeats go round, so there is something to measure gaps on. */
async function heartbeats(ex: Daemon, count: number) {
  const from = ex.lines.length;
  const isAck = isEvent('heartbeat_acked');
  await ex.waitForLine((l) => ex.lines.indexOf(l) >= from && isAck(l) && ex.lines.slice(from).filter(isAck).length >= count, `${count} heartbeats`);
}

function assertNoHeartbeatLate(ex: Daemon) {
  const acks = ex.lines.filter(isEvent('heartbeat_acked')).map((l) => l.time as number);
  expect(acks.length).toBeGreaterThanOrEqual(3);
  const gaps = acks.slice(1).map((t, i) => t - acks[i]!);
  expect(Math.max(...gaps)).toBeLessThanOrEqual(HEARTBEAT_MS + TIMER_SLACK_MS);
}

/** Stop the executor; before that, the access point must never have seen it leave. */
async function stopAndCheckNothingDropped(ex: Daemon, apFrom: number) {
  const apUntil = ap.lines.length;
  await ex.stop();
  expect(ex.lines.filter((l) => l.code === 'ENROLL_LINK_LOST' || l.event === 'rotation_link_failed')).toEqual([]);
  // A torn write never reaches TLS: no link ever failed on certificate grounds.
  expect(ex.lines.filter((l) => l.kind === 'event' && (l.event as { type: string }).type === 'LINK_FAILED')).toEqual([]);
  expect(ap.lines.slice(apFrom, apUntil).filter(isEvent('executor_left', (l) => l.executorId === EXECUTOR))).toEqual([]);
}

describe('files identity hot reload', () => {
  it('in-place writes (cert first, key a moment later: a torn set is refused, then the whole set rotates)', async () => {
    const apFrom = ap.lines.length;
    const paths = writeIdentity(join(base, 'inplace'), await newExecutorLeaf(), root.pem);
    const ex = enrollFrom(paths);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    for (let round = 0; round < 2; round++) {
      const next = await newExecutorLeaf();
      // New certificate, old key: the torn state a non-atomic writer (spiffe-helper) leaves. The key
      // is written only once the torn set has been seen and refused.
      const mark = ex.lines.length;
      writeFileSync(paths.cert, next.certPem);
      await ex.waitForNewLine(
        mark,
        isEvent('identity_refused', (l) => l.code === 'ENROLL_KEY_MISMATCH'),
        `the torn set refused (round ${round})`,
      );
      writeFileSync(paths.key, next.keyPem);
      await ex.waitForLine(rotationTo(next.serial), `rotation to ${next.serial}`);
    }
    await heartbeats(ex, 3);
    await stopAndCheckNothingDropped(ex, apFrom);
    assertNoHeartbeatLate(ex);
  });

  it('rename-over (write a temporary file, then rename it onto the old one)', async () => {
    const apFrom = ap.lines.length;
    const paths = writeIdentity(join(base, 'rename'), await newExecutorLeaf(), root.pem);
    const ex = enrollFrom(paths);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    for (let round = 0; round < 2; round++) {
      const next = await newExecutorLeaf();
      writeFileSync(`${paths.key}.tmp`, next.keyPem, { mode: 0o600 });
      writeFileSync(`${paths.cert}.tmp`, next.certPem);
      renameSync(`${paths.key}.tmp`, paths.key);
      renameSync(`${paths.cert}.tmp`, paths.cert);
      await ex.waitForLine(rotationTo(next.serial), `rotation to ${next.serial}`);
    }
    await heartbeats(ex, 3);
    await stopAndCheckNothingDropped(ex, apFrom);
    assertNoHeartbeatLate(ex);
  });

  it('the Kubernetes ..data symlink swap, and `touch cert.pem` re-checks', async () => {
    const apFrom = ap.lines.length;
    // kubelet's AtomicWriter: files are symlinks into ..data, itself a symlink to a timestamped dir.
    const dir = join(base, 'k8s');
    mkdirSync(dir, { recursive: true });
    let generation = 0;
    const publish = async () => {
      const leaf = await newExecutorLeaf();
      const ts = `..2026_11_29_${generation++}`;
      mkdirSync(join(dir, ts));
      writeFileSync(join(dir, ts, 'tls.crt'), leaf.certPem);
      writeFileSync(join(dir, ts, 'tls.key'), leaf.keyPem, { mode: 0o600 });
      writeFileSync(join(dir, ts, 'ca.crt'), root.pem);
      symlinkSync(ts, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
      if (generation > 1) rmSync(join(dir, `..2026_11_29_${generation - 2}`), { recursive: true });
      return leaf;
    };
    const first = await publish();
    for (const f of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(join('..data', f), join(dir, f));
    const paths = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), ca: join(dir, 'ca.crt') };
    const ex = enrollFrom(paths);
    const enrolled = await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    expect(enrolled.serial).toBe(first.serial);
    for (let round = 0; round < 2; round++) {
      const next = await publish();
      await ex.waitForLine(rotationTo(next.serial), `rotation to ${next.serial}`);
    }
    // The guide's "trigger an inotify event": the files are re-read, found unchanged.
    const mark = ex.lines.length;
    const now = new Date();
    utimesSync(join(dir, '..data'), now, now);
    const { execSync } = await import('node:child_process');
    execSync(`touch ${paths.cert}`);
    await ex.waitForNewLine(mark, isEvent('identity_files_unchanged'), 'the re-check');
    await heartbeats(ex, 3);
    await stopAndCheckNothingDropped(ex, apFrom);
    assertNoHeartbeatLate(ex);
  });

  it('a key of another certificate is refused with a log line and the identity in use stays', async () => {
    const apFrom = ap.lines.length;
    const paths = writeIdentity(join(base, 'bad'), await newExecutorLeaf(), root.pem);
    const stateDir = tempStateDir();
    const ex = enrollFrom(paths, stateDir);
    const enrolled = await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    const stranger = await newExecutorLeaf();
    writeFileSync(`${paths.key}.tmp`, stranger.keyPem);
    renameSync(`${paths.key}.tmp`, paths.key);
    const refused = await ex.waitForLine(
      isEvent('identity_refused', (l) => l.code === 'ENROLL_KEY_MISMATCH'),
      'the refusal',
    );
    // It names the identity kept, and ends with the catalog's message for the code.
    expect(refused).toMatchObject({ level: 40, component: 'ah_identity_provider', serial: enrolled.serial });
    expect(refused.msg).toMatch(/: private key does not match certificate$/);
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    expect(status).toMatchObject({ state: 'enrolled', rotations: 0, identity: { serial: enrolled.serial }, lastError: { code: 'ENROLL_KEY_MISMATCH' } });
    await stopAndCheckNothingDropped(ex, apFrom);
  });

  it('the access point swaps its own certificate for new connections and keeps the links it has', async () => {
    const apFrom = ap.lines.length;
    const paths = writeIdentity(join(base, 'steady'), await newExecutorLeaf(), root.pem);
    const ex = enrollFrom(paths);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    const next = await issueLeaf(root, {
      cn: 'ap',
      uris: ['spiffe://example.org/ah/serve'],
      ips: ['127.0.0.1'],
      usage: 'server',
      notAfter: Date.now() + 2 * 86_400_000,
    });
    writeFileSync(`${apPaths.key}.tmp`, next.keyPem);
    writeFileSync(`${apPaths.cert}.tmp`, next.certPem);
    renameSync(`${apPaths.key}.tmp`, apPaths.key);
    renameSync(`${apPaths.cert}.tmp`, apPaths.cert);
    await ap.waitForLine(
      isEvent('access_point_certificate_renewed', (l) => l.serial === next.serial),
      'the swap',
    );
    // A new connection is served the new certificate.
    const served = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: ['ah-fleet/1'] }, () => {
        resolve(s.getPeerX509Certificate()!.serialNumber.toUpperCase());
        s.destroy();
      });
      s.once('error', reject);
    });
    expect(served).toBe(next.serial);
    // The executor's link carried on.
    const mark = ex.lines.length;
    await ex.waitForNewLine(mark, isEvent('heartbeat_acked'), 'a heartbeat on the old link');
    await stopAndCheckNothingDropped(ex, apFrom);
  });
});
