import type { SimulatedClock } from 'xstate';

/**
 * Advance a SimulatedClock by `ms`, firing each timer at its own due time. `increment()` jumps
 * straight to the end, so a timer that a firing timer schedules (the next heartbeat) would start
 * from the end time instead of from when it was really set.
 */
export function advance(clock: SimulatedClock, ms: number): void {
  const target = clock.now() + ms;
  const timeouts = (clock as unknown as { timeouts: Map<number, { start: number; timeout: number }> }).timeouts;
  for (;;) {
    let next = Infinity;
    for (const t of timeouts.values()) next = Math.min(next, t.start + t.timeout);
    if (next > target) break;
    clock.set(Math.max(next, clock.now()));
  }
  clock.set(target);
}
