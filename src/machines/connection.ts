/**
 * `connection`: one executor link as the access point sees it.
 *
 *   accepted ──hello──▶ verifying ──peer ok──▶ active ──goodbye / silence / socket closed──▶ closed
 *       │                   ├──peer refused: reject{code,message}──▶ draining ──▶ closed
 *       │                   └──access point draining: goodbye{draining, retryAfterMs}──▶ draining ──▶ closed
 *       └──anything but hello, or no hello in time──▶ closed
 *   active.live ──LEAVE: goodbye{draining, retryAfterMs}──▶ active.leaving: heartbeats still acked until the
 *       executor, welcomed elsewhere, says goodbye (or DRAIN closes the link)
 *
 * Nothing but `hello` is read before the peer is verified. A link whose heartbeats stop for three
 * intervals is closed. Writing to the socket is done by named actions the transport provides
 * (`sendWelcome`, `sendAck`, ...); the roster listens to the emitted `admitted`/`heartbeat`/
 * `departed`/`rejected` events. Times arrive with the events (`at`).
 */
import { assign, emit, fromPromise, setup } from 'xstate';
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
  readonly heartbeats: number;
  readonly lastHeartbeatAt: number | null;
  readonly closeReason: string | null;
  readonly rejection: ErrorInfo | null;
  /** Told to move (goodbye{draining}) and not gone yet. */
  readonly leaving: boolean;
}

export type ConnectionEvent =
  | { type: 'HELLO'; name: string; version: string; labels: Record<string, string>; continuity?: ContinuityClaim; at: number }
  | { type: 'HEARTBEAT'; seq: number; at: number }
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
  | { type: 'heartbeat'; linkId: string; executorId: string; seq: number; at: number }
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
    case 'LEAVE':
      return 'draining';
    case 'HELLO':
      return 'protocol error: hello sent twice';
    case 'HEARTBEAT':
      return 'protocol error: heartbeat before verification';
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
  actors: {
    /** Check the client certificate and the hello's claims against the peer policy. Provided by the transport. */
    verifyPeer: fromPromise<PeerVerdict, VerifyPeerInput>(async () => {
      throw new Error('verifyPeer must be provided');
    }),
  },
  actions: {
    // Wire effects, provided by the transport; the definitions here only name them.
    sendWelcome: () => {},
    sendAck: (_, _params: { seq: number }) => {},
    sendReject: (_, _params: { error: ErrorInfo }) => {},
    sendGoodbye: (_, _params: { reason: string; retryAfterMs?: number }) => {},
    endSocket: () => {},
    destroySocket: () => {},
    noteClose: assign({ closeReason: ({ context, event }) => context.closeReason ?? reasonOf(event) }),
    noteSilence: assign({ closeReason: `no heartbeat for ${HEARTBEATS_MISSED_BEFORE_CLOSE} intervals` }),
  },
  delays: {
    helloTimeout: ({ context }) => context.helloTimeoutMs,
    heartbeatTimeout: ({ context }) => context.heartbeatIntervalMs * HEARTBEATS_MISSED_BEFORE_CLOSE,
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
    heartbeats: 0,
    lastHeartbeatAt: null,
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
      invoke: {
        src: 'verifyPeer',
        input: ({ context }) => ({ linkId: context.linkId, name: context.name ?? '', continuity: context.continuity }),
        onDone: {
          target: 'active',
          actions: [
            assign({ peer: ({ event }) => event.output }),
            'sendWelcome',
            emit(({ context, event }) => ({
              type: 'admitted' as const,
              linkId: context.linkId,
              executorId: event.output.executorId,
              name: context.name ?? '',
              remoteAddress: context.remoteAddress,
              certNotAfter: event.output.certNotAfter,
              serial: event.output.serial,
              admission: event.output.admission ?? 'joined',
              supersedes: event.output.supersedes ?? [],
              // Verification takes microseconds; the hello's arrival stands for the admission.
              at: context.helloAt ?? 0,
            })),
          ],
        },
        onError: [
          {
            // Not a verdict on the executor: this access point is going away; go elsewhere.
            guard: ({ event }) => (event.error as ErrorInfo).code === DRAINING_CODE,
            target: 'draining',
            actions: [
              assign({ closeReason: 'refused: access point draining' }),
              {
                type: 'sendGoodbye',
                params: ({ event }) => ({ reason: 'draining', retryAfterMs: Number((event.error as ErrorInfo).params.retryAfterMs ?? 0) }),
              },
            ],
          },
          {
            target: 'draining',
            actions: [
              assign({
                rejection: ({ event }) => event.error as ErrorInfo,
                closeReason: ({ event }) => `rejected: ${(event.error as ErrorInfo).code}`,
              }),
              { type: 'sendReject', params: ({ event }) => ({ error: event.error as ErrorInfo }) },
              emit(({ context, event }) => ({
                type: 'rejected' as const,
                linkId: context.linkId,
                remoteAddress: context.remoteAddress,
                error: event.error as ErrorInfo,
              })),
            ],
          },
        ],
      },
      // Nothing but hello is read before the peer is verified.
      on: closeOnAnythingElse(['HELLO', 'HEARTBEAT', 'GOODBYE']),
    },
    active: {
      initial: 'live',
      states: {
        live: {
          after: { heartbeatTimeout: { target: '#connection.closed', actions: 'noteSilence' } },
          on: {
            HEARTBEAT: {
              target: 'live',
              reenter: true,
              actions: [
                assign({ heartbeats: ({ context }) => context.heartbeats + 1, lastHeartbeatAt: ({ event }) => event.at }),
                { type: 'sendAck', params: ({ event }) => ({ seq: event.seq }) },
                emit(({ context, event }) => ({
                  type: 'heartbeat' as const,
                  linkId: context.linkId,
                  executorId: context.peer!.executorId,
                  seq: event.seq,
                  at: event.at,
                })),
              ],
            },
            LEAVE: {
              target: 'leaving',
              actions: [assign({ leaving: true }), { type: 'sendGoodbye', params: ({ event }) => ({ reason: 'draining', retryAfterMs: event.retryAfterMs }) }],
            },
          },
        },
        /** Asked to move: still served (heartbeats acked) until the executor is welcomed elsewhere and says goodbye. */
        leaving: {
          after: { heartbeatTimeout: { target: '#connection.closed', actions: 'noteSilence' } },
          on: {
            // The same as in live: the executor is served until it has moved.
            HEARTBEAT: {
              target: 'leaving',
              reenter: true,
              actions: [
                assign({ heartbeats: ({ context }) => context.heartbeats + 1, lastHeartbeatAt: ({ event }) => event.at }),
                { type: 'sendAck', params: ({ event }) => ({ seq: event.seq }) },
                emit(({ context, event }) => ({
                  type: 'heartbeat' as const,
                  linkId: context.linkId,
                  executorId: context.peer!.executorId,
                  seq: event.seq,
                  at: event.at,
                })),
              ],
            },
          },
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
