/**
 * Narrates the connections the handshake gate shed, without becoming the flood's amplifier: the
 * first of each reason in a 10-second window is a warning (event `handshake_shed`), the rest of the
 * window one line with the count (event `handshakes_shed_coalesced`), at the window's end or at stop.
 */
import type { Logger } from '../log/logger.js';
import { WindowCoalescer, type WindowSummary } from '../util/window-coalescer.js';
import type { HandshakeGate, ShedReason } from './handshake-gate.js';

const WINDOW_MS = 10_000;

export interface Shed {
  readonly remoteAddress: string;
  readonly sourceAddress: string;
  readonly reason: ShedReason;
}

export class HandshakeShedLog {
  private readonly windows: WindowCoalescer<Shed>;

  constructor(
    private readonly logger: Logger,
    private readonly gate: HandshakeGate,
  ) {
    this.windows = new WindowCoalescer<Shed>({ windowMs: WINDOW_MS, maxKeys: 3, maxSamples: 5, onClose: (s) => this.summary(s) });
  }

  shed(s: Shed): void {
    if (!this.windows.offer(s.reason, s)) return;
    this.logger.warn(
      { event: 'handshake_shed', reason: s.reason, remoteAddress: s.remoteAddress, sourceAddress: s.sourceAddress, ...this.limits() },
      `connection from ${s.remoteAddress} closed before TLS: ${this.why(s.reason, s.sourceAddress)}`,
    );
  }

  flush(): void {
    this.windows.flush();
  }

  private summary(s: WindowSummary<Shed>): void {
    const reason = s.samples[0]!.reason;
    const sources = [...new Set(s.samples.map((x) => x.sourceAddress))];
    this.logger.warn(
      {
        event: 'handshakes_shed_coalesced',
        reason,
        count: s.count,
        sourceAddresses: sources,
        firstTime: new Date(s.firstAt).toISOString(),
        lastTime: new Date(s.lastAt).toISOString(),
        ...this.limits(),
      },
      `${s.count} more connection${s.count === 1 ? '' : 's'} closed before TLS: ${this.why(reason, sources.join(', '))}`,
    );
  }

  private why(reason: ShedReason, source: string): string {
    const g = this.gate;
    if (reason === 'rate') return `more than ${g.perSourceRate} handshakes a second from ${source} (--handshake-rate)`;
    if (reason === 'queue_timeout') return `waited ${g.maxWaitMs / 1000} s for one of ${g.maxInFlight} TLS handshake places (--max-handshakes)`;
    return `${g.maxInFlight} TLS handshakes in progress and ${g.queueLimit} connections waiting (--max-handshakes, --handshake-queue)`;
  }

  private limits() {
    return { maxHandshakes: this.gate.maxInFlight, handshakeQueue: this.gate.queueLimit, handshakeRate: this.gate.perSourceRate };
  }
}
