/**
 * Drain without absence, on the access point's side (docs/fleet-link.md, "Drain"): every admitted
 * link is asked to move with goodbye{reason:"draining", retryAfterMs}, in small batches at
 * `--drain-rate` links a second, each batch after a jittered pause, so that ten thousand
 * executors do not dial the other access points in the same millisecond. A link that was asked
 * stays served (heartbeats acked) until its executor, welcomed elsewhere, closes it. The drain
 * ends when no link is left, or at `--drain-timeout`.
 */
import type { Logger } from '../log/logger.js';

/** Batches are sent about this often; each one holds `rate × tick` links. */
export const DRAIN_TICK_MS = 100;
/** How far a tick may stray from DRAIN_TICK_MS, as a fraction (±). */
export const DRAIN_TICK_JITTER = 0.5;
/** Progress is logged at most this often. */
const PROGRESS_EVERY_MS = 1_000;

export const DEFAULT_DRAIN_TIMEOUT_MS = 60_000;
export const DEFAULT_DRAIN_RATE = 200;
export const DEFAULT_DRAIN_RETRY_AFTER_MS = 2_000;

/** What the drain works on: the access point's links (actors/executor-links.ts). */
export interface DrainableLinks {
  /** All open links, admitted or not. */
  readonly size: number;
  /** Admitted links not yet asked to move. */
  stayingLinks(): string[];
  askToLeave(linkId: string, retryAfterMs: number): void;
}

export interface DrainOptions {
  readonly timeoutMs: number;
  /** Links asked to move per second. */
  readonly rate: number;
  /** Told to executors: when they may dial this access point's address again. */
  readonly retryAfterMs: number;
  readonly log: Logger;
  /** Uniform in [0, 1); injected for tests. */
  readonly random?: () => number;
}

/** `stopped`: the access point was stopped during the drain (SIGINT, a second signal). */
export type DrainOutcome = {
  readonly outcome: 'links_gone' | 'timeout' | 'stopped';
  readonly linksLeft: number;
  readonly asked: number;
  readonly tookMs: number;
};

/** Links to ask in one batch after a pause of `tickMs`: at least one, so a low rate still moves. */
export function batchSize(rate: number, tickMs: number): number {
  return Math.max(1, Math.round((rate * tickMs) / 1_000));
}

export class AccessPointDrain {
  private asked = 0;
  private readonly random: () => number;
  private readonly startedAt = Date.now();
  private lastProgressAt = this.startedAt;
  private timer: NodeJS.Timeout | null = null;
  private settle: ((outcome: DrainOutcome) => void) | null = null;

  constructor(
    private readonly links: DrainableLinks,
    private readonly options: DrainOptions,
  ) {
    this.random = options.random ?? Math.random;
  }

  /** The links still open (for status and metrics). */
  get linksLeft(): number {
    return this.links.size;
  }

  /** Runs until no link is left or the timeout passes. */
  run(): Promise<DrainOutcome> {
    const { log, timeoutMs, rate, retryAfterMs } = this.options;
    log.info(
      { event: 'drain_started', links: this.links.size, timeoutMs, rate, retryAfterMs },
      `draining: asking ${this.links.size} link${this.links.size === 1 ? '' : 's'} to move to another access point (${rate}/s), then exiting`,
    );
    return new Promise((resolve) => {
      this.settle = resolve;
      const deadline = this.startedAt + timeoutMs;
      const step = () => {
        const now = Date.now();
        if (this.links.size === 0 || now >= deadline) return this.end(this.links.size === 0 ? 'links_gone' : 'timeout');
        const tickMs = DRAIN_TICK_MS * (1 - DRAIN_TICK_JITTER + 2 * DRAIN_TICK_JITTER * this.random());
        for (const linkId of this.links.stayingLinks().slice(0, batchSize(rate, tickMs))) {
          this.links.askToLeave(linkId, retryAfterMs);
          this.asked++;
        }
        if (now - this.lastProgressAt >= PROGRESS_EVERY_MS) {
          this.lastProgressAt = now;
          log.info({ event: 'drain_progress', asked: this.asked, linksLeft: this.links.size }, `draining: ${this.links.size} links left`);
        }
        this.timer = setTimeout(step, Math.min(tickMs, Math.max(0, deadline - now)));
      };
      step();
    });
  }

  /** Stop early (a second signal): `run()` resolves with `stopped`; the caller closes what is left. */
  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.end('stopped');
  }

  private end(outcome: DrainOutcome['outcome']): void {
    const settle = this.settle;
    this.settle = null;
    settle?.(this.finish(outcome));
  }

  private finish(outcome: DrainOutcome['outcome']): DrainOutcome {
    const result = { outcome, linksLeft: this.links.size, asked: this.asked, tookMs: Date.now() - this.startedAt };
    const left = `${result.linksLeft} link${result.linksLeft === 1 ? '' : 's'}`;
    const said = {
      links_gone: `drained: every link has moved or closed (${result.asked} asked to move)`,
      timeout: `drain timeout: ${left} still open; closing them`,
      stopped: `drain cut short by a stop: ${left} still open; closing them`,
    }[outcome];
    this.options.log[outcome === 'links_gone' ? 'info' : 'warn']({ event: 'drain_done', ...result }, said);
    return result;
  }
}
