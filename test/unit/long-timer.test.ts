/**
 * Timers past 2^31-1 ms: Node fires those after 1 ms. The helper waits them out in steps, and as
 * XState's clock it makes a machine's delayed transitions (a link's three heartbeat intervals)
 * last as long as configured.
 */
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createActor } from 'xstate';
import { connectionMachine } from '../../src/machines/connection.js';
import { clearLongInterval, clearLongTimeout, longClock, MAX_NATIVE_TIMEOUT_MS, setLongInterval, setLongTimeout } from '../../src/util/long-timer.js';

const DAY = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('setLongTimeout', () => {
  it('fires a 25-day delay at 25 days, not after 1 ms', () => {
    const fired = vi.fn();
    setLongTimeout(fired, 25 * DAY);
    vi.advanceTimersByTime(1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(MAX_NATIVE_TIMEOUT_MS);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(25 * DAY - MAX_NATIVE_TIMEOUT_MS - 2);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100 * DAY);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('a native setTimeout of 25 days fires at once here too (what the helper is for)', () => {
    const fired = vi.fn();
    setTimeout(fired, 25 * DAY);
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });

  it('is cleared mid-chain: after the first step it never fires', () => {
    const fired = vi.fn();
    const timer = setLongTimeout(fired, 60 * DAY);
    vi.advanceTimersByTime(30 * DAY);
    clearLongTimeout(timer);
    vi.advanceTimersByTime(100 * DAY);
    expect(fired).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('short delays behave as setTimeout', () => {
    const fired = vi.fn();
    setLongTimeout(fired, 500);
    vi.advanceTimersByTime(499);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledTimes(1);
  });
});

describe('setLongInterval', () => {
  it('repeats every 30 days until cleared', () => {
    const fired = vi.fn();
    const interval = setLongInterval(fired, 30 * DAY);
    vi.advanceTimersByTime(1);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(30 * DAY);
    expect(fired).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(60 * DAY);
    expect(fired).toHaveBeenCalledTimes(3);
    clearLongInterval(interval);
    vi.advanceTimersByTime(90 * DAY);
    expect(fired).toHaveBeenCalledTimes(3);
  });
});

describe('longClock as XState clock', () => {
  const machine = connectionMachine.provide({
    actions: { sendWelcome: () => {}, sendReject: () => {}, sendGoodbye: () => {}, endSocket: () => {}, destroySocket: () => {} },
  });

  // The hello deadline stands for every machine delay: a link allowed 25 days to say hello.
  function waitingLink(clock?: typeof longClock) {
    const actor = createActor(machine, {
      ...(clock ? { clock } : {}),
      input: { linkId: 'l', remoteAddress: '127.0.0.1:1', heartbeatIntervalMs: 1_000, helloTimeoutMs: 25 * DAY },
    });
    actor.start();
    return actor;
  }

  it('keeps a link waiting for hello until its 25 days pass', async () => {
    const actor = waitingLink(longClock);
    await vi.advanceTimersByTimeAsync(25 * DAY - 2_000);
    expect(actor.getSnapshot().value).toBe('accepted');
    await vi.advanceTimersByTimeAsync(2_000 + 2_000);
    expect(actor.getSnapshot().context.closeReason).toBe('no hello in time');
  });

  it('lets I/O that arrived before a deadline came due be read before the deadline fires, and a cancelled one never fires', async () => {
    vi.useRealTimers();
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const accepted = once(server, 'connection') as Promise<[Socket]>;
    const client = connect((server.address() as { port: number }).port, '127.0.0.1');
    await once(client, 'connect');
    const [peer] = await accepted;
    try {
      const order: string[] = [];
      let deadline: ReturnType<typeof longClock.setTimeout> | null = null;
      // As a dial's welcome does: the answer cancels the deadline (the machine leaves the state).
      peer.on('data', () => {
        order.push('answer');
        if (deadline) longClock.clearTimeout(deadline);
      });
      deadline = longClock.setTimeout(() => order.push('deadline'), 5);
      client.write('welcome');
      // A process running behind: by the next turn both the deadline and the answer are due.
      const until = Date.now() + 60;
      while (Date.now() < until);
      await new Promise((r) => setTimeout(r, 30));
      expect(order).toEqual(['answer']);
      // A deadline nothing cancels still fires.
      const fired = new Promise((r) => longClock.setTimeout(r, 1));
      await expect(fired).resolves.toBeUndefined();
    } finally {
      client.destroy();
      peer.destroy();
      server.close();
    }
  });

  it('without it, the same link is closed at once', async () => {
    const actor = waitingLink();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(actor.getSnapshot().value).toBe('closed');
  });
});
