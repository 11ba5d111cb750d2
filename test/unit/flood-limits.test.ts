/**
 * The bounded bookkeeping behind the flood defences, on an injected clock: coalescing windows
 * (first reported, the rest counted, one summary per window, at most N windows) and the per-source
 * token buckets, in-flight cap and FIFO queue of the handshake gate.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HandshakeGate, type Ticket, type Waiter } from '../../src/transport/handshake-gate.js';
import { SourceRateLimit } from '../../src/transport/source-rate-limit.js';
import { WindowCoalescer, type WindowSummary } from '../../src/util/window-coalescer.js';

function coalescer(maxKeys = 10) {
  let now = 1_000;
  const closed: Array<WindowSummary<string>> = [];
  const c = new WindowCoalescer<string>({ windowMs: 10_000, maxKeys, onClose: (s) => closed.push(s), now: () => now });
  return { c, closed, advance: (ms: number) => (now += ms) };
}

describe('WindowCoalescer', () => {
  it('reports the first of a window, counts the rest, and summarizes them when the window is over', () => {
    const { c, closed, advance } = coalescer();
    expect(c.offer('a', 'a0')).toBe(true);
    advance(1);
    expect(c.offer('a', 'a1')).toBe(false);
    advance(1);
    expect(c.offer('a', 'a2')).toBe(false);
    expect(c.offer('b', 'b0')).toBe(true);
    expect(closed).toEqual([]);
    advance(10_000);
    // The next event of a closed window opens a new one, and the old one's summary comes first.
    expect(c.offer('a', 'a3')).toBe(true);
    expect(closed).toEqual([{ key: 'a', count: 2, firstAt: 1_001, lastAt: 1_002, samples: ['a1', 'a2'] }]);
    c.flush();
    // Windows with nothing counted leave no summary.
    expect(closed).toHaveLength(1);
    expect(c.openWindows).toBe(0);
  });

  it('keeps at most maxKeys windows, closing the oldest early', () => {
    const { c, closed } = coalescer(2);
    c.offer('a', 'a0');
    c.offer('a', 'a1');
    c.offer('b', 'b0');
    c.offer('c', 'c0');
    expect(c.openWindows).toBe(2);
    expect(closed.map((s) => [s.key, s.count])).toEqual([['a', 1]]);
  });

  it('keeps a few samples, whatever the count', () => {
    const { c, closed } = coalescer();
    for (let i = 0; i < 1_000; i++) c.offer('k', `k${i}`);
    c.flush();
    expect(closed[0]!.count).toBe(999);
    expect(closed[0]!.samples).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
  });
});

describe('SourceRateLimit', () => {
  it('allows a burst, then the rate, per source', () => {
    let now = 0;
    const r = new SourceRateLimit({ perSecond: 2, burst: 4, maxSources: 100, now: () => now });
    expect(Array.from({ length: 6 }, () => r.take('10.0.0.1'))).toEqual([true, true, true, true, false, false]);
    expect(r.take('10.0.0.2')).toBe(true);
    now += 500;
    expect([r.take('10.0.0.1'), r.take('10.0.0.1')]).toEqual([true, false]);
    now += 60_000;
    expect(Array.from({ length: 5 }, () => r.take('10.0.0.1'))).toEqual([true, true, true, true, false]);
  });

  it('remembers at most maxSources, forgetting the least recently seen', () => {
    const r = new SourceRateLimit({ perSecond: 1, burst: 1, maxSources: 3, now: () => 0 });
    for (const ip of ['a', 'b', 'c']) expect(r.take(ip)).toBe(true);
    expect(r.take('a')).toBe(false); // a is now the most recently seen
    expect(r.take('d')).toBe(true); // b is forgotten
    expect(r.sources).toBe(3);
    expect(r.take('b')).toBe(true); // a fresh bucket (c forgotten)
    expect(r.take('a')).toBe(false);
  });
});

describe('HandshakeGate', () => {
  /** A waiter that records what it was told. */
  function waiter(name: string, told: string[]): Waiter {
    return { admitted: () => told.push(`${name} admitted`), expired: () => told.push(`${name} expired`) };
  }
  const ticket = (v: Ticket | string): Ticket => {
    if (typeof v === 'string') throw new Error(`shed: ${v}`);
    return v;
  };

  it('admits up to the cap at once, queues the rest and admits them in arrival order as places free', () => {
    const told: string[] = [];
    const gate = new HandshakeGate({ maxInFlight: 2, queueLimit: 10, perSourceRate: 100, now: () => 0 });
    const [a, b] = [ticket(gate.enter('x', waiter('a', told))), ticket(gate.enter('x', waiter('b', told)))];
    expect([a.queued, b.queued]).toEqual([false, false]);
    const queued = ['c', 'd', 'e'].map((n) => ticket(gate.enter('x', waiter(n, told))));
    expect(queued.map((t) => t.queued)).toEqual([true, true, true]);
    expect(gate.stats).toEqual({ inFlight: 2, queued: 3, maxInFlight: 2, queueLimit: 10, waited: 3 });
    expect(told).toEqual([]);
    a.release();
    a.release();
    expect(told).toEqual(['c admitted']);
    expect(queued[0]!.queued).toBe(false);
    b.release();
    expect(told).toEqual(['c admitted', 'd admitted']);
    queued[0]!.release();
    queued[1]!.release();
    expect(told).toEqual(['c admitted', 'd admitted', 'e admitted']);
    expect(gate.stats).toMatchObject({ inFlight: 1, queued: 0, waited: 3 });
    // Empty queue, free places: in flight at once again.
    expect(ticket(gate.enter('x', waiter('f', told))).queued).toBe(false);
  });

  it('a connection that leaves the queue frees its place in it, and is never admitted', () => {
    const told: string[] = [];
    const gate = new HandshakeGate({ maxInFlight: 1, queueLimit: 2, perSourceRate: 100, now: () => 0 });
    const a = ticket(gate.enter('x', waiter('a', told)));
    const b = ticket(gate.enter('x', waiter('b', told)));
    ticket(gate.enter('x', waiter('c', told)));
    expect(gate.enter('x', waiter('d', told))).toBe('capacity');
    b.release();
    expect(gate.stats.queued).toBe(1);
    const e = ticket(gate.enter('x', waiter('e', told)));
    expect(e.queued).toBe(true);
    a.release();
    expect(told).toEqual(['c admitted']);
  });

  it('sheds for capacity only when the places and the queue are full, without charging the source', () => {
    const gate = new HandshakeGate({ maxInFlight: 1, queueLimit: 1, perSourceRate: 1, now: () => 0 });
    const first = ticket(gate.enter('a', waiter('1', [])));
    ticket(gate.enter('b', waiter('2', [])));
    expect(gate.enter('c', waiter('3', []))).toBe('capacity');
    expect(gate.enter('c', waiter('4', []))).toBe('capacity');
    first.release();
    // c's burst (2) was not spent by the shed connections.
    expect(typeof gate.enter('c', waiter('5', []))).toBe('object');
  });

  it('with no queue, sheds as soon as every place is taken', () => {
    const gate = new HandshakeGate({ maxInFlight: 2, queueLimit: 0, perSourceRate: 100, now: () => 0 });
    ticket(gate.enter('a', waiter('1', [])));
    ticket(gate.enter('a', waiter('2', [])));
    expect(gate.enter('a', waiter('3', []))).toBe('capacity');
  });

  it('the queue holds 8 connections per place by default', () => {
    expect(new HandshakeGate({ maxInFlight: 3 }).queueLimit).toBe(24);
  });

  it('sheds a source past its rate while another is admitted', () => {
    const gate = new HandshakeGate({ maxInFlight: 100, perSourceRate: 1, now: () => 0 });
    expect([0, 1, 2].map(() => gate.enter('a', waiter('a', []))).map((v) => (typeof v === 'string' ? v : 'ok'))).toEqual(['ok', 'ok', 'rate']);
    expect(typeof gate.enter('b', waiter('b', []))).toBe('object');
  });

  describe('on fake timers', () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());

    it('sheds a connection that waited maxWaitMs, oldest first, and re-arms for the next one', () => {
      const told: string[] = [];
      const gate = new HandshakeGate({ maxInFlight: 1, queueLimit: 10, maxWaitMs: 10_000, perSourceRate: 100 });
      const a = ticket(gate.enter('x', waiter('a', told)));
      ticket(gate.enter('x', waiter('b', told)));
      vi.advanceTimersByTime(4_000);
      ticket(gate.enter('x', waiter('c', told)));
      vi.advanceTimersByTime(5_999);
      expect(told).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(told).toEqual(['b expired']);
      expect(gate.stats.queued).toBe(1);
      vi.advanceTimersByTime(3_999);
      expect(told).toEqual(['b expired']);
      a.release();
      expect(told).toEqual(['b expired', 'c admitted']);
      vi.advanceTimersByTime(60_000);
      expect(told).toEqual(['b expired', 'c admitted']);
      expect(vi.getTimerCount()).toBe(0);
    });
  });
});
