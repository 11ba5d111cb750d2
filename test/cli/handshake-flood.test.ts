/**
 * An access point under a flood (the CLI, as a child process, over real sockets on loopback):
 * unauthenticated clients' rejections are coalesced per source address in the audit log and the
 * log, handshakes beyond --max-handshakes wait their turn in order (unread, open) and are closed
 * before any TLS byte only once --handshake-queue is full too, a source past
 * --handshake-rate is shed while another source enrolls, and --audit-required refuses enrollments
 * while the audit log cannot be written.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../../src/engine/state-dir.js';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { queryStatus } from '../../src/transport/status-server.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type RunResult } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { metricsUrl, probe, scrape, scrapeUntil } from '../helpers/metrics.js';
import { createRoot, issueLeaf, writeIdentity, type Issuer } from '../helpers/pki.js';

afterAll(stopAll);

const PREFIX = 'spiffe://example.org/ah/agent/';
type Audit = Record<string, any> & { event: string };

const readAudit = (file: string): Audit[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Audit)
    : [];

const isListening = isEvent('access_point_listening');

async function accessPoint(stateDir: string, extra: string[]): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', stateDir, ...extra]);
  const line = await daemon.waitForLine(isListening, 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

/** Polls the access point's roster until an executor of that name is on it. */
async function waitForFleetMember(stateDir: string, name: string, timeoutMs = 20_000): Promise<void> {
  await eventually(
    () => runAh(['agent', 'fleet', '--json', '--state-dir', stateDir]),
    (r) => r.code === 0 && JSON.parse(r.stdout).executors.some((e: { name: string }) => e.name === name),
    `${name} to join the fleet`,
    { timeoutMs, intervalMs: 200, show: (r) => `${r.stdout}${r.stderr}` },
  );
}

/** Resolves with every byte the server sent before the connection closed. */
function untilClosed(socket: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the access point did not close the connection within 15 s')), 15_000);
    socket.on('data', (b: Buffer) => chunks.push(b));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** A TLS client without a certificate that says hello and returns the frames it was answered. */
async function helloWithout(port: number, name: string, localAddress?: string): Promise<unknown[]> {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    // From the address asked for: TLS over a TCP socket bound to it.
    const tcp = netConnect({ host: '127.0.0.1', port, localAddress });
    const s = tlsConnect({ socket: tcp, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['ah-fleet/1'] });
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
  const closed = untilClosed(socket);
  socket.write(encodeFrame({ type: 'hello', name, version: '0', labels: {} }));
  return new FrameDecoder().push(await closed);
}

/** A raw TCP connection that never starts TLS. */
function rawTcp(port: number, localAddress?: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port, localAddress });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

const firstLine = (r: RunResult) => r.stderr.split('\n')[0];

interface HandshakesStatus {
  inFlight: number;
  queued: number;
}

/** Polls the access point's status until its handshake figures pass `test` (bounded). */
async function handshakesUntil(stateDir: string, test: (h: HandshakesStatus) => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: HandshakesStatus | null = null;
  while (Date.now() < deadline) {
    last = ((await queryStatus(paths.accessPointSocket(stateDir), 'status')) as { handshakes: HandshakesStatus }).handshakes;
    if (test(last)) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`never ${what} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** A socket whose received bytes and close are recorded. */
function watched(socket: Socket): { socket: Socket; bytes: () => number; closed: boolean } {
  const w = { socket, chunks: [] as Buffer[], closed: false, bytes: () => Buffer.concat(w.chunks).length };
  socket.on('data', (b: Buffer) => w.chunks.push(b));
  socket.on('error', () => {});
  socket.on('close', () => (w.closed = true));
  return w;
}

/** A TLS client without a certificate; `name` is pushed on `order` when its handshake completes. */
function tlsInOrder(port: number, name: string, order: string[]): { socket: TLSSocket; secure: Promise<void> } {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: ['ah-fleet/1'] });
  const secure = new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', () => {
      order.push(name);
      resolve();
    });
    socket.once('error', reject);
    socket.once('close', () => reject(new Error(`${name} closed before its handshake completed`)));
  });
  return { socket, secure };
}

describe('unauthenticated clients cannot grow the audit log', () => {
  let root: Issuer;
  let dir: string;
  beforeAll(async () => {
    dir = tempStateDir('ah-flood-');
    root = await createRoot('Flood Root CA');
  });

  it('coalesces 200 hellos without a certificate into a few records with counts; an authenticated executor keeps its own', async () => {
    const apLeaf = await issueLeaf(root, {
      cn: 'access point',
      uris: ['spiffe://example.org/ah/serve'],
      dns: ['localhost'],
      ips: ['127.0.0.1'],
      usage: 'server',
    });
    const ap = writeIdentity(join(dir, 'ap'), apLeaf, root.pem);
    // Chains to the CA, but its SAN is outside the prefix: somebody, rejected for a reason of its own.
    const outsider = writeIdentity(
      join(dir, 'outsider'),
      await issueLeaf(root, { cn: 'outsider', uris: ['spiffe://example.org/ah/other/outsider'], usage: 'client' }),
      root.pem,
    );
    const file = join(dir, 'audit.log');
    const stateDir = tempStateDir();
    const { daemon, port } = await accessPoint(stateDir, [
      '--identity',
      'files',
      '--cert',
      ap.cert,
      '--key',
      ap.key,
      '--ca',
      ap.ca,
      '--executor-san-uri-prefix',
      PREFIX,
      '--audit-log',
      file,
      // 200 handshakes from one address in a few seconds: above the default per-source rate.
      '--handshake-rate',
      '1000',
    ]);

    // Every client still reads why, in its reject frame; the first one's record is on disk by then.
    const reject = { type: 'reject', code: 'ENROLL_CLIENT_CERT_REQUIRED', message: 'client certificate required', params: {} };
    expect(await helloWithout(port, 'mallory-0')).toEqual([reject]);
    expect(readAudit(file).filter((r) => r.code === 'ENROLL_CLIENT_CERT_REQUIRED')).toEqual([
      expect.objectContaining({ event: 'rejected', name: 'mallory-0', remoteAddress: expect.stringMatching(/^127\.0\.0\.1:\d+$/) }),
    ]);
    for (let i = 1; i < 200; i++) expect(await helloWithout(port, `mallory-${i}`)).toEqual([reject]);
    // Another source address has a window of its own.
    expect(await helloWithout(port, 'eve', '127.0.0.2')).toEqual([reject]);

    // An authenticated executor: one record per rejection, each on disk before it hears why.
    for (let i = 0; i < 3; i++) {
      const r = await runAh([
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${port}`,
        '--name',
        'outsider',
        '--max-attempts',
        '1',
        '--state-dir',
        tempStateDir(),
        '--identity',
        'files',
        '--cert',
        outsider.cert,
        '--key',
        outsider.key,
        '--ca',
        outsider.ca,
      ]);
      expect(r.code).toBe(1);
      expect(firstLine(r)).toBe('error: certificate SAN does not match expected pattern');
      expect(readAudit(file).filter((x) => x.code === 'ENROLL_SAN_MISMATCH')).toHaveLength(i + 1);
    }
    expect(await daemon.stop()).toBe(0);

    const records = readAudit(file);
    const fromLoopback = records.filter(
      (r) => r.code === 'ENROLL_CLIENT_CERT_REQUIRED' && (r.sourceAddress === '127.0.0.1' || String(r.remoteAddress).startsWith('127.0.0.1:')),
    );
    expect(fromLoopback.reduce((sum, r) => sum + (r.count ?? 1), 0)).toBe(200);
    // The first of each 10-second window alone, the rest as one record each: a handful, not 200.
    expect(fromLoopback.length).toBeLessThanOrEqual(10);
    const coalesced = fromLoopback.filter((r) => r.coalesced);
    expect(coalesced.length).toBeGreaterThanOrEqual(1);
    for (const r of coalesced) {
      expect(r).toMatchObject({ event: 'rejected', message: 'client certificate required', sourceAddress: '127.0.0.1' });
      expect(r.count).toBeGreaterThan(0);
      expect(Date.parse(r.firstTime)).toBeLessThanOrEqual(Date.parse(r.lastTime));
      for (const n of r.names) expect(n).toMatch(/^mallory-\d+$/);
    }
    expect(records.filter((r) => r.code === 'ENROLL_CLIENT_CERT_REQUIRED' && String(r.remoteAddress).startsWith('127.0.0.2:'))).toEqual([
      expect.objectContaining({ name: 'eve' }),
    ]);
    const outsiderRecords = records.filter((r) => r.code === 'ENROLL_SAN_MISMATCH');
    expect(outsiderRecords).toHaveLength(3);
    for (const r of outsiderRecords) {
      expect(r).toMatchObject({ executorId: 'spiffe://example.org/ah/other/outsider', name: 'outsider' });
      expect(r.count).toBeUndefined();
    }
    // Coalesced counts are written before the stop record.
    expect(records.at(-1)).toMatchObject({ event: 'stopped' });

    // The log the same way: one warning per record, not one per rejection.
    const warned = daemon.lines.filter(
      (l) => l.event === 'executor_rejected' && l.code === 'ENROLL_CLIENT_CERT_REQUIRED' && String(l.remoteAddress).startsWith('127.0.0.1:'),
    );
    const summaries = daemon.lines.filter((l) => l.event === 'rejections_coalesced' && l.sourceAddress === '127.0.0.1');
    expect(warned.length + summaries.reduce((sum, l) => sum + (l.count as number), 0)).toBe(200);
    expect(warned.length + summaries.length).toBe(fromLoopback.length);
    expect(daemon.lines.filter((l) => l.event === 'executor_rejected' && l.code === 'ENROLL_SAN_MISMATCH')).toHaveLength(3);
  });
});

describe('handshake limits', () => {
  it('--max-handshakes 2: further connections wait unread and open, leave the queue when they hang up, and are admitted in arrival order', async () => {
    const stateDir = tempStateDir();
    const { daemon, port } = await accessPoint(stateDir, ['--max-handshakes', '2', '--metrics-listen', '127.0.0.1:0']);
    const url = await metricsUrl(daemon);
    // Two places, taken by clients that never start TLS.
    const held: Socket[] = [];
    for (let i = 0; i < 2; i++) held.push(await rawTcp(port));
    await handshakesUntil(stateDir, (h) => h.inFlight === 2, 'two handshakes in flight');

    // The next ones wait. A raw one first, then real TLS clients, one after the other.
    const raw = watched(await rawTcp(port));
    await handshakesUntil(stateDir, (h) => h.queued === 1, 'one waiting');
    const order: string[] = [];
    const clients = ['t1', 't2', 't3', 't4', 't5'].map((name, i) => ({ name, i }));
    const dialled: Array<{ socket: TLSSocket; secure: Promise<void> }> = [];
    for (const { name, i } of clients) {
      dialled.push(tlsInOrder(port, name, order));
      await handshakesUntil(stateDir, (h) => h.queued === i + 2, `${name} waiting`);
    }
    const status = (await queryStatus(paths.accessPointSocket(stateDir), 'status')) as { handshakes: Record<string, number> };
    expect(status.handshakes).toMatchObject({ inFlight: 2, queued: 6, maxInFlight: 2, queueLimit: 16, waited: 6 });
    const m = await scrape(url);
    expect(m.sample('ah_access_point_handshake_queue_depth')).toBe(6);
    expect(m.sample('ah_access_point_handshakes_in_flight')).toBe(2);
    expect(m.sample('ah_access_point_handshake_waits_total')).toBe(6);
    // Nobody waiting heard a byte (no TLS alert, no ServerHello) or was closed.
    expect(raw.bytes()).toBe(0);
    expect(raw.closed).toBe(false);
    expect(order).toEqual([]);
    for (const d of dialled) expect(d.socket.destroyed).toBe(false);

    // One that hangs up while waiting leaves the queue.
    raw.socket.destroy();
    await handshakesUntil(stateDir, (h) => h.queued === 5, 'the raw one gone from the queue');

    // One place frees: the TLS clients go through it one at a time, in the order they came.
    held[0]!.destroy();
    await Promise.all(dialled.map((d) => d.secure));
    expect(order).toEqual(['t1', 't2', 't3', 't4', 't5']);
    for (const d of dialled) d.socket.destroy();
    held[1]!.destroy();
    const after = await scrapeUntil(url, (x) => x.sample('ah_access_point_handshakes_in_flight') === 0, 'no handshake in flight');
    expect(after.sample('ah_access_point_handshake_queue_depth')).toBe(0);
    expect(after.sample('ah_access_point_handshake_waits_total')).toBe(6);
    for (const reason of ['capacity', 'rate', 'queue_timeout']) expect(after.sample('ah_access_point_handshakes_shed_total', { reason })).toBe(0);
    expect(await daemon.stop()).toBe(0);
    expect(daemon.lines.filter((l) => l.event === 'handshake_shed' || l.event === 'handshakes_shed_coalesced')).toEqual([]);
  });

  it('--handshake-queue: when the places and the queue are full, the next connections are closed before any TLS byte; enrolled links are served meanwhile', async () => {
    const stateDir = tempStateDir();
    const { daemon, port } = await accessPoint(stateDir, [
      '--max-handshakes',
      '1',
      '--handshake-queue',
      '2',
      '--heartbeat-interval',
      '200ms',
      '--metrics-listen',
      '127.0.0.1:0',
    ]);
    const url = await metricsUrl(daemon);
    // Enrolled before the storm.
    const steady = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${port}`, '--name', 'steady', '--state-dir', stateDir]);
    await waitForFleetMember(stateDir, 'steady');
    const held = watched(await rawTcp(port));
    await handshakesUntil(stateDir, (h) => h.inFlight === 1, 'one handshake in flight');
    const waiting = [watched(await rawTcp(port)), watched(await rawTcp(port))];
    await handshakesUntil(stateDir, (h) => h.queued === 2, 'two waiting');
    const shed = await Promise.all([0, 1, 2].map(async () => untilClosed(await rawTcp(port))));
    // The server wrote nothing: not a TLS alert, not a byte.
    for (const bytes of shed) expect(bytes.length).toBe(0);
    const m = await scrapeUntil(url, (s) => s.sample('ah_access_point_handshakes_shed_total', { reason: 'capacity' }) === 3, 'three sheds');
    expect(m.sample('ah_access_point_handshakes_shed_total', { reason: 'rate' })).toBe(0);
    expect(m.sample('ah_access_point_handshake_queue_depth')).toBe(2);
    // The enrolled executor is served while the storm waits: its heartbeats keep being acked.
    const beats = m.sample('ah_access_point_heartbeats_total')!;
    const later = await scrapeUntil(url, (s) => s.sample('ah_access_point_heartbeats_total')! >= beats + 3, 'three more heartbeats while the queue is full');
    expect(later.sample('ah_access_point_handshake_queue_depth')).toBe(2);
    expect(later.sum('ah_access_point_departures_total')).toBe(0);
    expect(later.sample('ah_access_point_enrolled_executors')).toBe(1);
    // Those in flight and waiting were left alone.
    for (const w of [held, ...waiting]) {
      expect(w.closed).toBe(false);
      expect(w.bytes()).toBe(0);
    }
    // Told once, then counted.
    const told = daemon.lines.filter((l) => l.event === 'handshake_shed');
    expect(told).toEqual([expect.objectContaining({ reason: 'capacity', maxHandshakes: 1, handshakeQueue: 2, sourceAddress: '127.0.0.1' })]);

    // Once the first go, an executor enrolls through the queue.
    for (const w of [held, ...waiting]) w.socket.destroy();
    const ex = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${port}`, '--name', 'after-flood', '--state-dir', stateDir]);
    await waitForFleetMember(stateDir, 'after-flood');
    expect(await ex.stop()).toBe(0);
    expect(await steady.stop()).toBe(0);
    const total = (await scrape(url)).sample('ah_access_point_handshakes_shed_total', { reason: 'capacity' })!;
    expect(await daemon.stop()).toBe(0);
    // The ones not told one by one are in one line with their count (at the latest at stop).
    const summaries = daemon.lines.filter((l) => l.event === 'handshakes_shed_coalesced');
    expect(summaries.every((l) => l.reason === 'capacity')).toBe(true);
    expect(1 + summaries.reduce((sum, l) => sum + (l.count as number), 0)).toBe(total);
  });

  it('--handshake-rate: a burst from one address is shed, an executor from another enrolls at its first attempt', async () => {
    const stateDir = tempStateDir();
    const { daemon, port } = await accessPoint(stateDir, ['--handshake-rate', '2', '--metrics-listen', '127.0.0.1:0']);
    const url = await metricsUrl(daemon);
    // 30 connections at once from 127.0.0.2: at 2 a second in bursts of 4, most are closed at accept.
    const sockets = await Promise.all(Array.from({ length: 30 }, () => rawTcp(port, '127.0.0.2')));
    const outcomes = sockets.map((s) => ({ s, bytes: [] as Buffer[], closed: false }));
    for (const o of outcomes) {
      o.s.on('data', (b: Buffer) => o.bytes.push(b));
      o.s.on('error', () => {});
      o.s.on('close', () => (o.closed = true));
    }
    const m = await scrapeUntil(url, (s) => (s.sample('ah_access_point_handshakes_shed_total', { reason: 'rate' }) ?? 0) >= 10, 'the burst shed');
    expect(m.sample('ah_access_point_handshakes_shed_total', { reason: 'capacity' })).toBe(0);
    expect(daemon.lines.find((l) => l.event === 'handshake_shed')).toMatchObject({ reason: 'rate', sourceAddress: '127.0.0.2', handshakeRate: 2 });

    // From 127.0.0.1, one attempt allowed: shed, it would exit 1.
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'neighbour',
      '--max-attempts',
      '1',
      '--state-dir',
      stateDir,
    ]);
    await waitForFleetMember(stateDir, 'neighbour');
    expect(ex.child.exitCode).toBeNull();
    // The shed ones were closed without a byte (those admitted are still in their handshake).
    const closed = outcomes.filter((o) => o.closed);
    expect(closed.length).toBeGreaterThanOrEqual(10);
    for (const o of closed) expect(Buffer.concat(o.bytes).length).toBe(0);
    for (const o of outcomes) o.s.destroy();
    expect(daemon.lines.filter((l) => l.event === 'handshake_shed' && l.sourceAddress === '127.0.0.1')).toEqual([]);
    expect(await ex.stop()).toBe(0);
    expect(await daemon.stop()).toBe(0);
  });

  it('refuses a --max-handshakes, --handshake-queue or --handshake-rate outside its range, naming the range', async () => {
    const r = await runAh(['agent', 'access-point', '--max-handshakes', '0', '--state-dir', tempStateDir()]);
    expect(r.code).toBe(2);
    expect(firstLine(r)).toBe("error: option '--max-handshakes <n>' argument '0' is invalid. expected a whole number from 1 to 65536");
    const rate = await runAh(['agent', 'access-point', '--handshake-rate', '1e3', '--state-dir', tempStateDir()]);
    expect(rate.code).toBe(2);
    expect(firstLine(rate)).toBe("error: option '--handshake-rate <n>' argument '1e3' is invalid. expected a whole number from 1 to 100000");
    const queue = await runAh(['agent', 'access-point', '--handshake-queue', '-1', '--state-dir', tempStateDir()]);
    expect(queue.code).toBe(2);
    expect(firstLine(queue)).toBe("error: option '--handshake-queue <n>' argument '-1' is invalid. expected a whole number from 0 to 524288");
  });
});

describe('--audit-required', () => {
  it('refuses enrollments with their own message and is not ready while the audit log cannot be written', async () => {
    const stateDir = tempStateDir();
    const { daemon, port } = await accessPoint(stateDir, ['--audit-log', '/dev/full', '--audit-required', '--metrics-listen', '127.0.0.1:0']);
    const url = await metricsUrl(daemon);
    expect(await probe(url, '/readyz')).toEqual({ status: 503, body: 'not ready: audit log cannot be written (--audit-required)\n' });
    const r = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'strict',
      '--max-attempts',
      '1',
      '--state-dir',
      stateDir,
    ]);
    expect(r.code).toBe(1);
    expect(firstLine(r)).toBe('error: enrollment refused: the audit log cannot be written (--audit-required)');
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', stateDir])).stdout);
    expect(fleet.executors).toEqual([]);
    // The refusal's own record could not be written either: it is in the log, as every such record.
    await daemon.waitForLine(
      (l) => l.code === 'ENROLL_AUDIT_LOG_FAILED' && (l.audit as Audit | undefined)?.code === 'ENROLL_AUDIT_UNAVAILABLE',
      'the refusal kept in the log',
    );
    expect(await daemon.stop()).toBe(0);
  });

  it('without it, the same site serves and is ready (as before)', async () => {
    const stateDir = tempStateDir();
    const { daemon, port } = await accessPoint(stateDir, ['--audit-log', '/dev/full', '--metrics-listen', '127.0.0.1:0']);
    const url = await metricsUrl(daemon);
    expect(await probe(url, '/readyz')).toEqual({ status: 200, body: 'ok: serving\n' });
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${port}`,
      '--name',
      'lenient',
      '--max-attempts',
      '1',
      '--state-dir',
      stateDir,
    ]);
    await waitForFleetMember(stateDir, 'lenient');
    expect(await ex.stop()).toBe(0);
    expect(await daemon.stop()).toBe(0);
  });

  it('needs --audit-log', async () => {
    const r = await runAh(['agent', 'access-point', '--audit-required', '--state-dir', tempStateDir()]);
    expect(r.code).toBe(2);
    expect(firstLine(r)).toBe('error: --audit-required needs --audit-log');
  });
});
