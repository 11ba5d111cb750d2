/**
 * What each duration and number flag accepts. Outside these a flag is a usage error naming the
 * range, and `--help` shows it: a heartbeat of 5 ms or a dev certificate of 1 ms is a typo, not a
 * setting, and would only fail later in a way that does not point back at the flag.
 */
import { HEARTBEAT_INTERVAL_RANGE } from '../transport/messages.js';
import type { DurationRange } from '../util/duration.js';
import { LEASE_TTL_RANGE } from '../actors/roster-etcd.js';

const S = 1_000;
const H = 3_600_000;
const D = 86_400_000;

export const FLAG_RANGES = {
  /** Told to executors in welcome; they refuse anything else. */
  heartbeatInterval: HEARTBEAT_INTERVAL_RANGE,
  connectTimeout: { minMs: 100, maxMs: 24 * H },
  backoffBase: { minMs: 10, maxMs: 1 * H },
  backoffMax: { minMs: 10, maxMs: 24 * H },
  /** Renewed at 0.7 of the lifetime: below a few seconds it renews faster than links are made. */
  devCertTtl: { minMs: 2 * S, maxMs: 365 * D },
  filesPollInterval: { minMs: 1 * S, maxMs: 24 * H },
  vaultTtl: { minMs: 10 * S, maxMs: 365 * D },
  /** exec: how long one run's material is used; below a few seconds the command runs faster than links are made. */
  dynamicCertTtl: { minMs: 2 * S, maxMs: 365 * D },
  /** exec: how long one run of the command may take. */
  dynamicCertTimeout: { minMs: 1 * S, maxMs: 1 * H },
  clockSkewThreshold: { minMs: 100, maxMs: 30 * D },
  demoDuration: { minMs: 1 * S, maxMs: 24 * H },
  demoCertTtl: { minMs: 2 * S, maxMs: 24 * H },
  /** `ah agent fleet --expiring-within`: ten years covers any certificate an access point admits. */
  expiringWithin: { minMs: 1 * S, maxMs: 3650 * D },
  /** `ah agent support-bundle --since`: from a minute (the last retries) to journald's usual month. */
  supportBundleSince: { minMs: 60 * S, maxMs: 30 * D },
  /** `--roster-lease-ttl`: etcd keeps it in whole seconds; keepalives go at a third of it. */
  rosterLeaseTtl: LEASE_TTL_RANGE,
  /** Access point drain: a day is longer than any orchestrator waits for a stop. */
  drainTimeout: { minMs: 1 * S, maxMs: 24 * H },
  /** goodbye's retryAfterMs: up to the longest a balancer takes to notice /readyz (capped by the protocol at a day). */
  drainRetryAfter: { minMs: 0, maxMs: 10 * 60 * S },
} as const satisfies Record<string, DurationRange>;

export interface CountRange {
  readonly min: number;
  readonly max: number;
}

export const COUNT_RANGES = {
  maxAttempts: { min: 0, max: 1_000_000 },
  /** doctor --fleet: reconnects in the last hour before an executor counts as flapping. */
  maxReconnects: { min: 0, max: 1_000_000 },
  /** One process holds the whole demo fleet. */
  demoExecutors: { min: 1, max: 50 },
  /** Links a draining access point asks to move per second. */
  drainRate: { min: 1, max: 100_000 },
} as const satisfies Record<string, CountRange>;
