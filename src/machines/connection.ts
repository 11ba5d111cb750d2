/**
 * `connection`: one executor link as the access point sees it.
 *
 *   accepted ──hello──▶ verifying ──peer ok──▶ active ──goodbye / SILENT / socket closed──▶ closed
 *       │                   ├──peer refused: reject{code,message}──▶ draining ──▶ closed
 *       │                   └──access point draining: goodbye{draining, retryAfterMs}──▶ draining ──▶ closed
 *       └──anything but hello, or no hello in time──▶ closed
 *   active.live ──LEAVE: goodbye{draining, retryAfterMs}──▶ active.leaving: heartbeats still acked until the
 *       executor, welcomed elsewhere, says goodbye (or DRAIN closes the link)
 *
 * Nothing but `hello` is read before the peer is verified. The transport verifies a hello at once
 * (certificate rules, claimed name, continuity: actors/executor-links.ts) and tells the machine
 * `PEER_VERIFIED` or `PEER_REFUSED`: events rather than an invoked promise actor, so ten thousand
 * admissions create no child actor each, and replay feeds the verdict from the log like any event.
 * Once active, a heartbeat changes
 * nothing in the lifecycle, so the transport acks it and notes its time without a transition
 * (actors/heartbeat-watch.ts: at ten thousand links a macrostep per heartbeat was half the access
 * point's CPU); a heartbeat before verification still comes here and closes the link. A link whose
 * heartbeats stop for three intervals gets `SILENT` from that watch and is closed. Writing to the
 * socket is done by named actions the transport provides (`sendWelcome`, `sendReject`, ...); the
 * roster listens to the emitted `admitted`/`departed`/`rejected` events. Times arrive with the
 * events (`at`).
 */
import { assign, emit, setup } from 'xstate';
import type { ErrorInfo } from '../errors/ah-error.js';
import type { Admission, ContinuityClaim, PeerVerdict } from '../model/admission.js';

export type { Admission, ContinuityClaim, PeerVerdict };

export const HEARTBEATS_MISSED_BEFORE_CLOSE = 3;

export interface ConnectionInput {
  readonly linkId: string;
  readonly remoteAddress: string;
  readonly heartbeatIntervalMs: number;
  readonly helloTimeoutMs?: number;
  readonly drainTimeoutMs?: number;
}

/** What the transport verifies a hello's claims with (beside the link's TLS handshake). */
export interface VerifyPeerInput {
  readonly linkId: string;
  readonly name: string;
  readonly continuity: ContinuityClaim | null;
}

export interface ConnectionContext {
  readonly linkId: string;
  readonly remoteAddress: string;
  readonly heartbeatIntervalMs: number;
  readonly helloTimeoutMs: number;
  readonly drainTimeoutMs: number;
  readonly name: string | null;
  readonly version: string | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly continuity: ContinuityClaim | null;
  readonly peer: PeerVerdict | null;
  readonly helloAt: number | null;
  readonly closeReason: string | null;
  readonly rejection: ErrorInfo | null;
  /** Told to move (goodbye{draining}) and not gone yet. */
  readonly leaving: boolean;
}

export type ConnectionEvent =
  | { type: 'HELLO'; name: string; version: string; labels: Record<string, string>; continuity?: ContinuityClaim; at: number }
  /** Only before verification, where it is a protocol error; an admitted link's heartbeats stay in the transport. */
  | { type: 'HEARTBEAT'; seq: number; at: number }
  /** The transport's verdict on the hello: certificate rules, claimed name, continuity (actors/executor-links.ts). */
  | { type: 'PEER_VERIFIED'; verdict: PeerVerdict }
  /** ...or why not: a catalog error (`ENROLL_ACCESS_POINT_DRAINING` while the access point drains). */
  | { type: 'PEER_REFUSED'; error: ErrorInfo }
  /** Three heartbeat intervals without one (actors/heartbeat-watch.ts). */
  | { type: 'SILENT'; at: number }
  | { type: 'GOODBYE'; reason: string; at: number }
  | { type: 'PROTOCOL_ERROR'; detail: string; at: number }
  | { type: 'SOCKET_CLOSED'; detail: string; at: number }
  | { type: 'DRAIN'; reason: string }
  /** The access point drains: ask the executor to move (make-before-break) and keep serving it until it does. */
  | { type: 'LEAVE'; retryAfterMs: number };

/** The code verifyPeer fails with while the access point drains: answered with goodbye{draining}, not reject. */
export const DRAINING_CODE = 'ENROLL_ACCESS_POINT_DRAINING';

export type ConnectionEmitted =
  | {
      type: 'admitted';
      linkId: string;
      executorId: string;
      name: string;
      remoteAddress: string;
      certNotAfter: number;
      serial: string;
      admission: Admission;
      supersedes: readonly string[];
      at: number;
    }
  | { type: 'departed'; linkId: string; executorId: string | null; reason: string }
  | { type: 'rejected'; linkId: string; remoteAddress: string; error: ErrorInfo };

const reasonOf = (event: ConnectionEvent): string => {
  switch (event.type) {
    case 'GOODBYE':
      return `goodbye: ${event.reason}`;
    case 'PROTOCOL_ERROR':
      return `protocol error: ${event.detail}`;
    case 'SOCKET_CLOSED':
      return `socket closed: ${event.detail}`;
    case 'DRAIN':
      return event.reason;
    case 'SILENT':
      return `no heartbeat for ${HEARTBEATS_MISSED_BEFORE_CLOSE} intervals`;
    case 'LEAVE':
      return 'draining';
    case 'HELLO':
      return 'protocol error: hello sent twice';
    case 'HEARTBEAT':
      return 'protocol error: heartbeat before verification';
    case 'PEER_VERIFIED':
    case 'PEER_REFUSED':
      return 'closed';
  }
};

/** Before a link is admitted, these events (and the socket or protocol failing) end it. */
const closeOnAnythingElse = (frames: Array<'HELLO' | 'HEARTBEAT' | 'GOODBYE'>) =>
  Object.fromEntries(
    [...frames, 'PROTOCOL_ERROR', 'SOCKET_CLOSED', 'DRAIN', 'LEAVE'].map((type) => [type, { target: '#connection.closed', actions: 'noteClose' }] as const),
  ) as Partial<Record<ConnectionEvent['type'], { target: '#connection.closed'; actions: 'noteClose' }>>;

export const connectionMachine = setup({
  types: {
    context: {} as ConnectionContext,
    input: {} as ConnectionInput,
    events: {} as ConnectionEvent,
    emitted: {} as ConnectionEmitted,
  },
  actions: {
    // Wire effects, provided by the transport; the definitions here only name them.
    sendWelcome: () => {},
    sendReject: (_, _params: { error: ErrorInfo }) => {},
    sendGoodbye: (_, _params: { reason: string; retryAfterMs?: number }) => {},
    endSocket: () => {},
    destroySocket: () => {},
    noteClose: assign({ closeReason: ({ context, event }) => context.closeReason ?? reasonOf(event) }),
  },
  delays: {
    helloTimeout: ({ context }) => context.helloTimeoutMs,
    drainTimeout: ({ context }) => context.drainTimeoutMs,
  },
}).createMachine({
  id: 'connection',
  context: ({ input }) => ({
    linkId: input.linkId,
    remoteAddress: input.remoteAddress,
    heartbeatIntervalMs: input.heartbeatIntervalMs,
    helloTimeoutMs: input.helloTimeoutMs ?? 10_000,
    drainTimeoutMs: input.drainTimeoutMs ?? 2_000,
    name: null,
    version: null,
    labels: {},
    continuity: null,
    peer: null,
    helloAt: null,
    closeReason: null,
    rejection: null,
    leaving: false,
  }),
  initial: 'accepted',
  states: {
    accepted: {
      after: { helloTimeout: { target: 'closed', actions: assign({ closeReason: 'no hello in time' }) } },
      on: {
        HELLO: {
          target: 'verifying',
          actions: assign({
            name: ({ event }) => event.name,
            version: ({ event }) => event.version,
            labels: ({ event }) => event.labels,
            continuity: ({ event }) => event.continuity ?? null,
            helloAt: ({ event }) => event.at,
          }),
        },
        ...closeOnAnythingElse(['HEARTBEAT', 'GOODBYE']),
      },
    },
    verifying: {
      on: {
        PEER_VERIFIED: {
          target: 'active',
          actions: [
            assign({ peer: ({ event }) => event.verdict }),
            'sendWelcome',
            emit(({ context, event }) => ({
              type: 'admitted' as const,
              linkId: context.linkId,
              executorId: event.verdict.executorId,
              name: context.name ?? '',
              remoteAddress: context.remoteAddress,
              certNotAfter: event.verdict.certNotAfter,
              serial: event.verdict.serial,
              admission: event.verdict.admission ?? 'joined',
              supersedes: event.verdict.supersedes ?? [],
              at: context.helloAt ?? 0,
            })),
          ],
        },
        PEER_REFUSED: [
          {
            guard: ({ event }) => event.error.code === DRAINING_CODE,
            target: 'draining',
            actions: [
              assign({ closeReason: 'refused: access point draining' }),
              {
                type: 'sendGoodbye',
                params: ({ event }) => ({ reason: 'draining', retryAfterMs: Number(event.error.params.retryAfterMs ?? 0) }),
              },
            ],
          },
          {
            target: 'draining',
            actions: [
              assign({
                rejection: ({ event }) => event.error,
                closeReason: ({ event }) => `rejected: ${event.error.code}`,
              }),
              { type: 'sendReject', params: ({ event }) => ({ error: event.error }) },
              emit(({ context, event }) => ({
                type: 'rejected' as const,
                linkId: context.linkId,
                remoteAddress: context.remoteAddress,
                error: event.error,
              })),
            ],
          },
        ],
        ...closeOnAnythingElse(['HELLO', 'HEARTBEAT', 'GOODBYE']),
      },
    },
    active: {
      initial: 'live',
      states: {
        // Heartbeats are acked by the transport; the machine hears only of their absence.
        live: {
          on: {
            SILENT: { target: '#connection.closed', actions: 'noteClose' },
            LEAVE: {
              target: 'leaving',
              actions: [assign({ leaving: true }), { type: 'sendGoodbye', params: ({ event }) => ({ reason: 'draining', retryAfterMs: event.retryAfterMs }) }],
            },
          },
        },
        /** Asked to move: still served (heartbeats acked by the transport) until the executor is welcomed elsewhere and says goodbye. */
        leaving: {
          on: { SILENT: { target: '#connection.closed', actions: 'noteClose' } },
        },
      },
      on: {
        GOODBYE: { target: 'closed', actions: 'noteClose' },
        SOCKET_CLOSED: { target: 'closed', actions: 'noteClose' },
        PROTOCOL_ERROR: { target: 'closed', actions: 'noteClose' },
        HELLO: { target: 'closed', actions: 'noteClose' },
        DRAIN: {
          target: 'draining',
          actions: ['noteClose', { type: 'sendGoodbye', params: ({ event }) => ({ reason: event.reason }) }],
        },
      },
    },
    /** Our last word is written; wait for the peer to close, but not for ever. */
    draining: {
      entry: 'endSocket',
      after: { drainTimeout: 'closed' },
      on: { SOCKET_CLOSED: 'closed' },
    },
    closed: {
      type: 'final',
      entry: [
        'destroySocket',
        emit(({ context }) => ({
          type: 'departed' as const,
          linkId: context.linkId,
          executorId: context.peer?.executorId ?? null,
          reason: context.closeReason ?? 'closed',
        })),
      ],
    },
  },
});
