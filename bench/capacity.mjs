// Access point capacity per core, plain and ah alternated round after round (no storm, no memory
// probes): the quick way to see whether a change to the enrollment path moves the ratio, on a
// machine whose absolute speed drifts. Prints each round's server CPU ms per enrollment and the
// ratio of the medians.
//
//   node bench/capacity.mjs [--n 10000] [--rounds 3] [--clients 2] [--warmup 0.1] [--gc-at start|half]
//
// `--gc-at` forces a full GC in the access point (excluded from the CPU taken) before the first
// enrollment or halfway: it shows the after-effect that made bench/run.mjs measure its CPU runs
// without one (every later enrollment dearer, ah more than plain).
import 'reflect-metadata';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startChild } from './ipc.mjs';
import { generateMaterial } from './material.mjs';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2' },
    warmup: { type: 'string', default: '0.1' },
    'gc-at': { type: 'string' },
  },
});
const N = Number(values.n);
const ROUNDS = Number(values.rounds);
const CLIENTS = Number(values.clients);
const WARMUP = Number(values.warmup);
const log = (s) => process.stderr.write(`${s}\n`);

const material = await generateMaterial({ n: N, notBefore: Date.now() - 60_000, firstLifetimeMs: 3_600_000, secondLifetimeMs: 7_200_000 });
const dir = mkdtempSync(join(tmpdir(), 'ah-bench-capacity-'));
const materialFile = join(dir, 'material.json');
writeFileSync(materialFile, JSON.stringify(material));

async function round(mode) {
  const server = await startChild('server.mjs', [mode, materialFile, '60000']);
  const slices = Array.from({ length: CLIENTS }, (_, i) => [Math.floor((i * N) / CLIENTS), Math.floor(((i + 1) * N) / CLIENTS)]);
  const clients = await Promise.all(
    slices.map(([a, b]) => startChild('clients.mjs', [mode, materialFile, String(server.info.port), String(a), String(b), '32'])),
  );
  const cpu = async () => (await server.call('stats')).cpuMs;
  const forcedGc = async () => {
    const before = await cpu();
    await server.call('gc');
    return (await cpu()) - before;
  };
  if (values['gc-at'] === 'start') await forcedGc();
  if (WARMUP > 0) await Promise.all(clients.map((c) => c.call('open', { fraction: WARMUP })));
  const cpu0 = await cpu();
  let excluded = 0;
  if (values['gc-at'] === 'half') {
    await Promise.all(clients.map((c) => c.call('open', { fraction: 0.5 })));
    excluded = await forcedGc();
  }
  await Promise.all(clients.map((c) => c.call('open', { fraction: 1 })));
  const msPer = ((await cpu()) - cpu0 - excluded) / (N * (1 - WARMUP));
  if (mode === 'ah') await Promise.all(clients.map((c) => c.call('close').catch(() => {})));
  await Promise.all(clients.map((c) => c.kill()));
  await server.kill();
  return msPer;
}

const results = { plain: [], ah: [] };
for (let r = 0; r < ROUNDS; r++) {
  for (const mode of ['plain', 'ah']) {
    results[mode].push(await round(mode));
    log(`# round ${r + 1} ${mode}: ${results[mode].at(-1).toFixed(3)} ms server CPU per enrollment`);
  }
}
rmSync(dir, { recursive: true, force: true });
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const mode of ['plain', 'ah']) process.stdout.write(`${mode}: ${results[mode].map((x) => x.toFixed(3)).join(' ')} ms per enrollment\n`);
process.stdout.write(`capacity per core, ah / plain (medians): ${(median(results.plain) / median(results.ah)).toFixed(2)}×\n`);
