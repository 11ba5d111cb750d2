/**
 * What the access point decides about a verified executor link, as data: produced by the
 * transport's checks (transport/executor-policy.ts, transport/continuity.ts), carried by the
 * `connection` machine's events, logged and replayed.
 */
import type { X509Certificate } from 'node:crypto';

/** A rotation's proof that its new link continues an open one (transport/continuity.ts). */
export interface ContinuityClaim {
  readonly nonce: string;
  readonly signature: string;
}

/**
 * How a verified link relates to the identity's other open links: `joined` (none), `rotated`
 * (it proved it continues one, or presents the same key), `duplicate` (a second holder, which takes
 * over; `supersedes` lists the links it pushes out).
 */
export type Admission = 'joined' | 'rotated' | 'duplicate';

export interface PeerVerdict {
  readonly executorId: string;
  readonly certNotAfter: number;
  readonly serial: string;
  /** Sent in welcome; a later rotation proves continuity over it. */
  readonly nonce?: string;
  readonly admission?: Admission;
  readonly supersedes?: readonly string[];
}

/** What the TLS layer says of the client, read once per link. */
export interface ClientHandshake {
  readonly certificate: X509Certificate | undefined;
  /** The chain as OpenSSL assembled it (DER, leaf first, completed from the trust bundle). */
  /** The certificates the client sent, leaf first (DER): what the chain rules check above the leaf. */
  chain(): readonly Uint8Array[];
  readonly authorized: boolean;
  readonly authorizationError: string | null;
}
