/**
 * Many deadlines, one native timer. An access point holds a heartbeat deadline per link, re-armed
 * on every heartbeat: ten thousand links at a 5 s interval are two thousand setTimeout/clearTimeout
 * pairs a second, each a node in libuv's timer heap and a JS object for the GC. Deadlines that
 * only guard against silence do not need millisecond precision, so here they are put in buckets
 * of `resolutionMs` (one Set per bucket, shared by every deadline in it) and a single native
 * timer is armed for the earliest bucket.
 *
 * - A deadline never fires early and at most one tick late: a timer set at `now` for `ms` lands in
 *   the bucket that ends after `now + ms`; a bucket fires once the time source has passed its end.
 * - Set and clear are O(1) (a Set insert or delete); only a timer that opens a new bucket also
 *   pushes the bucket's tick on a heap of ticks, O(log buckets), and buckets are few (the longest
 *   delay in use divided by the resolution).
 * - Within a bucket deadlines fire in deadline order (then in the order they were set).
 * - The native timer is a long timer (./long-timer.ts), so any delay works, and is unref'd: a
 *   wheel never keeps the process alive; what it guards does.
 * - It is XState's clock interface: `createActor(machine, { clock: wheel })`.
 */
import { clearLongTimeout, setLongTimeout, type LongTimer } from './long-timer.js';

export interface TimerWheelOptions {
  /** Width of a bucket: how late a deadline may fire (default 100 ms). */
  readonly resolutionMs?: number;
  /** The time source, in ms (default `performance.now()`: monotonic, deaf to wall-clock steps). */
  readonly now?: () => number;
}

/** The handle setTimeout returns; pass it to clearTimeout. */
export interface WheelTimer {
  readonly deadline: number;
}

interface Entry extends WheelTimer {
  readonly fn: () => void;
  /** The bucket that holds it; null once fired or cleared. */
  bucket: Bucket | null;
}

interface Bucket {
  readonly tick: number;
  readonly entries: Set<Entry>;
  /** The latest deadline added, and whether they were added in deadline order. */
  last: number;
  sorted: boolean;
}

export const DEFAULT_WHEEL_RESOLUTION_MS = 100;

export class TimerWheel {
  readonly resolutionMs: number;
  private readonly timeSource: () => number;
  private readonly buckets = new Map<number, Bucket>();
  private readonly ticks = new TickHeap();
  private armed: { tick: number; timer: LongTimer } | null = null;
  private count = 0;
  /** While buckets fire, timers their callbacks set wait for the arming at the end. */
  private firing = false;

  constructor(options: TimerWheelOptions = {}) {
    this.resolutionMs = options.resolutionMs ?? DEFAULT_WHEEL_RESOLUTION_MS;
    if (!(this.resolutionMs > 0)) throw new RangeError(`resolutionMs must be positive, got ${this.resolutionMs}`);
    this.timeSource = options.now ?? (() => performance.now());
  }

  /** Timers waiting. */
  get size(): number {
    return this.count;
  }

  /** Like setTimeout(fn, ms), for any ms (negative or NaN: as soon as possible). */
  /** The wheel's time, in ms, from its time source. */
  now(): number {
    return this.timeSource();
  }

  setTimeout(fn: () => void, ms: number): WheelTimer {
    const delay = Number.isNaN(ms) ? 0 : Math.max(0, ms);
    const deadline = this.timeSource() + delay;
    // The bucket whose end is strictly after the deadline: never early, and a timer set while a
    // bucket fires lands in a later one.
    const tick = Math.floor(deadline / this.resolutionMs) + 1;
    let bucket = this.buckets.get(tick);
    if (!bucket) {
      bucket = { tick, entries: new Set(), last: deadline, sorted: true };
      this.buckets.set(tick, bucket);
      this.ticks.push(tick);
    }
    if (deadline < bucket.last) bucket.sorted = false;
    bucket.last = Math.max(bucket.last, deadline);
    const entry: Entry = { fn, deadline, bucket };
    bucket.entries.add(entry);
    this.count++;
    if (!this.firing && (!this.armed || tick < this.armed.tick)) this.arm();
    return entry;
  }

  clearTimeout(timer: WheelTimer | null | undefined): void {
    const entry = timer as Entry | null | undefined;
    if (!entry?.bucket) return;
    entry.bucket.entries.delete(entry);
    entry.bucket = null;
    // An emptied bucket stays until its tick passes (setting into it again is then free).
    if (--this.count === 0 && !this.firing) this.disarm();
  }

  /** Fires every bucket whose end has passed, then arms for the next one that holds a timer. */
  private fire(): void {
    this.armed = null;
    const now = this.timeSource();
    const failures: unknown[] = [];
    this.firing = true;
    try {
      let tick = this.ticks.peek();
      while (tick !== undefined && tick * this.resolutionMs <= now) {
        this.ticks.pop();
        const bucket = this.buckets.get(tick)!;
        this.buckets.delete(tick);
        this.fireBucket(bucket, failures);
        tick = this.ticks.peek();
      }
    } finally {
      this.firing = false;
      this.arm();
    }
    // One throwing callback must not silence the others: rethrown as an uncaught error would be.
    for (const err of failures)
      queueMicrotask(() => {
        throw err;
      });
  }

  private fireBucket(bucket: Bucket, failures: unknown[]): void {
    // A callback may clear timers of this bucket that have not fired yet: they are skipped.
    const order = bucket.sorted ? bucket.entries : [...bucket.entries].sort((a, b) => a.deadline - b.deadline);
    for (const entry of order) {
      if (entry.bucket !== bucket) continue;
      entry.bucket = null;
      bucket.entries.delete(entry);
      this.count--;
      try {
        entry.fn();
      } catch (err) {
        failures.push(err);
      }
    }
  }

  /** Drops emptied buckets at the front, then (re-)arms the native timer for the first left. */
  private arm(): void {
    let tick = this.ticks.peek();
    while (tick !== undefined && this.buckets.get(tick)!.entries.size === 0) {
      this.ticks.pop();
      this.buckets.delete(tick);
      tick = this.ticks.peek();
    }
    if (tick === undefined) return this.disarm();
    if (this.armed?.tick === tick) return;
    this.disarm();
    // Rounded up: a native timer counts whole milliseconds, and waking early costs a second wake.
    const wait = Math.ceil(tick * this.resolutionMs - this.timeSource());
    this.armed = { tick, timer: setLongTimeout(() => this.fire(), Math.max(0, wait), { ref: false }) };
  }

  private disarm(): void {
    if (!this.armed) return;
    clearLongTimeout(this.armed.timer);
    this.armed = null;
  }
}

/** A binary min-heap of bucket ticks (each tick at most once: one per bucket in the map). */
class TickHeap {
  private readonly items: number[] = [];

  peek(): number | undefined {
    return this.items[0];
  }

  push(tick: number): void {
    const a = this.items;
    a.push(tick);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (a[parent]! <= tick) break;
      a[i] = a[parent]!;
      i = parent;
    }
    a[i] = tick;
  }

  pop(): number | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= a.length) break;
      const right = left + 1;
      const child = right < a.length && a[right]! < a[left]! ? right : left;
      if (a[child]! >= last) break;
      a[i] = a[child]!;
      i = child;
    }
    a[i] = last;
    return top;
  }
}

/**
 * The access point's clock for its per-link machines (hello, heartbeat and drain deadlines): one
 * wheel for every link of the process.
 */
export const wheelClock = new TimerWheel();
