// npm run bench: ah's access point against the plain node:tls limit, side by side in one run, with
// the same certificates, the same machine, the same load processes. Prints a table of figures and
// ratios (ratios are the stable figures on a shared, noisy machine) and saves the JSON.
//
//   node bench/run.mjs [--n 1000] [--clients auto] [--concurrency 32] [--heartbeat 2000] [--only enroll] [--rounds 2]
//
// The enrollment figures are taken after the first tenth of the executors have enrolled, on both
// sides (a running access point's capacity, not its JIT warming up); that first tenth is reported
// in rows of its own ("from a cold start").
//
// The load is split over one process per core (at least two), and enough that the fd limit
// (20,000 per process here) is not reached: at most 5,000 executors each. After the access point's
// own figures, the topic benchmarks (bench/<topic>.mjs: executor, heartbeats, rejoin, fleet-view)
// each run with the same N and add their rows to the one table and JSON; then replay speed
// (bench/replay.mjs, its own size), unless `--only enroll`.
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateMaterial } from './material.mjs';
import { count, sleep, startChild } from './ipc.mjs';

let values;
try {
  ({ values } = parseArgs({
    options: {
      n: { type: 'string', default: '1000' },
      clients: { type: 'string', default: 'auto' },
      concurrency: { type: 'string', default: '32' },
      /** The storm fleet's heartbeat interval: 2 s up to 4,000 executors, then N/2 ms up to the 5 s of the heartbeat figure at 10k. */
      heartbeat: { type: 'string' },
      /**
       * Rotations a load process lets run at once in the storm (it stands in for thousands of
       * machines). Its CPU, not the access point, sets the pace (the access point had 2–28
       * handshakes in flight of its 256), so rotations beyond a few dozen only wait holding memory,
       * which the process's GC then pauses over: at 10k, 32 rotated as fast as 256 (75 s, 88 s)
       * with the load loop's worst stall 549 ms instead of 819 ms.
       */
      'storm-window': { type: 'string', default: '32' },
      /** `enroll`: only the access point's enrollment, memory and storm figures (no topic scripts); `storm`: only the storm's. */
      only: { type: 'string' },
      /** Enrollment (CPU and rate) runs per side, alternated plain, ah, plain, ah… */
      rounds: { type: 'string', default: '2' },
    },
  }));
} catch (err) {
  process.stderr.write(`bench: ${err.message.split('\n')[0]}\n`);
  process.exit(2);
}
/** A flag that must be a positive whole number: one line and exit 2 otherwise. */
if (values.only !== undefined && values.only !== 'enroll' && values.only !== 'storm') {
  process.stderr.write(`bench: --only takes 'enroll' or 'storm', not '${values.only}'\n`);
  process.exit(2);
}
const N = count('n', values.n);
// One load process per core (more only add contention on the cores the access point runs on: on
// two cores, four load processes made ah's CPU per enrollment 15 % dearer and plain's 5 %), and
// at most 5,000 executors each (two sockets each mid-rotation, under the 20,000 fds of a process).
const CLIENTS = values.clients === 'auto' ? Math.max(2, cpus().length, Math.ceil(N / 5000)) : count('clients', values.clients);
const CONCURRENCY = count('concurrency', values.concurrency);
const HEARTBEAT_MS = values.heartbeat ? count('heartbeat', values.heartbeat) : Math.min(5_000, Math.max(2_000, N / 2));
const STORM_WINDOW = count('storm-window', values['storm-window']);
const ROUNDS = count('rounds', values.rounds);
/** The first tenth of the executors enroll before the enrollment figures are taken (both sides). */
const WARMUP = 0.1;
const KB = 1024;

const log = (s) => process.stderr.write(`${s}\n`);
log(
  `# ah bench: N=${N} executors from ${CLIENTS} load processes, ${CONCURRENCY} handshakes in flight each, heartbeat ${HEARTBEAT_MS} ms, storm window ${STORM_WINDOW} rotations per load process`,
);
log(
  `# node ${process.version}, OpenSSL ${process.versions.openssl}, ${cpus().length} cpu (${cpus()[0]?.model?.trim()}), load ${loadavg()
    .map((x) => x.toFixed(2))
    .join('/')}`,
);

const t0 = Date.now();
const material = await generateMaterial({ n: N, notBefore: t0 - 60_000, firstLifetimeMs: 3_600_000, secondLifetimeMs: 7_200_000 });
const dir = mkdtempSync(join(tmpdir(), 'ah-bench-'));
const materialFile = join(dir, 'material.json');
writeFileSync(materialFile, JSON.stringify(material));
log(`# ${2 * N + 1} certificates generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

/**
 * Open N links (plain) or enroll N executors (ah) and measure the server. Measured with heartbeats
 * a minute apart, so the figures are the enrollments' own and the links' idle memory, as the plain
 * side's; the storm runs on its own fleet with the real heartbeat interval.
 *
 * Two kinds of run: `cpu` (a warm-up tenth, then the rest without a pause: CPU and rate) and
 * `memory` (half, a settled heap, all, a settled heap: RSS per link, average and marginal). They
 * are separate runs because a forced full GC in the middle of the enrollments throws away JIT
 * work that the access point then pays again (about a tenth of its CPU per enrollment after it),
 * which no running access point ever pays.
 */
async function phase(mode, heartbeatMs = 60_000, kind = 'cpu', clientMode = mode) {
  const server = await startChild('server.mjs', [mode, materialFile, String(heartbeatMs)]);
  const port = server.info.port;
  // Only the memory run settles the heap (a forced GC is not free of after-effects, see above).
  const baseMem = kind === 'memory' ? (await server.call('gc')).mem : null;
  const slices = Array.from({ length: CLIENTS }, (_, i) => [Math.floor((i * N) / CLIENTS), Math.floor(((i + 1) * N) / CLIENTS)]);
  const clients = await Promise.all(
    slices.map(([a, b]) => startChild('clients.mjs', [clientMode, materialFile, String(port), String(a), String(b), String(CONCURRENCY)])),
  );
  const openedNow = async () => (await Promise.all(clients.map((c) => c.call('counters')))).reduce((a, c) => a + c.open, 0);
  const cpuNow = async () => (await server.call('stats')).cpuMs;
  const result = { mode };
  if (kind === 'memory') {
    // Half, then all: memory is read at both points, so the growth per link between them (the
    // marginal cost) is free of fixed costs such as V8's young generation growing under load.
    await Promise.all(clients.map((c) => c.call('open', { fraction: 0.5 })));
    const half = await openedNow();
    const memHalf = (await server.call('gc')).mem;
    await Promise.all(clients.map((c) => c.call('open', { fraction: 1 })));
    const opened = await openedNow();
    const memAll = (await server.call('gc')).mem;
    Object.assign(result, {
      opened,
      rssKBPer: (memAll.rss - baseMem.rss) / opened / KB,
      rssKBMarginal: (memAll.rss - memHalf.rss) / (opened - half) / KB,
      heapKBPer: (memAll.heapUsed - baseMem.heapUsed) / opened / KB,
      externalKBPer: (memAll.external - baseMem.external) / opened / KB,
      heapTotalKBPer: (memAll.heapTotal - baseMem.heapTotal) / opened / KB,
    });
    log(
      `# ${mode} memory: ${opened} open; per link: RSS ${result.rssKBPer.toFixed(1)} KB (marginal ${result.rssKBMarginal.toFixed(1)} KB), V8 heap ${result.heapKBPer.toFixed(1)} KB used / ${result.heapTotalKBPer.toFixed(1)} KB committed, external ${result.externalKBPer.toFixed(1)} KB`,
    );
    return { result, server, clients };
  }
  // A warm-up slice first, on both sides: capacity is what a running access point sustains, and
  // the JIT's first compiles of the enrollment path are a start-up cost, reported on their own.
  const cpuCold0 = await cpuNow();
  const coldStarted = performance.now();
  await Promise.all(clients.map((c) => c.call('open', { fraction: WARMUP })));
  const coldMs = performance.now() - coldStarted;
  const cpuCold1 = await cpuNow();
  const warm = await openedNow();
  const profiling = process.env.AH_BENCH_PROFILE_ENROLL && heartbeatMs === 60_000;
  if (profiling) await server.call('profileStart');
  const cpu0 = await cpuNow();
  const started = performance.now();
  await Promise.all(clients.map((c) => c.call('open', { fraction: 1 })));
  const elapsed = performance.now() - started;
  const cpu1 = await cpuNow();
  if (profiling)
    log(
      `# profile of the ${mode} enrollments: ${await server.call('profileStop', { file: join(process.env.AH_BENCH_PROFILE_ENROLL, `${mode}-enroll.cpuprofile`) })}`,
    );
  const counts = await Promise.all(clients.map((c) => c.call('counters')));
  const opened = counts.reduce((a, c) => a + c.open, 0);
  const failed = counts.reduce((a, c) => a + c.failed, 0);
  Object.assign(result, {
    opened,
    failed,
    ratePerSec: ((opened - warm) / elapsed) * 1000,
    serverCpuMsPer: (cpu1 - cpu0) / (opened - warm),
    warmup: warm,
    coldServerCpuMsPer: (cpuCold1 - cpuCold0) / Math.max(1, warm),
    coldRatePerSec: (warm / coldMs) * 1000,
  });
  log(
    `# ${mode}${clientMode === mode ? '' : ` (${clientMode} clients)`}: ${opened} open (${failed} failed) in ${((coldMs + elapsed) / 1000).toFixed(1)} s; server CPU ${result.coldServerCpuMsPer.toFixed(2)} ms per enrollment over the first ${warm}, ${result.serverCpuMsPer.toFixed(2)} ms after`,
  );
  return { result, server, clients };
}

/** One run of `kind` for `mode`, its processes stopped after. */
async function measured(mode, kind, clientMode = mode) {
  const run = await phase(mode, 60_000, kind, clientMode);
  if (clientMode === 'ah') await Promise.all(run.clients.map((c) => c.call('close').catch(() => {})));
  await Promise.all(run.clients.map((c) => c.kill()));
  await run.server.kill();
  return run.result;
}

/**
 * The enrollment figures over several rounds of each side, alternated: this machine is shared, and
 * its speed drifts within a run by more than the differences measured (one round each gave end-to-end
 * ratios from 0.76× to 0.84× on the same code). Every round enrolls the same N, so a side's rate is
 * its enrollments over its total time (the harmonic mean) and its CPU per enrollment the mean.
 */
function overRounds(runs) {
  const mean = (key) => runs.reduce((a, r) => a + r[key], 0) / runs.length;
  const harmonic = (key) => runs.length / runs.reduce((a, r) => a + 1 / r[key], 0);
  return {
    ...runs[runs.length - 1],
    failed: runs.reduce((a, r) => a + r.failed, 0),
    ratePerSec: harmonic('ratePerSec'),
    serverCpuMsPer: mean('serverCpuMsPer'),
    coldServerCpuMsPer: mean('coldServerCpuMsPer'),
    coldRatePerSec: harmonic('coldRatePerSec'),
    rounds: runs.map(({ ratePerSec, serverCpuMsPer }) => ({ ratePerSec, serverCpuMsPer })),
  };
}
/** `--only storm` skips the enrollment and memory figures: the storm alone, on its own fleet. */
const enrollFigures = values.only !== 'storm';
const rounds = { plain: [], ah: [] };
if (enrollFigures) for (let round = 0; round < ROUNDS; round++) for (const mode of ['plain', 'ah']) rounds[mode].push(await measured(mode, 'cpu'));
const plain = { result: enrollFigures ? overRounds(rounds.plain) : null };
const ah = { result: enrollFigures ? overRounds(rounds.ah) : null };
if (enrollFigures && ROUNDS > 1)
  log(
    `# end-to-end ratio by round: ${rounds.ah.map((r, i) => (r.ratePerSec / rounds.plain[i].ratePerSec).toFixed(2)).join(', ')}; capacity ratio by round: ${rounds.ah.map((r, i) => (rounds.plain[i].serverCpuMsPer / r.serverCpuMsPer).toFixed(2)).join(', ')}`,
  );
// The access point under the plain side's load (the same TLS clients saying hello): its own
// end-to-end rate, apart from what the ah executors of the load processes cost these two cores.
const ahUnderPlainLoad = enrollFigures ? await measured('ah', 'cpu', 'plain') : null;
if (enrollFigures) {
  Object.assign(plain.result, await measured('plain', 'memory'));
  Object.assign(ah.result, await measured('ah', 'memory'));
}

const fleet = await phase('ah', HEARTBEAT_MS);
// Rotation storm: every executor gets new material at once, and rotates make-before-break.
await sleep(HEARTBEAT_MS * 1.5); // let heartbeats run so every executor has a last beat to measure from
await fleet.server.call('watchGaps');
await sleep(HEARTBEAT_MS * 3);
// The same fleet's worst gap with nothing happening: timers on a shared, loaded machine fire late.
const calmGaps = await fleet.server.call('gaps');
await fleet.server.call('restartGapMax');
const before = await fleet.server.call('counters');
const disconnectsBefore = (await Promise.all(fleet.clients.map((c) => c.call('counters')))).reduce((a, c) => a + c.disconnects, 0);
// AH_BENCH_PROFILE_STORM=DIR: a CPU profile of the access point over the storm (ah-storm.cpuprofile).
if (process.env.AH_BENCH_PROFILE_STORM) await fleet.server.call('profileStart');
const stormStart = performance.now();
await Promise.all(fleet.clients.map((c) => c.call('storm', { window: STORM_WINDOW })));
let rotated = 0;
let stormMs = 0;
let lastProgress = 0;
// A slow, shared machine has taken two minutes over it; ten without the end is a result to report.
for (const deadline = Date.now() + 600_000; Date.now() < deadline; await sleep(100)) {
  const counts = await Promise.all(fleet.clients.map((c) => c.call('counters')));
  rotated = counts.reduce((a, c) => a + c.rotations, 0);
  if (performance.now() - lastProgress >= 5_000) {
    lastProgress = performance.now();
    const s = await fleet.server.call('counters');
    const h = s.handshakes;
    log(
      `#   storm +${((lastProgress - stormStart) / 1000).toFixed(0)} s: ${rotated} rotated, ${s.links} links, ${s.departed - before.departed} gone, handshakes ${h.inFlight} in flight / ${h.queued} queued, heartbeats ${s.heartbeats}`,
    );
  }
  if (rotated >= fleet.result.opened) {
    stormMs = performance.now() - stormStart;
    break;
  }
}
await sleep(HEARTBEAT_MS * 1.5); // heartbeats after the storm close every gap it could have opened
const gaps = await fleet.server.call('gaps');
if (process.env.AH_BENCH_PROFILE_STORM)
  log(`# profile of the storm: ${await fleet.server.call('profileStop', { file: join(process.env.AH_BENCH_PROFILE_STORM, 'ah-storm.cpuprofile') })}`);
const after = await fleet.server.call('counters');
const clientCounts = await Promise.all(fleet.clients.map((c) => c.call('counters')));
const storm = {
  executors: fleet.result.opened,
  rotated,
  windowMs: stormMs,
  linksDropped: after.departed - before.departed,
  // Why the access point saw links go (cumulative over the fleet phase).
  departedBy: after.departedBy,
  executorDisconnects: clientCounts.reduce((a, c) => a + c.disconnects, 0) - disconnectsBefore,
  relinked: after.relinked - before.relinked,
  worstHeartbeatGapMs: gaps.maxGap,
  // The worst gap split: as the executors sent their heartbeats, and the most the way to the
  // access point (TCP, its event loop) lengthened any one gap.
  worstSentHeartbeatGapMs: gaps.maxSentGap,
  worstGapAddedOnTheWayMs: gaps.maxAddedOnTheWay,
  calmWorstHeartbeatGapMs: calmGaps.maxGap,
  accessPointLoopDelayMaxMs: gaps.loopDelayMaxMs,
  accessPointLoopDelayP99Ms: gaps.loopDelayP99Ms,
  // The load processes' own stalls over the storm: a heartbeat sent late never reaches the access point on time.
  loadLoopDelayMaxMs: Math.max(...clientCounts.map((c) => c.loopDelayMaxMs)),
  heartbeatIntervalMs: HEARTBEAT_MS,
};
log(
  `# storm: ${storm.rotated}/${storm.executors} rotated ${stormMs ? `in ${(stormMs / 1000).toFixed(1)} s` : `(not all after ${((performance.now() - stormStart) / 1000).toFixed(0)} s)`}; links gone at the access point by reason: ${JSON.stringify(storm.departedBy)}; executor disconnects ${storm.executorDisconnects}`,
);
await Promise.all(fleet.clients.map((c) => c.call('close').catch(() => {})));
await Promise.all(fleet.clients.map((c) => c.kill()));
await fleet.server.kill();

const p = plain.result;
const a = ah.result;
/** One row: figure, plain, ah, ratio, goal (numbers or null where a side has none). */
const sideBySide = (figure, plainValue, ahValue, goal = '') => ({ figure, plain: plainValue, ah: ahValue, ratio: ahValue / plainValue, goal });
/** A row of ah's alone, in ms and as a share of the storm fleet's heartbeat interval. */
const inIntervals = (figure, ms, goal = '') => ({ figure, plain: null, ah: ms, ratio: ms / HEARTBEAT_MS, goal });
const enrollRows = () => [
  sideBySide(
    `access point capacity per core (enrollments/s of server CPU), after the first ${a.warmup}`,
    1000 / p.serverCpuMsPer,
    1000 / a.serverCpuMsPer,
    '≥ 0.9×',
  ),
  sideBySide('server CPU ms per enrollment, after the first', p.serverCpuMsPer, a.serverCpuMsPer),
  sideBySide('enrollments per second, end to end, after the first', p.ratePerSec, a.ratePerSec, '≥ 0.8×'),
  sideBySide(
    "the same, with the plain side's TLS clients as the load of both (the access point's own rate; the load processes share these cores)",
    p.ratePerSec,
    ahUnderPlainLoad.ratePerSec,
  ),
  sideBySide(
    `from a cold start: capacity per core over the first ${a.warmup} (the JIT compiling the enrollment path)`,
    1000 / p.coldServerCpuMsPer,
    1000 / a.coldServerCpuMsPer,
  ),
  sideBySide('from a cold start: enrollments per second over the first', p.coldRatePerSec, a.coldRatePerSec),
  sideBySide('RSS KB per link, marginal N/2→N', p.rssKBMarginal, a.rssKBMarginal, '≤ 1.2×'),
  sideBySide('RSS KB per link, average 0→N', p.rssKBPer, a.rssKBPer, '≤ 1.2×'),
];
const rows = [
  ...(enrollFigures ? enrollRows() : []),
  inIntervals(
    `rotation storm: worst heartbeat gap ms (interval ${HEARTBEAT_MS} ms; ${storm.rotated}/${storm.executors} rotated, ${storm.linksDropped} links dropped)`,
    storm.worstHeartbeatGapMs,
    '≤ 1 interval, 0 dropped',
  ),
  inIntervals('of which: the worst gap as the executors sent them (their own clocks), ms', storm.worstSentHeartbeatGapMs),
  inIntervals('of which: the most the way to the access point (TCP, its event loop) lengthened a gap, ms', storm.worstGapAddedOnTheWayMs),
  {
    ...inIntervals(
      "the access point's own event-loop delay during the storm, ms (max; p99): how long an established link could wait on it",
      storm.accessPointLoopDelayMaxMs,
    ),
    ah: `${storm.accessPointLoopDelayMaxMs.toFixed(0)}; ${storm.accessPointLoopDelayP99Ms.toFixed(0)}`,
  },
  inIntervals(
    "the load processes' own event-loop delay during the storm, ms (max): how late a simulated executor's heartbeat could leave",
    storm.loadLoopDelayMaxMs,
  ),
  inIntervals('the same fleet before the storm: worst heartbeat gap ms (how late timers fire on this machine now)', storm.calmWorstHeartbeatGapMs),
];

// The topic benchmarks, each a script of its own measuring plain and ah side by side.
const topics = [];
if (values.only === undefined) {
  const { execFileSync } = await import('node:child_process');
  const { existsSync } = await import('node:fs');
  const here = dirname(fileURLToPath(import.meta.url));
  for (const topic of ['executor', 'heartbeats', 'rejoin', 'fleet-view']) {
    const script = join(here, `${topic}.mjs`);
    if (!existsSync(script)) continue;
    log(`# ${topic}: node bench/${topic}.mjs --n ${N} --json`);
    try {
      const out = execFileSync(process.execPath, ['--expose-gc', script, '--n', String(N), '--json'], {
        stdio: ['ignore', 'pipe', 'inherit'],
        maxBuffer: 64 << 20,
      });
      const result = JSON.parse(out.toString().trim().split('\n').pop());
      topics.push({ topic, ...result });
      for (const r of result.rows ?? []) rows.push({ ...r, figure: `${topic}: ${r.figure}` });
    } catch (err) {
      log(`# ${topic} failed: ${String(err.message ?? err).split('\n')[0]}`);
      topics.push({ topic, error: String(err.message ?? err).split('\n')[0] });
    }
  }
}

const fmt = (x) =>
  x === null || x === undefined || Number.isNaN(x) ? '—' : typeof x === 'string' ? x : x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
const table = [
  `| figure (N=${N}) | plain node:tls | ah | ratio | goal |`,
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.figure} | ${fmt(r.plain)} | ${fmt(r.ah)} | ${typeof r.ratio === 'number' ? `${r.ratio.toFixed(2)}×` : '—'} | ${r.goal ?? ''} |`),
].join('\n');
process.stdout.write(`${table}\n`);
if (values.only === undefined) {
  // Replay speed has its own scale (a quarter of a million logged machine events), not N executors.
  const { execFileSync } = await import('node:child_process');
  execFileSync(process.execPath, [join(dirname(fileURLToPath(import.meta.url)), 'replay.mjs')], { stdio: 'inherit' });
}
const outDir = join(process.cwd(), '.bench-results');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  file,
  JSON.stringify({ n: N, clients: CLIENTS, concurrency: CONCURRENCY, rows, plain: p, ah: a, ahUnderPlainLoad, storm, topics, loadavg: loadavg() }, null, 2),
);
log(`# saved ${file}`);
process.exit(0);
