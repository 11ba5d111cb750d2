/**
 * The enrollment machine over several access points, on a SimulatedClock: a failed dial moves on
 * to the next access point at once, a whole round of failures backs off with jitter, the welcome's
 * access points join the list, and --max-attempts counts dials.
 */
import { describe, expect, it } from 'vitest';
import { backoffCeiling, DEFAULT_BACKOFF } from '../../src/util/backoff.js';
import { createHarness, identity, type FakeLink } from '../helpers/machine-harness.js';

const HOUR = 3_600_000;
const AP = ['ap-1:4433', 'ap-2:4433', 'ap-3:4433'];
const refused = (link: FakeLink) =>
  link.report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: { address: link.address }, retryable: true } });

function started(overrides: Parameters<typeof createHarness>[0] = {}) {
  const h = createHarness({ remoteServer: AP[0]!, remoteServers: AP, ...overrides });
  h.material(identity(1, h.clock.now(), 24 * HOUR));
  return h;
}

describe('enrollment over several access points', () => {
  it('tries every access point once per round, in a shuffled order fixed by the seed', () => {
    const h = started();
    const order = h.context.config.remoteServers;
    expect([...order].sort()).toEqual(AP);
    expect(h.lastLink().address).toBe(order[0]);
    refused(h.lastLink());
    // No backoff between access points of a round: the next one is dialed on the next tick.
    expect(h.value).toEqual({ disconnected: 'failingOver' });
    expect(h.context.attempts).toBe(1);
    h.clock.increment(0);
    expect(h.value).toBe('handshaking');
    expect(h.lastLink().address).toBe(order[1]);
    refused(h.lastLink());
    h.clock.increment(0);
    expect(h.lastLink().address).toBe(order[2]);
    // The last of the round failed too: now the jittered backoff, as with one access point.
    refused(h.lastLink());
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    expect(h.context.attempts).toBe(3);
    expect(h.context.retry.delayMs).toBeLessThan(backoffCeiling(DEFAULT_BACKOFF, 1));
    h.clock.increment(h.context.retry.delayMs);
    expect(h.value).toBe('handshaking');
    expect(h.lastLink().address).toBe(order[0]);
    // Another seed, another order for at least one of a handful of seeds.
    const orders = new Set(
      [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => createHarness({ remoteServer: AP[0]!, remoteServers: AP, seed }).context.config.remoteServers.join()),
    );
    expect(orders.size).toBeGreaterThan(1);
  });

  it('enrolls at the live access point after the dead ones, and says where it is linked', () => {
    const h = started();
    const order = h.context.config.remoteServers;
    refused(h.lastLink());
    h.clock.increment(0);
    refused(h.lastLink());
    h.clock.increment(0);
    h.welcome(h.lastLink());
    expect(h.value).toBe('enrolled');
    expect(h.context.link.server).toBe(order[2]);
    expect(h.context.attempts).toBe(0);
  });

  it('grows the backoff with rounds, not with dials', () => {
    const h = started({ backoff: { baseMs: 1_000, capMs: 1_000_000 } });
    for (let round = 1; round <= 4; round++) {
      for (let i = 0; i < AP.length; i++) {
        expect(h.value).toBe('handshaking');
        refused(h.lastLink());
        if (i < AP.length - 1) h.clock.increment(0);
      }
      expect(h.value).toEqual({ disconnected: 'backingOff' });
      expect(h.context.retry.backoffs).toBe(round);
      expect(h.context.retry.delayMs).toBeLessThan(1_000 * 2 ** (round - 1));
      h.clock.increment(h.context.retry.delayMs);
    }
    expect(h.context.attempts).toBe(12);
  });

  it('counts one attempt per dial for --max-attempts', () => {
    const h = started({ maxAttempts: 2 });
    refused(h.lastLink());
    h.clock.increment(0);
    refused(h.lastLink());
    expect(h.value).toBe('failed');
    expect(h.context.attempts).toBe(2);
    expect(h.context.lastError?.params.address).toBe(h.context.config.remoteServers[1]);
  });

  it('a lost link backs off, then dials the access point after the one it lost', () => {
    const h = started();
    const order = h.context.config.remoteServers;
    h.welcome(h.lastLink());
    expect(h.context.link.server).toBe(order[0]);
    h.lastLink().report({ type: 'LINK_CLOSED', reason: 'ECONNRESET', error: null });
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    expect(h.context.lastError).toMatchObject({ code: 'ENROLL_LINK_LOST', params: { address: order[0] } });
    h.clock.increment(h.context.retry.delayMs);
    expect(h.lastLink().address).toBe(order[1]);
  });

  it("adds the welcome's access points after its own, each once, and fails over to them", () => {
    const h = createHarness({ remoteServer: 'lb:4433' });
    h.material(identity(1, h.clock.now(), 24 * HOUR));
    h.welcome(h.lastLink(), 5_000, 'n1', ['ap-1:4433', 'lb:4433', 'ap-2:4433', 'ap-1:4433']);
    expect(h.context.servers).toEqual(['lb:4433', 'ap-1:4433', 'ap-2:4433']);
    h.lastLink().report({ type: 'LINK_CLOSED', reason: 'ECONNRESET', error: null });
    h.clock.increment(h.context.retry.delayMs);
    expect(h.lastLink().address).toBe('ap-1:4433');
    refused(h.lastLink());
    expect(h.value).toEqual({ disconnected: 'failingOver' });
    h.clock.increment(0);
    expect(h.lastLink().address).toBe('ap-2:4433');
    // The next welcome's list replaces the learned part; the own list stays first.
    h.welcome(h.lastLink(), 5_000, 'n2', ['ap-3:4433']);
    expect(h.context.servers).toEqual(['lb:4433', 'ap-3:4433']);
    expect(h.context.link.server).toBe('ap-2:4433');
  });

  it('rotates on the access point of the active link', () => {
    const h = started();
    const order = h.context.config.remoteServers;
    refused(h.lastLink());
    h.clock.increment(0);
    h.welcome(h.lastLink(), 5_000, 'n1');
    expect(h.context.link.server).toBe(order[1]);
    h.material(identity(2, h.clock.now(), 24 * HOUR));
    expect(h.value).toEqual({ renewing: 'applying' });
    expect(h.lastLink().address).toBe(order[1]);
  });

  it('with one access point behaves as before: every failure backs off', () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 24 * HOUR));
    expect(h.lastLink().address).toBe('127.0.0.1:4433');
    refused(h.lastLink());
    expect(h.value).toEqual({ disconnected: 'backingOff' });
  });
});
