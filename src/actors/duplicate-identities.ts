/**
 * Two holders of one identity take it from each other on every reconnect: the newest link wins, the
 * other is told `superseded`, backs off and comes back. One takeover is a warning (a restart that
 * found its old link half-open looks the same); a few in a short time between the same two
 * addresses is the error an operator must act on. This remembers the recent takeovers of each
 * identity, bounded in time and in the number of identities kept.
 */
const WINDOW_MS = 10 * 60_000;
const FLAPPING_AFTER = 3;
const MAX_IDENTITIES = 10_000;

interface Takeover {
  readonly at: number;
  readonly from: string;
  readonly to: string;
}

export interface Flapping {
  readonly executorId: string;
  readonly first: string;
  readonly second: string;
  readonly takeovers: number;
}

export class DuplicateIdentities {
  private readonly recent = new Map<string, Takeover[]>();
  /** Identities already reported as flapping in the current window (reported once per window). */
  private readonly reported = new Map<string, number>();

  /**
   * Note that `to` took `executorId` over from `from`. Returns the flapping report the first time
   * the identity has changed hands FLAPPING_AFTER times within the window.
   */
  takeover(executorId: string, from: string, to: string, at: number): Flapping | null {
    const kept = (this.recent.get(executorId) ?? []).filter((t) => at - t.at < WINDOW_MS);
    kept.push({ at, from, to });
    this.recent.delete(executorId);
    this.recent.set(executorId, kept);
    if (this.recent.size > MAX_IDENTITIES) this.recent.delete(this.recent.keys().next().value!);
    const reportedAt = this.reported.get(executorId);
    if (kept.length < FLAPPING_AFTER || (reportedAt !== undefined && at - reportedAt < WINDOW_MS)) return null;
    this.reported.set(executorId, at);
    if (this.reported.size > MAX_IDENTITIES) this.reported.delete(this.reported.keys().next().value!);
    // The two current holders: the one pushed out last and the one that pushed it.
    return { executorId, first: from, second: to, takeovers: kept.length };
  }
}
