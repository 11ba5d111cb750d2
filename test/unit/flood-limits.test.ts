/**
 * The bounded bookkeeping behind the flood defences, on an injected clock: coalescing windows
 * (first reported, the rest counted, one summary per window, at most N windows) and the per-source
 * token buckets and in-flight cap of the handshake gate.
 */
import { describe, expect, it } from 'vitest';
import { HandshakeGate } from '../../src/transport/handshake-gate.js';
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
  it('caps handshakes in flight without charging the shed source, and frees a place once per release', () => {
    const gate = new HandshakeGate({ maxInFlight: 2, perSourceRate: 1, now: () => 0 });
    const first = gate.admit('a');
    const second = gate.admit('b');
    expect(typeof first).toBe('function');
    expect(typeof second).toBe('function');
    expect(gate.admit('c')).toBe('capacity');
    (first as () => void)();
    (first as () => void)();
    expect(gate.inHandshake).toBe(1);
    // c's burst (2) was not spent by the shed connection.
    expect(typeof gate.admit('c')).toBe('function');
    (second as () => void)();
    expect(typeof gate.admit('c')).toBe('function');
    expect(gate.inHandshake).toBe(2);
  });

  it('sheds a source past its rate while another is admitted', () => {
    const gate = new HandshakeGate({ maxInFlight: 100, perSourceRate: 1, now: () => 0 });
    expect([gate.admit('a'), gate.admit('a'), gate.admit('a')].map((v) => (typeof v === 'function' ? 'ok' : v))).toEqual(['ok', 'ok', 'rate']);
    expect(typeof gate.admit('b')).toBe('function');
  });
});
