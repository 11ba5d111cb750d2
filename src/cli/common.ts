/** What every `ah agent` command shares: option parsers, logging from flags, exits. */
import { hostname } from 'node:os';
import { InvalidArgumentError, Option } from 'commander';
import { formatForTerminal } from '../errors/ah-error.js';
import type { AhError } from '../errors/ah-error.js';
import { catalog, isErrorCode, type CatalogEntry } from '../errors/catalog.js';
import { levelPlanFrom } from '../log/directives.js';
import { createLogging, type Logging } from '../log/logger.js';
import { EXECUTOR_NAME, resolveStateDir } from '../engine/state-dir.js';
import { parseSpiffeIdPrefix, workloadIdProblem } from '../x509/spiffe-id.js';
import { formatRange, inRange, parseDuration, type DurationRange } from '../util/duration.js';
import type { CountRange } from './flag-ranges.js';
import { tagOption } from './config/option-kinds.js';
import { DEFAULT_RENEWAL_THRESHOLD, isRenewalThreshold, RENEWAL_THRESHOLD_RANGE } from '../model/renewal-policy.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** A usage error found after commander parsed the flags (e.g. a flag combination). */
export class UsageError extends Error {}

export const parsers = {
  /** A duration within `range`; the error names the range. */
  duration:
    (range: DurationRange) =>
    (value: string): number => {
      let ms: number;
      try {
        ms = parseDuration(value);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
      if (!inRange(ms, range)) throw new InvalidArgumentError(`out of range: use ${formatRange(range)}`);
      return ms;
    },
  /** A whole number within `range`; the error names the range. */
  count:
    (range: CountRange, zeroMeans?: string) =>
    (value: string): number => {
      const n = Number(value);
      if (!/^\d+$/.test(value) || n < range.min || n > range.max) {
        throw new InvalidArgumentError(`expected a whole number from ${range.min}${zeroMeans ? ` (${zeroMeans})` : ''} to ${range.max}`);
      }
      return n;
    },
  fraction: (value: string): number => {
    const n = Number(value);
    if (!/^\d*\.?\d+$/.test(value) || !isRenewalThreshold(n)) {
      throw new InvalidArgumentError(
        `expected a fraction of the lifetime between ${RENEWAL_THRESHOLD_RANGE.min} and ${RENEWAL_THRESHOLD_RANGE.max}, e.g. ${DEFAULT_RENEWAL_THRESHOLD}`,
      );
    }
    return n;
  },
  /** `--expected-server-id`: a workload SPIFFE ID, by the specification (x509/spiffe-id.ts). */
  spiffeId: (value: string): string => {
    const problem = workloadIdProblem(value);
    if (problem) throw new InvalidArgumentError(`not a valid SPIFFE ID: ${problem}`);
    return value;
  },
  /**
   * `--executor-san-uri-prefix`: a SPIFFE ID, optionally with a trailing slash. An empty or
   * relative prefix would admit every SAN, or none, without a word.
   */
  spiffeIdPrefix: (value: string): string => {
    try {
      parseSpiffeIdPrefix(value);
    } catch (err) {
      throw new InvalidArgumentError(
        `not a SPIFFE ID prefix (e.g. spiffe://example.org/ah/agent/): ${(err as RangeError & { rule?: string }).rule ?? (err as Error).message}`,
      );
    }
    return value;
  },
  /** `--state-dir ''` would otherwise fall back to the default dir without a word. */
  stateDir: (value: string): string => {
    if (value.trim() === '') throw new InvalidArgumentError('expected a directory, got an empty string');
    return value;
  },
  name: (value: string): string => {
    if (!EXECUTOR_NAME.test(value)) throw new InvalidArgumentError('use 1-63 letters, digits, dots, dashes or underscores');
    return value;
  },
  labels: (value: string): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const pair of value.split(',').filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new InvalidArgumentError(`expected k=v[,k=v...], got '${pair}'`);
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return out;
  },
  tlsMin: (value: string): 'TLSv1.2' | 'TLSv1.3' => {
    if (value === '1.3' || value === 'TLSv1.3') return 'TLSv1.3';
    if (value === '1.2' || value === 'TLSv1.2') return 'TLSv1.2';
    throw new InvalidArgumentError('expected 1.2 or 1.3');
  },
};

export function defaultName(): string {
  const h = hostname().split('.')[0] ?? 'executor';
  return EXECUTOR_NAME.test(h) ? h : 'executor';
}

export function stateDirFrom(flag: string | undefined): string {
  return resolveStateDir(flag, process.env);
}

export function loggingFrom(logLevel: string | undefined): Logging {
  let plan: ReturnType<typeof levelPlanFrom>;
  try {
    plan = levelPlanFrom(logLevel, process.env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return createLogging({ plan });
}

/**
 * The guide's error block on stderr; the first line is exactly `error: <message>`. Entries whose
 * message already says the fix are printed alone.
 */
export function printError(err: AhError): void {
  const oneLine = isErrorCode(err.code) && (catalog[err.code] as CatalogEntry).oneLine;
  process.stderr.write(oneLine ? `error: ${err.message}\n` : `${formatForTerminal(err)}\n`);
}

/** Run a daemon until SIGTERM/SIGINT, then let `stop` finish before exiting 0. */
export function stopOnSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // A second signal means "now".
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    stopping = true;
    void stop().then(() => process.exit(EXIT_OK));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

/** An option whose default is shown the way an operator writes it (`30s`, not 30000). */
export function option<T>(flags: string, description: string, parse?: (value: string) => T, fallback?: { value: T; shown: string }): Option {
  const o = new Option(flags, description);
  if (parse) o.argParser(parse);
  if (fallback) o.default(fallback.value, fallback.shown);
  return o;
}

/** A duration flag whose help shows its range, and which refuses anything outside it. */
export function durationOption(flags: string, description: string, range: DurationRange, fallback?: { value: number | undefined; shown: string }): Option {
  return tagOption(option(flags, `${description} [${formatRange(range)}]`, parsers.duration(range), fallback), { type: 'duration' });
}

/** A whole-number flag whose help shows its range, and which refuses anything outside it. */
export function countOption(flags: string, description: string, range: CountRange, fallback: { value: number; shown: string }, zeroMeans?: string): Option {
  return tagOption(option(flags, `${description} [${range.min}..${range.max}]`, parsers.count(range, zeroMeans), fallback), { type: 'count', ...range });
}

export const STATE_DIR_HELP = 'state directory (default: $AH_STATE_DIR, ~/.local/state/ah, /var/lib/ah as root)';

/** `--state-dir DIR`, refusing an empty one. */
export function stateDirOption(description = STATE_DIR_HELP): Option {
  return option('--state-dir <dir>', description, parsers.stateDir);
}
