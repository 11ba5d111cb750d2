/**
 * Admission at TCP accept, before any TLS byte: a bounded number of TLS handshakes in flight
 * (`--max-handshakes`), a FIFO queue of connections waiting for one of those places
 * (`--handshake-queue`), and a per-source-address rate (`--handshake-rate`, a token bucket per IP).
 * A handshake costs the access point a key exchange and a signature; when a whole fleet dials at
 * once (a CA-wide rotation, a restart) the handshakes take their turn instead of starving the
 * links already established, and instead of being refused: a connection is shed (closed before
 * TLS) only when the queue is full, when it waited longer than a handshake may take, or when its
 * source is past its rate. Links already past their handshake are not counted and never slowed:
 * every decision is O(1), and the queue's one timer watches its oldest entry only.
 */
import { clearLongTimeout, setLongTimeout, type LongTimer } from '../util/long-timer.js';
import { SourceRateLimit } from './source-rate-limit.js';

/** capacity: handshakes and queue full; rate: the source's rate; queue_timeout: waited too long. */
export type ShedReason = 'capacity' | 'rate' | 'queue_timeout';
export const SHED_REASONS: readonly ShedReason[] = ['capacity', 'rate', 'queue_timeout'];

export const DEFAULT_MAX_HANDSHAKES = 256;
export const MAX_HANDSHAKES_RANGE = { min: 1, max: 65_536 } as const;
/** The queue holds this many connections per handshake place unless told otherwise. */
export const DEFAULT_QUEUE_PER_HANDSHAKE = 8;
/** 0: no queue (shed as soon as every place is taken); the top is the default at the top of --max-handshakes. */
export const HANDSHAKE_QUEUE_RANGE = { min: 0, max: DEFAULT_QUEUE_PER_HANDSHAKE * MAX_HANDSHAKES_RANGE.max } as const;
/** As long as a handshake itself may take (the TLS server's handshake timeout). */
export const DEFAULT_MAX_QUEUE_WAIT_MS = 10_000;
/** Handshakes a second per source address; a source may burst to twice this. */
export const DEFAULT_HANDSHAKE_RATE = 20;
export const HANDSHAKE_RATE_RANGE = { min: 1, max: 100_000 } as const;
/** Source addresses remembered by the rate limit (least recently seen forgotten first). */
const MAX_SOURCES = 16_384;

export interface HandshakeGateOptions {
  readonly maxInFlight?: number;
  /** Connections that may wait for a place (default 8 per place). */
  readonly queueLimit?: number;
  /** A connection that waited this long is shed (default 10 s). */
  readonly maxWaitMs?: number;
  /** Handshakes a second per source address (burst: twice as many). */
  readonly perSourceRate?: number;
  readonly now?: () => number;
}

/** What a connection is told while it holds a ticket. */
export interface Waiter {
  /** It waited and now has a place: hand it to TLS. */
  admitted(): void;
  /** It waited longer than the queue's bound and left the queue: shed it. */
  expired(): void;
}

/** A connection's place: in flight (hand it to TLS now) or queued (wait for `admitted`). */
export interface Ticket {
  readonly queued: boolean;
  /** The handshake is over (secure, failed) or the socket closed; extra calls are no-ops. */
  release(): void;
}

/** How the gate stands, for status and metrics. */
export interface HandshakeGateStats {
  readonly inFlight: number;
  readonly queued: number;
  readonly maxInFlight: number;
  readonly queueLimit: number;
  /** Connections that waited in the queue since start (admitted, expired or gone). */
  readonly waited: number;
}

class Entry implements Ticket {
  prev: Entry | null = null;
  next: Entry | null = null;
  state: 'queued' | 'in-flight' | 'done';
  constructor(
    private readonly gate: HandshakeGate,
    readonly waiter: Waiter,
    readonly since: number,
    queued: boolean,
  ) {
    this.state = queued ? 'queued' : 'in-flight';
  }

  get queued(): boolean {
    return this.state === 'queued';
  }

  release(): void {
    this.gate.release(this);
  }
}

export class HandshakeGate {
  readonly maxInFlight: number;
  readonly queueLimit: number;
  readonly maxWaitMs: number;
  readonly perSourceRate: number;
  private readonly rate: SourceRateLimit;
  private readonly now: () => number;
  private inFlight = 0;
  private waiting = 0;
  private waitedTotal = 0;
  /** The queue, oldest first: a doubly linked list, so a connection that closes leaves in O(1). */
  private head: Entry | null = null;
  private tail: Entry | null = null;
  /** Fires when the oldest waiting connection has waited maxWaitMs. */
  private expiry: LongTimer | null = null;
  private pumping = false;

  constructor(options: HandshakeGateOptions = {}) {
    this.maxInFlight = options.maxInFlight ?? DEFAULT_MAX_HANDSHAKES;
    this.queueLimit = options.queueLimit ?? DEFAULT_QUEUE_PER_HANDSHAKE * this.maxInFlight;
    this.maxWaitMs = options.maxWaitMs ?? DEFAULT_MAX_QUEUE_WAIT_MS;
    this.perSourceRate = options.perSourceRate ?? DEFAULT_HANDSHAKE_RATE;
    this.now = options.now ?? Date.now;
    this.rate = new SourceRateLimit({ perSecond: this.perSourceRate, burst: 2 * this.perSourceRate, maxSources: MAX_SOURCES, now: this.now });
  }

  /** A ticket (in flight now, or queued until `waiter.admitted`), or why the connection is shed. */
  enter(sourceAddress: string, waiter: Waiter): Ticket | ShedReason {
    const full = this.inFlight >= this.maxInFlight || this.head !== null;
    // No room at all: shed without charging the source, whose handshake never started.
    if (full && this.waiting >= this.queueLimit) return 'capacity';
    if (!this.rate.take(sourceAddress)) return 'rate';
    const entry = new Entry(this, waiter, this.now(), full);
    if (!full) {
      this.inFlight++;
      return entry;
    }
    this.append(entry);
    this.waitedTotal++;
    if (this.head === entry) this.armExpiry();
    return entry;
  }

  /** Ticket.release(): leave the queue, or free the place and admit the next. */
  release(ticket: Ticket): void {
    const entry = ticket as Entry;
    if (entry.state === 'done') return;
    const wasInFlight = entry.state === 'in-flight';
    if (wasInFlight) this.inFlight--;
    else this.unlink(entry);
    entry.state = 'done';
    if (wasInFlight) this.pump();
  }

  get inHandshake(): number {
    return this.inFlight;
  }

  get stats(): HandshakeGateStats {
    return { inFlight: this.inFlight, queued: this.waiting, maxInFlight: this.maxInFlight, queueLimit: this.queueLimit, waited: this.waitedTotal };
  }

  /** Places freed: admit the oldest waiting, in order, while there is room. */
  private pump(): void {
    // An admitted connection may fail (and release) at once: one loop, not a recursion.
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.inFlight < this.maxInFlight && this.head) {
        const entry = this.head;
        this.unlink(entry);
        entry.state = 'in-flight';
        this.inFlight++;
        entry.waiter.admitted();
      }
    } finally {
      this.pumping = false;
    }
  }

  private expire(): void {
    this.expiry = null;
    const now = this.now();
    while (this.head && now - this.head.since >= this.maxWaitMs) {
      const entry = this.head;
      this.unlink(entry);
      entry.state = 'done';
      entry.waiter.expired();
    }
  }

  /** The oldest waits longest: one timer, for the head, re-armed when the head changes. */
  private armExpiry(): void {
    if (this.expiry) clearLongTimeout(this.expiry);
    this.expiry = null;
    if (!this.head) return;
    const wait = Math.max(0, this.head.since + this.maxWaitMs - this.now());
    this.expiry = setLongTimeout(() => this.expire(), wait, { ref: false });
  }

  private append(entry: Entry): void {
    entry.prev = this.tail;
    if (this.tail) this.tail.next = entry;
    else this.head = entry;
    this.tail = entry;
    this.waiting++;
  }

  private unlink(entry: Entry): void {
    const wasHead = this.head === entry;
    if (entry.prev) entry.prev.next = entry.next;
    else this.head = entry.next;
    if (entry.next) entry.next.prev = entry.prev;
    else this.tail = entry.prev;
    entry.prev = entry.next = null;
    this.waiting--;
    if (wasHead) this.armExpiry();
  }
}
