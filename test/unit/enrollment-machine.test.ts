import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, DEFAULT_BACKOFF } from '../../src/util/backoff.js';
import { ACKS_OVERDUE_REASON } from '../../src/actors/link-heartbeats.js';
import { messageOf } from '../../src/errors/ah-error.js';
import { advance } from '../helpers/clock.js';
import { createHarness, identity } from '../helpers/machine-harness.js';

const HOUR = 3_600_000;

describe('backoff with full jitter', () => {
  it('grows by doubling from the base and is capped', () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((n) => backoffCeiling(DEFAULT_BACKOFF, n));
    expect(ceilings).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  it('keeps every jittered delay inside [0, ceiling)', () => {
    for (let failures = 1; failures <= 12; failures++) {
      for (const r of [0, 0.25, 0.5, 0.999999]) {
        const d = backoffDelay(DEFAULT_BACKOFF, failures, r);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(backoffCeiling(DEFAULT_BACKOFF, failures));
      }
    }
  });

  it('spreads the delays the machine draws across the whole range, capped at 60s', () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 24 * HOUR));
    const delays: number[] = [];
    for (let i = 0; i < 40; i++) {
      expect(h.value).toBe('handshaking');
      h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: { address: '127.0.0.1:4433' }, retryable: true } });
      expect(h.value).toEqual({ disconnected: 'backingOff' });
      delays.push(h.context.retry.delayMs);
      h.clock.increment(h.context.retry.delayMs);
    }
    expect(Math.max(...delays)).toBeLessThan(60_000);
    expect(Math.max(...delays.slice(10))).toBeGreaterThan(20_000); // capped, not stuck small
    expect(new Set(delays).size).toBeGreaterThan(30); // jittered, not lockstep
    expect(h.context.attempts).toBe(40);
  });
});

describe('enrollment machine', () => {
  it('reaches every top-level state: disconnected, handshaking, enrolled, renewing, failed', () => {
    const h = createHarness({ maxAttempts: 2 });
    const seen = new Set<string>();
    h.actor.subscribe((s) => seen.add(typeof s.value === 'string' ? s.value : Object.keys(s.value)[0]!));
    expect(h.value).toEqual({ disconnected: 'waitingForIdentity' });

    const t0 = h.clock.now();
    h.material(identity(1, t0, 10_000));
    expect(h.value).toBe('handshaking');
    h.welcome(h.lastLink());
    expect(h.value).toBe('enrolled');
    expect(h.context.link.connectedSince).toBe(t0);

    // The renewal point lies within 70 % ± 5 % of the 10 s lifetime.
    const renewAt = h.context.nextRotationAt!;
    expect(renewAt - t0).toBeGreaterThanOrEqual(6_500);
    expect(renewAt - t0).toBeLessThanOrEqual(7_500);
    h.clock.increment(renewAt - t0);
    expect(h.value).toEqual({ renewing: 'obtaining' });

    // The provider answers; a second link opens with the new identity while the first stays.
    const first = h.lastLink();
    h.renewals[0]!.resolve({ identity: identity(2, h.clock.now(), 10_000), observedAt: h.clock.now() });
    return Promise.resolve().then(async () => {
      await new Promise((r) => setImmediate(r));
      expect(h.value).toEqual({ renewing: 'applying' });
      const second = h.lastLink();
      expect(second).not.toBe(first);
      expect(second.fingerprint).toBe('fp-2');
      expect(first.stopped).toBe(false);
      h.welcome(second);
      expect(h.value).toBe('enrolled');
      expect(first.commands).toContainEqual({ type: 'CLOSE', reason: 'rotated' });
      expect(first.stopped).toBe(true);
      expect(h.context.rotations).toBe(1);
      expect(h.context.link.connectedSince).toBe(t0);

      second.report({ type: 'LINK_CLOSED', reason: 'shutdown', error: null });
      expect(h.value).toEqual({ disconnected: 'backingOff' });
      h.clock.increment(h.context.retry.delayMs);
      expect(h.value).toBe('handshaking');
      h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: {}, retryable: true } });
      expect(h.value).toBe('failed');
      expect([...seen].sort()).toEqual(['disconnected', 'enrolled', 'failed', 'handshaking', 'renewing']);
    });
  });

  it('times out a handshake through the clock and says after how long', () => {
    const h = createHarness({ connectTimeoutMs: 2_000, connectTimeoutLabel: '2s' });
    h.material(identity(1, h.clock.now(), HOUR));
    const link = h.lastLink();
    h.clock.increment(1_999);
    expect(h.value).toBe('handshaking');
    h.clock.increment(1);
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    expect(link.stopped).toBe(true);
    expect(h.context.lastError).toEqual({ code: 'ENROLL_CONNECTION_TIMEOUT', params: { timeout: '2s' }, retryable: true });
  });

  it('gives up after --max-attempts failed attempts', () => {
    const h = createHarness({ maxAttempts: 3 });
    h.material(identity(1, h.clock.now(), HOUR));
    for (let i = 1; i <= 3; i++) {
      expect(h.value).toBe('handshaking');
      h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: {}, retryable: true } });
      if (i < 3) h.clock.increment(h.context.retry.delayMs);
    }
    expect(h.value).toBe('failed');
    expect(h.actor.getSnapshot().status).toBe('done');
    expect(h.context.attempts).toBe(3);
  });

  it('leaves heartbeats to the link, and backs off with ENROLL_LINK_LOST when the link says they went unanswered', () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), HOUR));
    const link = h.lastLink();
    h.welcome(link, 1_000);
    // Enrolled for an hour of quiet links: no timer of the machine's fires, nothing is sent.
    advance(h.clock, HOUR / 2);
    expect(h.value).toBe('enrolled');
    expect(link.commands).toEqual([]);
    expect(h.context.heartbeatIntervalMs).toBe(1_000);
    link.report({ type: 'LINK_CLOSED', reason: ACKS_OVERDUE_REASON, error: null });
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    expect(link.stopped).toBe(true);
    expect(h.context.lastError).toEqual({
      code: 'ENROLL_LINK_LOST',
      params: { address: '127.0.0.1:4433', detail: 'no heartbeat acknowledged for 3 intervals' },
      retryable: true,
    });
    expect(messageOf(h.context.lastError!)).toContain('no heartbeat acknowledged for 3 intervals');
  });

  it('keeps the old link (and so its heartbeats) when the new link of a rotation fails, then retries', async () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 10_000));
    const first = h.lastLink();
    h.welcome(first, 1_000);
    h.clock.increment(h.context.nextRotationAt! - h.clock.now());
    h.renewals[0]!.resolve({ identity: identity(2, h.clock.now(), 10_000), observedAt: h.clock.now() });
    await new Promise((r) => setImmediate(r));
    const second = h.lastLink();
    second.report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: {}, retryable: true } });
    expect(h.value).toEqual({ renewing: 'retryWait' });
    expect(first.stopped).toBe(false);
    expect(first.commands).toEqual([]);
    h.clock.increment(h.context.retry.delayMs);
    expect(h.value).toEqual({ renewing: 'applying' });
    h.welcome(h.lastLink(), 1_000);
    expect(h.value).toBe('enrolled');
    expect(first.commands).toContainEqual({ type: 'CLOSE', reason: 'rotated' });
  });

  it("opens a rotation's new link as the continuation of the active one (its identity and welcome nonce), and a reconnect as a newcomer", async () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 10_000));
    const first = h.lastLink();
    expect(first.continues).toBeUndefined();
    h.welcome(first, 1_000, 'nonce-of-link-1');
    h.clock.increment(h.context.nextRotationAt! - h.clock.now());
    h.renewals[0]!.resolve({ identity: identity(2, h.clock.now(), 10_000), observedAt: h.clock.now() });
    await new Promise((r) => setImmediate(r));
    const second = h.lastLink();
    expect(second.fingerprint).toBe('fp-2');
    expect(second.continues).toEqual({ fingerprint: 'fp-1', nonce: 'nonce-of-link-1' });
    expect(first.follows).toBeUndefined();
    expect(second.follows).toBe(first.linkId);
    h.welcome(second, 1_000, 'nonce-of-link-2');
    expect(h.value).toBe('enrolled');
    // The link is lost: the next link has nothing open to continue.
    second.report({ type: 'LINK_CLOSED', reason: 'closed', error: null });
    h.clock.increment(h.context.retry.delayMs);
    expect(h.value).toBe('handshaking');
    expect(h.lastLink().continues).toBeUndefined();
  });

  it('waits for the provider when identity material cannot be loaded, counting attempts', () => {
    const h = createHarness({ maxAttempts: 2 });
    h.materialError('ENROLL_FILE_NOT_FOUND');
    expect(h.value).toEqual({ disconnected: 'waitingForIdentity' });
    expect(h.context.lastError?.code).toBe('ENROLL_FILE_NOT_FOUND');
    h.materialError('ENROLL_FILE_NOT_FOUND');
    expect(h.value).toBe('failed');
  });

  it('never keeps a link past its certificate: when the new link keeps failing, it reconnects with the new identity', async () => {
    const h = createHarness();
    const t0 = h.clock.now();
    h.material(identity(1, t0, 10_000));
    const first = h.lastLink();
    h.welcome(first, 60_000); // heartbeats out of the way
    advance(h.clock, h.context.nextRotationAt! - h.clock.now());
    h.renewals[0]!.resolve({ identity: identity(2, h.clock.now(), 10_000), observedAt: h.clock.now() });
    await new Promise((r) => setImmediate(r));
    // Every attempt of the new link is refused; the old link stays until its certificate ends.
    const refuse = () => h.lastLink().report({ type: 'LINK_FAILED', error: { code: 'ENROLL_CONNECTION_REFUSED', params: {}, retryable: true } });
    refuse();
    while (h.clock.now() < t0 + 9_999) {
      advance(h.clock, Math.min(h.context.retry.delayMs || 1, t0 + 9_999 - h.clock.now()));
      if (JSON.stringify(h.value) === '{"renewing":"applying"}') refuse();
      expect(first.stopped).toBe(false);
    }
    advance(h.clock, 1);
    expect(first.commands).toContainEqual({ type: 'CLOSE', reason: 'certificate expired' });
    expect(first.stopped).toBe(true);
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    expect(h.context.lastError?.code).toBe('ENROLL_CERT_NOT_VALID_NOW');
    advance(h.clock, h.context.retry.delayMs);
    expect(h.value).toBe('handshaking');
    expect(h.lastLink().fingerprint).toBe('fp-2');
  });

  it('keeps the error a failed renewal carries (not a made-up one) while the link stays up', async () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 10_000));
    h.welcome(h.lastLink(), 60_000);
    advance(h.clock, h.context.nextRotationAt! - h.clock.now());
    h.renewals[0]!.reject({ code: 'ENROLL_VAULT_SEALED', params: {}, retryable: true });
    await new Promise((r) => setImmediate(r));
    expect(h.value).toEqual({ renewing: 'obtaining' });
    expect(h.context.lastError).toEqual({ code: 'ENROLL_VAULT_SEALED', params: {}, retryable: true });
  });
});
