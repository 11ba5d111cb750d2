/**
 * Exponential backoff with full jitter: the delay before attempt n+1 is uniform in
 * [0, min(cap, base × 2^(n-1))), so a thousand executors that lost the same access point do not
 * come back in lockstep (AWS Architecture Blog, "Exponential Backoff And Jitter").
 */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 1_000, capMs: 60_000 };

/** The ceiling of the jittered delay after `failures` consecutive failures (failures ≥ 1). */
export function backoffCeiling(policy: BackoffPolicy, failures: number): number {
  const exponent = Math.min(Math.max(failures, 1) - 1, 30);
  return Math.min(policy.capMs, policy.baseMs * 2 ** exponent);
}

/** `random` is uniform in [0, 1), supplied by the caller so that this stays pure. */
export function backoffDelay(policy: BackoffPolicy, failures: number, random: number): number {
  return Math.floor(random * backoffCeiling(policy, failures));
}
