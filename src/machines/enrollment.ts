/**
 * `enrollment`: one executor's relation to its access point. Its state is what `ah agent status`
 * prints.
 *
 *   disconnected ──identity──▶ handshaking ──welcome──▶ enrolled ──renewal──▶ renewing ──welcome──▶ enrolled
 *        ▲                         │                       │                     │
 *        └──── failure, backoff ───┘◀──── link lost ───────┴─────────────────────┘
 *   handshaking ──N-th failed attempt (--max-attempts)──▶ failed (final)
 *   handshaking ──failed, access points left in this round──▶ disconnected.failingOver ──▶ handshaking
 *
 * Drain without absence: an access point that drains says goodbye{draining, retryAfterMs} and
 * keeps serving the link. The executor goes `relinking` (make-before-break, as a rotation): it
 * dials another access point of its list with the continuity proof over the draining link's
 * nonce, and closes the draining link (goodbye "moved") only once the new one is welcomed;
 * the old link keeps heartbeating meanwhile.
 *
 *   enrolled ──draining──▶ relinking.elsewhere ──welcome──▶ enrolled
 *                              │ (no other access point, or none answers)
 *                              ▼
 *                          waitingToReturn ──retryAfterMs──▶ returning ──welcome──▶ enrolled
 *                                                               │ (refused: the draining one itself)
 *                                                               ▼
 *                          stranded: the draining link is kept until the access point closes it
 *
 * `returning` dials the draining link's address again: behind a balancer name that lands on
 * another access point once the balancer has seen the draining one's /readyz fail.
 *
 * Several access points: the executor's own list (shuffled once, from the seed) followed by the
 * ones the last welcome named. A failed dial moves on to the next at once; only when every one
 * of them failed in a row (a round) does it back off, with the usual full jitter. An attempt is
 * one dial of one access point, which is what `--max-attempts` counts.
 *
 * Links are spawned children (`fleetLink`, I/O provided by the engine) named `link-<n>`; they
 * report back with their `linkId`, so the events of a link that was already dropped are ignored.
 * `renewing` is make-before-break: a second link is opened with the new identity, and the old one
 * is closed with `goodbye{reason:"rotated"}` only once the new one is welcomed. Each link sends
 * its own heartbeats from its welcome on and counts their acks (actors/link-heartbeats.ts): the
 * machine hears of them only as a `LINK_CLOSED` when they stop being answered, so they never
 * pause for a rotation and cost the machine nothing while they are answered.
 * The machine owns one `rotation` child for its identity.
 */
import { and, assign, cancel, enqueueActions, fromCallback, setup } from 'xstate';
import { topLevelState as topLevel } from '../util/state-value.js';
import { backoffDelay, DEFAULT_BACKOFF } from '../util/backoff.js';
import { nextRandom } from './random.js';
import { MAX_TIMER_MS, rotationMachine, type RotationNotice } from './rotation.js';
import type { ActiveLink, EnrollmentContext, EnrollmentEvent, EnrollmentInput, LinkCommand, LinkInput, LinkReport } from './enrollment-types.js';
import type { IdentitySummary } from '../model/identity.js';
import type { ErrorInfo } from '../errors/ah-error.js';
import type { EnrollmentState } from '../model/status.js';

export type { EnrollmentState };

/** The access point an event is about: its link's, else the active link's, else the next dial's. */
const serverOf = (context: EnrollmentContext, event: EnrollmentEvent): string => {
  if ('linkId' in event && event.linkId === context.candidate.id && context.candidate.server) return context.candidate.server;
  return context.link.server ?? context.servers[context.retry.serverIndex] ?? context.config.remoteServer;
};

const linkLost = (context: EnrollmentContext, event: EnrollmentEvent, detail: string): ErrorInfo => ({
  code: 'ENROLL_LINK_LOST',
  params: { address: serverOf(context, event), detail },
  retryable: true,
});

/**
 * relinking: the access points to move to, the draining one (the last drain's, unless another is
 * named) left out, starting after it.
 */
export function relinkTargets(context: Pick<EnrollmentContext, 'servers' | 'relink'>, drainingServer: string | null = context.relink.drainingServer): string[] {
  const { servers } = context;
  const at = servers.indexOf(drainingServer ?? '');
  const rotated = [...servers.slice(at + 1), ...servers.slice(0, at + 1)];
  return rotated.filter((s) => s !== drainingServer);
}

/** Own access points first, then the welcome's, each once. */
const mergeServers = (own: readonly string[], learned: readonly string[] | undefined): string[] => [...new Set([...own, ...(learned ?? [])])];

/** Fisher-Yates with the machine's generator: the same seed tries the access points in the same order. */
function shuffled(list: readonly string[], rng: number): { list: string[]; rng: number } {
  const out = [...list];
  let state = rng;
  for (let i = out.length - 1; i > 0; i--) {
    const draw = nextRandom(state);
    state = draw.state;
    const j = Math.floor(draw.value * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return { list: out, rng: state };
}

/**
 * The error an event carries, or what the event itself means when it carries none. The delayed
 * `xstate.after.connectTimeout…` event is not in `EnrollmentEvent` but arrives here too.
 */
const errorOf = (context: EnrollmentContext, event: EnrollmentEvent): ErrorInfo => {
  if ('error' in event && event.error) return event.error;
  switch (event.type) {
    case 'LINK_CLOSED':
      return linkLost(context, event, event.reason);
    case 'IDENTITY_EXPIRED':
    case 'LINK_CERT_EXPIRED':
      return { code: 'ENROLL_CERT_NOT_VALID_NOW', params: {}, retryable: true };
  }
  if (event.type.startsWith('xstate.after.connectTimeout')) {
    return { code: 'ENROLL_CONNECTION_TIMEOUT', params: { timeout: context.config.connectTimeoutLabel }, retryable: true };
  }
  return { code: 'ENROLL_INTERNAL', params: { detail: `no error for ${event.type}` }, retryable: true };
};

type IdentityNews = Extract<RotationNotice, { type: 'IDENTITY_READY' | 'IDENTITY_RENEWED' }>;
type Welcome = Extract<LinkReport, { type: 'LINK_WELCOMED' }>;

/** Typed action params, taken from the event of the transition that runs the action. */
const takeIdentity = {
  type: 'takeIdentity',
  params: ({ event }: { event: IdentityNews }) => ({ identity: event.identity, nextRotationAt: event.nextRotationAt }),
} as const;
const welcomed = <T extends 'promoteCandidate' | 'swapToCandidate' | 'moveToCandidate'>(type: T) =>
  ({ type, params: ({ event }: { event: Welcome }) => event }) as const;
const armLinkExpiry = { type: 'armLinkExpiry', params: ({ event }: { event: { at: number } }) => ({ at: event.at }) } as const;

/** enrolled and renewing: the link's certificate ran out (capped timers fire early and re-arm). */
const onLinkCertExpired = [
  { guard: 'linkCertStillValid', actions: armLinkExpiry },
  {
    guard: 'fresherIdentityAtHand',
    target: '#enrollment.disconnected.backingOff',
    actions: ['stopCandidate', { type: 'closeActive', params: { reason: 'certificate expired' } }, 'recordFailure'],
  },
  {
    target: '#enrollment.disconnected.waitingForIdentity',
    actions: ['stopCandidate', { type: 'closeActive', params: { reason: 'certificate expired' } }, 'noteError'],
  },
] as const;

/** After a failed attempt: the access point after the one that failed, round and round. */
function nextServer(context: EnrollmentContext, event: EnrollmentEvent): number {
  const at = context.servers.indexOf(serverOf(context, event));
  return ((at < 0 ? context.retry.serverIndex : at) + 1) % context.servers.length;
}

/**
 * A welcome: the candidate becomes the link (make-before-break after a rotation or a move; a
 * move's `connectedSince` is the new link's). The welcome's list of access points joins ours.
 */
function candidateTakesOver(context: EnrollmentContext, e: Welcome, connectedSince = context.link.connectedSince) {
  const servers = mergeServers(context.config.remoteServers, e.accessPoints);
  const server = context.candidate.server;
  return {
    servers,
    retry: { ...context.retry, serverIndex: Math.max(0, servers.indexOf(server ?? '')), backoffs: 0, failedInRound: 0 },
    link: { id: context.candidate.id, server, identity: context.identity, nonce: e.nonce ?? null, connectedSince },
    candidate: { ...context.candidate, id: null },
    executorId: e.executorId,
    heartbeatIntervalMs: e.heartbeatIntervalMs,
    attempts: 0,
    lastError: null,
  };
}

/** The active link went: no id, identity or nonce; its access point and start stay for messages. */
const linkGone = (link: ActiveLink): ActiveLink => ({ ...link, id: null, identity: null, nonce: null });

export const enrollmentMachine = setup({
  types: {
    context: {} as EnrollmentContext,
    input: {} as EnrollmentInput,
    events: {} as EnrollmentEvent,
  },
  actors: {
    rotation: rotationMachine,
    /** One fleet link (TCP, TLS, peer checks, hello/welcome, its heartbeats). Provided by the engine. */
    fleetLink: fromCallback<LinkCommand, LinkInput>(() => {
      throw new Error('fleetLink must be provided');
    }),
  },
  delays: {
    connectTimeout: ({ context }) => context.config.connectTimeoutMs,
    retryAfter: ({ context }) => context.relink.retryAfterMs,
    retryDelay: ({ context }) => context.retry.delayMs,
  },
  guards: {
    fromCandidate: ({ context, event }) => 'linkId' in event && event.linkId === context.candidate.id,
    fromActive: ({ context, event }) => 'linkId' in event && event.linkId === context.link.id,
    attemptsExhausted: ({ context }) => context.config.maxAttempts > 0 && context.attempts + 1 >= context.config.maxAttempts,
    /** Some access point of this round has not been tried yet: fail over to it without waiting. */
    roundUnfinished: ({ context }) => context.retry.failedInRound + 1 < context.servers.length,
    /** relinking: an access point other than the draining one is known. */
    otherServerKnown: ({ context }) => relinkTargets(context, context.link.server).length > 0,
    /** relinking: another one is left to dial after the one that just failed. */
    anotherServerLeft: ({ context }) => context.relink.tried + 1 < relinkTargets(context).length,
    someRelinkTarget: ({ context }) => relinkTargets(context).length > 0,
    linkIdentityExpired: ({ context, event }) => event.type === 'IDENTITY_EXPIRED' && event.identity.fingerprint === context.link.identity?.fingerprint,
    renewalIsPulled: ({ event }) => event.type === 'RENEWAL_DUE' && !event.waitingForPush,
    linkCertStillValid: ({ context, event }) =>
      event.type === 'LINK_CERT_EXPIRED' && context.link.identity !== null && event.at < context.link.identity.notAfter,
    /** Newer material than the link's is at hand and still valid: reconnect with it. */
    fresherIdentityAtHand: ({ context, event }) =>
      event.type === 'LINK_CERT_EXPIRED' &&
      context.identity !== null &&
      context.identity.fingerprint !== context.link.identity?.fingerprint &&
      context.identity.notAfter > event.at,
  },
  actions: {
    takeIdentity: assign((_, params: { identity: IdentitySummary; nextRotationAt: number }) => ({
      identity: params.identity,
      nextRotationAt: params.nextRotationAt,
      renewalDue: false,
    })),
    noteError: assign({ lastError: ({ context, event }) => errorOf(context, event) }),
    /** Count a failed attempt that ends a round and draw the jittered delay before the next one. */
    recordFailure: assign(({ context, event }) => {
      const backoffs = context.retry.backoffs + 1;
      const draw = nextRandom(context.rng);
      return {
        attempts: context.attempts + 1,
        retry: {
          serverIndex: nextServer(context, event),
          failedInRound: 0,
          backoffs,
          delayMs: backoffDelay(context.config.backoff, backoffs, draw.value),
        },
        rng: draw.state,
        lastError: errorOf(context, event),
      };
    }),
    /** Stranded on a draining link: the next round of the others comes after a jittered backoff. */
    drawRelinkRetry: assign(({ context }) => {
      const backoffs = context.retry.backoffs + 1;
      const draw = nextRandom(context.rng);
      return {
        retry: { ...context.retry, backoffs, delayMs: backoffDelay(context.config.backoff, backoffs, draw.value) },
        rng: draw.state,
        relink: { ...context.relink, tried: 0 },
      };
    }),
    /** Count a failed attempt and move on to the next access point of the round, at once. */
    recordFailover: assign(({ context, event }) => ({
      attempts: context.attempts + 1,
      retry: { ...context.retry, serverIndex: nextServer(context, event), failedInRound: context.retry.failedInRound + 1, delayMs: 0 },
      lastError: errorOf(context, event),
    })),
    /**
     * A new link: `dial` to the next access point of the list, `rotation` to the active link's
     * (which checks the continuity proof), `relink` to another than the draining one, `return`
     * to the draining one's address.
     */
    spawnCandidate: enqueueActions(({ context, enqueue }, params: { to: 'dial' | 'rotation' | 'relink' | 'return' }) => {
      const linkId = `link-${context.linkCount + 1}`;
      const { link } = context;
      const continues = link.id && link.identity && link.nonce ? { fingerprint: link.identity.fingerprint, nonce: link.nonce } : undefined;
      const address =
        params.to === 'relink'
          ? relinkTargets(context)[context.relink.tried]!
          : params.to === 'return'
            ? context.relink.drainingServer!
            : params.to === 'rotation' && link.server
              ? link.server
              : context.servers[context.retry.serverIndex]!;
      const input: LinkInput = {
        linkId,
        address,
        fingerprint: context.identity!.fingerprint,
        ...(continues ? { continues } : {}),
        ...(link.id ? { follows: link.id } : {}),
      };
      enqueue.spawnChild('fleetLink', { id: linkId, input });
      enqueue.assign({ linkCount: context.linkCount + 1, candidate: { id: linkId, server: address } });
    }),
    stopCandidate: enqueueActions(({ context, enqueue }) => {
      if (!context.candidate.id) return;
      enqueue.stopChild(context.candidate.id);
      enqueue.assign({ candidate: { ...context.candidate, id: null } });
    }),
    /** Close the active link with a goodbye carrying `reason`, then let it go. */
    closeActive: enqueueActions(({ context, enqueue }, params: { reason: string }) => {
      if (!context.link.id) return;
      enqueue.sendTo(context.link.id, { type: 'CLOSE', reason: params.reason } satisfies LinkCommand);
      enqueue.stopChild(context.link.id);
      enqueue.assign({ link: linkGone(context.link) });
    }),
    /** The link that closed by itself needs no goodbye. */
    dropActive: enqueueActions(({ context, enqueue }) => {
      if (context.link.id) enqueue.stopChild(context.link.id);
      enqueue.assign({ link: linkGone(context.link) });
    }),
    /** First welcome after being disconnected: the candidate becomes the link. */
    promoteCandidate: assign(({ context }, e: Welcome) => candidateTakesOver(context, e, e.at)),
    /** Make-before-break: the new link is welcomed, so the old one says goodbye and goes. */
    swapToCandidate: enqueueActions(({ context, enqueue }, e: Welcome) => {
      if (context.link.id) {
        enqueue.sendTo(context.link.id, { type: 'CLOSE', reason: 'rotated' } satisfies LinkCommand);
        enqueue.stopChild(context.link.id);
      }
      enqueue.assign({ ...candidateTakesOver(context, e), rotations: context.rotations + 1 });
    }),
    /** The draining access point asked us to move: remember which, and how long to stay away from it. */
    startRelink: assign(({ context, event }) => ({
      relink: { drainingServer: context.link.server, retryAfterMs: event.type === 'LINK_DRAINING' ? event.retryAfterMs : 0, tried: 0 },
    })),
    /** A relink candidate failed: the draining link stays; the next one (if any) is tried. */
    noteRelinkFailure: assign(({ context, event }) => ({
      lastError: errorOf(context, event),
      relink: { ...context.relink, tried: context.relink.tried + 1 },
    })),
    /** Make-before-break: welcomed elsewhere, so the draining link says goodbye and goes. */
    moveToCandidate: enqueueActions(({ context, enqueue }, e: Welcome) => {
      if (context.link.id) {
        enqueue.sendTo(context.link.id, { type: 'CLOSE', reason: 'moved' } satisfies LinkCommand);
        enqueue.stopChild(context.link.id);
      }
      const renewed = context.identity?.fingerprint !== context.link.identity?.fingerprint;
      enqueue.assign({
        ...candidateTakesOver(context, e, e.at),
        // A move with newer material is that material's rotation too.
        rotations: context.rotations + (renewed ? 1 : 0),
        relink: { ...context.relink, tried: 0 },
      });
    }),
    /** Watch the link's own certificate: a link never outlives the certificate it was opened with. */
    armLinkExpiry: enqueueActions(({ context, enqueue }, params: { at: number }) => {
      enqueue.cancel('link-expiry');
      const notAfter = context.link.identity?.notAfter;
      if (notAfter === undefined) return;
      const now = params.at;
      const delay = Math.min(MAX_TIMER_MS, Math.max(0, notAfter - now));
      enqueue.raise({ type: 'LINK_CERT_EXPIRED', at: now + delay }, { id: 'link-expiry', delay });
    }),
    disarmLinkExpiry: cancel('link-expiry'),
  },
}).createMachine({
  id: 'enrollment',
  context: ({ input }) => {
    const first = nextRandom(input.seed | 0);
    // With one access point no number is drawn: the same seed behaves as it always did.
    const own = shuffled(input.remoteServers?.length ? input.remoteServers : [input.remoteServer], first.state);
    return {
      config: {
        name: input.name,
        remoteServer: input.remoteServer,
        remoteServers: own.list,
        connectTimeoutMs: input.connectTimeoutMs,
        connectTimeoutLabel: input.connectTimeoutLabel,
        maxAttempts: input.maxAttempts,
        backoff: input.backoff ?? DEFAULT_BACKOFF,
        // The rotation child draws from its own stream, seeded from ours.
        // The seed first: spread, then a field the spread lacks, gives V8 a hidden class per object
        // (docs/performance.md §Object spread), and the rotation actor keeps its input.
        rotationInput: { seed: Math.floor(first.value * 2 ** 31), ...input.rotation },
      },
      rng: own.rng,
      attempts: 0,
      lastError: null,
      identity: null,
      nextRotationAt: null,
      renewalDue: false,
      servers: own.list,
      linkCount: 0,
      executorId: null,
      rotations: 0,
      link: { id: null, server: null, identity: null, nonce: null, connectedSince: null },
      candidate: { id: null, server: null },
      heartbeatIntervalMs: 5_000,
      retry: { serverIndex: 0, failedInRound: 0, backoffs: 0, delayMs: 0 },
      relink: { drainingServer: null, retryAfterMs: 0, tried: 0 },
    };
  },
  invoke: { id: 'rotation', src: 'rotation', input: ({ context }) => context.config.rotationInput },
  initial: 'disconnected',
  on: {
    SHUTDOWN: {
      target: '.disconnected.stopped',
      actions: ['stopCandidate', { type: 'closeActive', params: { reason: 'shutdown' } }],
    },
    IDENTITY_RENEWED: { actions: takeIdentity },
    IDENTITY_ERROR: { actions: 'noteError' },
    IDENTITY_REFUSED: { actions: 'noteError' },
    RENEWAL_FAILED: { actions: 'noteError' },
    RENEWAL_DUE: { actions: assign({ renewalDue: true }) },
  },
  states: {
    disconnected: {
      entry: 'disarmLinkExpiry',
      initial: 'waitingForIdentity',
      states: {
        waitingForIdentity: {
          on: {
            IDENTITY_READY: { target: '#enrollment.handshaking', actions: takeIdentity },
            IDENTITY_RENEWED: { target: '#enrollment.handshaking', actions: takeIdentity },
            IDENTITY_ERROR: [{ guard: 'attemptsExhausted', target: '#enrollment.failed', actions: 'recordFailure' }, { actions: 'recordFailure' }],
          },
        },
        backingOff: {
          after: { retryDelay: '#enrollment.handshaking' },
        },
        /** The last dial failed and some access point of the round is untried: dial it now. */
        failingOver: {
          after: { 0: '#enrollment.handshaking' },
        },
        /** Shutting down: links are closing, nothing new starts. */
        stopped: {
          on: { IDENTITY_READY: {}, IDENTITY_RENEWED: {} },
        },
      },
    },
    handshaking: {
      entry: { type: 'spawnCandidate', params: { to: 'dial' } },
      after: {
        connectTimeout: [
          { guard: 'attemptsExhausted', target: 'failed', actions: ['recordFailure', 'stopCandidate'] },
          { guard: 'roundUnfinished', target: 'disconnected.failingOver', actions: ['recordFailover', 'stopCandidate'] },
          { target: 'disconnected.backingOff', actions: ['recordFailure', 'stopCandidate'] },
        ],
      },
      on: {
        LINK_WELCOMED: { guard: 'fromCandidate', target: 'enrolled', actions: [welcomed('promoteCandidate'), armLinkExpiry] },
        LINK_FAILED: [
          { guard: and(['fromCandidate', 'attemptsExhausted']), target: 'failed', actions: ['recordFailure', 'stopCandidate'] },
          { guard: and(['fromCandidate', 'roundUnfinished']), target: 'disconnected.failingOver', actions: ['recordFailover', 'stopCandidate'] },
          { guard: 'fromCandidate', target: 'disconnected.backingOff', actions: ['recordFailure', 'stopCandidate'] },
        ],
        LINK_CLOSED: [
          { guard: and(['fromCandidate', 'attemptsExhausted']), target: 'failed', actions: ['recordFailure', 'stopCandidate'] },
          { guard: and(['fromCandidate', 'roundUnfinished']), target: 'disconnected.failingOver', actions: ['recordFailover', 'stopCandidate'] },
          { guard: 'fromCandidate', target: 'disconnected.backingOff', actions: ['recordFailure', 'stopCandidate'] },
        ],
        // Newer material while dialing: dial again with it.
        IDENTITY_RENEWED: { target: 'handshaking', reenter: true, actions: ['stopCandidate', takeIdentity] },
      },
    },
    enrolled: {
      on: {
        LINK_CLOSED: { guard: 'fromActive', target: 'disconnected.backingOff', actions: ['dropActive', 'recordFailure'] },
        IDENTITY_EXPIRED: {
          guard: 'linkIdentityExpired',
          target: 'disconnected.waitingForIdentity',
          actions: [{ type: 'closeActive', params: { reason: 'certificate expired' } }, 'noteError'],
        },
        LINK_CERT_EXPIRED: onLinkCertExpired,
        RENEWAL_DUE: [
          { guard: 'renewalIsPulled', target: 'renewing.obtaining', actions: assign({ renewalDue: true }) },
          { actions: assign({ renewalDue: true }) },
        ],
        IDENTITY_RENEWED: { target: 'renewing.applying', actions: takeIdentity },
        LINK_DRAINING: [
          { guard: and(['fromActive', 'otherServerKnown']), target: 'relinking.elsewhere', actions: ['startRelink'] },
          { guard: 'fromActive', target: 'relinking.waitingToReturn', actions: ['startRelink'] },
        ],
      },
    },
    renewing: {
      initial: 'obtaining',
      on: {
        // The old link died before the new one was welcomed: start over with the newest identity.
        LINK_CLOSED: {
          guard: 'fromActive',
          target: 'disconnected.backingOff',
          actions: ['stopCandidate', 'dropActive', 'recordFailure'],
        },
        IDENTITY_EXPIRED: {
          guard: 'linkIdentityExpired',
          target: 'disconnected.waitingForIdentity',
          actions: ['stopCandidate', { type: 'closeActive', params: { reason: 'certificate expired' } }, 'noteError'],
        },
        LINK_CERT_EXPIRED: onLinkCertExpired,
        // The rotation's link would go to the draining access point: move instead, with the newest identity.
        LINK_DRAINING: [
          { guard: and(['fromActive', 'otherServerKnown']), target: 'relinking.elsewhere', actions: ['stopCandidate', 'startRelink'] },
          { guard: 'fromActive', target: 'relinking.waitingToReturn', actions: ['stopCandidate', 'startRelink'] },
        ],
      },
      states: {
        /** The provider is producing new material. */
        obtaining: {
          on: { IDENTITY_RENEWED: { target: 'applying', actions: takeIdentity } },
        },
        /** A second link with the new identity; the old one keeps heartbeating meanwhile. */
        applying: {
          entry: { type: 'spawnCandidate', params: { to: 'rotation' } },
          after: { connectTimeout: { target: 'retryWait', actions: ['recordFailure', 'stopCandidate'] } },
          on: {
            LINK_WELCOMED: { guard: 'fromCandidate', target: '#enrollment.enrolled', actions: [welcomed('swapToCandidate'), armLinkExpiry] },
            LINK_FAILED: { guard: 'fromCandidate', target: 'retryWait', actions: ['recordFailure', 'stopCandidate'] },
            LINK_CLOSED: { guard: 'fromCandidate', target: 'retryWait', actions: ['recordFailure', 'stopCandidate'] },
            IDENTITY_RENEWED: { target: 'applying', reenter: true, actions: ['stopCandidate', takeIdentity] },
          },
        },
        /** The new link failed; the old link stays up and we try again after a backoff. */
        retryWait: {
          after: { retryDelay: 'applying' },
          on: { IDENTITY_RENEWED: { target: 'applying', actions: takeIdentity } },
        },
      },
    },
    /** The active link's access point drains: move to another before letting it go (make-before-break). */
    relinking: {
      initial: 'elsewhere',
      on: {
        // The draining access point closed the link before we could move: reconnect with backoff.
        LINK_CLOSED: { guard: 'fromActive', target: 'disconnected.backingOff', actions: ['recordFailure', 'stopCandidate', 'dropActive'] },
        IDENTITY_EXPIRED: {
          guard: 'linkIdentityExpired',
          target: 'disconnected.waitingForIdentity',
          actions: ['stopCandidate', { type: 'closeActive', params: { reason: 'certificate expired' } }, 'noteError'],
        },
        LINK_CERT_EXPIRED: onLinkCertExpired,
        // Waiting or stranded: the next link is opened with the newest identity.
        IDENTITY_RENEWED: { actions: takeIdentity },
      },
      states: {
        /** Dialing another access point of the list than the draining one, at once. */
        elsewhere: {
          entry: { type: 'spawnCandidate', params: { to: 'relink' } },
          after: {
            connectTimeout: [
              { guard: 'anotherServerLeft', target: 'elsewhere', reenter: true, actions: ['noteRelinkFailure', 'stopCandidate'] },
              { target: 'waitingToReturn', actions: ['noteRelinkFailure', 'stopCandidate'] },
            ],
          },
          on: {
            LINK_WELCOMED: { guard: 'fromCandidate', target: '#enrollment.enrolled', actions: [welcomed('moveToCandidate'), armLinkExpiry] },
            // Newer material while dialing: dial again with it, so the link is opened with what it will be known by.
            IDENTITY_RENEWED: { target: 'elsewhere', reenter: true, actions: ['stopCandidate', takeIdentity] },
            LINK_FAILED: [
              { guard: and(['fromCandidate', 'anotherServerLeft']), target: 'elsewhere', reenter: true, actions: ['noteRelinkFailure', 'stopCandidate'] },
              { guard: 'fromCandidate', target: 'waitingToReturn', actions: ['noteRelinkFailure', 'stopCandidate'] },
            ],
            LINK_CLOSED: [
              { guard: and(['fromCandidate', 'anotherServerLeft']), target: 'elsewhere', reenter: true, actions: ['noteRelinkFailure', 'stopCandidate'] },
              { guard: 'fromCandidate', target: 'waitingToReturn', actions: ['noteRelinkFailure', 'stopCandidate'] },
            ],
          },
        },
        /** Nowhere else (yet): give a balancer the time the access point asked for to stop sending there. */
        waitingToReturn: {
          after: { retryAfter: 'returning' },
        },
        /** The draining link's address again: a balancer name lands elsewhere now; the draining access point itself refuses. */
        returning: {
          entry: { type: 'spawnCandidate', params: { to: 'return' } },
          after: { connectTimeout: { target: 'stranded', actions: ['noteRelinkFailure', 'stopCandidate'] } },
          on: {
            LINK_WELCOMED: { guard: 'fromCandidate', target: '#enrollment.enrolled', actions: [welcomed('moveToCandidate'), armLinkExpiry] },
            IDENTITY_RENEWED: { target: 'returning', reenter: true, actions: ['stopCandidate', takeIdentity] },
            LINK_FAILED: { guard: 'fromCandidate', target: 'stranded', actions: ['noteRelinkFailure', 'stopCandidate'] },
            LINK_CLOSED: { guard: 'fromCandidate', target: 'stranded', actions: ['noteRelinkFailure', 'stopCandidate'] },
          },
        },
        /**
         * No other access point took us: keep the draining link (still served) until its access
         * point closes it, and try the others again after a jittered backoff meanwhile (they may
         * have been restarting, or shedding a crowd moving at the same time).
         */
        stranded: {
          entry: 'drawRelinkRetry',
          after: {
            retryDelay: [{ guard: 'someRelinkTarget', target: 'elsewhere' }, { target: 'returning' }],
          },
        },
      },
    },
    failed: {
      type: 'final',
      entry: ['disarmLinkExpiry', 'stopCandidate', { type: 'closeActive', params: { reason: 'failed' } }],
    },
  },
});

/** The enrollment's top-level state of a snapshot value: its states are exactly these names. */
export function topLevelState(value: unknown): EnrollmentState {
  return topLevel(value) as EnrollmentState;
}
