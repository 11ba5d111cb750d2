/**
 * Drain without absence, in the enrollment machine on a SimulatedClock: goodbye{draining} moves
 * the executor make-before-break (`relinking`), the old link kept (heartbeating by itself) until
 * the new one is welcomed, the continuity proof over the draining link's nonce, and the fallbacks: the same
 * (balancer) address after retryAfterMs, then keeping the draining link until it is closed.
 */
import { describe, expect, it } from 'vitest';
import { createHarness, identity, type FakeLink } from '../helpers/machine-harness.js';

const HOUR = 3_600_000;
const refused = (link: FakeLink) =>
  link.report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: { address: link.address }, retryable: true } });
const draining = (link: FakeLink, retryAfterMs = 5_000) => link.report({ type: 'LINK_DRAINING', retryAfterMs });

function enrolledWith(servers: string[]) {
  const h = createHarness({ remoteServer: servers[0]!, remoteServers: servers });
  h.material(identity(1, h.clock.now(), 24 * HOUR));
  h.welcome(h.lastLink(), 1_000, 'nonce-1');
  expect(h.value).toBe('enrolled');
  return h;
}

describe('relinking away from a draining access point', () => {
  it('dials another access point at once and closes the draining link only after the welcome', () => {
    const h = enrolledWith(['ap-1:4433', 'ap-2:4433', 'ap-3:4433']);
    const old = h.lastLink();
    const from = h.context.link.server!;
    draining(old);
    expect(h.value).toEqual({ relinking: 'elsewhere' });
    const next = h.lastLink();
    expect(next).not.toBe(old);
    expect(next.address).not.toBe(from);
    // The continuity proof is over the draining link's welcome nonce, with the link's identity.
    expect(next.continues).toEqual({ fingerprint: 'fp-1', nonce: 'nonce-1' });
    // ... and its heartbeats, once welcomed, carry on the draining link's cadence.
    expect(next.follows).toBe(old.linkId);
    // The old link stays up (and heartbeats) while the new one is dialed: no gap.
    h.clock.increment(2_000);
    expect(old.stopped).toBe(false);
    expect(old.commands).toEqual([]);
    h.welcome(next, 1_000, 'nonce-2');
    expect(h.value).toBe('enrolled');
    expect(old.commands.at(-1)).toEqual({ type: 'CLOSE', reason: 'moved' });
    expect(old.stopped).toBe(true);
    expect(h.context.link.server).toBe(next.address);
    expect(h.context.link.nonce).toBe('nonce-2');
    expect(h.context.rotations).toBe(0);
    // The new link carries on, and nothing counted as a failure.
    h.clock.increment(1_000);
    expect(next.stopped).toBe(false);
    expect(h.context.attempts).toBe(0);
    expect(h.context.lastError).toBeNull();
  });

  it('tries each other access point, then the draining address after retryAfterMs', () => {
    const h = enrolledWith(['ap-1:4433', 'ap-2:4433', 'ap-3:4433']);
    const old = h.lastLink();
    const from = h.context.link.server!;
    draining(old, 7_000);
    const tried = [h.lastLink().address];
    refused(h.lastLink());
    expect(h.value).toEqual({ relinking: 'elsewhere' });
    tried.push(h.lastLink().address);
    refused(h.lastLink());
    expect(new Set(tried).size).toBe(2);
    expect(tried).not.toContain(from);
    expect(h.value).toEqual({ relinking: 'waitingToReturn' });
    h.clock.increment(6_999);
    expect(h.value).toEqual({ relinking: 'waitingToReturn' });
    h.clock.increment(1);
    expect(h.value).toEqual({ relinking: 'returning' });
    expect(h.lastLink().address).toBe(from);
    h.welcome(h.lastLink(), 1_000, 'nonce-3');
    expect(h.value).toBe('enrolled');
    expect(old.stopped).toBe(true);
  });

  it('with one (balancer) address dials it again after retryAfterMs, not at once', () => {
    const h = enrolledWith(['lb:4433']);
    const old = h.lastLink();
    const links = h.links.length;
    draining(old, 3_000);
    expect(h.value).toEqual({ relinking: 'waitingToReturn' });
    expect(h.links.length).toBe(links);
    h.clock.increment(3_000);
    expect(h.value).toEqual({ relinking: 'returning' });
    expect(h.lastLink().address).toBe('lb:4433');
    expect(h.lastLink().continues).toEqual({ fingerprint: 'fp-1', nonce: 'nonce-1' });
    h.welcome(h.lastLink(), 1_000, 'nonce-2');
    expect(h.value).toBe('enrolled');
    expect(old.commands.at(-1)).toEqual({ type: 'CLOSE', reason: 'moved' });
  });

  it('keeps the draining link when nobody takes it, and reconnects with backoff once it is closed', () => {
    const h = enrolledWith(['lb:4433']);
    const old = h.lastLink();
    draining(old, 1_000);
    h.clock.increment(1_000);
    h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_ACCESS_POINT_DRAINING', params: { address: 'lb:4433' }, retryable: true } });
    expect(h.value).toEqual({ relinking: 'stranded' });
    expect(old.stopped).toBe(false);
    expect(h.context.lastError?.code).toBe('ENROLL_ACCESS_POINT_DRAINING');
    // The link stays up (heartbeating by itself): the executor stays in the fleet view.
    h.clock.increment(1_000);
    expect(old.stopped).toBe(false);
    old.report({ type: 'LINK_CLOSED', reason: 'access point said goodbye: draining', error: null });
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    expect(h.context.lastError).toMatchObject({ code: 'ENROLL_LINK_LOST', params: { address: 'lb:4433' } });
    h.clock.increment(h.context.retry.delayMs);
    expect(h.value).toBe('handshaking');
  });

  it('stranded, tries the others again after a jittered backoff while the draining link lasts, and moves when one takes it', () => {
    const h = enrolledWith(['ap-1:4433', 'ap-2:4433']);
    const old = h.lastLink();
    const from = h.context.link.server!;
    draining(old, 1_000);
    refused(h.lastLink());
    expect(h.value).toEqual({ relinking: 'waitingToReturn' });
    h.clock.increment(1_000);
    h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_ACCESS_POINT_DRAINING', params: { address: from }, retryable: true } });
    expect(h.value).toEqual({ relinking: 'stranded' });
    const wait = h.context.retry.delayMs;
    expect(wait).toBeGreaterThanOrEqual(0);
    const links = h.links.length;
    h.clock.increment(Math.max(0, wait - 1));
    if (wait > 0) expect(h.links.length).toBe(links);
    h.clock.increment(1);
    // The other access point again (it may have been restarting), the draining link still up.
    expect(h.value).toEqual({ relinking: 'elsewhere' });
    expect(h.lastLink().address).not.toBe(from);
    expect(old.stopped).toBe(false);
    h.welcome(h.lastLink(), 1_000, 'nonce-9');
    expect(h.value).toBe('enrolled');
    expect(old.commands.at(-1)).toEqual({ type: 'CLOSE', reason: 'moved' });
    expect(h.context.retry.backoffs).toBe(0);
  });

  it('stranded with one (balancer) address, dials that address again after the backoff', () => {
    const h = enrolledWith(['lb:4433']);
    draining(h.lastLink(), 1_000);
    h.clock.increment(1_000);
    h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_ACCESS_POINT_DRAINING', params: { address: 'lb:4433' }, retryable: true } });
    expect(h.value).toEqual({ relinking: 'stranded' });
    h.clock.increment(h.context.retry.delayMs);
    expect(h.value).toEqual({ relinking: 'returning' });
    expect(h.lastLink().address).toBe('lb:4433');
  });

  it('moves with the newer identity when the drain comes during a rotation, and counts the rotation', () => {
    const h = enrolledWith(['ap-1:4433', 'ap-2:4433']);
    const old = h.lastLink();
    h.material(identity(2, h.clock.now(), 24 * HOUR));
    expect(h.value).toEqual({ renewing: 'applying' });
    const rotation = h.lastLink();
    draining(old);
    expect(rotation.stopped).toBe(true);
    expect(h.value).toEqual({ relinking: 'elsewhere' });
    const next = h.lastLink();
    expect(next.fingerprint).toBe('fp-2');
    expect(next.continues).toEqual({ fingerprint: 'fp-1', nonce: 'nonce-1' });
    h.welcome(next, 1_000, 'nonce-2');
    expect(h.value).toBe('enrolled');
    expect(h.context.rotations).toBe(1);
    expect(h.context.link.identity?.fingerprint).toBe('fp-2');
  });

  it('ignores a drain notice from a link that is not the active one', () => {
    const h = enrolledWith(['ap-1:4433', 'ap-2:4433']);
    h.material(identity(2, h.clock.now(), 24 * HOUR));
    draining(h.lastLink());
    expect(h.value).toEqual({ renewing: 'applying' });
  });

  it('dials again with material renewed while it dials, so the link is known by the certificate it presents', () => {
    const h = enrolledWith(['ap-1:4433', 'ap-2:4433']);
    draining(h.lastLink());
    const first = h.lastLink();
    expect(first.fingerprint).toBe('fp-1');
    h.material(identity(2, h.clock.now(), 24 * HOUR));
    expect(first.stopped).toBe(true);
    expect(h.value).toEqual({ relinking: 'elsewhere' });
    const again = h.lastLink();
    expect(again).toMatchObject({ fingerprint: 'fp-2', address: first.address, continues: { fingerprint: 'fp-1', nonce: 'nonce-1' } });
    h.welcome(again, 1_000, 'nonce-2');
    expect(h.context.link.identity?.fingerprint).toBe('fp-2');
  });
});
