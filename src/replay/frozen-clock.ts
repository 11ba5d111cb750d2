/**
 * The clock replay runs the machines on: time never moves, so no timer ever fires. Every delayed
 * event (an `after` transition, a heartbeat, an expiry) is in the log where it really fired, and
 * replay feeds it from there (docs/toolchain-notes.md §Replaying machines from logs, way B,
 * "verbatim").
 *
 * Not XState's SimulatedClock: that one keeps every timer it is given until it fires, and a raised
 * delayed event that is re-armed under the same id (the heartbeat) leaves the old timer behind;
 * over a million replayed heartbeats that is a million dead timers. This clock keeps none.
 */
/** Has the shape of XState's (unexported) `Clock`. */
export class FrozenClock {
  private next = 0;

  setTimeout(): number {
    return ++this.next;
  }

  clearTimeout(): void {}
}
