/**
 * Model-based test of the enrollment lifecycle against the real system: the shortest paths that
 * cover every transition of the model (xstate/graph), each run against a real executor process
 * behind a real proxy, talking TLS to real access points. After every step the executor's own
 * status must report the model's state.
 */
import { allTransitions, transitionCoveringPaths } from './coverage.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll } from '../helpers/cli.js';
import { enrollmentModel, type ModelEvent } from './enrollment-model.js';
import { AccessPoints, FleetHarness } from './harness/fleet-harness.js';

const paths = transitionCoveringPaths(enrollmentModel);
const transitions = allTransitions(enrollmentModel);
/** Edges the paths walk, recorded as they are run. */
const covered = new Set<string>();

let aps: AccessPoints;
beforeAll(async () => {
  aps = await AccessPoints.start();
});
afterAll(async () => {
  await stopAll();
  const missing = [...transitions].filter((t) => !covered.has(t));
  process.stdout.write(
    `enrollment model: ${transitions.size} transitions, ${covered.size} covered by ${paths.length} paths${missing.length ? `; not covered: ${missing.join(', ')}` : ''}\n`,
  );
  expect(missing).toEqual([]);
});

/** Turn a model event into what it stands for in the real world. */
function realize(h: FleetHarness, memo: { connectedSince?: string | null; rotations?: number; nextRotationAt?: string | null }) {
  const remember = async () => {
    const s = await h.status();
    memo.connectedSince = s?.connectedSince ?? null;
    memo.rotations = s?.rotations ?? 0;
    memo.nextRotationAt = s?.nextRotationAt ?? null;
  };
  const actions: Record<ModelEvent, () => Promise<void>> = {
    START: async () => {
      h.startExecutor();
    },
    START_GIVING_UP: async () => {
      await h.setMode('refuse');
      h.startExecutor(2);
    },
    CUT: async () => {
      await remember();
      h.proxy.cut();
    },
    REFUSE_NEW: () => h.setMode('refuse'),
    REFUSE_ALL: async () => {
      await h.setMode('refuse');
      h.proxy.cut();
    },
    REJECT: () => h.setMode('reject'),
    STALL: () => h.setMode('stall'),
    RESTORE: () => h.setMode('forward'),
    RENEWAL_DUE: async () => {
      await remember();
      const due = Date.parse(memo.nextRotationAt!);
      // Let the clock reach the renewal point: real time, as a user's executor would live it.
      await h.until(() => Date.now() > due, 'reached its renewal point', 60_000);
    },
  };
  return actions;
}

describe('enrollment: every model transition on the real system', () => {
  it.concurrent.each(paths.map((p) => [p.description, p] as const))('%s', async (_name, path) => {
    const h = await FleetHarness.start(aps);
    const memo: { connectedSince?: string | null; rotations?: number; nextRotationAt?: string | null } = {};
    let previous = 'idle';
    try {
      const actions = realize(h, memo);
      for (const step of path.steps) {
        const event = step.event.type as ModelEvent | 'xstate.init';
        if (event !== 'xstate.init') {
          await actions[event]();
          covered.add(`enrollment-model.${previous} --${event}`);
        }
        const expected = step.state.value;
        const top = typeof expected === 'string' ? expected : Object.keys(expected)[0]!;
        const sub = typeof expected === 'string' ? null : (Object.values(expected)[0] as string);
        previous = sub ? `${top}.${sub}` : top;
        if (top === 'idle') continue;
        if (top === 'failed') {
          expect(await h.executor!.exited).toBe(1);
          expect(h.executor!.stderr[0]).toBe(`error: connection refused to 127.0.0.1:${h.proxy.port}`);
          continue;
        }
        // Disconnected settles when the error says why: the rejection, or the refusal.
        const why = top !== 'disconnected' ? null : sub === 'rejected' ? 'ENROLL_SAN_MISMATCH' : 'ENROLL_CONNECTION_REFUSED';
        const s = await h.until((x) => x.state === top && (why === null || x.lastError?.code === why), `${top}${sub ? ` (${sub})` : ''} after ${event}`);
        if (event === 'CUT' && top === 'enrolled') expect(s.connectedSince).not.toBe(memo.connectedSince);
        if (event === 'RENEWAL_DUE' && top === 'enrolled') await h.until((x) => x.rotations > memo.rotations!, 'rotated');
        if (top === 'enrolled') expect(Date.parse(s.identity!.notAfter)).toBeGreaterThan(Date.now());
      }
    } finally {
      await h.stop();
    }
  });
});
