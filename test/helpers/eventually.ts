/**
 * Waiting on something a test can only look at, not be told about (a status socket, a metrics
 * scrape, the roster): ask again until the answer is the one expected, within a generous bound.
 * One helper, so every such wait has a bound and says on failure what it waited for and what it
 * saw last. Log lines have their own wait (`Daemon.waitForLine`), which is told of each line.
 */

export interface EventuallyOptions<T> {
  /** The bound (default 20 s): generous, since the machine is shared. */
  readonly timeoutMs?: number;
  /** Pause between two looks (default 100 ms). */
  readonly intervalMs?: number;
  /** How the last answer reads in the failure message (default JSON). */
  readonly show?: (last: T) => string;
}

/**
 * Calls `look` until `accept` passes on its answer, and resolves with that answer; rejects after
 * `timeoutMs` with "still waiting for <what>" and the last answer. An error thrown by `look` ends
 * the wait: a look that may fail while things settle must catch it and answer something.
 */
export async function eventually<T>(look: () => T | Promise<T>, accept: (answer: T) => boolean, what: string, options: EventuallyOptions<T> = {}): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 100, show = (last: T) => JSON.stringify(last) } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await look();
    if (accept(answer)) return answer;
    if (Date.now() >= deadline) throw new Error(`still waiting for ${what} after ${timeoutMs} ms; last seen: ${show(answer)}`);
    await new Promise((r) => setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))));
  }
}
