/**
 * The silence deadline of every admitted link, kept beside the links' machines rather than in them.
 *
 * A heartbeat changes nothing in a link's lifecycle: the link stays `active.live`. Sending each one
 * through the link's machine cost a macrostep, a snapshot, inspection records and a deadline
 * re-armed on the clock — about half of the access point's CPU per heartbeat at ten thousand
 * links. So a heartbeat of an admitted link only notes the time here (one store), and the deadline
 * is lazy: one timer per link, armed for the full silence allowance, that on firing re-arms for
 * what is left since the last heartbeat and only tells the machine (`SILENT`) when the link really
 * was quiet that long. The machine keeps the transition (`active.live --SILENT--> closed`), so it
 * is still drawn and replayed; the timers still run on the links' clock (the timer wheel, or a
 * `SimulatedClock` in tests).
 */

/** The clock the watch runs on: XState's clock interface plus its notion of now. */
export interface WatchClock {
  setTimeout(fn: (...args: unknown[]) => void, ms: number): unknown;
  clearTimeout(id: unknown): void;
  now(): number;
}

interface Watched {
  readonly allowanceMs: number;
  heardAt: number;
  timer: unknown;
}

export class HeartbeatWatch {
  private readonly watched = new Map<string, Watched>();

  constructor(
    private readonly clock: WatchClock,
    /** Called once, when a link has been silent for its whole allowance; the link is then forgotten. */
    private readonly onSilent: (linkId: string) => void,
  ) {}

  /** Links watched now. */
  get size(): number {
    return this.watched.size;
  }

  /** Start watching an admitted link: silent for `allowanceMs` from now, it is reported. */
  watch(linkId: string, allowanceMs: number): void {
    this.unwatch(linkId);
    const w: Watched = { allowanceMs, heardAt: this.clock.now(), timer: null };
    w.timer = this.clock.setTimeout(() => this.expire(linkId, w), allowanceMs);
    this.watched.set(linkId, w);
  }

  /** A heartbeat arrived on the link: its deadline moves (lazily, when the timer fires). */
  heard(linkId: string): void {
    const w = this.watched.get(linkId);
    if (w) w.heardAt = this.clock.now();
  }

  unwatch(linkId: string): void {
    const w = this.watched.get(linkId);
    if (!w) return;
    this.clock.clearTimeout(w.timer);
    this.watched.delete(linkId);
  }

  private expire(linkId: string, w: Watched): void {
    if (this.watched.get(linkId) !== w) return;
    const left = w.heardAt + w.allowanceMs - this.clock.now();
    if (left > 0) {
      w.timer = this.clock.setTimeout(() => this.expire(linkId, w), left);
      return;
    }
    this.watched.delete(linkId);
    this.onSilent(linkId);
  }
}
