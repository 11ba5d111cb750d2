/**
 * One executor link's heartbeats: sent on a cadence from the welcome, acks counted, and the link
 * reported lost once `MISSED_ACKS_BEFORE_LOST` go unanswered. The link actor (`fleet-link.ts`)
 * owns one per link, on its actor system's clock (XState's `SimulatedClock` in tests), so a
 * heartbeat is a timer and a write, not two enrollment-machine macrosteps: the machine hears of
 * heartbeats only when they stop being answered (docs/fleet-link.md §Heartbeats).
 */

/** After this many heartbeats without an ack the link counts as lost. */
export const MISSED_ACKS_BEFORE_LOST = 3;

/** The reason a link lost that way is closed with; `ENROLL_LINK_LOST` carries it. */
export const ACKS_OVERDUE_REASON = `no heartbeat acknowledged for ${MISSED_ACKS_BEFORE_LOST} intervals`;

/**
 * The part of the interval an executor sends its heartbeat early by. The interval the access point
 * asks for is the longest gap it should see between two heartbeats, so the executor beats a fifth
 * sooner: a timer that fires late, a stalled event loop at either end (a collection of a large heap,
 * a burst of handshakes in a process that embeds the executor) and the way there then still land
 * every heartbeat inside the interval, up to a second late at the 5 s default. A tenth was not
 * enough in the 10k rotation storm (docs/fleet-link.md §Heartbeats).
 */
export const HEARTBEAT_LEAD = 0.2;

/** How long after one heartbeat (or the welcome) the next is sent. */
export const heartbeatPeriodMs = (intervalMs: number): number => intervalMs - Math.floor(intervalMs * HEARTBEAT_LEAD);

/** XState's clock interface: the actor system's (`system._clock`), whatever the actor was created with. */
export interface HeartbeatClock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(timer: unknown): void;
}

/** What the heartbeats do to their link. */
export interface HeartbeatLink {
  /** Write heartbeat `seq` (numbered from 1 on each link). */
  send(seq: number): void;
  /** `MISSED_ACKS_BEFORE_LOST` heartbeats went unanswered: the link is lost. Called once; nothing is sent after it. */
  lost(): void;
}

export class LinkHeartbeats {
  private seq = 0;
  private ackedSeq = 0;
  private periodMs = 0;
  private timer: unknown = undefined;
  /** The welcome's time, then each ack's: what `ah agent status` prints as `lastHeartbeat`. */
  lastAckAt: number | null = null;
  /** When the next heartbeat is due; null when none is scheduled. */
  nextDueAt: number | null = null;

  constructor(
    private readonly clock: HeartbeatClock,
    private readonly link: HeartbeatLink,
    /** The time `at`s are given in (the clock's own, in tests). */
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The link was welcomed at `at` with the access point's interval: the first heartbeat is one
   * period away, or, for a link that takes over from another (a rotation, a move), when that
   * one's next was due (`carryOn`): the access point sees one executor's heartbeats keep their
   * cadence across the swap instead of a gap of up to two periods.
   */
  start(intervalMs: number, at: number, carryOn?: LinkHeartbeats): void {
    this.stop();
    this.periodMs = heartbeatPeriodMs(intervalMs);
    this.lastAckAt = at;
    const due = carryOn?.nextDueAt;
    this.arm(due == null ? this.periodMs : Math.min(this.periodMs, Math.max(0, due - at)));
  }

  /** An ack for heartbeat `seq`; one for a heartbeat never sent counts as nothing more than the last sent. */
  acked(seq: number, at: number): void {
    this.ackedSeq = Math.max(this.ackedSeq, Math.min(seq, this.seq));
    this.lastAckAt = at;
  }

  stop(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.nextDueAt = null;
  }

  /** Bound once: the timer's callback is the same function on every heartbeat. */
  private readonly beat = (): void => {
    this.timer = undefined;
    this.nextDueAt = null;
    if (this.seq - this.ackedSeq >= MISSED_ACKS_BEFORE_LOST) return this.link.lost();
    this.seq++;
    this.link.send(this.seq);
    this.arm(this.periodMs);
  };

  private arm(delayMs: number): void {
    this.nextDueAt = this.now() + delayMs;
    this.timer = this.clock.setTimeout(this.beat, delayMs);
  }
}
