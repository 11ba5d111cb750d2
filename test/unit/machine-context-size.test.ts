/**
 * XState's `assign` copies a context with `Object.assign({}, context, update)`; V8 keeps such a copy's
 * properties fast only up to 19 of them, past that every assign makes a dictionary and every read
 * is a hash lookup (docs/performance.md §Machine contexts with many fields). The machines that run
 * once per link or per executor keep their contexts within it: group fields when one grows.
 */
import { createActor, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { connectionMachine } from '../../src/machines/connection.js';
import { createHarness, identity } from '../helpers/machine-harness.js';

const MAX_FAST_FIELDS = 19;
const HOUR = 3_600_000;

describe('machine contexts stay within what V8 copies fast', () => {
  it('the enrollment machine and its rotation child, enrolled', () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 24 * HOUR));
    h.welcome(h.lastLink());
    expect(h.value).toBe('enrolled');
    expect(Object.keys(h.context).length).toBeLessThanOrEqual(MAX_FAST_FIELDS);
    expect(Object.keys(h.rotation.getSnapshot().context).length).toBeLessThanOrEqual(MAX_FAST_FIELDS);
  });

  it("the access point's connection machine", () => {
    const actor = createActor(connectionMachine, {
      clock: new SimulatedClock(),
      input: { linkId: 'link-1', remoteAddress: '127.0.0.1:5', heartbeatIntervalMs: 1_000 },
    });
    actor.start();
    expect(Object.keys(actor.getSnapshot().context).length).toBeLessThanOrEqual(MAX_FAST_FIELDS);
    actor.stop();
  });
});
