// Replay speed: `ah agent replay` over a debug log of a quarter of a million machine events (and
// the heartbeat lines between them), against XState's raw event throughput for the very same
// events in the same run (the machines fed from memory: no file, no parsing, no checking). The
// ratio is the figure to compare (goal >= 0.5x); absolute rates move with the machine.
//
//   npm run build && node bench/replay.mjs [--events 250000] [--runs 3] [--keep]
//
// The log is written by the real machines and the real machine logger (src/log/machine-log.ts),
// driven on a SimulatedClock: an executor enrolled for days with a short-lived certificate (a
// rotation about every seven seconds), its link's heartbeats once a second (the real
// LinkHeartbeats, with the `heartbeat_sent`/`heartbeat_acked` lines a debug log holds: replay
// reads past them), and its link dropped and re-established now and then. Heartbeats are the
// link's, not machine events (docs/fleet-link.md §Heartbeats), so the machine events are the
// rotations' and the drops'.
import { createReadStream, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { assign, createActor, fromCallback, fromPromise, setup, SimulatedClock } from 'xstate';
import { LinkHeartbeats } from '../dist/actors/link-heartbeats.js';
import { machineInspector } from '../dist/log/machine-log.js';
import { enrollmentMachine } from '../dist/machines/enrollment.js';
import { rotationMachine } from '../dist/machines/rotation.js';
import { FrozenClock } from '../dist/replay/frozen-clock.js';
import { replayableMachine } from '../dist/replay/replay-machines.js';
import { replayFile } from '../dist/replay/replay-log.js';

const { values } = parseArgs({
  options: { events: { type: 'string', default: '250000' }, runs: { type: 'string', default: '3' }, keep: { type: 'boolean', default: false } },
});
const EVENTS = Number(values.events);
const RUNS = Number(values.runs);
const LIFETIME_MS = 10_000;
const HEARTBEAT_MS = 1_250; // the welcome's interval: a heartbeat every second (0.8 of it)
const STEP_MS = 1_000;
const DROP_EVERY = 2_000; // steps between link drops
const log = (s) => process.stderr.write(`${s}\n`);

log(`# ah replay bench: ${EVENTS.toLocaleString('en')} events, best of ${RUNS} runs each`);
log(
  `# node ${process.version}, ${cpus().length} cpu (${cpus()[0]?.model?.trim()}), load ${loadavg()
    .map((x) => x.toFixed(2))
    .join('/')}`,
);

// --- 1. Record the log ---------------------------------------------------------------------------
async function record(file) {
  const clock = new SimulatedClock();
  const base = Date.UTC(2026, 10, 1);
  const now = () => base + clock.now();
  const dest = pino.destination({ dest: file, sync: false, minLength: 8192 });
  const root = pino(
    {
      level: 'debug',
      base: { pid: 4242 },
      timestamp: () => `,"time":${now()}`,
      formatters: { level: (label, number) => ({ level: number, levelName: label }) },
    },
    dest,
  );
  const logger = root.child({ component: 'ah_machine' });
  const transport = root.child({ component: 'ah_transport' });
  let events = 0;
  const inspect = machineInspector(logger, 'executor:bench');
  // The events the log gets a line for: those of machine actors (links and renewals are not).
  const counting = (ev) => {
    if (ev.type === '@xstate.event' && ev.actorRef.logic?.root) events++;
    inspect(ev);
  };
  let serial = 0;
  const material = () => {
    serial++;
    const s = serial.toString(16).toUpperCase().padStart(8, '0');
    return {
      provider: 'dev',
      serial: s,
      fingerprint: `fp${s}`,
      spiffeId: 'spiffe://dev.local/ah/agent/bench',
      notBefore: now(),
      notAfter: now() + LIFETIME_MS,
    };
  };
  let current = null; // the newest link's sendBack
  const fleetLink = fromCallback(({ input, sendBack }) => {
    current = { linkId: input.linkId, sendBack };
    const linkLog = transport.child({ link: input.linkId });
    const beats = new LinkHeartbeats(
      clock,
      {
        send: (seq) => {
          linkLog.debug({ event: 'heartbeat_sent', seq }, `heartbeat ${seq} sent`);
          beats.acked(seq, now());
          linkLog.debug({ event: 'heartbeat_acked', seq }, `heartbeat ${seq} acknowledged`);
        },
        lost: () => {},
      },
      now,
    );
    beats.start(HEARTBEAT_MS, now());
    sendBack({
      type: 'LINK_WELCOMED',
      linkId: input.linkId,
      executorId: 'spiffe://dev.local/ah/agent/bench',
      heartbeatIntervalMs: HEARTBEAT_MS,
      serverTime: now(),
      at: now(),
    });
    return () => beats.stop();
  });
  const rotation = rotationMachine.provide({
    actors: {
      watchIdentity: fromCallback(({ sendBack }) => sendBack({ type: 'MATERIAL', identity: material(), observedAt: now() })),
      renewIdentity: fromPromise(async () => ({ identity: material(), observedAt: now() })),
    },
  });
  const actor = createActor(enrollmentMachine.provide({ actors: { rotation, fleetLink } }), {
    clock,
    input: {
      name: 'bench',
      remoteServer: '127.0.0.1:4433',
      connectTimeoutMs: 30_000,
      connectTimeoutLabel: '30s',
      maxAttempts: 0,
      seed: 20261101,
      rotation: { provider: 'dev', canIssue: true, threshold: 0.7, jitter: 0.05 },
    },
    inspect: counting,
  });
  actor.start();
  for (let step = 1; events < EVENTS; step++) {
    clock.increment(STEP_MS);
    // Renewals resolve on promises.
    await null;
    await null;
    if (step % DROP_EVERY === 0 && current)
      current.sendBack({ type: 'LINK_CLOSED', linkId: current.linkId, reason: 'socket closed: ECONNRESET', error: null, at: now() });
  }
  actor.send({ type: 'SHUTDOWN' });
  actor.stop();
  await new Promise((resolve) => dest.flush(resolve));
  dest.end();
  await new Promise((resolve) => dest.once('close', resolve));
  return events;
}

// --- 2. XState's raw throughput: the same events, parsed beforehand, fed to the same machines -----
async function loadEvents(file) {
  const byActor = new Map();
  const rl = createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  for await (const line of rl) {
    const o = JSON.parse(line);
    if (o.kind !== 'event') continue;
    if (!byActor.has(o.actor)) byActor.set(o.actor, { machine: o.machine, init: o.event, events: [] });
    else byActor.get(o.actor).events.push(o.event);
  }
  return byActor;
}

function raw(byActor) {
  let n = 0;
  const started = performance.now();
  for (const [name, { machine, init, events }] of byActor) {
    const clock = new FrozenClock();
    const parent = createActor(
      fromCallback(() => {}),
      { clock },
    ).start();
    const actor = createActor(replayableMachine(machine), { input: init.input, clock, parent, id: name.split('/').pop() });
    actor.start();
    for (const e of events) actor.send(e);
    n += events.length + 1;
    parent.stop();
  }
  return { events: n, ms: performance.now() - started };
}

/**
 * For scale only: XState on a minimal machine (two states, a two-field context), the kind of figure
 * quoted as "XState's raw throughput". The goal is measured against the same machines as the log's.
 */
function minimal(n) {
  const m = setup({}).createMachine({
    context: { count: 0, last: 0 },
    initial: 'a',
    states: {
      a: { on: { TICK: { target: 'b', actions: assign({ count: ({ context }) => context.count + 1, last: ({ event }) => event.at }) } } },
      b: { on: { TICK: { target: 'a', actions: assign({ count: ({ context }) => context.count + 1, last: ({ event }) => event.at }) } } },
    },
  });
  const actor = createActor(m).start();
  const started = performance.now();
  for (let i = 0; i < n; i++) actor.send({ type: 'TICK', at: i });
  return { events: n, ms: performance.now() - started };
}

async function replay(file) {
  const started = performance.now();
  const result = await replayFile(file);
  const ms = performance.now() - started;
  const events = result.actors.reduce((s, a) => s + a.events, 0);
  if (result.mismatches) throw new Error(`the replay disagrees with the log in ${result.mismatches} places`);
  return { events, ms, lines: result.lines };
}

const dir = mkdtempSync(join(tmpdir(), 'ah-replay-bench-'));
const file = join(dir, 'machine.log');
let t = performance.now();
const recorded = await record(file);
const size = statSync(file).size;
log(`# recorded ${recorded.toLocaleString('en')} events (${(size / 2 ** 20).toFixed(0)} MiB) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
t = performance.now();
const byActor = await loadEvents(file);
log(`# parsed for the raw run in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const rawRuns = [];
const replayRuns = [];
for (let i = 0; i < RUNS; i++) {
  // Interleaved, so a slow spell of the machine hits both.
  rawRuns.push(raw(byActor));
  replayRuns.push(await replay(file));
  log(`# run ${i + 1}: raw ${(rawRuns[i].events / rawRuns[i].ms).toFixed(0)}k ev/s, replay ${(replayRuns[i].events / replayRuns[i].ms).toFixed(0)}k ev/s`);
}
const minimalRuns = Array.from({ length: RUNS }, () => minimal(Math.min(EVENTS, 300_000)));
const best = (runs) => runs.reduce((a, b) => (b.events / b.ms > a.events / a.ms ? b : a));
const r = best(rawRuns);
const p = best(replayRuns);
const rawRate = (r.events / r.ms) * 1000;
const replayRate = (p.events / p.ms) * 1000;
const ratio = replayRate / rawRate;
const minimalRate = (best(minimalRuns).events / best(minimalRuns).ms) * 1000;

const rows = [
  ['events in the log', p.events.toLocaleString('en'), ''],
  ['log lines (machine events and states, heartbeats)', p.lines.toLocaleString('en'), `${(size / 2 ** 20).toFixed(0)} MiB`],
  ['XState raw (same machines, events in memory)', `${Math.round(rawRate).toLocaleString('en')} events/s`, `${(r.ms / 1000).toFixed(2)} s`],
  ['ah agent replay (read, parse, rebuild, check)', `${Math.round(replayRate).toLocaleString('en')} events/s`, `${(p.ms / 1000).toFixed(2)} s`],
  ['ratio replay / raw (goal >= 0.5)', `${ratio.toFixed(2)}x`, ratio >= 0.5 ? 'met' : 'NOT met'],
  [
    'for scale: XState raw, minimal 2-state machine',
    `${Math.round(minimalRate).toLocaleString('en')} events/s`,
    `replay ${(replayRate / minimalRate).toFixed(2)}x of it`,
  ],
];
const w = rows.map((row) => row.map((c) => c.length)).reduce((a, b) => a.map((x, i) => Math.max(x, b[i])));
process.stdout.write(`${rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('   ')).join('\n')}\n`);

mkdirSync('.bench-results', { recursive: true });
const out = join('.bench-results', `replay-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  out,
  JSON.stringify(
    {
      events: p.events,
      lines: p.lines,
      bytes: size,
      rawEventsPerSecond: rawRate,
      replayEventsPerSecond: replayRate,
      ratio,
      minimalMachineEventsPerSecond: minimalRate,
      runs: { raw: rawRuns, replay: replayRuns, minimal: minimalRuns },
      node: process.version,
      cpus: cpus().length,
    },
    null,
    2,
  ),
);
log(`# saved ${out}`);
if (!values.keep) rmSync(dir, { recursive: true, force: true });
else log(`# log kept at ${file}`);
