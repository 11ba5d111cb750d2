/**
 * The timer wheel on a simulated time source (fake timers: the wheel's one native timer and the
 * time it reads advance together): every deadline fires, never early, at most one tick late, in
 * deadline order; cleared timers never fire; a re-armed deadline waits from its last arming; any
 * number of timers share one native timer; and a connection machine on the wheel closes a silent
 * link after three heartbeat intervals.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { connectionMachine, type PeerVerdict } from '../../src/machines/connection.js';
import { MAX_NATIVE_TIMEOUT_MS } from '../../src/util/long-timer.js';
import { TimerWheel, wheelClock } from '../../src/util/timer-wheel.js';
import { HeartbeatWatch } from '../../src/actors/heartbeat-watch.js';

const TICK = 100;
const DAY = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

const wheel = () => new TimerWheel({ resolutionMs: TICK, now: () => Date.now() });

/** A deterministic stream of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

describe('TimerWheel', () => {
  it('fires thousands of deadlines set at different times, each at or after its deadline, within one tick, in deadline order', () => {
    const w = wheel();
    const rnd = random(7);
    const timers: { deadline: number; firedAt: number | null; index: number }[] = [];
    const fired: number[] = [];
    // Set while time moves on (some while others fire), with delays from 0 to 30 s.
    for (let i = 0; i < 5_000; i++) {
      if (i % 50 === 0) vi.advanceTimersByTime(Math.floor(rnd() * 300));
      const delay = Math.floor(rnd() * 30_000);
      const t = { deadline: Date.now() + delay, firedAt: null as number | null, index: i };
      timers.push(t);
      w.setTimeout(() => {
        t.firedAt = Date.now();
        fired.push(t.index);
      }, delay);
    }
    // Some fired while others were set; the rest wait.
    const waiting = timers.filter((t) => t.firedAt === null).length;
    expect(waiting).toBeGreaterThan(1_000);
    expect(w.size).toBe(waiting);
    vi.advanceTimersByTime(40_000);
    expect(w.size).toBe(0);
    for (const t of timers) {
      expect(t.firedAt).not.toBeNull();
      expect(t.firedAt!).toBeGreaterThanOrEqual(t.deadline);
      expect(t.firedAt! - t.deadline).toBeLessThanOrEqual(TICK);
    }
    const byDeadline = [...timers].sort((a, b) => a.deadline - b.deadline || a.index - b.index).map((t) => t.index);
    expect(fired).toEqual(byDeadline);
  });

  it('keeps every timer on one native timer, unref’d, and none once all have fired', () => {
    const w = wheel();
    for (let i = 0; i < 10_000; i++) w.setTimeout(() => {}, 1_000 + (i % 5_000));
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(7_000);
    expect(w.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not keep a process alive', () => {
    vi.useRealTimers();
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timeouts();
    const w = new TimerWheel();
    const t = w.setTimeout(() => {}, 60_000);
    expect(w.size).toBe(1);
    expect(timeouts()).toBe(before);
    w.clearTimeout(t);
  });

  it('a cleared timer never fires, even one cleared by a callback of its own bucket', () => {
    const w = wheel();
    const calls: string[] = [];
    const a = w.setTimeout(() => calls.push('a'), 500);
    w.setTimeout(() => {
      calls.push('b');
      w.clearTimeout(c);
    }, 510);
    const c = w.setTimeout(() => calls.push('c'), 520);
    w.setTimeout(() => calls.push('d'), 530);
    w.clearTimeout(a);
    w.clearTimeout(a);
    expect(w.size).toBe(3);
    vi.advanceTimersByTime(1_000);
    expect(calls).toEqual(['b', 'd']);
    // Clearing all: no native timer left waiting for nothing.
    const e = w.setTimeout(() => calls.push('e'), 5_000);
    w.clearTimeout(e);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(calls).toEqual(['b', 'd']);
  });

  it('a deadline re-armed on every heartbeat never fires; once they stop it fires three intervals after the last', () => {
    const w = wheel();
    let timedOutAt: number | null = null;
    let timer = w.setTimeout(() => (timedOutAt = Date.now()), 3_000);
    let last = Date.now();
    for (let beat = 0; beat < 50; beat++) {
      vi.advanceTimersByTime(1_000 + (beat % 3) * 300);
      w.clearTimeout(timer);
      last = Date.now();
      timer = w.setTimeout(() => (timedOutAt = Date.now()), 3_000);
    }
    expect(timedOutAt).toBeNull();
    vi.advanceTimersByTime(2_999);
    expect(timedOutAt).toBeNull();
    vi.advanceTimersByTime(TICK + 1);
    expect(timedOutAt).not.toBeNull();
    expect(timedOutAt! - last).toBeGreaterThanOrEqual(3_000);
    expect(timedOutAt! - last).toBeLessThanOrEqual(3_000 + TICK);
  });

  it('an earlier timer set after a later one re-arms the native timer for itself', () => {
    const w = wheel();
    const calls: string[] = [];
    w.setTimeout(() => calls.push('late'), 20_000);
    w.setTimeout(() => calls.push('early'), 250);
    vi.advanceTimersByTime(400);
    expect(calls).toEqual(['early']);
    vi.advanceTimersByTime(20_000);
    expect(calls).toEqual(['early', 'late']);
  });

  it('a timer set by a callback, even for 0 ms, fires at a later tick, not in the same sweep', () => {
    const w = wheel();
    const calls: number[] = [];
    const again = () => {
      calls.push(Date.now());
      if (calls.length < 5) w.setTimeout(again, 0);
    };
    w.setTimeout(again, 0);
    vi.advanceTimersByTime(10_000);
    expect(calls).toHaveLength(5);
    for (let i = 1; i < calls.length; i++) {
      expect(calls[i]! - calls[i - 1]!).toBeGreaterThan(0);
      expect(calls[i]! - calls[i - 1]!).toBeLessThanOrEqual(TICK);
    }
  });

  it('waits out delays past 2^31-1 ms (a native timer would fire after 1 ms)', () => {
    const w = wheel();
    const fired = vi.fn();
    w.setTimeout(fired, 25 * DAY);
    vi.advanceTimersByTime(MAX_NATIVE_TIMEOUT_MS + 1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(25 * DAY - MAX_NATIVE_TIMEOUT_MS - 2);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(TICK + 1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('a throwing callback does not stop the others of its bucket; the error is still thrown', async () => {
    const w = wheel();
    const calls: string[] = [];
    const errors: unknown[] = [];
    w.setTimeout(() => {
      throw new Error('boom');
    }, 100);
    w.setTimeout(() => calls.push('after'), 120);
    const original = queueMicrotask;
    const spy = vi.spyOn(globalThis, 'queueMicrotask').mockImplementation((fn) =>
      original(() => {
        try {
          fn();
        } catch (err) {
          errors.push(err);
        }
      }),
    );
    vi.advanceTimersByTime(300);
    await Promise.resolve();
    spy.mockRestore();
    expect(calls).toEqual(['after']);
    expect(errors).toEqual([new Error('boom')]);
  });

  it('refuses a resolution that is not positive', () => {
    expect(() => new TimerWheel({ resolutionMs: 0 })).toThrow('resolutionMs must be positive, got 0');
  });
});

describe('heartbeat deadlines on the wheel', () => {
  const OK: PeerVerdict = { executorId: 'spiffe://dev.local/ah/agent/e', certNotAfter: 9e12, serial: '01' };

  it('a link heard every 2.9 s stays; silent for three intervals it is closed, not before, at most one tick after', async () => {
    const clock = new TimerWheel({ resolutionMs: TICK, now: () => Date.now() });
    const wire: string[] = [];
    const machine = connectionMachine.provide({
      actions: { sendWelcome: () => void wire.push('welcome'), destroySocket: () => void wire.push('destroy') },
    });
    const actor = createActor(machine, { clock, input: { linkId: 'link-1', remoteAddress: '127.0.0.1:5', heartbeatIntervalMs: 1_000 } });
    const watch = new HeartbeatWatch(clock, () => actor.send({ type: 'SILENT', at: Date.now() }));
    actor.on('admitted', () => watch.watch('link-1', 3_000));
    actor.start();
    actor.send({ type: 'HELLO', name: 'e', version: '1', labels: {}, at: Date.now() });
    actor.send({ type: 'PEER_VERIFIED', verdict: OK });
    expect(actor.getSnapshot().value).toEqual({ active: 'live' });
    for (let seq = 1; seq <= 5; seq++) {
      vi.advanceTimersByTime(2_900);
      watch.heard('link-1');
    }
    expect(actor.getSnapshot().value).toEqual({ active: 'live' });
    vi.advanceTimersByTime(2_999);
    expect(actor.getSnapshot().value).toEqual({ active: 'live' });
    vi.advanceTimersByTime(TICK + 1);
    expect(actor.getSnapshot().value).toBe('closed');
    expect(actor.getSnapshot().context.closeReason).toBe('no heartbeat for 3 intervals');
    expect(wire).toEqual(['welcome', 'destroy']);
    // The hello deadline was cleared, and the watch re-armed one timer per link, not one per heartbeat.
    expect(clock.size).toBe(0);
    expect(watch.size).toBe(0);
  });

  it('the shared clock the access point gives its links is a wheel', () => {
    expect(wheelClock).toBeInstanceOf(TimerWheel);
    expect(wheelClock.resolutionMs).toBeLessThanOrEqual(100);
  });
});
