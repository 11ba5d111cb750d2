// `ah agent fleet` at fleet scale, against plain Node doing the same work in the same run: an
// access point (the library, in this process) whose roster holds N synthetic executors, read by
// the real CLI from its status socket; and a plain unix-socket server answering the same entries
// as one JSON string, read by a plain node process that prints the same table or copies the JSON.
// Wall time of the whole command (process start included), the median of --runs (the slower of
// two); each run's time is on stderr.
//
//   node bench/fleet-view.mjs [--n 1000] [--runs 3] [--json]        # the 10k figure: --n 10000
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createAccessPoint } from '../dist/index.js';

const { values } = parseArgs({
  options: { n: { type: 'string', default: '1000' }, runs: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } },
});
const N = Number(values.n);
const RUNS = Number(values.runs);
const AH = new URL('../bin/ah', import.meta.url).pathname;
const log = (s) => process.stderr.write(`${s}\n`);
const H = 3_600_000;

const stateDir = mkdtempSync(join(tmpdir(), 'ah-fleet-bench-'));
const ap = createAccessPoint({ listen: '127.0.0.1:0', stateDir, statusSocket: true, heartbeatIntervalMs: 60_000 });
await ap.start();
const t0 = Date.now();
for (let i = 0; i < N; i++) {
  const name = `${['web', 'db', 'batch', 'edge'][i % 4]}-${String(i).padStart(5, '0')}`;
  const certNotAfter = i % 10 === 0 ? t0 - 60_000 : t0 + ((i % 48) + 1) * H;
  ap.roster.admit({
    executorId: `spiffe://bench.test/ah/agent/${name}`,
    name,
    linkId: `l${i}`,
    remoteAddress: `10.0.${i >> 8}.${i & 255}:40000`,
    certNotAfter,
    serial: `S${i}`,
    at: i % 10 === 1 ? t0 - 600_000 : t0,
  });
}
log(`# ${N} synthetic executors on the roster; ${RUNS} runs each`);

// The plain side: the same entries, built and stringified per request, one JSON answer.
const plainSocket = join(stateDir, 'plain.sock');
const plain = createServer((socket) =>
  socket.once('data', () => {
    const executors = [...ap.roster.rows()].map((r) => ({
      id: r.id,
      name: r.name,
      remoteAddress: r.entry.remoteAddress,
      since: new Date(r.entry.since).toISOString(),
      lastHeartbeat: new Date(r.entry.lastHeartbeat).toISOString(),
      certNotAfter: new Date(r.certNotAfter).toISOString(),
      state: r.state,
      serial: r.entry.serial,
    }));
    executors.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    socket.end(`${JSON.stringify({ executors })}\n`);
  }),
);
await new Promise((r) => plain.listen(plainSocket, r));

// A plain client: read it all, parse it, then print a padded table (or the JSON, or a filtered table).
const PLAIN_CLIENT = `
import { createConnection } from 'node:net';
const [mode, path] = process.argv.slice(1);
const s = createConnection(path); let buf = '';
s.setEncoding('utf8'); s.on('connect', () => s.write('{"cmd":"fleet"}\\n')); s.on('data', (d) => (buf += d));
s.on('end', () => {
  if (mode === 'json') { process.stdout.write(buf); return; }
  let rows = JSON.parse(buf).executors;
  if (mode === 'late') rows = rows.filter((e) => e.state === 'late');
  const ago = (iso) => { const d = Date.parse(iso) - Date.now(); return (d >= 0 ? 'in ' : '') + Math.round(Math.abs(d) / 1000) + 's' + (d < 0 ? ' ago' : ''); };
  const t = rows.map((e) => [e.name, e.id, e.state, e.remoteAddress, ago(e.since), ago(e.lastHeartbeat), ago(e.certNotAfter)]);
  const w = t.reduce((w, r) => w.map((x, i) => Math.max(x, r[i].length)), [4, 2, 5, 7, 5, 14, 12]);
  process.stdout.write(t.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\\n') + '\\n');
});`;

function timed(argv) {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let bytes = 0;
    let lines = 0;
    let err = '';
    child.stdout.on('data', (d) => {
      bytes += d.length;
      for (const b of d) if (b === 10) lines++;
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0 ? resolve({ ms: performance.now() - start, bytes, lines }) : reject(new Error(`${argv.join(' ')}: exit ${code}: ${err}`)),
    );
  });
}

async function median(argv) {
  const times = [];
  let out;
  for (let i = 0; i < RUNS; i++) {
    out = await timed(argv);
    times.push(out.ms);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)], all: times, lines: out.lines, bytes: out.bytes };
}

const figures = [
  ['`ah agent fleet` (table, all rows)', ['plain', plainSocket], [AH, 'agent', 'fleet', '--state-dir', stateDir]],
  ['`ah agent fleet --json` (all rows)', ['json', plainSocket], [AH, 'agent', 'fleet', '--json', '--state-dir', stateDir]],
  ['`ah agent fleet --state late` (10%)', ['late', plainSocket], [AH, 'agent', 'fleet', '--state', 'late', '--state-dir', stateDir]],
];
const rows = [];
for (const [figure, plainArgs, ahArgs] of figures) {
  const p = await median(['--input-type=module', '-e', PLAIN_CLIENT, ...plainArgs]);
  const a = await median(ahArgs);
  log(
    `# ${figure}: plain ${p.all.map((x) => x.toFixed(0)).join('/')} ms, ah ${a.all.map((x) => x.toFixed(0)).join('/')} ms (${a.lines} lines, ${a.bytes} bytes)`,
  );
  rows.push({
    figure: `${figure}, N=${N}`,
    plain: Math.round(p.ms),
    ah: Math.round(a.ms),
    ratio: Number((a.ms / p.ms).toFixed(2)),
    goal: '< 1000 ms',
    unit: 'ms',
  });
}

plain.close();
await ap.stop();
rmSync(stateDir, { recursive: true, force: true });

if (values.json) process.stdout.write(`${JSON.stringify({ n: N, runs: RUNS, rows })}\n`);
else {
  process.stdout.write('| figure | plain | ah | ratio | goal |\n|---|---|---|---|---|\n');
  for (const r of rows) process.stdout.write(`| ${r.figure} | ${r.plain} ms | ${r.ah} ms | ${r.ratio.toFixed(2)}× | ${r.goal} |\n`);
}
