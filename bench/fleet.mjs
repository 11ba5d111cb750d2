// Many access points, one fleet: our fleet's own behaviour on a real etcd, with no plain side to
// compare with. One etcd (free loopback ports, a temporary data dir), --aps access points as
// `ah agent access-point --roster` processes, and N real executors in a few load processes, each
// executor given every access point's URL. Measured:
//   - etcd writes per second at steady state (raft proposals from etcd's /metrics over a window),
//     against the roster's goal: at most one write per executor per refresh period (5 min);
//   - the peak writes per second (250 ms samples) in the re-join storm after one access point is
//     killed with SIGKILL, and the time until every surviving access point lists all N, each once,
//     none on the dead one;
//   - a rolling drain (SIGTERM each access point in turn, start it again, wait until it serves):
//     executors missing from the union of the views at any 200 ms sample, executors not linked at
//     any 200 ms look, and the longest time between two answered heartbeats of one executor.
//
//   node bench/fleet.mjs [--n 300] [--aps 3] [--json]     # the figure: --n 3000
//   (also --loaders 3, --heartbeat-interval-ms 5000, --lease-ttl-s 5, --window-s 10, --handshake-rate 100000;
//   AH_BENCH_LOGS=DIR keeps each access point's log lines in DIR/<id>.log)
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { paths } from '../dist/engine/state-dir.js';
import { streamStatus } from '../dist/transport/status-server.js';
import { freePort, startEtcd } from './etcd.mjs';
import { sleep, startChild } from './ipc.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '300' },
    aps: { type: 'string', default: '3' },
    loaders: { type: 'string', default: '3' },
    'heartbeat-interval-ms': { type: 'string', default: '5000' },
    'lease-ttl-s': { type: 'string', default: '5' },
    'window-s': { type: 'string', default: '10' },
    // Every executor here dials from 127.0.0.1, as if all behind one NAT: the access point's
    // per-source handshake rate (20/s by default) would shed most of a move. Off by default here.
    'handshake-rate': { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const APS = Number(values.aps);
const LOADERS = Math.min(Number(values.loaders), N);
const HEARTBEAT_MS = Number(values['heartbeat-interval-ms']);
const LEASE_TTL_S = Number(values['lease-ttl-s']);
const WINDOW_MS = Number(values['window-s']) * 1000;
/** The roster's refresh period (DEFAULT_REFRESH_MS in src/actors/roster-etcd.ts, docs/roster.md). */
const REFRESH_S = 300;
/** The executors' backoff cap (fleet-clients.mjs). */
const BACKOFF_CAP_MS = 2_000;
/** The access points' --drain-timeout (its default). */
const DRAIN_TIMEOUT_MS = 60_000;
const BOUND_MS = 300_000;
const AH = new URL('../bin/ah', import.meta.url).pathname;
const log = (s) => process.stderr.write(`# ${s}\n`);
const since = (t) => Date.now() - t;

if (!(N > 0 && APS >= 2 && HEARTBEAT_MS >= 100 && LEASE_TTL_S >= 2 && WINDOW_MS > 0)) {
  process.stderr.write('usage: node bench/fleet.mjs [--n N>0] [--aps 2..] [--json]\n');
  process.exit(2);
}

/** One access point process; `start()` again after it ended runs it on the same port and state dir. */
function accessPoint(id, port, etcdUrl) {
  const stateDir = mkdtempSync(join(tmpdir(), `ah-bench-${id}-`));
  const ap = { id, port, stateDir, url: `https://127.0.0.1:${port}`, child: null, exited: null, waiters: [] };
  ap.start = async () => {
    const args = [
      ...['agent', 'access-point', '--fleet-listen', `127.0.0.1:${port}`, '--access-point-id', id],
      ...['--roster', etcdUrl, '--roster-lease-ttl', `${LEASE_TTL_S}s`],
      ...['--handshake-rate', values['handshake-rate']],
      ...['--heartbeat-interval', `${HEARTBEAT_MS}ms`, '--state-dir', stateDir, '--audit-log', join(stateDir, 'audit.log')],
    ];
    const child = spawn(process.execPath, [AH, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, AH_LOG: '' } });
    ap.child = child;
    ap.exited = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));
    const stderr = [];
    if (process.env.AH_BENCH_LOGS) child.stdout.pipe(createWriteStream(join(process.env.AH_BENCH_LOGS, `${id}.log`), { flags: 'a' }));
    child.stderr.on('data', (b) => stderr.push(String(b)));
    createInterface({ input: child.stdout }).on('line', (text) => {
      let line;
      try {
        line = JSON.parse(text);
      } catch {
        return;
      }
      for (const w of ap.waiters.filter((w) => w.event === line.event)) {
        ap.waiters.splice(ap.waiters.indexOf(w), 1);
        w.resolve(line);
      }
    });
    const waitFor = (event) =>
      Promise.race([
        new Promise((resolve) => ap.waiters.push({ event, resolve })),
        ap.exited.then((code) => Promise.reject(new Error(`${id} exited (${code}) before ${event}: ${stderr.join('').slice(-500)}`))),
      ]);
    // It serves once it listens and has joined the roster.
    await Promise.all([waitFor('access_point_listening'), waitFor('roster_connected')]);
  };
  ap.signal = async (signal) => {
    try {
      process.kill(-ap.child.pid, signal);
    } catch {}
    return ap.exited;
  };
  return ap;
}

/** One access point's `fleet --json` rows (name → access point), read from its status socket. */
async function viewOf(ap) {
  const rows = [];
  const answered = await streamStatus(
    paths.accessPointSocket(ap.stateDir),
    { cmd: 'fleet', stream: true, filter: {} },
    (line) => {
      if (line.startsWith('{"executor":')) rows.push(JSON.parse(line).executor);
    },
    10_000,
    'access point',
  );
  return answered ? rows.map((r) => [r.name, r.accessPoint]) : null;
}

/** Every given access point lists all N, each once, none on `dead`. */
async function converged(live, dead = null) {
  const views = await Promise.all(live.map(viewOf));
  return views.every((v) => v !== null && v.length === N && new Set(v.map(([name]) => name)).size === N && v.every(([, at]) => at !== dead));
}

async function waitConverged(live, dead, what) {
  const until = Date.now() + BOUND_MS;
  for (;;) {
    if (await converged(live, dead).catch(() => false)) return;
    if (Date.now() > until) throw new Error(`the views did not converge (${what}) within ${BOUND_MS / 1000}s`);
    await sleep(250);
  }
}

/** etcd writes per second, sampled every `everyMs` until `stop()`: the peak and the total. */
function sampleWrites(etcd, everyMs) {
  let peak = 0;
  let stopped = false;
  const run = (async () => {
    let last = await etcd.counters();
    let at = performance.now();
    const first = last.proposals;
    while (!stopped) {
      await sleep(everyMs);
      const now = await etcd.counters();
      const t = performance.now();
      peak = Math.max(peak, ((now.proposals - last.proposals) * 1000) / (t - at));
      last = now;
      at = t;
    }
    return last.proposals - first;
  })();
  return {
    stop: async () => {
      stopped = true;
      return { peak, total: await run };
    },
  };
}

const cleanups = [];
async function cleanup() {
  for (const f of cleanups.reverse()) await f().catch(() => {});
}
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));

const rows = [];
const row = (figure, value, goal, unit) => rows.push({ figure, value, goal, unit });

try {
  log(`fleet: ${N} executors, ${APS} access points, heartbeat ${HEARTBEAT_MS} ms, lease TTL ${LEASE_TTL_S} s`);
  const etcd = await startEtcd();
  cleanups.push(() => etcd.stop());
  const aps = [];
  for (let i = 1; i <= APS; i++) {
    const ap = accessPoint(`ap-${i}`, await freePort(), etcd.rosterUrl);
    cleanups.push(async () => {
      if (ap.child && ap.child.exitCode === null && ap.child.signalCode === null) await ap.signal('SIGKILL');
      rmSync(ap.stateDir, { recursive: true, force: true });
    });
    await ap.start();
    aps.push(ap);
  }
  const urls = aps.map((ap) => ap.url).join(',');
  const loaders = [];
  for (let i = 0; i < LOADERS; i++) {
    const from = Math.floor((N * i) / LOADERS);
    const to = Math.floor((N * (i + 1)) / LOADERS);
    const loader = await startChild('fleet-clients.mjs', [urls, String(from), String(to), '16']);
    cleanups.push(async () => {
      await Promise.race([loader.call('close'), sleep(20_000)]);
      await loader.kill();
    });
    loaders.push(loader);
  }

  // Enrollment, then every view agrees.
  let t = Date.now();
  await Promise.all(loaders.map((l) => l.call('open')));
  const failed = (await Promise.all(loaders.map((l) => l.call('counters')))).reduce((n, c) => n + c.failed, 0);
  if (failed > 0) throw new Error(`${failed} executors did not enroll`);
  await waitConverged(aps, null, 'after enrollment');
  log(`enrolled and listed on every access point in ${since(t)} ms`);
  row('enrolled, listed by every access point', since(t), '-', 'ms');

  // Steady state: heartbeats only; etcd should see nothing but the slow refresh.
  await sleep(2_000);
  const before = await etcd.counters();
  t = performance.now();
  await sleep(WINDOW_MS);
  const after = await etcd.counters();
  const steady = ((after.proposals - before.proposals) * 1000) / (performance.now() - t);
  log(
    `steady: ${after.proposals - before.proposals} writes in ${WINDOW_MS / 1000} s (puts ${after.puts - before.puts}, deletes ${after.deletes - before.deletes})`,
  );
  row(
    `etcd writes/s at steady state (${WINDOW_MS / 1000} s window)`,
    +steady.toFixed(2),
    `≤ ${+(N / REFRESH_S).toFixed(2)} (N / ${REFRESH_S} s refresh)`,
    'writes/s',
  );

  // The re-join storm: one access point killed, its executors fail over to the others.
  const victim = aps.at(-1);
  const survivors = aps.slice(0, -1);
  const held = (await viewOf(survivors[0])).filter(([, at]) => at === victim.id).length;
  const storm = sampleWrites(etcd, 250);
  await sleep(500);
  t = Date.now();
  await victim.signal('SIGKILL');
  log(`${victim.id} killed (SIGKILL)`);
  await waitConverged(survivors, victim.id, 'after the kill');
  const convergeMs = since(t);
  log(`views converged ${convergeMs} ms after the kill; sampling writes until its lease has expired`);
  await sleep(Math.max(0, LEASE_TTL_S * 1000 * 2 - since(t)) + 1_000);
  const { peak, total } = await storm.stop();
  row('peak etcd writes/s in the re-join storm (250 ms samples)', Math.round(peak), '-', 'writes/s');
  row(`etcd writes in the re-join storm (${held} executors moved)`, total, '-', 'writes');
  row(
    `views converged after kill -9 of one access point (lease TTL ${LEASE_TTL_S} s)`,
    convergeMs,
    `≤ ${LEASE_TTL_S * 1000 + BACKOFF_CAP_MS} (lease TTL + backoff cap)`,
    'ms',
  );
  await victim.start();
  log(`${victim.id} serves again`);

  // The rolling drain: each access point in turn drained (SIGTERM), started again, serving.
  await Promise.all(loaders.map((l) => l.call('startWatch', { everyMs: 200 })));
  const missing = new Set();
  let samples = 0;
  let unanswered = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const next = sleep(200);
      const views = await Promise.all(aps.map((ap) => viewOf(ap).catch(() => 'unanswered')));
      // A running access point that did not answer in time says nothing about its executors.
      if (views.includes('unanswered')) {
        unanswered++;
        await next;
        continue;
      }
      const union = new Set(views.flatMap((v) => (v ? v.map(([name]) => name) : [])));
      for (let i = 0; i < N; i++) {
        const name = `ex-${String(i).padStart(5, '0')}`;
        if (!union.has(name)) missing.add(name);
      }
      samples++;
      await next;
    }
  })();
  t = Date.now();
  const stuck = [];
  for (const ap of aps) {
    // A drain ends by --drain-timeout (60 s) at the latest; one that outlives it by far is stuck.
    const code = await Promise.race([ap.signal('SIGTERM'), sleep(DRAIN_TIMEOUT_MS + 30_000).then(() => 'stuck')]);
    if (code === 'stuck') {
      stuck.push(ap.id);
      log(`${ap.id} has not exited ${(DRAIN_TIMEOUT_MS + 30_000) / 1000} s after SIGTERM: killed (SIGKILL)`);
      await ap.signal('SIGKILL');
    } else if (code !== 0) throw new Error(`${ap.id} exited ${code} after SIGTERM`);
    else log(`${ap.id} drained and exited 0 (${since(t)} ms into the rolling drain)`);
    await ap.start();
  }
  const rollMs = since(t);
  await sleep(2 * HEARTBEAT_MS);
  sampling = false;
  await sampler;
  const watched = await Promise.all(loaders.map((l) => l.call('stopWatch')));
  const unlinked = watched.reduce((n, w) => n + w.unlinked.length, 0);
  const worstGap = Math.max(...watched.map((w) => w.worstGapMs));
  const disconnects = watched.reduce((n, w) => n + w.disconnects, 0);
  const errors = {};
  for (const w of watched) for (const [code, n] of Object.entries(w.errors)) errors[code] = (errors[code] ?? 0) + n;
  if (Object.keys(errors).length > 0) log(`errors the executors reported during the rolling drain: ${JSON.stringify(errors)}`);
  log(
    `rolling drain of ${APS} in ${rollMs} ms: ${samples} samples of the views (${unanswered} skipped: a view did not answer), ${missing.size} missing; ${unlinked} not linked; worst gap ${worstGap} ms`,
  );
  row('rolling drain: executors missing from the views (200 ms samples)', missing.size, '0', 'executors');
  row('rolling drain: executors not linked at any 200 ms look', unlinked, '0', 'executors');
  row('rolling drain: executor disconnects', disconnects, '0', 'events');
  row('rolling drain: ENROLL_LINK_LOST reported by executors', errors.ENROLL_LINK_LOST ?? 0, '0', 'errors');
  row(
    'rolling drain: longest time between two answered heartbeats of one executor',
    worstGap,
    `≤ ${2 * HEARTBEAT_MS} (interval ${HEARTBEAT_MS} + at most one more)`,
    'ms',
  );
  row('rolling drain: access points still running 30 s past the drain timeout (then killed)', stuck.length, '0', 'access points');
  row('rolling drain: duration', rollMs, '-', 'ms');
  await waitConverged(aps, null, 'after the rolling drain');

  if (values.json) process.stdout.write(`${JSON.stringify({ n: N, accessPoints: APS, heartbeatIntervalMs: HEARTBEAT_MS, leaseTtlS: LEASE_TTL_S, rows })}\n`);
  else {
    process.stdout.write(`Our fleet's own behaviour (no plain side): ${N} executors, ${APS} access points, one etcd, one machine\n\n`);
    process.stdout.write('| figure | value | goal |\n|---|---|---|\n');
    for (const r of rows) process.stdout.write(`| ${r.figure} | ${r.value} ${r.unit} | ${r.goal} |\n`);
  }
} catch (err) {
  process.stderr.write(`error: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
