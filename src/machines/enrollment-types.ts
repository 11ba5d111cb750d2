/**
 * What the enrollment machine (enrollment.ts) is started with, holds and hears: its input, its
 * context and the events of its link actors. Apart from the machine so that its readers (the
 * executor's status, narration and link actors, replay) see the shapes without the transitions.
 */
import type { ErrorInfo } from '../errors/ah-error.js';
import type { IdentitySummary } from '../model/identity.js';
import type { BackoffPolicy } from '../util/backoff.js';
import type { RotationInput, RotationNotice } from './rotation.js';

export interface EnrollmentInput {
  readonly name: string;
  /** `HOST:PORT` of the access point, as messages show it. */
  readonly remoteServer: string;
  /** Every access point given (`HOST:PORT`, `remoteServer` among them); absent: `remoteServer` alone. */
  readonly remoteServers?: readonly string[];
  readonly connectTimeoutMs: number;
  /** How the operator wrote the timeout (`30s`), for "connection timed out after 30s". */
  readonly connectTimeoutLabel: string;
  /** Give up after this many failed attempts in a row; 0 retries forever. */
  readonly maxAttempts: number;
  readonly backoff?: BackoffPolicy;
  readonly seed: number;
  readonly rotation: Omit<RotationInput, 'seed'>;
}

/** What the machine was started with: fixed for its life, never assigned. */
export interface EnrollmentConfig {
  readonly name: string;
  /** `HOST:PORT` of the access point, as messages show it. */
  readonly remoteServer: string;
  /** The executor's own access points in the order it tries them (shuffled once, from the seed). */
  readonly remoteServers: readonly string[];
  readonly connectTimeoutMs: number;
  readonly connectTimeoutLabel: string;
  /** 0 retries forever. */
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  /** The rotation child's input, its seed drawn from ours. */
  readonly rotationInput: RotationInput;
}

/**
 * The context, in groups: XState's `assign` copies the context with `Object.assign({}, …)`, and V8
 * keeps such a copy's properties fast only up to 19 of them (docs/performance.md §Machine contexts
 * with many fields). Flat, this context had 29, and every assign made a dictionary.
 */
export interface EnrollmentContext {
  readonly config: EnrollmentConfig;
  readonly rng: number;
  /** Failed attempts (dials) in a row; back to 0 on `welcome`. */
  readonly attempts: number;
  readonly lastError: ErrorInfo | null;
  /** The newest usable identity; the next link is opened with it. */
  readonly identity: IdentitySummary | null;
  readonly nextRotationAt: number | null;
  readonly renewalDue: boolean;
  /** Where to dial: the own list, then the access points the last welcome named (deduplicated). */
  readonly servers: readonly string[];
  /** Links spawned so far (their ids count from it). */
  readonly linkCount: number;
  readonly executorId: string | null;
  readonly rotations: number;
  readonly link: ActiveLink;
  readonly candidate: CandidateLink;
  /** The active link's heartbeat interval, as its welcome said (the link keeps the cadence). */
  readonly heartbeatIntervalMs: number;
  readonly retry: RetryState;
  readonly relink: RelinkState;
}

/** The link the executor is enrolled over. */
export interface ActiveLink {
  /** Null when there is none. */
  readonly id: string | null;
  /** Its access point; kept after it goes, for messages. */
  readonly server: string | null;
  /** The identity it was opened with. */
  readonly identity: IdentitySummary | null;
  /** Its welcome's nonce: the next rotation proves continuity over it. */
  readonly nonce: string | null;
  readonly connectedSince: number | null;
}

/** The link being dialed (first link, rotation or move) until it is welcomed. */
export interface CandidateLink {
  readonly id: string | null;
  /** Its access point; kept after it goes, for messages. */
  readonly server: string | null;
}

/** Where the next dial goes after failures, and when. */
export interface RetryState {
  /** The entry of `servers` the next (or current) dial goes to. */
  readonly serverIndex: number;
  /** Failed dials in the round under way. */
  readonly failedInRound: number;
  /** Rounds over every access point that failed in a row; the backoff grows with them. */
  readonly backoffs: number;
  /** Before the next dial: the jittered backoff drawn at the last failed round (0 failing over). */
  readonly delayMs: number;
}

/** relinking: moving off a draining access point. */
export interface RelinkState {
  /** The access point of the last drain; kept after the move, for messages. */
  readonly drainingServer: string | null;
  /** When the draining access point said we may come back to its address. */
  readonly retryAfterMs: number;
  /** Other access points dialed so far. */
  readonly tried: number;
}

/** Events the link actors send back. */
export type LinkReport =
  | {
      type: 'LINK_WELCOMED';
      linkId: string;
      executorId: string;
      heartbeatIntervalMs: number;
      serverTime: number;
      nonce?: string;
      /** The fleet's other serving access points (`HOST:PORT`), for failover. */
      accessPoints?: readonly string[];
      at: number;
    }
  | { type: 'LINK_FAILED'; linkId: string; error: ErrorInfo; at: number }
  /** The socket closed, or its heartbeats went unanswered (`reason` then says so: actors/link-heartbeats.ts). */
  | { type: 'LINK_CLOSED'; linkId: string; reason: string; error: ErrorInfo | null; at: number }
  /** goodbye{reason:"draining"} on an open link: it stays up until we close it. */
  | { type: 'LINK_DRAINING'; linkId: string; retryAfterMs: number; at: number };

/** Commands the machine sends to a link actor. */
export type LinkCommand = { type: 'CLOSE'; reason: string };

export interface LinkInput {
  readonly linkId: string;
  /** `HOST:PORT` of the access point to dial. */
  readonly address: string;
  /** The identity (by fingerprint) the link must present. */
  readonly fingerprint: string;
  /**
   * A rotation's new link continues the active one: it proves, with the key of the identity that
   * link was opened with, that it is the same executor (transport/continuity.ts).
   */
  readonly continues?: { readonly fingerprint: string; readonly nonce: string };
  /** The active link this one is to replace (a rotation, a move): its heartbeat cadence carries on once this one is welcomed. */
  readonly follows?: string;
}

export type EnrollmentEvent =
  | RotationNotice
  | LinkReport
  /** The certificate the link was opened with ran out (raised on our own clock; `at` is then). */
  | { type: 'LINK_CERT_EXPIRED'; at: number }
  | { type: 'SHUTDOWN' };
