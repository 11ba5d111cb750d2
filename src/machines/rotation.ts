/**
 * `rotation`: the life of one identity (one certificate and key at a time).
 *
 *   loading ──MATERIAL──▶ valid ──after untilRenewal──▶ renew-due ──(provider can issue)──▶ renewing
 *                           ▲                           (push providers wait here)            │
 *                           └──────────── new MATERIAL, or the renewed material ◀─────────────┘
 *   any ──EXPIRY_REACHED──▶ expired (keeps renewing, or waits for material)
 *   any ──SET_THRESHOLD──▶ (same state; the next certificate's renewal point uses it)
 *
 * The renewal point is notBefore + lifetime × (threshold ± jitter), or observedAt + maxAgeMs when
 * the provider gives one (exec's `--dynamic-cert-ttl`) and that comes first. Times come in with the events
 * (`observedAt`), the jitter from a seeded generator in context, and every wait goes through the
 * actor's clock. New material is accepted only when its notAfter is not earlier than the current one's;
 * key and chain were checked before the event was sent. The owner (the enrollment machine, or the
 * access point's) hears of every change through `sendParent`; the watch hears what became of the
 * material (`WatchCommand`), so that only accepted material becomes the current one.
 */
import { assign, enqueueActions, fromCallback, fromPromise, sendParent, setup } from 'xstate';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from '../util/backoff.js';
import { nextRandom } from './random.js';
import type { IdentitySummary } from '../model/identity.js';
import { codeAsReceived, type ErrorInfo, type WireErrorInfo } from '../errors/ah-error.js';

/** setTimeout cannot wait longer than this; longer waits are taken in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export interface RotationInput {
  readonly provider: string;
  /** The provider can be asked for new material (dev, vault, exec); otherwise it pushes (files, spiffe). */
  readonly canIssue: boolean;
  /** Fraction of the lifetime after which to renew (0.7). */
  readonly threshold: number;
  /** Half-width of the jitter around the threshold, as a fraction of the lifetime (0.05). */
  readonly jitter: number;
  readonly retry?: BackoffPolicy;
  /** Renew at most this long after the material was observed, if sooner than the renewal point. */
  readonly maxAgeMs?: number;
  readonly seed: number;
}

export interface RotationContext {
  readonly provider: string;
  readonly canIssue: boolean;
  readonly threshold: number;
  readonly jitter: number;
  readonly retry: BackoffPolicy;
  readonly maxAgeMs: number | null;
  readonly rng: number;
  readonly identity: IdentitySummary | null;
  /** Epoch ms at which `identity` was observed; advanced when a capped timer fires. */
  readonly observedAt: number;
  readonly renewAt: number | null;
  readonly failures: number;
  readonly retryDelayMs: number;
  readonly lastError: ErrorInfo | null;
}

export interface RenewOutput {
  readonly identity: IdentitySummary;
  readonly observedAt: number;
}

export type RotationEvent =
  | { type: 'MATERIAL'; identity: IdentitySummary; observedAt: number }
  | { type: 'MATERIAL_REJECTED'; error: ErrorInfo; observedAt: number }
  | { type: 'MATERIAL_ERROR'; error: ErrorInfo; observedAt: number }
  | { type: 'EXPIRY_REACHED'; at: number }
  /** A configuration reload: renewal points are computed with this threshold from the next certificate on. */
  | { type: 'SET_THRESHOLD'; threshold: number };

/** What the watch hears: the machine's verdict on material it offered (or a renewal brought). */
export type WatchCommand =
  | { type: 'MATERIAL_ACCEPTED'; identity: IdentitySummary }
  | { type: 'MATERIAL_REFUSED'; identity: IdentitySummary; kept: IdentitySummary; error: ErrorInfo };

/** What the owner hears. */
export type RotationNotice =
  | { type: 'IDENTITY_READY'; identity: IdentitySummary; nextRotationAt: number; observedAt: number }
  | { type: 'IDENTITY_RENEWED'; identity: IdentitySummary; nextRotationAt: number; observedAt: number }
  | { type: 'IDENTITY_ERROR'; error: ErrorInfo }
  | { type: 'IDENTITY_REFUSED'; error: ErrorInfo }
  | { type: 'IDENTITY_EXPIRED'; identity: IdentitySummary }
  | { type: 'RENEWAL_DUE'; identity: IdentitySummary; waitingForPush: boolean }
  | { type: 'RENEWAL_FAILED'; error: ErrorInfo; retryInMs: number };

/** Pure: where in the lifetime to renew, given a uniform draw in [0, 1). */
export function renewalPoint(identity: IdentitySummary, threshold: number, jitter: number, random: number): number {
  const lifetime = identity.notAfter - identity.notBefore;
  const fraction = threshold + (2 * random - 1) * jitter;
  return Math.round(identity.notBefore + lifetime * fraction);
}

/** Whatever a renew actor rejected with, as plain data (Error objects do not survive a log). */
export function toMachineError(thrown: unknown): ErrorInfo {
  const e = thrown as Partial<WireErrorInfo> & { message?: string };
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    return { code: codeAsReceived(e.code), params: { ...(e.params ?? {}) }, retryable: e.retryable ?? true };
  }
  return { code: 'ENROLL_INTERNAL', params: { detail: String(e?.message ?? thrown) }, retryable: true };
}

type Material = { identity: IdentitySummary; observedAt: number };

/**
 * Material pushed while an identity is held (files changed, SPIRE pushed an SVID). Declared on each
 * state rather than the root: a root transition into `valid` would not re-arm its renewal timer.
 */
const onPushedMaterial = [
  {
    guard: 'isNewer',
    target: '#rotation.valid',
    reenter: true,
    actions: [{ type: 'acceptMaterial', params: ({ event }: { event: Material }) => event }, 'armExpiry', 'notifyRenewed'],
  },
  { guard: 'isDifferentButNotNewer', actions: { type: 'refuseOlderMaterial', params: ({ event }: { event: Material }) => event } },
  // The same material again (`touch cert.pem`, a periodic poll): nothing to do.
] as const;

/** Renewal by asking the provider, with backoff between failures; used by `renewing` and `expired`. */
const requestLoop = {
  initial: 'requesting',
  states: {
    requesting: {
      invoke: {
        id: 'renew',
        src: 'renewIdentity',
        input: ({ context }: { context: RotationContext }) => ({ attempt: context.failures + 1 }),
        onDone: {
          target: '#rotation.valid',
          actions: [
            { type: 'acceptMaterial', params: ({ event }: { event: { output: RenewOutput } }) => event.output },
            // From `expired` no expiry timer is left; from `renewing` the old one would fire early.
            'armExpiry',
            'notifyRenewed',
          ],
        },
        onError: {
          target: 'backoff',
          actions: { type: 'recordRenewalFailure', params: ({ event }: { event: { error: unknown } }) => ({ thrown: event.error }) },
        },
      },
    },
    backoff: { after: { retryDelay: 'requesting' } },
  },
} as const;

export const rotationMachine = setup({
  types: {
    context: {} as RotationContext,
    input: {} as RotationInput,
    events: {} as RotationEvent,
  },
  actors: {
    /**
     * Listen to the provider for as long as the identity lives: sends MATERIAL (verified new
     * material), MATERIAL_REJECTED (new material that failed verification) and MATERIAL_ERROR.
     * Provided by the engine.
     */
    watchIdentity: fromCallback<WatchCommand, { provider: string }>(() => {
      throw new Error('watchIdentity must be provided');
    }),
    /** Ask the provider for new, verified material. Provided by the engine. */
    renewIdentity: fromPromise<RenewOutput, { attempt: number }>(async () => {
      throw new Error('renewIdentity must be provided');
    }),
  },
  delays: {
    untilRenewal: ({ context }) => Math.min(MAX_TIMER_MS, Math.max(0, (context.renewAt ?? 0) - context.observedAt)),
    retryDelay: ({ context }) => context.retryDelayMs,
  },
  guards: {
    // Not earlier, rather than strictly later: X.509 keeps whole seconds, and an agent may well
    // push two SVIDs with the same lifetime within one second. What is refused is a rollback.
    isNewer: ({ context, event }) =>
      event.type === 'MATERIAL' &&
      event.identity.fingerprint !== context.identity?.fingerprint &&
      (context.identity === null || event.identity.notAfter >= context.identity.notAfter),
    isDifferentButNotNewer: ({ context, event }) => event.type === 'MATERIAL' && event.identity.fingerprint !== context.identity?.fingerprint,
    isExpiredOnArrival: ({ event }) => event.type === 'MATERIAL' && event.identity.notAfter <= event.observedAt,
    renewalBeyondOneTimer: ({ context }) => (context.renewAt ?? 0) - context.observedAt > MAX_TIMER_MS,
    expiryStillAhead: ({ context, event }) => event.type === 'EXPIRY_REACHED' && context.identity !== null && event.at < context.identity.notAfter,
    canIssue: ({ context }) => context.canIssue,
  },
  actions: {
    acceptMaterial: enqueueActions(({ context, enqueue }, material: Material) => {
      const draw = nextRandom(context.rng);
      enqueue.assign({
        identity: material.identity,
        observedAt: material.observedAt,
        rng: draw.state,
        renewAt: Math.min(
          renewalPoint(material.identity, context.threshold, context.jitter, draw.value),
          context.maxAgeMs === null ? Number.POSITIVE_INFINITY : material.observedAt + context.maxAgeMs,
        ),
        failures: 0,
        lastError: null,
      });
      enqueue.sendTo('watch', { type: 'MATERIAL_ACCEPTED', identity: material.identity } satisfies WatchCommand);
    }),
    /** (Re-)arm the expiry timer from the time the current material was observed. */
    armExpiry: enqueueActions(({ context, enqueue }) => {
      enqueue.cancel('expiry');
      const notAfter = context.identity!.notAfter;
      const delay = Math.min(MAX_TIMER_MS, Math.max(0, notAfter - context.observedAt));
      enqueue.raise({ type: 'EXPIRY_REACHED', at: context.observedAt + delay }, { id: 'expiry', delay });
    }),
    /** A capped expiry timer fired early: wait the rest. */
    rearmExpiry: enqueueActions(({ context, enqueue }, { at }: { at: number }) => {
      const delay = Math.min(MAX_TIMER_MS, context.identity!.notAfter - at);
      enqueue.raise({ type: 'EXPIRY_REACHED', at: at + delay }, { id: 'expiry', delay });
    }),
    advanceObservedByOneTimer: assign({ observedAt: ({ context }) => context.observedAt + MAX_TIMER_MS }),
    recordRenewalFailure: enqueueActions(({ context, enqueue }, { thrown }: { thrown: unknown }) => {
      const error = toMachineError(thrown);
      const failures = context.failures + 1;
      const draw = nextRandom(context.rng);
      const retryDelayMs = backoffDelay(context.retry, failures, draw.value);
      enqueue.assign({ failures, rng: draw.state, retryDelayMs, lastError: error });
      enqueue.sendParent({ type: 'RENEWAL_FAILED', error, retryInMs: retryDelayMs } satisfies RotationNotice);
    }),
    notifyReady: sendParent(
      ({ context }): RotationNotice => ({
        type: 'IDENTITY_READY',
        identity: context.identity!,
        nextRotationAt: context.renewAt!,
        observedAt: context.observedAt,
      }),
    ),
    notifyRenewed: sendParent(
      ({ context }): RotationNotice => ({
        type: 'IDENTITY_RENEWED',
        identity: context.identity!,
        nextRotationAt: context.renewAt!,
        observedAt: context.observedAt,
      }),
    ),
    notifyRenewalDue: sendParent(
      ({ context }): RotationNotice => ({
        type: 'RENEWAL_DUE',
        identity: context.identity!,
        waitingForPush: !context.canIssue,
      }),
    ),
    notifyExpired: sendParent(({ context }): RotationNotice => ({ type: 'IDENTITY_EXPIRED', identity: context.identity! })),
    notifyError: sendParent((_, { error }: { error: ErrorInfo }): RotationNotice => ({ type: 'IDENTITY_ERROR', error })),
    notifyRefused: sendParent((_, { error }: { error: ErrorInfo }): RotationNotice => ({ type: 'IDENTITY_REFUSED', error })),
    refuseOlderMaterial: enqueueActions(({ context, enqueue }, { identity: incoming }: Material) => {
      const error: ErrorInfo = {
        code: 'ENROLL_RENEWED_NOT_NEWER',
        params: {
          serial: incoming.serial,
          notAfter: new Date(incoming.notAfter).toISOString(),
          currentNotAfter: new Date(context.identity!.notAfter).toISOString(),
        },
        retryable: false,
      };
      enqueue.sendTo('watch', { type: 'MATERIAL_REFUSED', identity: incoming, kept: context.identity!, error } satisfies WatchCommand);
      enqueue.sendParent({ type: 'IDENTITY_REFUSED', error } satisfies RotationNotice);
    }),
  },
}).createMachine({
  id: 'rotation',
  context: ({ input }) => ({
    provider: input.provider,
    canIssue: input.canIssue,
    threshold: input.threshold,
    jitter: input.jitter,
    retry: input.retry ?? DEFAULT_BACKOFF,
    maxAgeMs: input.maxAgeMs ?? null,
    rng: input.seed | 0,
    identity: null,
    observedAt: 0,
    renewAt: null,
    failures: 0,
    retryDelayMs: 0,
    lastError: null,
  }),
  invoke: { id: 'watch', src: 'watchIdentity', input: ({ context }) => ({ provider: context.provider }) },
  initial: 'loading',
  on: {
    SET_THRESHOLD: { actions: assign({ threshold: ({ event }) => event.threshold }) },
    EXPIRY_REACHED: [{ guard: 'expiryStillAhead', actions: { type: 'rearmExpiry', params: ({ event }) => ({ at: event.at }) } }, { target: '.expired' }],
    MATERIAL_REJECTED: { actions: [assign({ lastError: ({ event }) => event.error }), { type: 'notifyRefused', params: ({ event }) => event }] },
    MATERIAL_ERROR: { actions: [assign({ lastError: ({ event }) => event.error }), { type: 'notifyError', params: ({ event }) => event }] },
  },
  states: {
    loading: {
      on: {
        MATERIAL: [
          {
            guard: 'isExpiredOnArrival',
            target: 'expired',
            actions: [{ type: 'acceptMaterial', params: ({ event }) => event }, 'armExpiry', 'notifyReady'],
          },
          { target: 'valid', actions: [{ type: 'acceptMaterial', params: ({ event }) => event }, 'armExpiry', 'notifyReady'] },
        ],
      },
    },
    valid: {
      on: { MATERIAL: onPushedMaterial },
      after: {
        untilRenewal: [{ guard: 'renewalBeyondOneTimer', target: 'valid', reenter: true, actions: 'advanceObservedByOneTimer' }, { target: 'renew-due' }],
      },
    },
    'renew-due': {
      entry: 'notifyRenewalDue',
      on: { MATERIAL: onPushedMaterial },
      always: { guard: 'canIssue', target: 'renewing' },
    },
    renewing: { ...requestLoop, on: { MATERIAL: onPushedMaterial } },
    expired: {
      entry: 'notifyExpired',
      on: { MATERIAL: onPushedMaterial },
      initial: 'waiting',
      states: {
        waiting: { always: { guard: 'canIssue', target: 'requesting' } },
        ...requestLoop.states,
      },
    },
  },
});
