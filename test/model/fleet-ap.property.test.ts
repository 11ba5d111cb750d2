/**
 * fast-check on a real fleet of several access points sharing the roster on a real etcd: random
 * sequences of `kill -9` of an access point and its start again (later, or at once), a drain
 * (SIGTERM, started again once it exited), an etcd outage and its return (same data dir and
 * ports), and executor stops (SIGTERM or SIGKILL) and starts with the same identity (later, or at
 * once). After each step, once the views are quiet (unchanged for a few looks, within a generous
 * bound), the invariant:
 *
 * - at every look, quiet or not: no access point lists an identity twice;
 * - every running executor is enrolled, at an access point that runs;
 * - with etcd up: `ah agent fleet --json` of every live access point lists each running executor
 *   exactly once, at the access point the executor says it is linked to, and no stopped one (a
 *   killed access point's rows, once its lease TTL passed);
 * - with etcd away (views cannot learn of each other's changes): each live access point lists its
 *   own executors, exactly the running ones linked to it, and no identity twice.
 *
 * A failure is shrunk to a short sequence of steps, printed with the seed, path and replayPath
 * that replay it (AH_MODEL_SEED=… AH_MODEL_PATH=… AH_MODEL_REPLAY=…). AH_MODEL_RUNS=10 runs longer
 * (default 3, about a minute and a quarter here).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { BOUND_MS, RosterFleet, type AccessPointProc, type ExecutorSays, type FleetRow } from '../helpers/roster-fleet.js';
import { skipWithout } from '../helpers/tools.js';

const RUNS = Number(process.env.AH_MODEL_RUNS ?? 3);
const SEED = Number(process.env.AH_MODEL_SEED ?? Date.now() % 2 ** 31);
const PATH = process.env.AH_MODEL_PATH;
/** The counterexample's `replayPath` (fast-check prints it in the sequence): the shrunk commands exactly. */
const REPLAY = process.env.AH_MODEL_REPLAY;
const ACCESS_POINTS = 3;
const EXECUTORS = 4;

interface Model {
  apUp: boolean[];
  exUp: boolean[];
  etcdUp: boolean;
}

type Real = RosterFleet;

interface Snapshot {
  etcdUp: boolean;
  executors: Record<string, ExecutorSays | null>;
  views: Record<string, FleetRow[] | null>;
}

/** What breaks the invariant in one look at the fleet, one line each; empty when it holds. */
function problems(fleet: RosterFleet, snap: Snapshot): string[] {
  const out: string[] = [];
  const live = new Set(fleet.liveAccessPoints.map((ap) => ap.id));
  const running = new Map(fleet.runningExecutors.map((ex) => [ex.name, snap.executors[ex.name]] as const));
  const at = new Map<string, string | null>();
  for (const [name, says] of running) {
    const ap = fleet.accessPointAt(says?.accessPoint ?? null);
    at.set(name, ap);
    if (says?.state !== 'enrolled' || ap === null || !live.has(ap)) out.push(`${name} is ${says?.state ?? 'silent'} at ${ap ?? 'no access point'}`);
  }
  for (const [apId, rows] of Object.entries(snap.views)) {
    if (rows === null) {
      out.push(`${apId} does not answer`);
      continue;
    }
    const names = rows.map((r) => r.name);
    const twice = names.filter((n, i) => names.indexOf(n) !== i);
    if (twice.length > 0) out.push(`${apId} lists ${twice.join(', ')} twice`);
    const listed = snap.etcdUp ? rows : rows.filter((r) => r.accessPoint === apId);
    for (const r of listed) {
      if (!running.has(r.name)) out.push(`${apId} lists ${r.name} (stopped) at ${r.accessPoint}`);
      else if (at.get(r.name) !== r.accessPoint) out.push(`${apId} lists ${r.name} at ${r.accessPoint}, linked to ${at.get(r.name)}`);
    }
    for (const name of running.keys()) {
      if (!snap.etcdUp && at.get(name) !== apId) continue;
      if (!names.includes(name)) out.push(`${apId} does not list ${name}${snap.etcdUp ? '' : ' (its own)'}`);
    }
  }
  return out;
}

/** One look at every running executor and every live access point: only what the invariant is about (no heartbeat times). */
async function look(fleet: RosterFleet, view: (ap: AccessPointProc) => Promise<FleetRow[] | null>): Promise<Snapshot> {
  const executors: Snapshot['executors'] = {};
  for (const ex of fleet.runningExecutors) {
    const says = await fleet.executorSays(ex);
    executors[ex.name] = says && { state: says.state, accessPoint: says.accessPoint };
  }
  const views: Snapshot['views'] = {};
  for (const ap of fleet.liveAccessPoints) {
    const rows = await view(ap);
    views[ap.id] = rows === null ? null : rows.map((r) => ({ id: r.id, name: r.name, state: r.state, accessPoint: r.accessPoint }));
    // Not even for a moment while the fleet moves: one row per identity.
    const ids = (rows ?? []).map((r) => r.id);
    const twice = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (twice.length > 0) throw new Error(`${ap.id} lists ${twice.join(', ')} twice: ${JSON.stringify(rows)}`);
  }
  return { etcdUp: fleet.etcd.running, executors, views };
}

const showViews = (snap: Snapshot) =>
  Object.entries(snap.views)
    .map(([ap, rows]) => `${ap}: ${rows === null ? 'silent' : rows.map((r) => `${r.name}@${r.accessPoint}`).join(' ')}`)
    .join(' | ');

/**
 * The quiet period: look until the views and executors have stayed the same for a few looks in a
 * row while the invariant holds (or the bound passes), then check once more through
 * `ah agent fleet --json` on every live access point.
 */
async function quietThenCheck(fleet: RosterFleet, after: string): Promise<void> {
  let previous = '';
  let same = 0;
  const settled = await eventually(
    () => look(fleet, (ap) => fleet.view(ap)),
    (snap) => {
      const key = JSON.stringify(snap);
      same = key === previous ? same + 1 : 0;
      previous = key;
      return same >= 3 && problems(fleet, snap).length === 0;
    },
    `the fleet to settle after ${after}`,
    { timeoutMs: BOUND_MS, intervalMs: 300, show: (snap) => `${problems(fleet, snap).join('; ') || 'still changing'} — ${showViews(snap)}` },
  ).catch((err: Error) => err);
  if (settled instanceof Error) throw settled;
  const final = await look(fleet, async (ap) => fleet.fleetJson(ap));
  expect(problems(fleet, final), `after ${after}: ${showViews(final)}`).toEqual([]);
  for (const ap of fleet.liveAccessPoints) expect(ap.daemon!.child.exitCode, `${ap.id} is alive`).toBeNull();
  for (const ex of fleet.runningExecutors) expect(ex.daemon!.child.exitCode, `${ex.name} is alive`).toBeNull();
}

/** The steps, each a fast-check command whose `toString` is what a shrunk failure prints. */
class KillAccessPoint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly i: number) {}
  // At least one access point stays up: with none, there is nothing to be listed on.
  check = (m: Readonly<Model>) => m.apUp[this.i]! && m.apUp.filter(Boolean).length >= 2;
  async run(m: Model, r: Real): Promise<void> {
    await r.killAccessPoint(r.accessPoints[this.i]!);
    m.apUp[this.i] = false;
    await quietThenCheck(r, this.toString());
  }
  toString = () => `kill -9 ap-${this.i + 1}`;
}

class StartAccessPoint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly i: number) {}
  check = (m: Readonly<Model>) => !m.apUp[this.i];
  async run(m: Model, r: Real): Promise<void> {
    await r.startAccessPoint(r.accessPoints[this.i]!);
    m.apUp[this.i] = true;
    await quietThenCheck(r, this.toString());
  }
  toString = () => `start ap-${this.i + 1}`;
}

/** Back at once, within its old lease's TTL: its old keys are still there when it comes back. */
class KillAndRestartAccessPoint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly i: number) {}
  check = (m: Readonly<Model>) => m.apUp[this.i]!;
  async run(_m: Model, r: Real): Promise<void> {
    const ap = r.accessPoints[this.i]!;
    await r.killAccessPoint(ap);
    await r.startAccessPoint(ap);
    await quietThenCheck(r, this.toString());
  }
  toString = () => `kill -9 ap-${this.i + 1} and start it again at once`;
}

class DrainAccessPoint implements fc.AsyncCommand<Model, Real> {
  constructor(readonly i: number) {}
  check = (m: Readonly<Model>) => m.apUp[this.i]!;
  async run(_m: Model, r: Real): Promise<void> {
    const ap = r.accessPoints[this.i]!;
    expect(await r.drainAccessPoint(ap), `${ap.id} exits 0 after its drain`).toBe(0);
    await r.startAccessPoint(ap);
    await quietThenCheck(r, this.toString());
  }
  toString = () => `drain ap-${this.i + 1} (SIGTERM), start it again`;
}

class EtcdDown implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => m.etcdUp;
  async run(m: Model, r: Real): Promise<void> {
    await r.etcdDown();
    m.etcdUp = false;
    await quietThenCheck(r, this.toString());
  }
  toString = () => 'kill -9 etcd';
}

class EtcdUp implements fc.AsyncCommand<Model, Real> {
  check = (m: Readonly<Model>) => !m.etcdUp;
  async run(m: Model, r: Real): Promise<void> {
    await r.etcdUp();
    m.etcdUp = true;
    await quietThenCheck(r, this.toString());
  }
  toString = () => 'start etcd again';
}

class StopExecutor implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly j: number,
    readonly signal: 'SIGTERM' | 'SIGKILL',
  ) {}
  check = (m: Readonly<Model>) => m.exUp[this.j]!;
  async run(m: Model, r: Real): Promise<void> {
    await r.stopExecutor(r.executors[this.j]!, this.signal);
    m.exUp[this.j] = false;
    await quietThenCheck(r, this.toString());
  }
  toString = () => `stop ex-${this.j + 1} (${this.signal})`;
}

/** Started again at once, with the same identity: its new link may come before its old one is seen to go. */
class RestartExecutor implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly j: number,
    readonly signal: 'SIGTERM' | 'SIGKILL',
  ) {}
  check = (m: Readonly<Model>) => m.exUp[this.j]!;
  async run(_m: Model, r: Real): Promise<void> {
    const ex = r.executors[this.j]!;
    await r.stopExecutor(ex, this.signal);
    r.startExecutor(ex);
    await r.waitEnrolled(ex);
    await quietThenCheck(r, this.toString());
  }
  toString = () => `restart ex-${this.j + 1} (${this.signal})`;
}

class StartExecutor implements fc.AsyncCommand<Model, Real> {
  constructor(readonly j: number) {}
  check = (m: Readonly<Model>) => !m.exUp[this.j];
  async run(m: Model, r: Real): Promise<void> {
    const ex = r.executors[this.j]!;
    r.startExecutor(ex);
    await r.waitEnrolled(ex);
    m.exUp[this.j] = true;
    await quietThenCheck(r, this.toString());
  }
  toString = () => `start ex-${this.j + 1} again`;
}

const ap = fc.integer({ min: 0, max: ACCESS_POINTS - 1 });
const ex = fc.integer({ min: 0, max: EXECUTORS - 1 });
const steps = [
  ap.map((i) => new KillAccessPoint(i)),
  ap.map((i) => new StartAccessPoint(i)),
  ap.map((i) => new KillAndRestartAccessPoint(i)),
  ap.map((i) => new DrainAccessPoint(i)),
  fc.constant(new EtcdDown()),
  fc.constant(new EtcdUp()),
  fc.tuple(ex, fc.constantFrom<'SIGTERM' | 'SIGKILL'>('SIGTERM', 'SIGKILL')).map(([j, s]) => new StopExecutor(j, s)),
  ex.map((j) => new StartExecutor(j)),
  fc.tuple(ex, fc.constantFrom<'SIGTERM' | 'SIGKILL'>('SIGTERM', 'SIGKILL')).map(([j, s]) => new RestartExecutor(j, s)),
];

/** Back to everything running (etcd first, so that the access points started meet it). */
async function restore(fleet: RosterFleet): Promise<void> {
  if (!fleet.etcd.running) await fleet.etcdUp();
  for (const ap of fleet.accessPoints) if (!ap.daemon) await fleet.startAccessPoint(ap);
  for (const ex of fleet.executors) if (!ex.daemon) fleet.startExecutor(ex);
  for (const ex of fleet.executors) await fleet.waitEnrolled(ex);
}

let fleet: RosterFleet;

describe.skipIf(skipWithout('etcd'))('many access points, one fleet, under random kills, drains and outages', () => {
  beforeAll(async () => {
    fleet = await RosterFleet.start({ accessPoints: ACCESS_POINTS, executors: EXECUTORS });
  }, 3 * BOUND_MS);

  afterAll(async () => {
    await fleet?.stop();
    await stopAll();
  }, BOUND_MS);

  it(
    'lists every running executor exactly once, on a live access point, after every step',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(steps, { size: 'max', maxCommands: 10, ...(REPLAY && { replayPath: REPLAY }) }), async (cmds) => {
          const model: Model = { apUp: Array(ACCESS_POINTS).fill(true), exUp: Array(EXECUTORS).fill(true), etcdUp: true };
          try {
            await quietThenCheck(fleet, 'the start (everything running)');
            await fc.asyncModelRun(() => ({ model, real: fleet }), cmds);
          } finally {
            if (process.env.AH_MODEL_DEBUG) console.log(`run: ${String(cmds)}`);
            await restore(fleet);
          }
          await quietThenCheck(fleet, `${String(cmds)}, then everything started again`);
        }),
        {
          numRuns: RUNS,
          seed: SEED,
          ...(PATH && { path: PATH }),
          verbose: 1,
          // Each step takes seconds of real time: shrinking stops here and reports the shortest sequence it has.
          interruptAfterTimeLimit: RUNS * 90_000 + 240_000,
          markInterruptAsFailure: true,
        },
      );
    },
    RUNS * 90_000 + 300_000,
  );
});
