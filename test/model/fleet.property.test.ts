/**
 * fast-check on the real system: random sequences of the harness actions (cut the link, refuse,
 * reject, stall, restore), then the way back open. Invariants, checked after every action and at
 * the end: the executor is never `enrolled` with an expired certificate; it is eventually
 * `enrolled` once the network allows; once settled the access point holds exactly one roster
 * entry and one link for it (nothing leaked by the cuts and retries); and no process crashed.
 * A failure is shrunk by fast-check to a minimal sequence, printed with its seed.
 * AH_MODEL_RUNS=50 runs longer (default 4 in CI).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryStatus } from '../../src/transport/status-server.js';
import { paths } from '../../src/engine/state-dir.js';
import { stopAll } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { AccessPoints, FleetHarness } from './harness/fleet-harness.js';

type Action = 'CUT' | 'REFUSE_NEW' | 'REFUSE_ALL' | 'REJECT' | 'STALL' | 'RESTORE' | 'PAUSE';
const RUNS = Number(process.env.AH_MODEL_RUNS ?? 4);

let aps: AccessPoints;
beforeAll(async () => {
  aps = await AccessPoints.start();
});
afterAll(stopAll);

async function act(h: FleetHarness, a: Action): Promise<void> {
  switch (a) {
    case 'CUT':
      return h.proxy.cut();
    case 'REFUSE_NEW':
      return h.setMode('refuse');
    case 'REFUSE_ALL':
      await h.setMode('refuse');
      return h.proxy.cut();
    case 'REJECT':
      return h.setMode('reject');
    case 'STALL':
      return h.setMode('stall');
    case 'RESTORE':
      return h.setMode('forward');
    case 'PAUSE': {
      // Let the executor act on what it has (a retry, a heartbeat) before the next action. A
      // stalled handshake does nothing for a while: then the pause simply ends.
      const seen = h.executor!.lines.length;
      await h.executor!.waitForNewLine(seen + 2, () => true, 'two more machine events', 2_000).catch(() => undefined);
    }
  }
}

async function accessPointView(): Promise<{ executors: Array<{ id: string }>; links: number }> {
  const fleet = (await queryStatus(paths.accessPointSocket(aps.welcoming.stateDir), 'fleet')) as { executors: Array<{ id: string }> };
  const status = (await queryStatus(paths.accessPointSocket(aps.welcoming.stateDir), 'status')) as { links: number };
  return { executors: fleet.executors, links: status.links };
}

describe('the real fleet under random network trouble', () => {
  it(
    'keeps its invariants and recovers',
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.constantFrom<Action>('CUT', 'REFUSE_NEW', 'REFUSE_ALL', 'REJECT', 'STALL', 'RESTORE', 'PAUSE'), { minLength: 2, maxLength: 7 }),
          async (actions) => {
            const h = await FleetHarness.start(aps);
            try {
              h.startExecutor();
              await h.until((s) => s.state === 'enrolled', 'enrolled at start');
              for (const a of actions) {
                await act(h, a);
                const s = await h.status();
                expect(h.executor!.child.exitCode, 'the executor is alive').toBeNull();
                if (s?.state === 'enrolled') expect(Date.parse(s.identity!.notAfter), 'enrolled only with a valid certificate').toBeGreaterThan(Date.now());
              }
              // The way back open: it must come back, and the access point must hold it once.
              await act(h, 'RESTORE');
              await h.until((s) => s.state === 'enrolled', `enrolled again after ${actions.join(',')}`, 30_000);
              await eventually(
                accessPointView,
                (view) => view.links === 1 && view.executors.filter((e) => e.id === h.id).length === 1,
                'one roster entry for the executor and one link at the access point (nothing leaked)',
                { timeoutMs: 15_000 },
              );
              expect(h.executor!.stderr, 'nothing on stderr (no crash, no unhandled rejection)').toEqual([]);
              expect(aps.welcoming.daemon.child.exitCode).toBeNull();
              expect(aps.welcoming.daemon.lines.filter((l) => l.level >= 50)).toEqual([]);
            } finally {
              await h.stop();
              // The next run starts from an access point without our link.
              // Best effort: a link that never goes shows up in the next run's own check, with its actions.
              await eventually(accessPointView, (view) => view.links === 0, 'the access point without links', { timeoutMs: 10_000, intervalMs: 50 }).catch(
                () => undefined,
              );
            }
          },
        ),
        { numRuns: RUNS, verbose: 1 },
      );
      // Each run takes a few seconds of real time; a failure also needs room to shrink.
    },
    RUNS * 40_000 + 120_000,
  );
});
