/**
 * The fleet-wide roster on a real etcd (Debian's etcd-server), with three real access point
 * processes (`ah agent access-point --roster`) and thirty in-process executors spread over them:
 * every access point lists the same thirty, each once, with the access point that holds it; a
 * second holder of an identity at another access point is a duplicate; an etcd outage drops no
 * link and holds no enrollment back; a compaction under a watch that fell behind makes the access
 * point list again; and a killed access point's executors leave the views once its leases expire.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paths } from '../../src/engine/state-dir.js';
import { createExecutor, type Executor } from '../../src/index.js';
import { signContinuity } from '../../src/transport/continuity.js';
import { queryStatus } from '../../src/transport/status-server.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { TestEtcd } from '../helpers/etcd.js';
import { eventually } from '../helpers/eventually.js';
import { metricsUrl, scrape } from '../helpers/metrics.js';
import { createRoot, issueLeaf } from '../helpers/pki.js';
import { RawFleetClient } from '../helpers/raw-fleet-client.js';
import { skipWithout } from '../helpers/tools.js';

/** Generous: two cores shared with other work. */
const BOUND_MS = 90_000;
const EXECUTORS = 30;
const LEASE_TTL = '3s';

interface Row {
  id: string;
  name: string;
  state: string;
  accessPoint: string;
  lastHeartbeat: string | null;
}

interface AccessPointProc {
  id: string;
  stateDir: string;
  daemon: Daemon;
  port: number;
  auditLog: string;
  metrics: string;
}

let etcd: TestEtcd;
const aps: AccessPointProc[] = [];
const executors: Executor[] = [];
const base = tempStateDir('ah-roster-');

async function startAccessPoint(id: string, extra: string[] = [], roster: 'connected' | 'unreachable' = 'connected'): Promise<AccessPointProc> {
  const stateDir = tempStateDir(`ah-${id}-`);
  const auditLog = join(stateDir, 'audit.log');
  const daemon = startAh(
    [
      'agent',
      'access-point',
      '--fleet-listen',
      '127.0.0.1:0',
      '--roster',
      etcd.url,
      '--roster-lease-ttl',
      LEASE_TTL,
      '--access-point-id',
      id,
      '--heartbeat-interval',
      '1s',
      '--audit-log',
      auditLog,
      '--state-dir',
      stateDir,
      '--metrics-listen',
      '127.0.0.1:0',
      ...extra,
    ],
    {},
    id,
  );
  const listening = await daemon.waitForLine(isEvent('access_point_listening'), 'listening', BOUND_MS);
  await daemon.waitForLine(isEvent(roster === 'connected' ? 'roster_connected' : 'roster_disconnected'), `${roster} etcd`, BOUND_MS);
  const port = Number(String(listening.address).split(':').at(-1));
  return { id, stateDir, daemon, port, auditLog, metrics: await metricsUrl(daemon) };
}

function executor(name: string, ap: AccessPointProc, stateDir = base): Executor {
  const ex = createExecutor({
    name,
    remoteServer: `https://127.0.0.1:${ap.port}`,
    stateDir,
    statusSocket: false,
    backoff: { baseMs: 200, capMs: 2_000 },
  });
  executors.push(ex);
  return ex;
}

async function fleet(ap: AccessPointProc, ...args: string[]): Promise<{ executors: Row[]; summary: { total: number } }> {
  const r = await runAh(['agent', 'fleet', '--json', '--state-dir', ap.stateDir, ...args]);
  if (r.code !== 0) throw new Error(`fleet on ${ap.id} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Name → access point, as one access point lists the fleet; fails on an identity listed twice. */
async function view(ap: AccessPointProc): Promise<Record<string, string>> {
  const rows = (await fleet(ap)).executors;
  const ids = rows.map((r) => r.id);
  expect(new Set(ids).size).toBe(ids.length);
  return Object.fromEntries(rows.map((r) => [r.name, r.accessPoint]));
}

/** `ah agent doctor --access-point` for one of them: its roster check. */
async function rosterCheck(ap: AccessPointProc): Promise<{ status: string; finding: string; error?: { code: string }; details?: Record<string, unknown> }> {
  const r = await runAh([
    'agent',
    'doctor',
    '--access-point',
    '--json',
    '--fleet-listen',
    `127.0.0.1:${ap.port}`,
    '--roster',
    etcd.url,
    '--access-point-id',
    ap.id,
    '--state-dir',
    ap.stateDir,
  ]);
  const report = JSON.parse(r.stdout) as { checks: Array<{ name: string; status: string; finding: string; error?: { code: string } }> };
  return report.checks.find((c) => c.name === 'ap.roster')!;
}

const audit = (ap: AccessPointProc) =>
  readFileSync(ap.auditLog, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe.skipIf(skipWithout('etcd'))('fleet-wide roster on etcd', () => {
  const expected: Record<string, string> = {};

  beforeAll(async () => {
    etcd = await TestEtcd.start();
    // ap-1 also serves the live debug view: with the roster it shows the whole fleet.
    for (const id of ['ap-1', 'ap-2', 'ap-3']) aps.push(await startAccessPoint(id, id === 'ap-1' ? ['--debug-listen', '127.0.0.1:0'] : []));
    const started: Array<Promise<unknown>> = [];
    for (let i = 0; i < EXECUTORS; i++) {
      const ap = aps[i % 3]!;
      const name = `web-${String(i).padStart(2, '0')}`;
      expected[name] = ap.id;
      const ex = executor(name, ap);
      started.push(ex.start().then(() => ex.waitFor('enrolled', BOUND_MS)));
    }
    await Promise.all(started);
  }, 4 * BOUND_MS);

  afterAll(async () => {
    if (process.env.ROSTER_DEBUG)
      for (const ap of aps)
        console.log(
          ap.id,
          JSON.stringify(ap.daemon.lines.filter((l) => l.component === 'ah_roster' || /drain|relink|executor_|duplicate|link_closed/.test(String(l.event)))),
        );
    for (const ex of executors) await ex.stop().catch(() => undefined);
    await stopAll();
    await etcd?.stop();
  }, BOUND_MS);

  it(
    'lists the same thirty executors on every access point, each once, with the access point that holds it',
    async () => {
      for (const ap of aps) {
        const seen = await eventually(
          () => view(ap),
          (v) => JSON.stringify(v) === JSON.stringify(expected),
          `${ap.id} to list the 30 executors with their access points`,
          { timeoutMs: BOUND_MS, intervalMs: 500 },
        );
        expect(Object.keys(seen)).toHaveLength(EXECUTORS);
      }
      // Rows held elsewhere carry no heartbeat (heartbeats stay in their access point's memory); own rows do.
      const rows = (await fleet(aps[0]!)).executors;
      expect(rows.filter((r) => r.accessPoint === 'ap-1').every((r) => r.lastHeartbeat !== null)).toBe(true);
      expect(rows.filter((r) => r.accessPoint !== 'ap-1').every((r) => r.lastHeartbeat === null)).toBe(true);
      // The filters apply to the whole fleet.
      const filtered = await fleet(aps[1]!, '--name', 'web-0*');
      expect(filtered.executors.map((r) => r.name).sort()).toEqual(
        Object.keys(expected)
          .filter((n) => n.startsWith('web-0'))
          .sort(),
      );
      expect(filtered.summary.total).toBe(EXECUTORS);
      // The table says which access point holds each executor, when the rows come from several.
      const table = (await runAh(['agent', 'fleet', '--name', 'web-0?', '--state-dir', aps[0]!.stateDir])).stdout.split('\n');
      expect(table[0]).toMatch(/^NAME +ID +STATE +ADDRESS +SINCE +LAST HEARTBEAT +CERT EXPIRES +ACCESS POINT$/);
      expect(table.find((l) => l.startsWith('web-01 '))).toMatch(/ - +in .* ap-2$/);
      const single = (await runAh(['agent', 'fleet', '--name', 'web-01', '--state-dir', aps[0]!.stateDir])).stdout.split('\n');
      expect(single[0]).toMatch(/^NAME +ID +STATE +ADDRESS +SINCE +LAST HEARTBEAT +CERT EXPIRES$/);
      // Heartbeats never reach etcd: three more heartbeats on every link, not one more write.
      const before = await scrape(aps[0]!.metrics);
      expect(before.sample('ah_roster_connected')).toBe(1);
      expect(before.sample('ah_roster_executors', { scope: 'fleet' })).toBe(EXECUTORS);
      expect(before.sample('ah_roster_executors', { scope: 'own' })).toBe(EXECUTORS / 3);
      const heartbeat = executors[0]!.status().lastHeartbeat!;
      await eventually(
        () => executors[0]!.status().lastHeartbeat,
        (hb) => hb !== null && Date.parse(hb) >= Date.parse(heartbeat) + 3_000,
        'three more heartbeats',
        { timeoutMs: BOUND_MS, intervalMs: 250 },
      );
      expect((await scrape(aps[0]!.metrics)).sample('ah_roster_writes_total')).toBe(before.sample('ah_roster_writes_total'));
    },
    2 * BOUND_MS,
  );

  it('shows the whole fleet in the live debug view of any access point, each row with the access point that holds it', async () => {
    const ap1 = aps[0]!;
    const debugView = String((await ap1.daemon.waitForLine(isEvent('debug_view_listening'), 'the debug view', BOUND_MS)).url);
    const rows = async () => {
      const snapshot = (await (await fetch(`${debugView}api/fleet`)).json()) as {
        executors: Array<{ name: string; accessPoint: string | null; present: boolean }>;
      };
      return Object.fromEntries(snapshot.executors.filter((e) => e.present).map((e) => [e.name, e.accessPoint]));
    };
    await eventually(rows, (v) => JSON.stringify(v) === JSON.stringify(expected), 'ap-1 live view to list the 30 with their access points', {
      timeoutMs: BOUND_MS,
      intervalMs: 500,
    });
  });

  it('lists the access points with their state, address and executors, and status says which one it is', async () => {
    const r = await runAh(['agent', 'fleet', '--access-points', '--json', '--state-dir', aps[2]!.stateDir]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).accessPoints).toEqual(
      aps.map((ap) => ({ id: ap.id, address: `https://127.0.0.1:${ap.port}`, state: 'serving', executors: EXECUTORS / 3 })),
    );
    const table = await runAh(['agent', 'fleet', '--access-points', '--state-dir', aps[0]!.stateDir]);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID +ADDRESS +STATE +EXECUTORS$/);
    const status = (await queryStatus(paths.accessPointSocket(aps[0]!.stateDir), 'status')) as Record<string, any>;
    expect(status.accessPoint).toBe('ap-1');
    const check = await rosterCheck(aps[0]!);
    expect(check).toMatchObject({ status: 'pass', details: { prefix: '/ah/', accessPoints: ['ap-1', 'ap-2', 'ap-3'], leases: 1, owned: EXECUTORS / 3 } });
    expect(status.roster).toMatchObject({ kind: 'etcd', connected: true, ownKeyPresent: true, prefix: '/ah/', owned: EXECUTORS / 3, pending: 0 });
  });

  it(
    'lists again when etcd compacted the history a watch that fell behind would resume from: the view is not stale',
    async () => {
      // An access point of its own, with a lease that outlives its pause.
      const ap = await startAccessPoint('ap-c', ['--roster-lease-ttl', '30s']);
      const client = etcd.client();
      const ghost = '/ah/presence/spiffe://dev.local/ah/agent/ghost';
      try {
        const from = ap.daemon.lines.length;
        // Paused, it reads nothing: its watch falls behind while etcd moves on, then is compacted away.
        process.kill(ap.daemon.child.pid!, 'SIGSTOP');
        const filler = 'x'.repeat(2_048);
        for (let t = 0; t < 150; t++) {
          const ops = Array.from({ length: 50 }, (_, i) => client.put(`/ah/filler/${t}-${i}`).value(filler));
          await client
            .if('/ah/filler/none', 'Create', '==', 0)
            .then(...ops)
            .commit();
        }
        const record = {
          accessPoint: 'ap-x',
          epoch: 1,
          name: 'ghost',
          since: new Date().toISOString(),
          serial: '01',
          notAfter: new Date(Date.now() + 86_400_000).toISOString(),
          labels: {},
          state: 'active',
          remoteAddress: '127.0.0.9:1',
          spki: '',
          nonce: null,
          continues: null,
        };
        await client.put(ghost).value(JSON.stringify(record));
        await client.delete().prefix('/ah/filler/');
        await etcd.compact();
        process.kill(ap.daemon.child.pid!, 'SIGCONT');
        const relisted = await ap.daemon.waitForNewLine(from, isEvent('roster_relisted'), 'about listing the roster again', BOUND_MS);
        expect(relisted.keys).toBeGreaterThan(EXECUTORS);
        const seen = await view(ap);
        expect(seen.ghost).toBe('ap-x');
        expect(Object.entries(expected).every(([name, at]) => seen[name] === at)).toBe(true);
      } finally {
        process.kill(ap.daemon.child.pid!, 'SIGCONT');
        await client
          .delete()
          .key(ghost)
          .catch(() => undefined);
        client.close();
        await ap.daemon.stop();
      }
      // A clean stop revokes its lease: its key is gone at once.
      const r = await runAh(['agent', 'fleet', '--access-points', '--json', '--state-dir', aps[0]!.stateDir]);
      expect(JSON.parse(r.stdout).accessPoints.map((a: { id: string }) => a.id)).toEqual(['ap-1', 'ap-2', 'ap-3']);
    },
    3 * BOUND_MS,
  );

  it(
    'takes a second holder of an identity at another access point as a duplicate: one link survives, the other is superseded',
    async () => {
      const first = executor('dup', aps[0]!, tempStateDir('ah-dup1-'));
      await first.start();
      await first.waitFor('enrolled', BOUND_MS);
      await eventually(
        () => view(aps[1]!),
        (v) => v.dup === 'ap-1',
        'ap-2 to see dup at ap-1',
        { timeoutMs: BOUND_MS, intervalMs: 300 },
      );
      const superseded = new Promise<string>((resolve) => first.on('error', (e) => e.code === 'ENROLL_SUPERSEDED' && resolve(e.code)));
      const from = aps[0]!.daemon.lines.length;
      const second = executor('dup', aps[1]!, tempStateDir('ah-dup2-'));
      await second.start();
      await second.waitFor('enrolled', BOUND_MS);
      expect(await superseded).toBe('ENROLL_SUPERSEDED');
      // The first holder is not let back in for this test: it would take the identity back in turn.
      await first.stop();
      const line = await aps[0]!.daemon.waitForNewLine(from, isEvent('roster_identity_superseded'), 'about the takeover', BOUND_MS);
      expect(line).toMatchObject({ executorId: 'spiffe://dev.local/ah/agent/dup', accessPoint: 'ap-2' });
      await aps[1]!.daemon.waitForLine(
        isEvent('duplicate_identity', (l) => l.executorId === 'spiffe://dev.local/ah/agent/dup'),
        'duplicate_identity',
        BOUND_MS,
      );
      const record = audit(aps[1]!).find((r) => r.event === 'duplicate');
      expect(record).toMatchObject({ executorId: 'spiffe://dev.local/ah/agent/dup', action: 'superseded' });
      for (const ap of aps) {
        await eventually(
          () => view(ap),
          (v) => v.dup === 'ap-2',
          `${ap.id} to list dup once, at ap-2`,
          { timeoutMs: BOUND_MS, intervalMs: 300 },
        );
      }
      await second.stop();
      for (const ap of aps)
        await eventually(
          () => view(ap),
          (v) => !('dup' in v),
          `${ap.id} to drop dup`,
          { timeoutMs: BOUND_MS, intervalMs: 300 },
        );
    },
    3 * BOUND_MS,
  );

  it(
    'a rotation to another access point proves continuity there (moved, not superseded); a forged proof there is a duplicate',
    async () => {
      const root = await createRoot('roster continuity test CA');
      const leaf = (cn: string) => issueLeaf(root, { cn, uris: [`spiffe://dev.local/ah/agent/${cn}`], usage: 'client' });
      const id = 'spiffe://dev.local/ah/agent/rot';
      const [a, b] = [aps[0]!, aps[1]!];
      const holderLeaf = await leaf('rot');
      const holder = await RawFleetClient.open(a.port, holderLeaf);
      const clients = [holder];
      try {
        const welcome = await holder.hello('rot');
        await eventually(
          () => view(b),
          (v) => v.rot === 'ap-1',
          'ap-2 to see rot at ap-1',
          { timeoutMs: BOUND_MS, intervalMs: 200 },
        );
        // The holder rotates to a new key, and its new link lands on ap-2: it proves it over ap-1's nonce.
        const heirLeaf = await leaf('rot');
        const proof = signContinuity(holderLeaf.keyPem, new X509Certificate(heirLeaf.certPem), welcome.nonce as string);
        const fromA = a.daemon.lines.length;
        const fromB = b.daemon.lines.length;
        const heir = await RawFleetClient.open(b.port, heirLeaf);
        clients.push(heir);
        const heirWelcome = await heir.hello('rot', proof);
        await a.daemon.waitForNewLine(
          fromA,
          isEvent('roster_identity_moved', (l) => l.executorId === id),
          'ap-1 to let rot go',
          BOUND_MS,
        );
        for (const ap of [a, b])
          await eventually(
            () => view(ap),
            (v) => v.rot === 'ap-2',
            `${ap.id} to list rot at ap-2`,
            { timeoutMs: BOUND_MS, intervalMs: 200 },
          );
        expect(b.daemon.lines.slice(fromB).filter(isEvent('duplicate_identity'))).toEqual([]);
        // Audited at ap-2 as the rotation it is, the previous link being ap-1's.
        expect(audit(b).filter((r) => r.executorId === id)).toEqual([
          expect.objectContaining({ event: 'rotated', serial: heirLeaf.serial, previousSerial: holderLeaf.serial, previousLink: 'access point ap-1' }),
        ]);
        expect(holder.frames.filter((f) => f.type === 'goodbye')).toEqual([]);
        holder.close();
        // An intruder signs over ap-2's nonce with its own key, at ap-1: a duplicate, and ap-2's link is superseded.
        const intruderLeaf = await leaf('rot');
        const forged = signContinuity(intruderLeaf.keyPem, new X509Certificate(intruderLeaf.certPem), heirWelcome.nonce as string);
        const intruder = await RawFleetClient.open(a.port, intruderLeaf);
        clients.push(intruder);
        await intruder.hello('rot', forged);
        await a.daemon.waitForNewLine(
          fromA,
          isEvent('duplicate_identity', (l) => l.executorId === id),
          'ap-1 to call it a duplicate',
          BOUND_MS,
        );
        expect(audit(a).filter((r) => r.executorId === id && r.event === 'duplicate')).toHaveLength(1);
        expect(await heir.frame('goodbye', BOUND_MS)).toEqual({ type: 'goodbye', reason: 'superseded' });
      } finally {
        for (const c of clients) c.close();
      }
      for (const ap of aps)
        await eventually(
          () => view(ap),
          (v) => !('rot' in v),
          `${ap.id} to drop rot`,
          { timeoutMs: BOUND_MS, intervalMs: 300 },
        );
    },
    3 * BOUND_MS,
  );

  it(
    'keeps every link and admits new executors while etcd is away, and the views converge when it is back',
    async () => {
      const drops: string[] = [];
      const watched = executors.filter((ex) => ex.options.name.startsWith('web-'));
      const listeners = watched.map((ex) => [ex, () => drops.push(ex.options.name)] as const);
      for (const [ex, fn] of listeners) ex.on('disconnected', fn);
      const marks = aps.map((ap) => ap.daemon.lines.length);
      const killedAt = Date.now();
      await etcd.kill();
      for (const [i, ap] of aps.entries()) {
        await ap.daemon.waitForNewLine(marks[i]!, isEvent('roster_disconnected'), 'about etcd being away', BOUND_MS);
      }
      const status = (await queryStatus(paths.accessPointSocket(aps[0]!.stateDir), 'status')) as Record<string, any>;
      expect(status.roster.connected).toBe(false);
      expect((await scrape(aps[1]!.metrics)).sample('ah_roster_connected')).toBe(0);
      expect(await rosterCheck(aps[1]!)).toMatchObject({ status: 'fail', error: { code: 'ENROLL_ROSTER_UNREACHABLE' } });
      // Admission does not wait for etcd.
      const late = executor('late-1', aps[0]!);
      await late.start();
      await late.waitFor('enrolled', BOUND_MS);
      // An access point started while etcd is away serves all the same.
      const ap4 = await startAccessPoint('ap-4', [], 'unreachable');
      const late2 = executor('late-2', ap4);
      await late2.start();
      await late2.waitFor('enrolled', BOUND_MS);
      // Heartbeats are answered all along: past twice the lease TTL, when the leases are lost too.
      await eventually(
        () => late.status().lastHeartbeat,
        (hb) => hb !== null && Date.parse(hb) > killedAt + 8_000,
        'a heartbeat answered 8 s into the outage',
        { timeoutMs: BOUND_MS, intervalMs: 250 },
      );
      // Said once per outage, however many calls failed.
      for (const [i, ap] of aps.entries()) {
        expect(ap.daemon.lines.slice(marks[i]).filter(isEvent('roster_disconnected'))).toHaveLength(1);
      }
      await etcd.restart();
      for (const [i, ap] of [...aps, ap4].entries()) {
        await ap.daemon.waitForNewLine(marks[i] ?? 0, isEvent('roster_connected'), 'about etcd being back', BOUND_MS);
      }
      expect(ap4.daemon.lines.filter(isEvent('roster_disconnected'))).toHaveLength(1);
      expect((await scrape(aps[1]!.metrics)).sample('ah_roster_connected')).toBe(1);
      const all = { ...expected, 'late-1': 'ap-1', 'late-2': 'ap-4' };
      for (const ap of aps) {
        await eventually(
          () => view(ap),
          (v) => JSON.stringify(Object.entries(v).sort()) === JSON.stringify(Object.entries(all).sort()),
          `${ap.id} to list the 32 executors after the outage`,
          { timeoutMs: BOUND_MS, intervalMs: 500 },
        );
      }
      for (const [ex, fn] of listeners) ex.off('disconnected', fn);
      expect(drops).toEqual([]);
      expect(watched.every((ex) => ex.status().state === 'enrolled')).toBe(true);
      await late.stop();
      await late2.stop();
      await ap4.daemon.stop();
      for (const ap of aps)
        await eventually(
          () => view(ap),
          (v) => !('late-1' in v) && !('late-2' in v),
          `${ap.id} to drop late-1 and late-2`,
          { timeoutMs: BOUND_MS, intervalMs: 300 },
        );
    },
    4 * BOUND_MS,
  );

  it(
    'a SIGKILLed access point leaves the views with its leases; its executors fail over to the others and are never listed twice',
    async () => {
      const victim = aps[2]!;
      const rest = aps.slice(0, 2);
      const moved = Object.keys(expected).filter((name) => expected[name] === victim.id);
      // Each executor learnt the other serving access points from its welcome (--roster fills the list).
      const mover = executors.find((ex) => ex.options.name === moved[0])!;
      expect(mover.status().accessPoints).toEqual(expect.arrayContaining(rest.map((ap) => `https://127.0.0.1:${ap.port}`)));
      await victim.daemon.stop('SIGKILL');
      for (const ap of rest) {
        // view() fails on any identity listed twice, at every look while the fleet moves.
        const seen = await eventually(
          () => view(ap),
          (v) => Object.keys(expected).every((name) => v[name] !== undefined && v[name] !== victim.id),
          `${ap.id} to list every executor at a live access point`,
          { timeoutMs: BOUND_MS, intervalMs: 300 },
        );
        expect(Object.keys(seen).sort()).toEqual(Object.keys(expected).sort());
        for (const name of Object.keys(expected)) {
          if (expected[name] === victim.id) expect(rest.map((r) => r.id)).toContain(seen[name]);
          else expect(seen[name]).toBe(expected[name]);
        }
        // Its own key goes when its lease expires (--roster-lease-ttl), nobody deleting it.
        await eventually(
          async () =>
            JSON.parse((await runAh(['agent', 'fleet', '--access-points', '--json', '--state-dir', ap.stateDir])).stdout) as {
              accessPoints: Array<{ id: string; executors: number }>;
            },
          (r) => r.accessPoints.map((a) => a.id).join() === 'ap-1,ap-2' && r.accessPoints.reduce((n, a) => n + a.executors, 0) === EXECUTORS,
          `${ap.id} to list ap-1 and ap-2 holding the ${EXECUTORS} executors`,
          { timeoutMs: BOUND_MS, intervalMs: 500 },
        );
      }
    },
    2 * BOUND_MS,
  );

  it(
    'drains with the roster: marked draining in etcd, its executors move to the other access point without a gap, each listed once, and its key goes as it exits',
    async () => {
      const [a, b] = [aps[0]!, aps[1]!];
      const client = etcd.client();
      const states: string[] = [];
      const watcher = await client.watch().key('/ah/access-points/ap-2').create();
      watcher.on('put', (kv) => states.push(JSON.parse(kv.value.toString()).state));
      watcher.on('delete', () => states.push('deleted'));
      const drops: string[] = [];
      const listeners = executors.filter((ex) => ex.status().state === 'enrolled').map((ex) => [ex, () => drops.push(ex.options.name)] as const);
      for (const [ex, fn] of listeners) ex.on('disconnected', fn);
      try {
        const from = b.daemon.lines.length;
        const asked = await runAh(['agent', 'access-point', '--drain', '--state-dir', b.stateDir]);
        expect(asked.code).toBe(0);
        expect(await b.daemon.exited).toBe(0);
        const seen = await eventually(
          () => view(a),
          (v) => Object.keys(expected).every((name) => v[name] === 'ap-1'),
          'ap-1 to hold every executor',
          { timeoutMs: BOUND_MS, intervalMs: 300 },
        );
        expect(Object.keys(seen).sort()).toEqual(Object.keys(expected).sort());
        await eventually(
          () => states,
          (st) => st.at(-1) === 'deleted',
          'the drained access point key to go',
          { timeoutMs: BOUND_MS, intervalMs: 100 },
        );
        // Others saw it draining before it went (and it took no new executors meanwhile).
        expect(states).toContain('draining');
        // Every one moved with its own key: none was taken for a duplicate.
        expect(b.daemon.lines.slice(from).filter(isEvent('roster_identity_superseded'))).toEqual([]);
      } finally {
        await watcher.cancel();
        client.close();
        for (const [ex, fn] of listeners) ex.off('disconnected', fn);
      }
      expect(drops).toEqual([]);
    },
    2 * BOUND_MS,
  );
});
