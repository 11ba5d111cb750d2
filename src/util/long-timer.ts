/**
 * Timers that wait as long as they are told. Node's setTimeout fires after 1 ms when asked for
 * more than 2^31-1 ms (about 24.8 days), so a `--heartbeat-interval 25d` or a `--backoff-base
 * 100d` would fire at once. Every timer whose delay comes from configuration (and every XState
 * actor, through `longClock`) goes through here: a long delay is waited out in steps.
 */

/** The longest delay one setTimeout honours. */
export const MAX_NATIVE_TIMEOUT_MS = 2 ** 31 - 1;

export interface LongTimer {
  /** The native timer of the current step; null once fired or cleared. */
  current: ReturnType<typeof setTimeout> | null;
  /** Whether the timer keeps the process alive (as a native timer does by default). */
  ref: boolean;
}

/** Like setTimeout(fn, ms), for any ms (a negative or NaN delay fires on the next turn). */
export function setLongTimeout(fn: () => void, ms: number, options: { ref?: boolean } = {}): LongTimer {
  const timer: LongTimer = { current: null, ref: options.ref ?? true };
  let remaining = Number.isFinite(ms) ? Math.max(0, ms) : ms > 0 ? Infinity : 0;
  const step = () => {
    const wait = Math.min(remaining, MAX_NATIVE_TIMEOUT_MS);
    remaining -= wait;
    timer.current = setTimeout(() => {
      if (remaining > 0) return step();
      timer.current = null;
      fn();
    }, wait);
    if (!timer.ref) timer.current.unref?.();
  };
  step();
  return timer;
}

export function clearLongTimeout(timer: LongTimer | null | undefined): void {
  if (!timer?.current) return;
  clearTimeout(timer.current);
  timer.current = null;
}

export interface LongInterval {
  timer: LongTimer | null;
}

/** Like setInterval(fn, ms), for any ms. */
export function setLongInterval(fn: () => void, ms: number, options: { ref?: boolean } = {}): LongInterval {
  const handle: LongInterval = { timer: null };
  const arm = () => {
    handle.timer = setLongTimeout(
      () => {
        arm();
        fn();
      },
      ms,
      options,
    );
  };
  arm();
  return handle;
}

export function clearLongInterval(handle: LongInterval | null | undefined): void {
  if (!handle) return;
  clearLongTimeout(handle.timer);
  handle.timer = null;
}

/** A `longClock` timer: the native steps, then the turn it waits for I/O already arrived. */
export interface ClockTimer {
  readonly long: LongTimer;
  yielding: ReturnType<typeof setImmediate> | null;
}

/**
 * XState's clock (`createActor(logic, { clock: longClock })`): delayed transitions of any length.
 * A timer that comes due delivers its event one turn later (setImmediate), after the poll phase:
 * Node runs due timers before it reads the sockets, so a process running behind (a load process
 * of 5,000 executors in a re-join) would time out a dial whose welcome already sat in its socket.
 * Whatever has arrived by the time a deadline comes due is read first, and the deadline, cancelled
 * by the transition it caused, never fires (docs/performance.md §Deadlines and I/O already arrived).
 */
export const longClock = {
  setTimeout: (fn: (...args: unknown[]) => void, ms: number): ClockTimer => {
    const timer: ClockTimer = {
      long: setLongTimeout(() => {
        timer.yielding = setImmediate(() => {
          timer.yielding = null;
          fn();
        });
      }, ms),
      yielding: null,
    };
    return timer;
  },
  clearTimeout: (timer: ClockTimer): void => {
    clearLongTimeout(timer.long);
    if (timer.yielding) clearImmediate(timer.yielding);
    timer.yielding = null;
  },
};
