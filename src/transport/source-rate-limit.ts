/**
 * A token bucket per source address: `perSecond` new handshakes a second, up to `burst` at once.
 * A full bucket is the same as no bucket, so idle sources cost nothing once evicted; the table is
 * kept in least-recently-used order and capped at `maxSources` (the least recently seen source is
 * forgotten first: at worst it gets a fresh burst). Every call is O(1).
 */

export interface SourceRateLimitOptions {
  readonly perSecond: number;
  readonly burst: number;
  readonly maxSources: number;
  readonly now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceRateLimit {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;

  constructor(private readonly options: SourceRateLimitOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Take one token for `source`; false when its bucket is empty. */
  take(source: string): boolean {
    const now = this.now();
    const { perSecond, burst } = this.options;
    const bucket = this.buckets.get(source);
    let tokens = burst;
    if (bucket) {
      tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * perSecond) / 1000);
      // Re-inserted below: the map's first entry is always the least recently seen source.
      this.buckets.delete(source);
    } else if (this.buckets.size >= this.options.maxSources) {
      this.buckets.delete(this.buckets.keys().next().value!);
    }
    const allowed = tokens >= 1;
    this.buckets.set(source, { tokens: allowed ? tokens - 1 : tokens, at: now });
    return allowed;
  }

  get sources(): number {
    return this.buckets.size;
  }
}
