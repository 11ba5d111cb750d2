/**
 * Durations the way Vault reads and prints them.
 *
 * Vault's TTL fields are `TypeDurationSecond` (docs/vault-api.md §Durations: an issue's `ttl`,
 * renew-self's `increment`): a JSON number of seconds, a string of digits (seconds), or a Go
 * duration string (`"1h"`, `"90s"`, `"1h30m"`, plus a `d` suffix in current releases). Anything
 * finer than a second is dropped, because Vault keeps TTLs in whole seconds. Warnings quote
 * durations with Go's `time.Duration.String()` (`"2h0m0s"`, `"1m30s"`, `"45s"`), so we print them
 * the same way.
 */

/** A TTL as the fake's options take it: seconds, or a string as Vault accepts it. */
export type VaultDuration = number | string;

const GO_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  µs: 1e-6,
  μs: 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
  d: 86400, // parseutil.ParseDurationSecond accepts days; Go's time.ParseDuration does not
};

/** Go's `%q` for the ASCII strings we quote (messages only ever quote names, paths and numbers). */
export function goQuote(text: string): string {
  return JSON.stringify(text);
}

/** Go's `time.ParseDuration` (with the `d` unit), in seconds; throws with Go's own wording. */
function parseGoDuration(text: string): number {
  const original = text;
  let s = text;
  let sign = 1;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1;
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new Error(`time: invalid duration ${goQuote(original)}`);
  let total = 0;
  while (s !== '') {
    const num = /^(\d*)(\.\d*)?/.exec(s)!;
    if (num[0] === '' || num[0] === '.') throw new Error(`time: invalid duration ${goQuote(original)}`);
    s = s.slice(num[0].length);
    const unit = /^[^\d.]+/.exec(s)?.[0] ?? '';
    if (unit === '') throw new Error(`time: missing unit in duration ${goQuote(original)}`);
    const factor = GO_UNITS[unit];
    if (factor === undefined) throw new Error(`time: unknown unit ${goQuote(unit)} in duration ${goQuote(original)}`);
    total += Number(num[0]) * factor;
    s = s.slice(unit.length);
  }
  return sign * total;
}

/**
 * `parseutil.ParseDurationSecond`: what Vault does with a TTL field. Returns whole seconds.
 * Throws an Error whose message is the inner Go error (the caller adds the field context).
 */
export function parseDurationSeconds(input: unknown): number {
  if (input === undefined || input === null || input === '') return 0;
  if (typeof input === 'number') return Math.trunc(input);
  if (typeof input !== 'string') throw new Error(`could not parse duration from input`);
  const text = input.trim();
  if (/[smhd]$/.test(text)) return Math.trunc(parseGoDuration(text));
  if (!/^[+-]?\d+$/.test(text)) throw new Error(`strconv.ParseInt: parsing ${goQuote(text)}: invalid syntax`);
  return Number.parseInt(text, 10);
}

/** Parse a duration from our own options (a programming error if it fails, so throw plainly). */
export function optionSeconds(value: VaultDuration | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  return parseDurationSeconds(value);
}

/** Go's `time.Duration.String()` for a whole number of seconds: `0s`, `45s`, `1m30s`, `2h0m0s`. */
export function goDuration(seconds: number): string {
  if (seconds === 0) return '0s';
  const negative = seconds < 0;
  let rest = Math.abs(Math.trunc(seconds));
  const h = Math.floor(rest / 3600);
  rest %= 3600;
  const m = Math.floor(rest / 60);
  const s = rest % 60;
  let out: string;
  if (h > 0) out = `${h}h${m}m${s}s`;
  else if (m > 0) out = `${m}m${s}s`;
  else out = `${s}s`;
  return negative ? `-${out}` : out;
}

/** Vault's system-wide defaults (`default_lease_ttl` / `max_lease_ttl`): 768h = 32 days. */
export const SYSTEM_DEFAULT_TTL_SECONDS = 768 * 3600;
export const SYSTEM_MAX_TTL_SECONDS = 768 * 3600;
