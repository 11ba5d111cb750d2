// npm run bench: ah's access point against the plain node:tls limit, side by side in one run, with
// the same certificates, the same machine, the same load processes. Prints a table of figures and
// ratios (ratios are the stable figures on a shared, noisy machine) and saves the JSON.
//
//   node bench/run.mjs [--n 1000] [--clients 2] [--concurrency 32] [--heartbeat 2000]
import 'reflect-metadata';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateMaterial } from './material.mjs';
import { sleep, startChild } from './ipc.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '32' },
    heartbeat: { type: 'string', default: '2000' },
  },
});
const N = Number(values.n);
const CLIENTS = Number(values.clients);
const CONCURRENCY = Number(values.concurrency);
const HEARTBEAT_MS = Number(values.heartbeat);
const KB = 1024;

const log = (s) => process.stderr.write(`${s}\n`);
log(`# ah bench: N=${N} executors from ${CLIENTS} load processes, ${CONCURRENCY} handshakes in flight each, heartbeat ${HEARTBEAT_MS} ms`);
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
 */
async function phase(mode, heartbeatMs = 60_000) {
  const server = await startChild('server.mjs', [mode, materialFile, String(heartbeatMs)]);
  const port = server.info.port;
  const baseMem = (await server.call('gc')).mem;
  const base = baseMem.rss;
  const slices = Array.from({ length: CLIENTS }, (_, i) => [Math.floor((i * N) / CLIENTS), Math.floor(((i + 1) * N) / CLIENTS)]);
  const clients = await Promise.all(
    slices.map(([a, b]) => startChild('clients.mjs', [mode, materialFile, String(port), String(a), String(b), String(CONCURRENCY)])),
  );
  // Half, then all: memory is read at both points, so the growth per link between them (the
  // marginal cost) is free of fixed costs such as V8's young generation growing under load.
  const cpu0 = (await server.call('stats')).cpuMs;
  const started = performance.now();
  await Promise.all(clients.map((c) => c.call('open', { fraction: 0.5 })));
  const paused = performance.now();
  const cpuHalf = (await server.call('stats')).cpuMs;
  const half = (await Promise.all(clients.map((c) => c.call('counters')))).reduce((a, c) => a + c.open, 0);
  const memHalf = (await server.call('gc')).mem;
  const resumed = performance.now();
  const cpuResume = (await server.call('stats')).cpuMs;
  await Promise.all(clients.map((c) => c.call('open', { fraction: 1 })));
  const elapsed = paused - started + (performance.now() - resumed);
  const cpu1 = (await server.call('stats')).cpuMs;
  const counts = await Promise.all(clients.map((c) => c.call('counters')));
  const opened = counts.reduce((a, c) => a + c.open, 0);
  const failed = counts.reduce((a, c) => a + c.failed, 0);
  const memAll = (await server.call('gc')).mem;
  const mem = memAll.rss;
  const result = {
    mode,
    opened,
    failed,
    ratePerSec: (opened / elapsed) * 1000,
    serverCpuMsPer: (cpuHalf - cpu0 + (cpu1 - cpuResume)) / opened,
    rssKBPer: (mem - base) / opened / KB,
    rssKBMarginal: (mem - memHalf.rss) / (opened - half) / KB,
    heapKBPer: (memAll.heapUsed - baseMem.heapUsed) / opened / KB,
    externalKBPer: (memAll.external - baseMem.external) / opened / KB,
    heapTotalKBPer: (memAll.heapTotal - baseMem.heapTotal) / opened / KB,
  };
  log(
    `# ${mode}: ${opened} open (${failed} failed) in ${(elapsed / 1000).toFixed(1)} s; per link: RSS ${result.rssKBPer.toFixed(1)} KB (marginal ${result.rssKBMarginal.toFixed(1)} KB), V8 heap ${result.heapKBPer.toFixed(1)} KB used / ${result.heapTotalKBPer.toFixed(1)} KB committed, external ${result.externalKBPer.toFixed(1)} KB`,
  );
  return { result, server, clients };
}

const plain = await phase('plain');
await Promise.all(plain.clients.map((c) => c.kill()));
await plain.server.kill();

const ah = await phase('ah');
await Promise.all(ah.clients.map((c) => c.call('close').catch(() => {})));
await Promise.all(ah.clients.map((c) => c.kill()));
await ah.server.kill();

const fleet = await phase('ah', HEARTBEAT_MS);
// Rotation storm: every executor gets new material at once, and rotates make-before-break.
await sleep(HEARTBEAT_MS * 1.5); // let heartbeats run so every executor has a last beat to measure from
await fleet.server.call('watchGaps');
await sleep(HEARTBEAT_MS * 1.5);
const before = await fleet.server.call('counters');
const disconnectsBefore = (await Promise.all(fleet.clients.map((c) => c.call('counters')))).reduce((a, c) => a + c.disconnects, 0);
const stormStart = performance.now();
await Promise.all(fleet.clients.map((c) => c.call('storm')));
let rotated = 0;
let stormMs = 0;
for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(100)) {
  const counts = await Promise.all(fleet.clients.map((c) => c.call('counters')));
  rotated = counts.reduce((a, c) => a + c.rotations, 0);
  if (rotated >= fleet.result.opened) {
    stormMs = performance.now() - stormStart;
    break;
  }
}
await sleep(HEARTBEAT_MS * 1.5); // heartbeats after the storm close every gap it could have opened
const gaps = await fleet.server.call('gaps');
const after = await fleet.server.call('counters');
const clientCounts = await Promise.all(fleet.clients.map((c) => c.call('counters')));
const storm = {
  executors: fleet.result.opened,
  rotated,
  windowMs: stormMs,
  linksDropped: after.departed - before.departed,
  executorDisconnects: clientCounts.reduce((a, c) => a + c.disconnects, 0) - disconnectsBefore,
  relinked: after.relinked - before.relinked,
  worstHeartbeatGapMs: gaps.maxGap,
  heartbeatIntervalMs: HEARTBEAT_MS,
};
await Promise.all(fleet.clients.map((c) => c.call('close').catch(() => {})));
await Promise.all(fleet.clients.map((c) => c.kill()));
await fleet.server.kill();

const p = plain.result;
const a = ah.result;
const rows = [
  ['enrollments per second', p.ratePerSec, a.ratePerSec, a.ratePerSec / p.ratePerSec, '≥ 0.8×'],
  ['server CPU ms per enrollment', p.serverCpuMsPer, a.serverCpuMsPer, a.serverCpuMsPer / p.serverCpuMsPer, '(see capacity)'],
  ['server RSS KB per link, marginal (N/2 → N)', p.rssKBMarginal, a.rssKBMarginal, a.rssKBMarginal / p.rssKBMarginal, '≤ 1.3×'],
  ['server RSS KB per link, average (0 → N)', p.rssKBPer, a.rssKBPer, a.rssKBPer / p.rssKBPer, '(fixed costs included)'],
  ['server capacity per core, enrollments/s', 1000 / p.serverCpuMsPer, 1000 / a.serverCpuMsPer, p.serverCpuMsPer / a.serverCpuMsPer, '≥ 0.8×'],
];
const fmt = (x) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const table = [
  `| figure (N=${N}) | plain node:tls | ah | ratio | goal |`,
  '|---|---|---|---|---|',
  ...rows.map(([name, pv, av, r, goal]) => `| ${name} | ${fmt(pv)} | ${fmt(av)} | ${r.toFixed(2)}× | ${goal} |`),
  '',
  `rotation storm: ${storm.rotated}/${storm.executors} executors rotated in ${(storm.windowMs / 1000).toFixed(2)} s; ` +
    `links dropped ${storm.linksDropped}, executor disconnects ${storm.executorDisconnects}, ` +
    `worst heartbeat gap ${storm.worstHeartbeatGapMs} ms (interval ${HEARTBEAT_MS} ms)`,
].join('\n');
process.stdout.write(`${table}\n`);
const outDir = join(process.cwd(), '.bench-results');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ n: N, clients: CLIENTS, concurrency: CONCURRENCY, plain: p, ah: a, storm, loadavg: loadavg() }, null, 2));
log(`# saved ${file}`);
process.exit(0);
