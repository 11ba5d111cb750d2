/**
 * The renewal policy, one definition for the engines, the CLI's flag parser and the doctor: an
 * identity is renewed after `threshold` of its lifetime, moved by up to ± `jitter` so that a fleet
 * issued at once does not renew at once.
 */

/** Fraction of the certificate lifetime after which to renew, when the operator does not say. */
export const DEFAULT_RENEWAL_THRESHOLD = 0.7;

/** Half-width of the jitter around the threshold, as a fraction of the lifetime. */
export const RENEWAL_JITTER = 0.05;

/**
 * Thresholds an operator may set, both ends excluded: with the jitter, a threshold at the ends would
 * renew at once or only after the certificate ran out.
 */
export const RENEWAL_THRESHOLD_RANGE = { min: 0.05, max: 0.95 } as const;

export function isRenewalThreshold(n: number): boolean {
  return n > RENEWAL_THRESHOLD_RANGE.min && n < RENEWAL_THRESHOLD_RANGE.max;
}

/** The latest fraction of the lifetime a renewal can fall on, jitter included (never the very end). */
export function latestRenewalFraction(threshold: number): number {
  return Math.min(0.99, threshold + RENEWAL_JITTER);
}
