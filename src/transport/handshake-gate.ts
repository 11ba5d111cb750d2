/**
 * Admission at TCP accept, before any TLS byte: a cap on the TLS handshakes in flight
 * (`--max-handshakes`) and a per-source-address rate (`--handshake-rate`, a token bucket per IP).
 * A handshake costs the access point a key exchange and a signature; a client that opens
 * connections faster than that, or many that never finish, would otherwise crowd out the
 * executors. Links already past their handshake are not counted and never slowed: each decision
 * is O(1).
 */
import { SourceRateLimit } from './source-rate-limit.js';

export type ShedReason = 'capacity' | 'rate';

export const DEFAULT_MAX_HANDSHAKES = 256;
export const MAX_HANDSHAKES_RANGE = { min: 1, max: 65_536 } as const;
/** Handshakes a second per source address; a source may burst to twice this. */
export const DEFAULT_HANDSHAKE_RATE = 20;
export const HANDSHAKE_RATE_RANGE = { min: 1, max: 100_000 } as const;
/** Source addresses remembered by the rate limit (least recently seen forgotten first). */
const MAX_SOURCES = 16_384;

export interface HandshakeGateOptions {
  readonly maxInFlight?: number;
  /** Handshakes a second per source address (burst: twice as many). */
  readonly perSourceRate?: number;
  readonly now?: () => number;
}

/** Call once the handshake is over (secure, failed, or the socket closed); extra calls are no-ops. */
export type Release = () => void;

export class HandshakeGate {
  private inFlight = 0;
  readonly maxInFlight: number;
  readonly perSourceRate: number;
  private readonly rate: SourceRateLimit;

  constructor(options: HandshakeGateOptions = {}) {
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_HANDSHAKES;
    this.perSourceRate = options.perSourceRate ?? DEFAULT_HANDSHAKE_RATE;
    this.rate = new SourceRateLimit({ perSecond: this.perSourceRate, burst: 2 * this.perSourceRate, maxSources: MAX_SOURCES, now: options.now });
  }

  /** A release to call when the handshake ends, or why the connection is shed. */
  admit(sourceAddress: string): Release | ShedReason {
    // Full: shed without charging the source, whose handshake never started.
    if (this.inFlight >= this.maxInFlight) return 'capacity';
    if (!this.rate.take(sourceAddress)) return 'rate';
    this.inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
    };
  }

  get inHandshake(): number {
    return this.inFlight;
  }
}
