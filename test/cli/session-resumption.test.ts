/**
 * TLS 1.3 session resumption across an access point restart: a session an executor got before the
 * access point was killed (SIGKILL) is resumed by the access point started again on the same state
 * dir and port, and counted as resumed in its status and its metrics; a resumed link is held to the
 * policy in force now (another --ca, another --executor-san-uri-prefix) and gets the same reject a
 * full handshake would; a session of a certificate that has expired is not resumed. The client is a
 * raw node:tls client speaking the fleet protocol, so the test sees isSessionReused() and the frames.
 */
import { chmodSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../../src/engine/state-dir.js';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { queryStatus } from '../../src/transport/status-server.js';
import { type Daemon, runAh, startAh, stopAll, tempStateDir } from '../helpers/cli.js';
import { fakeClock } from '../helpers/faketime.js';
import { freePort, metricsUrl, scrape } from '../helpers/metrics.js';
import { createIntermediate, createRoot, issueLeaf, type Issuer, writeIdentity } from '../helpers/pki.js';

afterAll(stopAll);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let rootA: Issuer;
let rootB: Issuer;
let base: string;

beforeAll(async () => {
  base = tempStateDir('ah-res-');
  [rootA, rootB] = await Promise.all([createRoot('Root A'), createRoot('Root B')]);
});

interface Identity {
  cert: string;
  key: string;
  ca: string;
}

async function accessPointIdentity(dir: string, root: Issuer): Promise<Identity> {
  const leaf = await issueLeaf(root, {
    cn: 'ap',
    uris: ['spiffe://example.org/ah/serve'],
    ips: ['127.0.0.1'],
    usage: 'server',
    notAfter: Date.now() + 10 * DAY,
  });
  return writeIdentity(join(base, dir), leaf, root.pem);
}

async function executorIdentity(name: string, notAfter = Date.now() + DAY) {
  return issueLeaf(rootA, { cn: name, uris: [`spiffe://example.org/ah/agent/${name}`], usage: 'client', notAfter });
}

function startAccessPoint(id: Identity, stateDir: string, port: number, extra: string[] = [], env: Record<string, string> = {}): Daemon {
  const args = ['agent', 'access-point', '--fleet-listen', `127.0.0.1:${port}`, '--cert', id.cert, '--key', id.key, '--ca', id.ca, '--state-dir', stateDir];
  return startAh([...args, ...extra], env, 'access-point');
}

const listening = (ap: Daemon) => ap.waitForLine((l) => l.event === 'access_point_listening', 'listening');

interface Dial {
  reused: boolean;
  /** The first frame the access point sent after hello. */
  answer: { type: string; code?: string; executorId?: string };
  /** The last session ticket received, to resume with next time. */
  session: Buffer | null;
}

/** One fleet link with a raw TLS client: handshake (offering `session`), hello, first answer, goodbye. */
function dial(port: number, leaf: { certPem: string; keyPem: string }, name: string, session?: Buffer | null): Promise<Dial> {
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({
      host: '127.0.0.1',
      port,
      cert: leaf.certPem,
      key: leaf.keyPem,
      ALPNProtocols: ['ah-fleet/1'],
      rejectUnauthorized: false,
      minVersion: 'TLSv1.3',
      ...(session ? { session } : {}),
    });
    let latest: Buffer | null = null;
    let answer: Dial['answer'] | null = null;
    const decoder = new FrameDecoder();
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer from the access point within 20 s'));
    }, 20_000);
    socket.on('session', (s: Buffer) => (latest = s));
    let reused = false;
    socket.once('secureConnect', () => {
      reused = socket.isSessionReused();
      socket.write(encodeFrame({ type: 'hello', name, version: 'test', labels: {} }));
    });
    socket.on('data', (chunk: Buffer) => {
      const [first] = decoder.push(chunk) as Dial['answer'][];
      if (!first || answer) return;
      answer = first;
      if (first.type === 'welcome') socket.end(encodeFrame({ type: 'goodbye', reason: 'test done' }));
      else socket.end();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      if (answer) resolve({ reused, answer, session: latest });
      else reject(new Error('the access point closed the link without an answer'));
    });
  });
}

/** The access point's status (on its status socket) once its handshake counts are `want`. */
async function handshakesReach(stateDir: string, want: { full: number; resumed: number }, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  while (Date.now() < deadline) {
    last = await queryStatus(paths.accessPointSocket(stateDir), 'status').catch((err: Error) => err.message);
    const counts = (last as { handshakes?: { full?: number; resumed?: number } } | null)?.handshakes;
    if (counts?.full === want.full && counts?.resumed === want.resumed) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`handshakes never ${JSON.stringify(want)} within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
}

/**
 * Once the access point has written a session to its state dir: it writes what a flush interval
 * gathered (transport/session-store.ts FLUSH_INTERVAL_MS), and a SIGKILL before then loses it.
 */
async function sessionsSaved(stateDir: string, timeoutMs = 20_000): Promise<void> {
  const file = join(stateDir, 'tls-sessions');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((statSync(file, { throwIfNoEntry: false })?.size ?? 0) > 0) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no session written to ${file} within ${timeoutMs} ms`);
}

/** Enroll once (full handshake), kill the access point with SIGKILL; returns the session and the port. */
async function enrollThenKill(stateDir: string, id: Identity, leaf: { certPem: string; keyPem: string }, name: string) {
  const port = await freePort();
  const ap = startAccessPoint(id, stateDir, port);
  await listening(ap);
  const first = await dial(port, leaf, name);
  expect(first).toMatchObject({ reused: false, answer: { type: 'welcome' } });
  expect(first.session).not.toBeNull();
  // Read through the status socket: the access point has handled everything before it.
  await handshakesReach(stateDir, { full: 1, resumed: 0 });
  await sessionsSaved(stateDir);
  await ap.stop('SIGKILL');
  return { port, session: first.session };
}

describe('access point: TLS session resumption across a restart', () => {
  it('keeps its session key 0600 in the state dir, and resumes a session issued before a SIGKILL (status and metric count it)', async () => {
    const stateDir = tempStateDir('ah-res-');
    const id = await accessPointIdentity('ap-a', rootA);
    const leaf = await executorIdentity('e1');
    const { port, session } = await enrollThenKill(stateDir, id, leaf, 'e1');
    expect(statSync(join(stateDir, 'tls-session-keys.json')).mode & 0o777).toBe(0o600);
    expect(statSync(join(stateDir, 'tls-sessions')).mode & 0o777).toBe(0o600);

    const ap = startAccessPoint(id, stateDir, port, ['--metrics-listen', '127.0.0.1:0']);
    await listening(ap);
    const again = await dial(port, leaf, 'e1', session);
    expect(again).toMatchObject({ reused: true, answer: { type: 'welcome', executorId: 'spiffe://example.org/ah/agent/e1' } });
    await handshakesReach(stateDir, { full: 0, resumed: 1 });
    const metrics = await scrape(await metricsUrl(ap));
    expect(metrics.sample('ah_access_point_tls_handshakes_total', { kind: 'resumed' })).toBe(1);
    expect(metrics.sample('ah_access_point_tls_handshakes_total', { kind: 'full' })).toBe(0);
  });

  it('resumes the session of an executor whose chain has an intermediate the bundle lacks: the chain it sent is kept with the session', async () => {
    const stateDir = tempStateDir('ah-res-');
    const id = await accessPointIdentity('ap-i', rootA);
    const intermediate = await createIntermediate(rootA, 'Executors Intermediate');
    const issued = await issueLeaf(intermediate, { cn: 'e-int', uris: ['spiffe://example.org/ah/agent/e-int'], usage: 'client', notAfter: Date.now() + DAY });
    // The executor sends its leaf and the intermediate; the access point trusts only Root A.
    const leaf = { certPem: `${issued.certPem}${intermediate.pem}`, keyPem: issued.keyPem };
    const { port, session } = await enrollThenKill(stateDir, id, leaf, 'e-int');
    const ap = startAccessPoint(id, stateDir, port);
    await listening(ap);
    const again = await dial(port, leaf, 'e-int', session);
    expect(again).toMatchObject({ reused: true, answer: { type: 'welcome', executorId: 'spiffe://example.org/ah/agent/e-int' } });
    await handshakesReach(stateDir, { full: 0, resumed: 1 });
  });

  it('refuses a resumed link whose chain the new --ca does not trust, as a full handshake would', async () => {
    const stateDir = tempStateDir('ah-res-');
    const leaf = await executorIdentity('e2');
    const { port, session } = await enrollThenKill(stateDir, await accessPointIdentity('ap-a2', rootA), leaf, 'e2');

    const ap = startAccessPoint(await accessPointIdentity('ap-b', rootB), stateDir, port);
    await listening(ap);
    const again = await dial(port, leaf, 'e2', session);
    expect(again).toMatchObject({ reused: true, answer: { type: 'reject', code: 'ENROLL_CHAIN_LONE_LEAF' } });
    // Without the session, the same certificate gets the same answer.
    const full = await dial(port, leaf, 'e2');
    expect(full).toMatchObject({ reused: false, answer: { type: 'reject', code: 'ENROLL_CHAIN_LONE_LEAF' } });
  });

  it('refuses a resumed link outside a new --executor-san-uri-prefix with the SAN mismatch', async () => {
    const stateDir = tempStateDir('ah-res-');
    const id = await accessPointIdentity('ap-a3', rootA);
    const leaf = await executorIdentity('e3');
    const { port, session } = await enrollThenKill(stateDir, id, leaf, 'e3');

    const ap = startAccessPoint(id, stateDir, port, ['--executor-san-uri-prefix', 'spiffe://example.org/ah/other/']);
    await listening(ap);
    const again = await dial(port, leaf, 'e3', session);
    expect(again).toMatchObject({ reused: true, answer: { type: 'reject', code: 'ENROLL_SAN_MISMATCH' } });
  });

  it('does not resume the session of a certificate that has expired since (clock 3 h ahead, certificate valid 2 h)', async () => {
    const stateDir = tempStateDir('ah-res-');
    const id = await accessPointIdentity('ap-a4', rootA);
    const leaf = await executorIdentity('e4', Date.now() + 2 * HOUR);
    const { port, session } = await enrollThenKill(stateDir, id, leaf, 'e4');

    const ap = startAccessPoint(id, stateDir, port, [], fakeClock('+3h'));
    await listening(ap);
    const again = await dial(port, leaf, 'e4', session);
    expect(again).toMatchObject({ reused: false, answer: { type: 'reject', code: 'ENROLL_CERT_NOT_VALID_NOW' } });
    await handshakesReach(stateDir, { full: 1, resumed: 0 });
  });

  it('an executor resumes its in-memory session when it reconnects to the restarted access point, and writes none to disk', async () => {
    const apDir = tempStateDir('ah-res-');
    const exDir = tempStateDir('ah-res-');
    const id = await accessPointIdentity('ap-a5', rootA);
    const ex = writeIdentity(join(base, 'e5'), await executorIdentity('e5'), rootA.pem);
    const port = await freePort();
    let ap = startAccessPoint(id, apDir, port);
    await listening(ap);
    const enroll = ['agent', 'enroll', '--remote-server', `https://127.0.0.1:${port}`, '--name', 'e5', '--cert', ex.cert, '--key', ex.key, '--ca', ex.ca];
    startAh([...enroll, '--backoff-base', '200ms', '--backoff-max', '400ms', '--state-dir', exDir], {}, 'executor');
    await handshakesReach(apDir, { full: 1, resumed: 0 });
    await sessionsSaved(apDir);
    await ap.stop('SIGKILL');

    ap = startAccessPoint(id, apDir, port);
    await listening(ap);
    await handshakesReach(apDir, { full: 0, resumed: 1 });
    await ap.waitForLine((l) => l.event === 'executor_enrolled' && l.executorId === 'spiffe://example.org/ah/agent/e5', 'the executor back');
    expect(readdirSync(exDir).filter((f) => f.includes('session'))).toEqual([]);
  });

  it('refuses to start when the session keys are readable by others (whoever reads them can resume as the access point)', async () => {
    const stateDir = tempStateDir('ah-res-');
    const id = await accessPointIdentity('ap-a6', rootA);
    const port = await freePort();
    const ap = startAccessPoint(id, stateDir, port);
    await listening(ap);
    await ap.stop();
    const keys = join(stateDir, 'tls-session-keys.json');
    chmodSync(keys, 0o644);
    const args = ['agent', 'access-point', '--fleet-listen', `127.0.0.1:${port}`, '--cert', id.cert, '--key', id.key, '--ca', id.ca, '--state-dir', stateDir];
    const r = await runAh(args, {}, 30_000);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`error: private key ${keys} is readable or writable by group or others (mode 0644): chmod 600 ${keys}`);
  });
});
