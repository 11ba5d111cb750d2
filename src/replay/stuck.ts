/**
 * Where an actor ends up in a state it should not stay in, say which, since when, and which error
 * of the catalog (the guide's message, causes and fixes) explains it. The rules:
 *
 * - enrollment retrying: `disconnected`/`handshaking` after STORM_ATTEMPTS or more failed attempts
 *   in a row (a retry storm), with the last attempt's error (refused, rejected certificate, ...);
 * - enrollment `failed` (given up after --max-attempts), with the error that ended it;
 * - waiting for identity material with an error (a missing file, no SVID issued, expired);
 * - rotation `renew-due` longer than the grace: the provider cannot be asked (files, SPIFFE) and no
 *   new material came: the guide's "Rotation Not Happening";
 * - `renewing` longer than the grace, or after two failed tries (a new link refused, Vault sealed);
 * - rotation `expired`: the certificate ran out;
 * - a link the access point closed with a rejection (the executor's certificate was refused).
 *
 * The grace is 10 % of the certificate's lifetime, at least 5 s and at most a minute: long enough
 * for a renewal on a loaded machine, short enough to be seen in the log of a short-lived
 * certificate.
 */
import type { ErrorCode } from '../errors/catalog.js';
import { formatDuration } from '../util/duration.js';
import type { ActorRebuild, PathStep } from './actor-rebuild.js';
import { formatValue } from './state-value.js';
import { topLevelState } from '../util/state-value.js';

export const STORM_ATTEMPTS = 3;
const GRACE_FRACTION = 0.1;
const GRACE_MIN_MS = 5_000;
const GRACE_MAX_MS = 60_000;

export type StuckKind = 'retry-storm' | 'failed' | 'waiting-for-identity' | 'renew-due-without-material' | 'renewing-too-long' | 'expired' | 'rejected';

/** An error as a log line carries it: its code may be one this build does not know. */
export interface ErrorRef {
  readonly code: string;
  readonly params: Readonly<Record<string, string>>;
}

/** An error this diagnosis names itself, not read from the log: its code is the catalog's. */
const diagnosed = (code: ErrorCode, params: Record<string, string> = {}): ErrorRef => ({ code, params });

export interface Diagnosis {
  readonly actor: string;
  readonly machine: string;
  readonly kind: StuckKind;
  /** The state it is in, e.g. `disconnected.backingOff`. */
  readonly state: string;
  /** Since when (epoch ms) it has been in that top-level state. */
  readonly since: number;
  /** One line of what the log shows, in the operator's terms. */
  readonly summary: string;
  /** The catalog entry that explains it. */
  readonly error: ErrorRef;
  /** Another error worth a line (the renewal error behind an expiry, ...). */
  readonly lastError: ErrorRef | null;
}

interface Identity {
  serial: string;
  notBefore: number;
  notAfter: number;
  provider?: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

function grace(identity: Identity | null | undefined): number {
  const lifetime = identity ? identity.notAfter - identity.notBefore : 0;
  return Math.min(GRACE_MAX_MS, Math.max(GRACE_MIN_MS, lifetime * GRACE_FRACTION));
}

/** When the actor entered the top-level state it ends in. */
function topSince(steps: readonly PathStep[]): number {
  const last = steps[steps.length - 1]!;
  let since = last.time;
  for (let i = steps.length - 1; i >= 0 && steps[i]!.state === last.state; i--) since = steps[i]!.time;
  return since;
}

function asError(e: unknown): ErrorRef | null {
  const o = e as { code?: unknown; params?: unknown } | null | undefined;
  if (!o || typeof o.code !== 'string') return null;
  return { code: o.code, params: (o.params && typeof o.params === 'object' ? o.params : {}) as Record<string, string> };
}

/** Without a rebuilt context (the log began after the actor started), what the steps carry. */
function loggedAttempts(steps: readonly PathStep[]): { attempts: number; error: ErrorRef | null } {
  let attempts = 0;
  let error: ErrorRef | null = null;
  for (let i = steps.length - 1; i >= 0; i--) {
    const s = steps[i]!;
    if (s.state === 'enrolled') break;
    if (s.error && !error) error = s.error;
    if (s.state === 'disconnected' && s.event !== 'xstate.init' && steps[i - 1]?.state === 'handshaking') attempts++;
  }
  return { attempts, error };
}

function overdue(identity: Identity, renewAt: number | null, now: number): ErrorRef {
  return diagnosed('ENROLL_RENEWAL_OVERDUE', {
    serial: identity.serial,
    renewAt: renewAt !== null ? iso(renewAt) : 'unknown',
    left: identity.notAfter > now ? formatDuration(identity.notAfter - now) : 'nothing',
  });
}

const EXPIRED = diagnosed('ENROLL_CERT_NOT_VALID_NOW');

/** What a diagnosis looks at: an actor's path and, when rebuilt, its context at the end. */
export type ActorView = Pick<ActorRebuild, 'actor' | 'machine' | 'steps' | 'value' | 'context'>;

/**
 * @param now the end of the log, or the `--at` time: how long the actor has been where it is.
 */
export function diagnose(a: ActorView, now: number): Diagnosis | null {
  const last = a.steps[a.steps.length - 1];
  // An executor stopped by its operator (SIGTERM: SHUTDOWN) while stuck was stuck until then.
  if (a.machine === 'enrollment' && last && last.event === 'SHUTDOWN' && a.steps.length > 1) {
    const before = a.steps.slice(0, -1);
    const d = diagnoseAt({ ...a, steps: before, value: before[before.length - 1]!.value }, last.time, true);
    return d && { ...d, summary: `${d.summary}; then stopped (SHUTDOWN at ${iso(last.time)})` };
  }
  return diagnoseAt(a, now, false);
}

/** Since when an executor has been failing: the first step after it was last enrolled. */
function streakSince(steps: readonly PathStep[]): number {
  let i = steps.length - 1;
  while (i > 0 && steps[i - 1]!.state !== 'enrolled' && steps[i - 1]!.state !== 'renewing') i--;
  return steps[i]!.time;
}

/**
 * One decision table, longer than a screen on purpose: the stuck patterns are tried in order and
 * the first that fits wins, so the order itself is the logic; split, it would be hidden.
 */
function diagnoseAt(a: ActorView, now: number, stopped: boolean): Diagnosis | null {
  if (a.steps.length === 0 || a.value === null) return null;
  const value = a.value;
  const top = topLevelState(value);
  const state = formatValue(value);
  const since = topSince(a.steps);
  const stayed = formatDuration(Math.max(0, now - since));
  const ctx = a.context;
  const base = { actor: a.actor, machine: a.machine, state, since };
  const lastError = asError(ctx?.lastError);

  switch (a.machine) {
    case 'enrollment': {
      const fallback = ctx ? null : loggedAttempts(a.steps);
      const attempts = ctx ? (ctx.attempts as number) : fallback!.attempts;
      const error = ctx ? lastError : fallback!.error;
      if (top === 'failed') {
        return {
          ...base,
          kind: 'failed',
          summary: `gave up after ${attempts} failed attempt${attempts === 1 ? '' : 's'} (--max-attempts)`,
          error: error ?? diagnosed('ENROLL_INTERNAL', { detail: 'failed without an error' }),
          lastError: null,
        };
      }
      if (state === 'disconnected.waitingForIdentity' && error) {
        const expired = error.code === 'ENROLL_CERT_NOT_VALID_NOW';
        return {
          ...base,
          kind: expired ? 'expired' : 'waiting-for-identity',
          summary: expired
            ? `the certificate ran out; waiting for new identity material for ${stayed}`
            : `no usable identity material for ${stayed}${attempts ? ` (${attempts} failed attempt${attempts === 1 ? '' : 's'})` : ''}`,
          error,
          lastError: null,
        };
      }
      if ((top === 'disconnected' || top === 'handshaking') && attempts >= STORM_ATTEMPTS && error) {
        const delay = ctx && !stopped ? (ctx.retry as { delayMs: number }).delayMs : null;
        const streak = streakSince(a.steps);
        return {
          ...base,
          since: streak,
          kind: 'retry-storm',
          summary: `${attempts} failed attempts in a row over ${formatDuration(Math.max(0, now - streak))}${delay !== null && top === 'disconnected' ? `, next in ${formatDuration(delay)}` : ''}`,
          error,
          lastError: null,
        };
      }
      if (top === 'renewing') {
        const identity = ((ctx?.link as { identity: Identity | null } | undefined)?.identity ?? ctx?.identity) as Identity | null | undefined;
        if (attempts >= 2 || now - since >= grace(identity)) {
          return {
            ...base,
            kind: 'renewing-too-long',
            summary: `renewing for ${stayed}${attempts ? ` (${attempts} failed tr${attempts === 1 ? 'y' : 'ies'} of the new link)` : ''}; the old link carries on meanwhile`,
            error: error ?? (identity ? overdue(identity, (ctx?.nextRotationAt as number | null) ?? null, now) : EXPIRED),
            lastError: null,
          };
        }
      }
      return null;
    }
    case 'rotation': {
      const identity = ctx?.identity as Identity | null | undefined;
      const renewAt = (ctx?.renewAt as number | null | undefined) ?? null;
      if (top === 'expired') {
        return {
          ...base,
          kind: 'expired',
          summary: `the certificate${identity ? ` (serial ${identity.serial})` : ''} expired${identity ? ` at ${iso(identity.notAfter)}` : ''} and no new one came for ${stayed}`,
          error: EXPIRED,
          lastError,
        };
      }
      if (top === 'renew-due' && now - since >= grace(identity)) {
        return {
          ...base,
          kind: 'renew-due-without-material',
          summary: `renewal due for ${stayed} and no new material from the ${(ctx?.provider as string) ?? 'identity'} provider${identity ? `; the certificate expires at ${iso(identity.notAfter)}` : ''}`,
          error: identity ? overdue(identity, renewAt, now) : EXPIRED,
          lastError,
        };
      }
      if (top === 'renewing') {
        const failures = (ctx?.failures as number | undefined) ?? 0;
        if (failures >= 2 || now - since >= grace(identity)) {
          return {
            ...base,
            kind: 'renewing-too-long',
            summary: `renewing for ${stayed}${failures ? ` (${failures} failed renewal${failures === 1 ? '' : 's'})` : ''}`,
            error: lastError ?? (identity ? overdue(identity, renewAt, now) : EXPIRED),
            lastError: null,
          };
        }
      }
      if (top === 'loading' && lastError) {
        return { ...base, kind: 'waiting-for-identity', summary: `no identity material for ${stayed}`, error: lastError, lastError: null };
      }
      return null;
    }
    case 'connection': {
      const rejection =
        asError(ctx?.rejection) ??
        (ctx
          ? null
          : (a.steps
              .map((s) => s.error)
              .filter(Boolean)
              .pop() ?? null));
      if (top === 'closed' || top === 'draining') {
        if (!rejection) return null;
        const who = [ctx?.name ? `executor ${String(ctx.name)}` : 'an executor', ctx?.remoteAddress ? `from ${String(ctx.remoteAddress)}` : '']
          .filter(Boolean)
          .join(' ');
        return { ...base, kind: 'rejected', summary: `${who} was rejected`, error: rejection, lastError: null };
      }
      return null;
    }
    case 'access-point': {
      if (top === 'failed')
        return {
          ...base,
          kind: 'failed',
          summary: 'the access point stopped',
          error: lastError ?? diagnosed('ENROLL_INTERNAL', { detail: 'failed without an error' }),
          lastError: null,
        };
      if (top === 'starting' && lastError)
        return { ...base, kind: 'waiting-for-identity', summary: `no identity material for ${stayed}`, error: lastError, lastError: null };
      return null;
    }
  }
  return null;
}

/**
 * One diagnosis per problem: a child that is stuck for the same reason as its parent (the rotation
 * of an executor that cannot get material) is said once, by the parent.
 */
export function dedupe(list: readonly Diagnosis[]): Diagnosis[] {
  return list.filter(
    (d) =>
      !list.some(
        (p) =>
          p !== d && d.actor.startsWith(`${p.actor}/`) && p.error.code === d.error.code && JSON.stringify(p.error.params) === JSON.stringify(d.error.params),
      ),
  );
}
