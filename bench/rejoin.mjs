// Re-enroll after an access point restart: N executors enrolled, the server killed with SIGKILL and
// started again on the same port (and, for ah, the same state dir), and the time until every
// executor is back. Plain node:tls with TLS 1.3 session resumption (tickets under the same
// ticketKeys after the restart) does the same reconnects, with the same full-jitter backoff, in
// the same run. Prints markdown rows; --json prints one JSON object on stdout.
//
// The same fleet is brought back `--rounds` times on each side (kill, restart, all back, again) and
// the rows give each side's median round: ten thousand reconnects at once on two shared cores
// land differently from one kill to the next (dropped SYNs retried after 1, 3, 7 s; links that
// re-join and go again), so one round read anywhere from 1.0× to 1.8× with the same code.
//
//   node bench/rejoin.mjs [--n 500] [--rounds 3] [--clients 2] [--concurrency 16] [--backoff-base 250] [--backoff-cap 2000] [--json]
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { count, sleep, startChild } from './ipc.mjs';
import { generateMaterial } from './material.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '500' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    'backoff-base': { type: 'string', default: '250' },
    'backoff-cap': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const ROUNDS = count('rounds', values.rounds);
const CLIENTS = Math.max(1, Math.min(Number(values.clients), N));
const log = (s) => process.stderr.write(`${s}\n`);

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const dir = mkdtempSync(join(tmpdir(), 'ah-bench-rejoin-'));
log(
  `# rejoin bench: N=${N} from ${CLIENTS} load processes, ${ROUNDS} rounds a side, backoff full jitter base ${values['backoff-base']} ms cap ${values['backoff-cap']} ms`,
);
const t0 = Date.now();
const material = await generateMaterial({ n: N, notBefore: t0 - 60_000, firstLifetimeMs: 3_600_000, secondLifetimeMs: 7_200_000 });
const materialFile = join(dir, 'material.json');
writeFileSync(materialFile, JSON.stringify(material));

async function run(mode) {
  const port = await freePort();
  const stateDir = mkdtempSync(join(dir, `${mode}-`));
  const serverArgs = [mode, materialFile, String(port), stateDir, randomBytes(48).toString('hex')];
  const fleet = { server: await startChild('rejoin-server.mjs', serverArgs), serverArgs };
  const per = Math.ceil(N / CLIENTS);
  fleet.clients = await Promise.all(
    Array.from({ length: CLIENTS }, (_, i) =>
      startChild('rejoin-clients.mjs', [
        mode,
        materialFile,
        String(port),
        String(i * per),
        String(Math.min(N, (i + 1) * per)),
        values.concurrency,
        values['backoff-base'],
        values['backoff-cap'],
      ]),
    ),
  );
  await Promise.all(fleet.clients.map((c) => c.call('open')));
  const rounds = [];
  for (let r = 1; r <= ROUNDS; r++) {
    // Let the last tickets reach the server's store (ah appends what 25 ms gathered) and, after a
    // round, the last links settle.
    await sleep(r === 1 ? 500 : 2_000);
    rounds.push(await round(mode, fleet, `${mode} round ${r}/${ROUNDS}`, r === 1));
  }
  await Promise.all(fleet.clients.map((c) => c.call('close').catch(() => {})));
  await Promise.all([fleet.server, ...fleet.clients].map((c) => c.kill()));
  return rounds;
}

/** One kill -9 of the fleet's server, its restart, and the wait until every executor is back. */
async function round(mode, fleet, label, first) {
  const { clients } = fleet;
  const sum = async (key) => (await Promise.all(clients.map((c) => c.call('counters')))).reduce((a, c) => a + c[key], 0);
  log(`${label}: ${await sum('up')} up`);
  await Promise.all(clients.map((c) => c.call('mark')));
  // AH_BENCH_PROFILE_REJOIN=DIR (first round): the first load process over the window...
  const profiling = process.env.AH_BENCH_PROFILE_REJOIN && first;
  if (profiling) await clients[0].call('profileStart');
  const killedAt = performance.now();
  process.kill(fleet.server.info.pid, 'SIGKILL');
  const server = await startChild('rejoin-server.mjs', fleet.serverArgs);
  fleet.server = server;
  const listeningAt = performance.now();
  // ...and the restarted server until all are back.
  if (profiling) await server.call('profileStart');
  const cpuBefore = (await server.call('stats')).cpuMs;
  const loadCpu = async () => (await Promise.all(clients.map((c) => c.call('stats')))).reduce((a, c) => a + c.cpuMs, 0);
  const loadBefore = await loadCpu();
  let back = 0;
  let said = killedAt;
  /** How many the load processes reported back at each whole second after the kill (- : none answered in that second, all busy). */
  const backBySecond = [];
  while ((back = await sum('back')) < N && performance.now() - killedAt < 120_000) {
    backBySecond[Math.floor((performance.now() - killedAt) / 1000)] = back;
    await sleep(20);
    if (performance.now() - said < 5_000) continue;
    said = performance.now();
    log(`${label}: ${back}/${N} back after ${((said - killedAt) / 1000).toFixed(0)} s; server ${JSON.stringify(await server.call('counters'))}`);
  }
  const ms = performance.now() - killedAt;
  const fromListening = performance.now() - listeningAt;
  const restartMs = listeningAt - killedAt;
  const serverCounters = await server.call('counters');
  if (profiling) {
    const dir = process.env.AH_BENCH_PROFILE_REJOIN;
    log(`# profile of the ${mode} re-join: ${await server.call('profileStop', { file: join(dir, `${mode}-rejoin.cpuprofile`) })}`);
    log(`# profile of a load process: ${await clients[0].call('profileStop', { file: join(dir, `${mode}-rejoin-load.cpuprofile`) })}`);
  }
  const cpuMs = (await server.call('stats')).cpuMs - cpuBefore;
  const loadMs = (await loadCpu()) - loadBefore;
  log(`${label}: back by second after the kill: ${Array.from(backBySecond, (b) => b ?? '-').join(' ')}`);
  log(
    `${label}: ${back}/${N} back in ${ms.toFixed(0)} ms (listening again after ${restartMs.toFixed(0)} ms); server handshakes ${JSON.stringify(serverCounters)}; server CPU ${cpuMs.toFixed(0)} ms, load CPU ${loadMs.toFixed(0)} ms`,
  );
  if (mode === 'ah') log(`${label}: slowest back ${JSON.stringify(await Promise.all(clients.map((c) => c.call('slowest', { n: 2 }))))}`);
  if (mode === 'ah') log(`${label}: executor errors by reason ${JSON.stringify(await Promise.all(clients.map((c) => c.call('errors'))))}`);
  const handshakes = serverCounters.full + serverCounters.resumed;
  return { ms, loadMs, fromListening, restartMs, back, resumedShare: handshakes ? serverCounters.resumed / handshakes : 0, cpuMs };
}

/** A side's rounds as one: each time and CPU its median round's, resumed share and links back the worst round's. */
function medianRound(rounds) {
  const median = (xs) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  };
  const out = {};
  for (const key of Object.keys(rounds[0])) out[key] = median(rounds.map((r) => r[key]));
  out.resumedShare = Math.min(...rounds.map((r) => r.resumedShare));
  out.back = Math.min(...rounds.map((r) => r.back));
  return out;
}

const plainRounds = await run('plain');
const ahRounds = await run('ah');
const plain = medianRound(plainRounds);
const ah = medianRound(ahRounds);
log(`# all back, ms by round: plain ${plainRounds.map((r) => r.ms.toFixed(0)).join(', ')}; ah ${ahRounds.map((r) => r.ms.toFixed(0)).join(', ')}`);
rmSync(dir, { recursive: true, force: true });

const rows = [
  {
    figure: `all ${N} executors back after SIGKILL + restart (median of ${ROUNDS} rounds)`,
    plain: plain.ms,
    ah: ah.ms,
    ratio: ah.ms / plain.ms,
    goal: '≤ 1.2×',
    unit: 'ms',
  },
  {
    figure: 'of which: from listening again to all back',
    plain: plain.fromListening,
    ah: ah.fromListening,
    ratio: ah.fromListening / plain.fromListening,
    goal: '≤ 1.2×',
    unit: 'ms',
  },
  {
    figure: 'of which: kill to listening again (process start)',
    plain: plain.restartMs,
    ah: ah.restartMs,
    ratio: ah.restartMs / plain.restartMs,
    goal: '—',
    unit: 'ms',
  },
  {
    figure: 'server CPU for the reconnects (restart to all back)',
    plain: plain.cpuMs,
    ah: ah.cpuMs,
    ratio: ah.cpuMs / plain.cpuMs,
    goal: '—',
    unit: 'ms',
  },
  { figure: 'load-side CPU for the reconnects (executors)', plain: plain.loadMs, ah: ah.loadMs, ratio: ah.loadMs / plain.loadMs, goal: '—', unit: 'ms' },
  { figure: 'reconnects resumed (worst round)', plain: plain.resumedShare * 100, ah: ah.resumedShare * 100, ratio: null, goal: '100 %', unit: '%' },
];
if (values.json) {
  process.stdout.write(
    `${JSON.stringify({ n: N, rows, backAfterRestart: { plain: plain.back, ah: ah.back }, rounds: { plain: plainRounds, ah: ahRounds } })}\n`,
  );
} else {
  const fmt = (v, unit) => (unit === '%' ? `${v.toFixed(0)} %` : `${v.toFixed(0)} ${unit}`);
  for (const r of rows) {
    process.stdout.write(
      `| ${r.figure} | ${fmt(r.plain, r.unit)} | ${fmt(r.ah, r.unit)} | ${r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`} | ${r.goal} |\n`,
    );
  }
}
