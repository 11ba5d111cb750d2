import fc from 'fast-check';
import { createActor, createMachine, fromCallback, fromPromise, SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { MAX_TIMER_MS, renewalPoint, rotationMachine, type RenewOutput, type RotationNotice, type WatchCommand } from '../../src/machines/rotation.js';
import { advance } from '../helpers/clock.js';
import { identity } from '../helpers/machine-harness.js';

/** A rotation actor under a parent that records every notice. */
function rotationUnderTest(canIssue: boolean, seed = 7, maxAgeMs?: number) {
  const clock = new SimulatedClock();
  const notices: RotationNotice[] = [];
  const verdicts: WatchCommand[] = [];
  let push: ((e: unknown) => void) | null = null;
  const renewals: Array<{ resolve: (o: RenewOutput) => void; reject: (e: unknown) => void }> = [];
  const rotation = rotationMachine.provide({
    actors: {
      watchIdentity: fromCallback<WatchCommand, { provider: string }>(({ sendBack, receive }) => {
        push = sendBack as (e: unknown) => void;
        receive((command) => verdicts.push(command));
      }),
      renewIdentity: fromPromise<RenewOutput, { attempt: number }>(() => new Promise((resolve, reject) => renewals.push({ resolve, reject }))),
    },
  });
  const parent = createMachine({
    invoke: { id: 'rotation', src: rotation, input: { provider: 'test', canIssue, threshold: 0.7, jitter: 0.05, seed, maxAgeMs } },
    on: { '*': { actions: ({ event }) => notices.push(event as RotationNotice) } },
  });
  const actor = createActor(parent, { clock }).start();
  const child = () => actor.getSnapshot().children.rotation!;
  return {
    clock,
    notices,
    verdicts,
    renewals,
    material: (id: ReturnType<typeof identity>) => push!({ type: 'MATERIAL', identity: id, observedAt: clock.now() }),
    get value() {
      return child().getSnapshot().value as unknown;
    },
    get context() {
      return child().getSnapshot().context as { renewAt: number; identity: { serial: string } };
    },
  };
}

describe('rotation machine', () => {
  it('renews within threshold ± jitter of the lifetime, for any lifetime and seed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 400 * 86_400_000 }), fc.integer(), (lifetime, seed) => {
        const r = rotationUnderTest(true, seed);
        const t0 = r.clock.now();
        r.material(identity(1, t0, lifetime));
        const at = r.context.renewAt - t0;
        expect(at).toBeGreaterThanOrEqual(Math.floor(lifetime * 0.65) - 1);
        expect(at).toBeLessThanOrEqual(Math.ceil(lifetime * 0.75) + 1);
        // Nothing happens before the renewal point; at it, the renewal starts.
        advance(r.clock, at - 1);
        expect(r.value).toBe('valid');
        advance(r.clock, 1);
        expect(r.value).toEqual({ renewing: 'requesting' });
      }),
      { numRuns: 60 },
    );
  });

  it('renews at maxAgeMs after the material arrived when that comes first (exec --dynamic-cert-ttl), and at the renewal point otherwise', async () => {
    const r = rotationUnderTest(true, 7, 10_000);
    r.material(identity(1, 0, 100_000));
    expect(r.context.renewAt).toBe(10_000);
    advance(r.clock, 9_999);
    expect(r.value).toBe('valid');
    advance(r.clock, 1);
    expect(r.value).toEqual({ renewing: 'requesting' });
    // The renewed material is used for another maxAgeMs from when it arrived.
    r.renewals.at(-1)!.resolve({ identity: identity(2, r.clock.now(), 100_000), observedAt: r.clock.now() });
    await new Promise((res) => setImmediate(res));
    expect(r.value).toBe('valid');
    expect(r.context.renewAt).toBe(20_000);
    expect(r.notices.map((n) => n.type)).toEqual(['IDENTITY_READY', 'RENEWAL_DUE', 'IDENTITY_RENEWED']);

    // A certificate shorter than the maximum age renews at its own renewal point.
    const short = rotationUnderTest(true, 7, 10_000);
    short.material(identity(1, 0, 5_000));
    const unbounded = rotationUnderTest(true, 7);
    unbounded.material(identity(1, 0, 5_000));
    expect(short.context.renewAt).toBe(unbounded.context.renewAt);
    expect(short.context.renewAt).toBeGreaterThanOrEqual(3_250);
    expect(short.context.renewAt).toBeLessThanOrEqual(3_750);
  });

  it('keeps the identity in use while a renewal at maxAgeMs fails, retrying with backoff', async () => {
    const r = rotationUnderTest(true, 7, 10_000);
    r.material(identity(1, 0, 100_000));
    advance(r.clock, 10_000);
    r.renewals.at(-1)!.reject({ code: 'ENROLL_EXEC_FAILED', params: { command: 'broker', status: 'status 1', stderr: '' }, retryable: true });
    await new Promise((res) => setImmediate(res));
    expect(r.value).toEqual({ renewing: 'backoff' });
    expect(r.context.identity.serial).toBe('01');
    expect(r.notices.at(-1)).toMatchObject({ type: 'RENEWAL_FAILED', error: { code: 'ENROLL_EXEC_FAILED' } });
    const renewals = r.renewals.length;
    advance(r.clock, 1_000); // the first backoff is below the base (1 s)
    expect(r.renewals.length).toBe(renewals + 1);
    expect(r.context.identity.serial).toBe('01');
  });

  it('spreads renewal points with the jitter', () => {
    const points = new Set<number>();
    for (let seed = 0; seed < 40; seed++) {
      const r = rotationUnderTest(true, seed);
      r.material(identity(1, 0, 100_000));
      points.add(r.context.renewAt);
    }
    expect(points.size).toBeGreaterThan(30);
    expect(renewalPoint(identity(1, 0, 100_000), 0.7, 0.05, 0)).toBe(65_000);
    expect(renewalPoint(identity(1, 0, 100_000), 0.7, 0.05, 0.5)).toBe(70_000);
  });

  it('waits in renew-due for pushed material when the provider cannot issue, then expires', () => {
    const r = rotationUnderTest(false);
    r.material(identity(1, 0, 10_000));
    advance(r.clock, r.context.renewAt);
    expect(r.value).toBe('renew-due');
    expect(r.notices.map((n) => n.type)).toEqual(['IDENTITY_READY', 'RENEWAL_DUE']);
    advance(r.clock, 10_000);
    expect(r.value).toEqual({ expired: 'waiting' });
    expect(r.notices.at(-1)?.type).toBe('IDENTITY_EXPIRED');
    r.material(identity(2, r.clock.now(), 10_000));
    expect(r.value).toBe('valid');
    expect(r.notices.at(-1)?.type).toBe('IDENTITY_RENEWED');
  });

  it('refuses pushed material that does not outlive the current certificate, keeping the current one', () => {
    const r = rotationUnderTest(false);
    r.material(identity(1, 0, 10_000));
    r.material(identity(2, 0, 9_000));
    expect(r.context.identity.serial).toBe('01');
    expect(r.notices.at(-1)).toMatchObject({ type: 'IDENTITY_REFUSED', error: { code: 'ENROLL_RENEWED_NOT_NEWER' } });
    // The same material again (`touch cert.pem`) is not news.
    const count = r.notices.length;
    r.material(identity(1, 0, 10_000));
    expect(r.notices.length).toBe(count);
  });

  it('tells the watch its verdict: accepted material, or refused material with the one kept', async () => {
    const r = rotationUnderTest(true);
    r.material(identity(1, 0, 10_000));
    r.material(identity(2, 0, 9_000));
    r.material(identity(3, 0, 11_000));
    advance(r.clock, r.context.renewAt);
    r.renewals.at(-1)!.resolve({ identity: identity(4, r.clock.now(), 10_000), observedAt: r.clock.now() });
    await new Promise((res) => setImmediate(res));
    expect(r.verdicts).toEqual([
      { type: 'MATERIAL_ACCEPTED', identity: identity(1, 0, 10_000) },
      {
        type: 'MATERIAL_REFUSED',
        identity: identity(2, 0, 9_000),
        kept: identity(1, 0, 10_000),
        error: expect.objectContaining({ code: 'ENROLL_RENEWED_NOT_NEWER', params: expect.objectContaining({ serial: '02' }) }),
      },
      { type: 'MATERIAL_ACCEPTED', identity: identity(3, 0, 11_000) },
      { type: 'MATERIAL_ACCEPTED', identity: expect.objectContaining({ serial: '04' }) },
    ]);
  });

  it('retries a failed renewal with backoff and says so', async () => {
    const r = rotationUnderTest(true);
    r.material(identity(1, 0, 10_000));
    advance(r.clock, r.context.renewAt);
    r.renewals[0]!.reject({ code: 'ENROLL_VAULT_SEALED', params: {}, retryable: true });
    await new Promise((res) => setImmediate(res));
    expect(r.value).toEqual({ renewing: 'backoff' });
    const failed = r.notices.at(-1) as Extract<RotationNotice, { type: 'RENEWAL_FAILED' }>;
    expect(failed).toMatchObject({ type: 'RENEWAL_FAILED', error: { code: 'ENROLL_VAULT_SEALED' } });
    advance(r.clock, failed.retryInMs);
    expect(r.value).toEqual({ renewing: 'requesting' });
    r.renewals[1]!.resolve({ identity: identity(2, r.clock.now(), 10_000), observedAt: r.clock.now() });
    await new Promise((res) => setImmediate(res));
    expect(r.value).toBe('valid');
    expect(r.context.identity.serial).toBe('02');
  });

  it('arms the expiry of an identity renewed after the old one expired', async () => {
    const r = rotationUnderTest(true);
    r.material(identity(1, 0, 10_000));
    // The renewal hangs until the certificate runs out.
    advance(r.clock, 10_000);
    expect(r.value).toEqual({ expired: 'requesting' });
    expect(r.notices.filter((n) => n.type === 'IDENTITY_EXPIRED')).toHaveLength(1);
    const renewed = identity(2, r.clock.now(), 20_000);
    r.renewals.at(-1)!.resolve({ identity: renewed, observedAt: r.clock.now() });
    await new Promise((res) => setImmediate(res));
    expect(r.value).toBe('valid');
    // Its own renewal hangs too: the renewed identity must still expire, at its notAfter.
    advance(r.clock, renewed.notAfter - r.clock.now() - 1);
    expect(r.value).toEqual({ renewing: 'requesting' });
    expect(r.notices.filter((n) => n.type === 'IDENTITY_EXPIRED')).toHaveLength(1);
    advance(r.clock, 1);
    expect(r.value).toEqual({ expired: 'requesting' });
    expect(r.notices.at(-1)).toEqual({ type: 'IDENTITY_EXPIRED', identity: renewed });
  });

  it('expires an identity renewed in time at its own notAfter, not at the old one', async () => {
    const r = rotationUnderTest(true);
    const first = identity(1, 0, 10_000);
    r.material(first);
    advance(r.clock, r.context.renewAt);
    const renewed = identity(2, r.clock.now(), 20_000);
    r.renewals.at(-1)!.resolve({ identity: renewed, observedAt: r.clock.now() });
    await new Promise((res) => setImmediate(res));
    expect(r.value).toBe('valid');
    advance(r.clock, first.notAfter - r.clock.now());
    expect(r.notices.filter((n) => n.type === 'IDENTITY_EXPIRED')).toEqual([]);
    advance(r.clock, renewed.notAfter - r.clock.now() - 1);
    expect(r.notices.filter((n) => n.type === 'IDENTITY_EXPIRED')).toEqual([]);
    advance(r.clock, 1);
    expect(r.notices.at(-1)).toEqual({ type: 'IDENTITY_EXPIRED', identity: renewed });
  });

  it('waits out lifetimes longer than one setTimeout in steps', () => {
    const r = rotationUnderTest(true);
    const year = 365 * 86_400_000;
    r.material(identity(1, 0, year));
    expect(r.context.renewAt).toBeGreaterThan(MAX_TIMER_MS * 4);
    advance(r.clock, r.context.renewAt - 1);
    expect(r.value).toBe('valid');
    advance(r.clock, 1);
    expect(r.value).toEqual({ renewing: 'requesting' });
  });
});
