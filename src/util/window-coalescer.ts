/**
 * Coalesces a stream of like events per key and time window: the first event of a window is
 * reported by the caller at once, the rest of the window are only counted, and one summary per
 * window (count, first and last time, a few samples) is handed to `onClose` when the window ends
 * or at `flush()`. A flood then costs one report at its start and one per window, whatever its rate.
 *
 * Memory is bounded: at most `maxKeys` windows are open; a new key beyond that closes the oldest
 * window early (its summary is reported then). Windows are kept in the order they opened, which is
 * the order they close in, so one timer (for the oldest) serves them all.
 */

export interface WindowSummary<T> {
  readonly key: string;
  /** The events counted after the window's first one (which the caller reported itself). */
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** The first few counted events, for the summary's details. */
  readonly samples: readonly T[];
}

export interface WindowCoalescerOptions<T> {
  readonly windowMs: number;
  readonly maxKeys: number;
  readonly maxSamples?: number;
  readonly onClose: (summary: WindowSummary<T>) => void;
  readonly now?: () => number;
}

interface OpenWindow<T> {
  readonly openedAt: number;
  count: number;
  firstAt: number;
  lastAt: number;
  readonly samples: T[];
}

export class WindowCoalescer<T> {
  private readonly windows = new Map<string, OpenWindow<T>>();
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;

  constructor(private readonly options: WindowCoalescerOptions<T>) {
    this.now = options.now ?? Date.now;
  }

  /** True when `item` opens a window (report it now); false when it was counted for the summary. */
  offer(key: string, item: T): boolean {
    const now = this.now();
    this.closeExpired(now);
    const open = this.windows.get(key);
    if (open) {
      if (open.count === 0) open.firstAt = now;
      open.count++;
      open.lastAt = now;
      if (open.samples.length < (this.options.maxSamples ?? 5)) open.samples.push(item);
      return false;
    }
    if (this.windows.size >= this.options.maxKeys) this.close(this.windows.keys().next().value!);
    this.windows.set(key, { openedAt: now, count: 0, firstAt: now, lastAt: now, samples: [] });
    this.arm();
    return true;
  }

  /** Close every window now (at stop): each summary with a count is reported. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const key of [...this.windows.keys()]) this.close(key);
  }

  get openWindows(): number {
    return this.windows.size;
  }

  private close(key: string): void {
    const w = this.windows.get(key);
    if (!w) return;
    this.windows.delete(key);
    if (w.count > 0) this.options.onClose({ key, count: w.count, firstAt: w.firstAt, lastAt: w.lastAt, samples: w.samples });
  }

  private closeExpired(now: number): void {
    for (const [key, w] of this.windows) {
      if (now - w.openedAt < this.options.windowMs) break;
      this.close(key);
    }
  }

  private arm(): void {
    if (this.timer) return;
    const oldest = this.windows.values().next().value;
    if (!oldest) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.closeExpired(this.now());
        this.arm();
      },
      Math.max(0, oldest.openedAt + this.options.windowMs - this.now()),
    );
    // A pending summary must not keep a stopping process alive; stop() flushes it.
    this.timer.unref();
  }
}
