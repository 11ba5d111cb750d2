/**
 * The welcome's `accessPoints`, in-process over real TLS: an access point given a fleet directory
 * (a fake one here, standing for the etcd roster) names the OTHER serving access points in its
 * welcome; an executor given that one address alone fails over to them when its link is lost,
 * and moves to them when its access point drains, which also marks it draining in the directory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  createAccessPoint,
  createExecutor,
  type AccessPoint,
  type AccessPointInfo,
  type AccessPointState,
  type Executor,
  type FleetDirectory,
} from '../../src/index.js';
import type { ExecutorStatus } from '../../src/engine/executor-status.js';
import { tempStateDir } from '../helpers/cli.js';

const started: Array<AccessPoint | Executor> = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((x) => x.stop().catch(() => {})));
});

class FakeDirectory implements FleetDirectory {
  readonly states: AccessPointState[] = [];
  constructor(public entries: AccessPointInfo[]) {}
  accessPoints(): readonly AccessPointInfo[] {
    return this.entries;
  }
  async setState(state: AccessPointState): Promise<void> {
    this.states.push(state);
  }
}

async function accessPoint(options: { directory?: FleetDirectory; accessPointId?: string } = {}): Promise<{ ap: AccessPoint; url: string }> {
  const ap = createAccessPoint({ listen: '127.0.0.1:0', stateDir: tempStateDir(), statusSocket: false, heartbeatIntervalMs: 500, ...options });
  started.push(ap);
  const { port } = await ap.start();
  return { ap, url: `https://127.0.0.1:${port}` };
}

function executorOf(url: string): Executor {
  const ex = createExecutor({ name: 'lone', remoteServer: url, stateDir: tempStateDir(), statusSocket: false, backoff: { baseMs: 50, capMs: 200 } });
  started.push(ex);
  return ex;
}

/** The first status (from now on) that passes `test`, within a generous bound. */
function nextStatus(ex: Executor, test: (s: ExecutorStatus) => boolean, what: string, timeoutMs = 20_000): Promise<ExecutorStatus> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`executor not ${what} within ${timeoutMs} ms (now ${ex.state})`)), timeoutMs);
    const onState = (s: ExecutorStatus) => {
      if (!test(s)) return;
      clearTimeout(timer);
      ex.off('state', onState);
      resolve(s);
    };
    ex.on('state', onState);
  });
}

describe("the welcome's other access points", () => {
  it('are the serving ones but itself, and take over when the only given access point goes', async () => {
    const other = await accessPoint();
    const directory = new FakeDirectory([]);
    const first = await accessPoint({ directory, accessPointId: 'ap-1' });
    directory.entries = [
      { id: 'ap-1', address: first.url, state: 'serving', executors: 0 },
      { id: 'ap-2', address: other.url, state: 'serving', executors: 0 },
      { id: 'ap-3', address: 'https://127.0.0.1:1', state: 'draining', executors: 4 },
    ];
    const ex = executorOf(first.url);
    await ex.start();
    const enrolled = await ex.waitFor('enrolled');
    expect(enrolled.accessPoint).toBe(first.url);
    expect(enrolled.accessPoints).toEqual([first.url, other.url]);

    await first.ap.stop();
    const moved = await nextStatus(ex, (s) => s.state === 'enrolled', 'enrolled again');
    expect(moved.accessPoint).toBe(other.url);
    expect(other.ap.roster.size).toBe(1);
  });

  it('are where a draining access point sends its executors, make-before-break, and the directory hears it drains', async () => {
    const other = await accessPoint();
    const directory = new FakeDirectory([]);
    const first = await accessPoint({ directory, accessPointId: 'ap-1' });
    directory.entries = [
      { id: 'ap-1', address: first.url, state: 'serving', executors: 0 },
      { id: 'ap-2', address: other.url, state: 'serving', executors: 0 },
    ];
    const ex = executorOf(first.url);
    await ex.start();
    await ex.waitFor('enrolled');
    const states: string[] = [];
    ex.on('state', (s) => states.push(s.state));
    const welcomedAtOther = new Promise<number>((resolve) => other.ap.once('admitted', () => resolve(Date.now())));
    const leftFirst = new Promise<{ reason: string; at: number }>((resolve) => first.ap.once('departed', (d) => resolve({ reason: d.reason, at: Date.now() })));
    const drained = new Promise((resolve) => first.ap.once('drained', resolve));

    void first.ap.drain('test');
    expect(first.ap.readiness()).toEqual({ ready: false, state: 'draining' });
    expect(directory.states).toEqual(['draining']);
    const moved = await nextStatus(ex, (s) => s.state === 'enrolled', 'enrolled at the other');
    expect(moved.accessPoint).toBe(other.url);
    const [welcomeAt, left] = await Promise.all([welcomedAtOther, leftFirst]);
    expect(left.reason).toBe('goodbye: moved');
    expect(left.at).toBeGreaterThanOrEqual(welcomeAt);
    expect(await drained).toMatchObject({ outcome: 'links_gone', linksLeft: 0, asked: 1 });
    expect(states).toEqual(['relinking', 'enrolled']);
  });
});
