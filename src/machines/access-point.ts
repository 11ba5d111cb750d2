/**
 * `access-point`: the access point's own lifecycle.
 *
 *   starting ──own identity ready──▶ serving ──listen failed──▶ failed
 *      └──────identity error that waiting cannot cure (no such file, permission denied)──▶ failed
 *
 * It owns the `rotation` child for the access point's own certificate and the `fleetListener`
 * (the TLS server, provided by the engine). Renewed material is handed to the listener, which
 * uses it for new connections without touching existing links. An expired own certificate does
 * not stop the listener: executors then hear exactly why they cannot enroll.
 */
import { assign, fromCallback, sendTo, setup } from 'xstate';
import { rotationMachine, type RotationInput, type RotationNotice } from './rotation.js';
import type { IdentitySummary } from '../model/identity.js';
import type { ErrorInfo } from '../errors/ah-error.js';

export interface AccessPointInput {
  readonly listen: string;
  readonly seed: number;
  readonly rotation: Omit<RotationInput, 'seed'>;
}

export interface AccessPointContext {
  readonly listen: string;
  readonly rotationInput: RotationInput;
  readonly identity: IdentitySummary | null;
  readonly nextRotationAt: number | null;
  readonly boundAddress: string | null;
  readonly rotations: number;
  readonly lastError: ErrorInfo | null;
}

export type ListenerCommand = { type: 'USE_IDENTITY'; fingerprint: string };

export type AccessPointEvent = RotationNotice | { type: 'LISTENING'; address: string } | { type: 'LISTEN_FAILED'; error: ErrorInfo };

type IdentityNews = Extract<RotationNotice, { type: 'IDENTITY_READY' | 'IDENTITY_RENEWED' }>;

/** Typed action params, taken from the event of the transition that runs the action. */
const takeIdentity = { type: 'takeIdentity', params: ({ event }: { event: IdentityNews }) => event } as const;
const noteError = { type: 'noteError', params: ({ event }: { event: { error: ErrorInfo } }) => ({ error: event.error }) } as const;

export const accessPointMachine = setup({
  types: {
    context: {} as AccessPointContext,
    input: {} as AccessPointInput,
    events: {} as AccessPointEvent,
  },
  actors: {
    rotation: rotationMachine,
    /** The fleet TLS server. Provided by the engine. */
    fleetListener: fromCallback<ListenerCommand, { fingerprint: string }>(() => {
      throw new Error('fleetListener must be provided');
    }),
  },
  guards: {
    /** The catalog says retrying cannot help: nobody will fix it while we wait (systemd restarts us). */
    notRetryable: ({ event }) => 'error' in event && event.error.retryable === false,
  },
  actions: {
    takeIdentity: assign((_, { identity, nextRotationAt }: IdentityNews) => ({ identity, nextRotationAt })),
    noteError: assign((_, { error }: { error: ErrorInfo }) => ({ lastError: error })),
  },
}).createMachine({
  id: 'access-point',
  context: ({ input }) => ({
    listen: input.listen,
    rotationInput: { ...input.rotation, seed: input.seed },
    identity: null,
    nextRotationAt: null,
    boundAddress: null,
    rotations: 0,
    lastError: null,
  }),
  invoke: { id: 'rotation', src: 'rotation', input: ({ context }) => context.rotationInput },
  initial: 'starting',
  on: {
    IDENTITY_ERROR: { actions: noteError },
    IDENTITY_REFUSED: { actions: noteError },
    RENEWAL_FAILED: { actions: noteError },
    IDENTITY_EXPIRED: {
      actions: assign({ lastError: { code: 'ENROLL_CERT_NOT_VALID_NOW', params: {}, retryable: true } }),
    },
  },
  states: {
    starting: {
      on: {
        IDENTITY_READY: { target: 'serving', actions: takeIdentity },
        IDENTITY_RENEWED: { target: 'serving', actions: takeIdentity },
        // Without an identity there is nothing to serve: fail rather than wait silently. Once
        // serving, the same error keeps the identity in use (the root handler only notes it).
        IDENTITY_ERROR: { guard: 'notRetryable', target: 'failed', actions: noteError },
      },
    },
    serving: {
      invoke: {
        id: 'listener',
        src: 'fleetListener',
        input: ({ context }) => ({ fingerprint: context.identity!.fingerprint }),
      },
      on: {
        LISTENING: { actions: assign({ boundAddress: ({ event }) => event.address }) },
        LISTEN_FAILED: { target: 'failed', actions: noteError },
        IDENTITY_RENEWED: {
          actions: [
            takeIdentity,
            assign({ rotations: ({ context }) => context.rotations + 1, lastError: null }),
            sendTo('listener', ({ event }): ListenerCommand => ({ type: 'USE_IDENTITY', fingerprint: event.identity.fingerprint })),
          ],
        },
      },
    },
    failed: { type: 'final' },
  },
});
