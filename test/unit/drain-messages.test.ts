/**
 * The wire fields of failover and drain (welcome's accessPoints, goodbye's retryAfterMs) as the
 * executor parses them, and the access point's drain batches: rate-limited, every admitted link
 * asked once, ending when the links are gone or at the timeout.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogging } from '../../src/index.js';
import { AccessPointDrain, batchSize, type DrainableLinks } from '../../src/engine/access-point-drain.js';
import { FrameError } from '../../src/transport/frame-codec.js';
import { parseAccessPointMessage } from '../../src/transport/messages.js';

const welcome = { type: 'welcome', executorId: 'spiffe://dev.local/ah/agent/x', heartbeatInterval: 5_000, serverTime: 1 };

describe('welcome.accessPoints and goodbye.retryAfterMs on the wire', () => {
  it('keeps valid ones and leaves them out when absent', () => {
    expect(parseAccessPointMessage({ ...welcome, accessPoints: ['https://ap-2:4433'] })).toMatchObject({ accessPoints: ['https://ap-2:4433'] });
    expect(parseAccessPointMessage(welcome)).not.toHaveProperty('accessPoints');
    expect(parseAccessPointMessage({ type: 'goodbye', reason: 'draining', retryAfterMs: 2_000 })).toEqual({
      type: 'goodbye',
      reason: 'draining',
      retryAfterMs: 2_000,
    });
    expect(parseAccessPointMessage({ type: 'goodbye', reason: 'shutdown' })).toEqual({ type: 'goodbye', reason: 'shutdown' });
  });

  it.each([
    ['accessPoints not a list', { ...welcome, accessPoints: 'https://ap-2:4433' }, 'malformed welcome: accessPoints'],
    ['an empty address', { ...welcome, accessPoints: [''] }, 'malformed welcome: accessPoints'],
    ['too many addresses', { ...welcome, accessPoints: Array.from({ length: 257 }, (_, i) => `https://ap-${i}:4433`) }, 'malformed welcome: accessPoints'],
    ['a negative retryAfterMs', { type: 'goodbye', reason: 'draining', retryAfterMs: -1 }, 'malformed goodbye: retryAfterMs'],
    ['a retryAfterMs over a day', { type: 'goodbye', reason: 'draining', retryAfterMs: 86_400_001 }, 'malformed goodbye: retryAfterMs'],
  ])('refuses %s', (_, message, error) => {
    expect(() => parseAccessPointMessage(message as never)).toThrow(new FrameError(error));
  });
});

class FakeLinks implements DrainableLinks {
  readonly asked: Array<{ id: string; retryAfterMs: number }> = [];
  constructor(public staying: string[]) {}
  get size() {
    return this.staying.length + this.asked.filter((a) => !this.gone.has(a.id)).length;
  }
  readonly gone = new Set<string>();
  stayingLinks() {
    return [...this.staying];
  }
  askToLeave(id: string, retryAfterMs: number) {
    this.staying = this.staying.filter((s) => s !== id);
    this.asked.push({ id, retryAfterMs });
  }
}

describe('the drain', () => {
  afterEach(() => vi.useRealTimers());
  const log = silentLogging().get('ah_access_point');

  it('asks rate × tick links per batch, at least one', () => {
    expect(batchSize(200, 100)).toBe(20);
    expect(batchSize(1, 100)).toBe(1);
    expect(batchSize(100_000, 150)).toBe(15_000);
  });

  it('asks every link once, a batch at a time, and ends when they are gone', async () => {
    vi.useFakeTimers();
    const links = new FakeLinks(Array.from({ length: 25 }, (_, i) => `link-${i}`));
    const drain = new AccessPointDrain(links, { timeoutMs: 60_000, rate: 100, retryAfterMs: 2_000, log, random: () => 0.5 });
    const done = drain.run();
    // A tick of 100 ms at 100 links a second: 10 a batch.
    expect(links.asked).toHaveLength(10);
    await vi.advanceTimersByTimeAsync(100);
    expect(links.asked).toHaveLength(20);
    await vi.advanceTimersByTimeAsync(100);
    expect(links.asked).toHaveLength(25);
    expect(new Set(links.asked.map((a) => a.id)).size).toBe(25);
    expect(links.asked.every((a) => a.retryAfterMs === 2_000)).toBe(true);
    for (const a of links.asked) links.gone.add(a.id);
    await vi.advanceTimersByTimeAsync(100);
    expect(await done).toMatchObject({ outcome: 'links_gone', linksLeft: 0, asked: 25 });
  });

  it('ends at the timeout with the links that stayed', async () => {
    vi.useFakeTimers();
    const links = new FakeLinks(['a', 'b']);
    const done = new AccessPointDrain(links, { timeoutMs: 1_000, rate: 100, retryAfterMs: 0, log, random: () => 0 }).run();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(await done).toMatchObject({ outcome: 'timeout', linksLeft: 2, asked: 2 });
  });
});
