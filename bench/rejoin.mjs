// Re-enroll after an access point restart: N executors enrolled, the server killed with SIGKILL and
// started again on the same port (and, for ah, the same state dir), and the time until every
// executor is back. Plain node:tls with TLS 1.3 session resumption (tickets under the same
// ticketKeys after the restart) does the same reconnects, with the same full-jitter backoff, in
// the same run. Prints markdown rows; --json prints one JSON object on stdout.
//
//   node bench/rejoin.mjs [--n 500] [--clients 2] [--concurrency 16] [--backoff-base 250] [--backoff-cap 2000] [--json]
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sleep, startChild } from './ipc.mjs';
import { generateMaterial } from './material.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '500' },
    clients: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    'backoff-base': { type: 'string', default: '250' },
    'backoff-cap': { type: 'string', default: '2000' },
    json: { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
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
log(`# rejoin bench: N=${N} from ${CLIENTS} load processes, backoff full jitter base ${values['backoff-base']} ms cap ${values['backoff-cap']} ms`);
const t0 = Date.now();
const material = await generateMaterial({ n: N, notBefore: t0 - 60_000, firstLifetimeMs: 3_600_000, secondLifetimeMs: 7_200_000 });
const materialFile = join(dir, 'material.json');
writeFileSync(materialFile, JSON.stringify(material));

async function run(mode) {
  const port = await freePort();
  const stateDir = mkdtempSync(join(dir, `${mode}-`));
  const serverArgs = [mode, materialFile, String(port), stateDir, randomBytes(48).toString('hex')];
  let server = await startChild('rejoin-server.mjs', serverArgs);
  const per = Math.ceil(N / CLIENTS);
  const clients = await Promise.all(
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
  await Promise.all(clients.map((c) => c.call('open')));
  const sum = async (key) => (await Promise.all(clients.map((c) => c.call('counters')))).reduce((a, c) => a + c[key], 0);
  log(`${mode}: ${await sum('up')} enrolled`);
  // Let the first tickets reach the server's store (ah appends them within an event-loop turn).
  await sleep(500);
  await Promise.all(clients.map((c) => c.call('mark')));
  // ...and of the first load process over the same window.
  if (process.env.AH_BENCH_PROFILE_REJOIN) await clients[0].call('profileStart');
  const killedAt = performance.now();
  process.kill(server.info.pid, 'SIGKILL');
  server = await startChild('rejoin-server.mjs', serverArgs);
  const listeningAt = performance.now();
  // AH_BENCH_PROFILE_REJOIN=DIR: a CPU profile of the restarted server until all are back.
  if (process.env.AH_BENCH_PROFILE_REJOIN) await server.call('profileStart');
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
    log(`${mode}: ${back}/${N} back after ${((said - killedAt) / 1000).toFixed(0)} s; server ${JSON.stringify(await server.call('counters'))}`);
  }
  const ms = performance.now() - killedAt;
  const fromListening = performance.now() - listeningAt;
  const restartMs = listeningAt - killedAt;
  const serverCounters = await server.call('counters');
  if (process.env.AH_BENCH_PROFILE_REJOIN) {
    const dir = process.env.AH_BENCH_PROFILE_REJOIN;
    log(`# profile of the ${mode} re-join: ${await server.call('profileStop', { file: join(dir, `${mode}-rejoin.cpuprofile`) })}`);
    log(`# profile of a load process: ${await clients[0].call('profileStop', { file: join(dir, `${mode}-rejoin-load.cpuprofile`) })}`);
  }
  const cpuMs = (await server.call('stats')).cpuMs - cpuBefore;
  const loadMs = (await loadCpu()) - loadBefore;
  log(`${mode}: back by second after the kill: ${Array.from(backBySecond, (b) => b ?? '-').join(' ')}`);
  log(
    `${mode}: ${back}/${N} back in ${ms.toFixed(0)} ms (listening again after ${restartMs.toFixed(0)} ms); server handshakes ${JSON.stringify(serverCounters)}; server CPU ${cpuMs.toFixed(0)} ms, load CPU ${loadMs.toFixed(0)} ms`,
  );
  if (mode === 'ah') log(`ah: slowest back ${JSON.stringify(await Promise.all(clients.map((c) => c.call('slowest', { n: 2 }))))}`);
  if (mode === 'ah') log(`ah: executor errors by code ${JSON.stringify(await Promise.all(clients.map((c) => c.call('errors'))))}`);
  await Promise.all(clients.map((c) => c.call('close').catch(() => {})));
  await Promise.all([server, ...clients].map((c) => c.kill()));
  const handshakes = serverCounters.full + serverCounters.resumed;
  return { ms, loadMs, fromListening, restartMs, back, resumedShare: handshakes ? serverCounters.resumed / handshakes : 0, cpuMs };
}

const plain = await run('plain');
const ah = await run('ah');
rmSync(dir, { recursive: true, force: true });

const rows = [
  { figure: `all ${N} executors back after SIGKILL + restart`, plain: plain.ms, ah: ah.ms, ratio: ah.ms / plain.ms, goal: '≤ 1.2×', unit: 'ms' },
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
  { figure: 'reconnects resumed', plain: plain.resumedShare * 100, ah: ah.resumedShare * 100, ratio: null, goal: '100 %', unit: '%' },
];
if (values.json) {
  process.stdout.write(`${JSON.stringify({ n: N, rows, backAfterRestart: { plain: plain.back, ah: ah.back } })}\n`);
} else {
  const fmt = (v, unit) => (unit === '%' ? `${v.toFixed(0)} %` : `${v.toFixed(0)} ${unit}`);
  for (const r of rows) {
    process.stdout.write(
      `| ${r.figure} | ${fmt(r.plain, r.unit)} | ${fmt(r.ah, r.unit)} | ${r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`} | ${r.goal} |\n`,
    );
  }
}
