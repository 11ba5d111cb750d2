/**
 * A rolling restart of three access points sharing the roster on a real etcd, all real processes:
 * each in turn is drained (SIGTERM), waited for until it exits, started again and waited for until
 * it serves. Meanwhile the fleet views of the live access points are sampled every 200 ms (their
 * status sockets, what `ah agent fleet --json` prints): every executor is in their union at every
 * sample. From each executor's own link log (`ah_transport` debug lines, in order, on the
 * executor's clock): between two consecutive heartbeats it sends (`heartbeat_sent`, on whichever
 * link, one period apart) a link always answered one (`heartbeat_acked`) or a new link was
 * welcomed (`welcomed`): no interval without a heartbeat acknowledged. And no executor ever logged
 * `ENROLL_LINK_LOST`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEvent, stopAll, type LogLine } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { BOUND_MS, RosterFleet, type AccessPointProc, type ExecutorProc } from '../helpers/roster-fleet.js';
import { skipWithout } from '../helpers/tools.js';

const EXECUTORS = 6;
const SAMPLE_MS = 200;

let fleet: RosterFleet;

interface Sample {
  /** Access points not running when the sample began. */
  down: string[];
  answered: string[];
  missing: string[];
}

/** Samples the union of the live access points' views every 200 ms until stopped. */
class ViewSampler {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loop: Promise<void>;
  private waiting: Array<{ after: number; resolve: () => void }> = [];

  constructor(private readonly fleet: RosterFleet) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = this.samples.length;
      const aps = this.fleet.liveAccessPoints;
      const views = await Promise.all(aps.map(async (ap) => [ap.id, await this.fleet.view(ap)] as const));
      const union = new Set(views.flatMap(([, rows]) => (rows ?? []).map((r) => r.name)));
      this.samples.push({
        down: this.fleet.accessPoints.filter((ap) => !aps.includes(ap)).map((ap) => ap.id),
        answered: views.filter(([, rows]) => rows !== null).map(([id]) => id),
        missing: this.fleet.executors.map((ex) => ex.name).filter((name) => !union.has(name)),
      });
      const done = this.waiting.filter((w) => w.after < started);
      this.waiting = this.waiting.filter((w) => !done.includes(w));
      for (const w of done) w.resolve();
      await new Promise((r) => setTimeout(r, SAMPLE_MS));
    }
  }

  /** Resolves once a sample begun after this call is recorded (one in progress does not count). */
  fresh(): Promise<void> {
    return new Promise((resolve) => this.waiting.push({ after: this.samples.length, resolve }));
  }

  async stop(): Promise<Sample[]> {
    this.running = false;
    await this.loop;
    return this.samples;
  }
}

/** The executor's links' own lines: welcomes and heartbeats. */
const linkLine = (l: LogLine) => l.component === 'ah_transport' && typeof l.link === 'string';

/**
 * From log line `from` on, the heartbeats one executor sent (`dues`) and the intervals that ended
 * with no heartbeat acknowledged and no link welcomed in them (`gaps`: the heartbeat's number).
 */
function heartbeats(ex: ExecutorProc, from: number): { dues: number; gaps: number[] } {
  const gaps: number[] = [];
  // The interval before the first heartbeat seen is not judged: it began before `from`.
  let answered = true;
  let dues = 0;
  for (const l of ex.daemon!.lines.slice(from).filter(linkLine)) {
    if (l.event === 'heartbeat_acked' || l.event === 'welcomed') answered = true;
    else if (l.event === 'heartbeat_sent') {
      dues++;
      if (!answered) gaps.push(dues);
      answered = false;
    }
  }
  return { dues, gaps };
}

/** Resolves once the executor has sent `n` more heartbeats (its links' `heartbeat_sent`). */
async function moreHeartbeats(ex: ExecutorProc, n: number): Promise<void> {
  let from = ex.daemon!.lines.length;
  const due = (l: LogLine) => linkLine(l) && l.event === 'heartbeat_sent';
  for (let i = 0; i < n; i++) {
    const line = await ex.daemon!.waitForNewLine(from, due, 'a heartbeat sent', BOUND_MS);
    from = ex.daemon!.lines.indexOf(line) + 1;
  }
}

/** It answers, it says it is serving, and every live access point has it serving in its copy of the roster. */
async function serving(ap: AccessPointProc): Promise<void> {
  for (const other of fleet.liveAccessPoints)
    await eventually(
      () => fleet.accessPointsSeenBy(other),
      (list) => list?.find((a) => a.id === ap.id)?.state === 'serving',
      `${other.id} to see ${ap.id} serving`,
      { timeoutMs: BOUND_MS, intervalMs: 200 },
    );
}

describe.skipIf(skipWithout('etcd'))('rolling restart of every access point with drain', () => {
  beforeAll(async () => {
    fleet = await RosterFleet.start({ accessPoints: 3, executors: EXECUTORS, executorLogLevel: 'info,ah_transport=debug' });
  }, 3 * BOUND_MS);

  afterAll(async () => {
    await fleet?.stop();
    await stopAll();
  }, BOUND_MS);

  it(
    'keeps every executor in the fleet view at every 200 ms sample, with no heartbeat interval unanswered and no lost link',
    async () => {
      const names = fleet.executors.map((ex) => ex.name).sort();
      for (const ap of fleet.accessPoints) {
        await eventually(
          () => fleet.view(ap),
          (rows) => JSON.stringify(rows?.map((r) => r.name).sort()) === JSON.stringify(names),
          `${ap.id} to list the ${EXECUTORS} executors`,
          { timeoutMs: BOUND_MS, intervalMs: 200 },
        );
      }
      const marks = fleet.executors.map((ex) => ex.daemon!.lines.length);
      const sampler = new ViewSampler(fleet);
      try {
        for (const ap of fleet.accessPoints) {
          const daemon = ap.daemon!;
          expect(await fleet.drainAccessPoint(ap), `${ap.id} exits 0 after its drain`).toBe(0);
          expect(daemon.lines.find(isEvent('drain_done')), `${ap.id} drained`).toMatchObject({ outcome: 'links_gone', linksLeft: 0 });
          // A look while it is away, whatever the pace of the restart.
          await sampler.fresh();
          await fleet.startAccessPoint(ap);
          await serving(ap);
          // As an operator would before the next one: the fleet heartbeats on (two more from each executor).
          await Promise.all(fleet.executors.map((ex) => moreHeartbeats(ex, 2)));
        }
      } finally {
        await sampler.stop();
      }
      const samples = sampler.samples;
      // Each access point was away in some sample, and every sample was answered by at least one.
      for (const ap of fleet.accessPoints)
        expect(
          samples.some((s) => s.down.includes(ap.id)),
          `a sample while ${ap.id} was away`,
        ).toBe(true);
      expect(samples.filter((s) => s.answered.length === 0)).toEqual([]);
      expect(samples.filter((s) => s.missing.length > 0)).toEqual([]);
      for (const [i, ex] of fleet.executors.entries()) {
        const lines = ex.daemon!.lines;
        // Every executor was at some drained access point, and moved away from it.
        expect(lines.filter(isEvent('relinked', (l) => l.component === 'ah_executor')).length, `${ex.name} moved`).toBeGreaterThan(0);
        expect(
          lines.filter((l) => l.code === 'ENROLL_LINK_LOST'),
          `${ex.name} lost no link`,
        ).toEqual([]);
        const { dues, gaps } = heartbeats(ex, marks[i]!);
        // Two more after each restart at least: the check below looked at real heartbeats.
        expect(dues, `${ex.name} heartbeats sent during the restarts`).toBeGreaterThanOrEqual(6);
        expect(gaps, `${ex.name}: heartbeat intervals without an answer`).toEqual([]);
        expect(ex.daemon!.stderr).toEqual([]);
      }
      // Afterwards every access point lists each executor once, at the access point it is linked to.
      for (const ap of fleet.accessPoints) {
        const rows = await fleet.fleetJson(ap);
        expect(rows.map((r) => r.name).sort()).toEqual(names);
        for (const ex of fleet.executors) {
          const says = await fleet.executorSays(ex);
          expect(says?.state).toBe('enrolled');
          expect(rows.find((r) => r.name === ex.name)?.accessPoint).toBe(fleet.accessPointAt(says?.accessPoint ?? null));
        }
      }
    },
    4 * BOUND_MS,
  );
});
