/**
 * A timer-free model of the `enrollment` machine as the outside world drives it. Its top-level
 * states are the executor's (what `ah agent status` reports); its substates are what the network
 * lets through to new connections (`up`, `newRefused`, `newRejected`, `stalled`), because that is
 * what decides where the executor settles. Its events are harness actions:
 *
 *   START / START_GIVING_UP   start the executor (the second with --max-attempts 2, network refusing)
 *   CUT                       drop the established links (a middlebox failing)
 *   REFUSE_NEW                new connections refused, established ones flow
 *   REFUSE_ALL                access point gone: refuse new, drop established
 *   REJECT                    new connections reach an access point that rejects the executor
 *   STALL                     new connections accepted but never answered
 *   RESTORE                   new connections reach the welcoming access point again
 *   RENEWAL_DUE               let the certificate reach its renewal point
 */
import { createMachine } from 'xstate';

export const enrollmentModel = createMachine({
  id: 'enrollment-model',
  initial: 'idle',
  states: {
    idle: { on: { START: 'enrolled.up', START_GIVING_UP: 'failed' } },
    enrolled: {
      initial: 'up',
      states: {
        up: {
          on: {
            CUT: 'up', // the link is dropped; the executor reconnects at once
            RENEWAL_DUE: 'up', // rotation, make-before-break
            REFUSE_NEW: 'newRefused',
            REJECT: 'newRejected',
            STALL: 'newStalled',
            REFUSE_ALL: '#enrollment-model.disconnected.refused',
          },
        },
        newRefused: {
          on: { RESTORE: 'up', RENEWAL_DUE: '#enrollment-model.renewing.newRefused', CUT: '#enrollment-model.disconnected.refused' },
        },
        newRejected: {
          on: { RESTORE: 'up', RENEWAL_DUE: '#enrollment-model.renewing.newRejected', CUT: '#enrollment-model.disconnected.rejected' },
        },
        newStalled: {
          on: { RESTORE: 'up', RENEWAL_DUE: '#enrollment-model.renewing.newStalled' },
        },
      },
    },
    renewing: {
      initial: 'newRefused',
      states: {
        // The new link is refused/rejected: the old one stays and the rotation is retried.
        newRefused: { on: { RESTORE: '#enrollment-model.enrolled.up', CUT: '#enrollment-model.disconnected.refused' } },
        newRejected: { on: { RESTORE: '#enrollment-model.enrolled.up', CUT: '#enrollment-model.disconnected.rejected' } },
        // The new link hangs in its handshake (renewing.applying) until let through.
        newStalled: { on: { RESTORE: '#enrollment-model.enrolled.up' } },
      },
    },
    disconnected: {
      initial: 'refused',
      states: {
        refused: { on: { RESTORE: '#enrollment-model.enrolled.up', STALL: '#enrollment-model.handshaking', REJECT: 'rejected' } },
        rejected: { on: { RESTORE: '#enrollment-model.enrolled.up', REFUSE_ALL: 'refused' } },
      },
    },
    handshaking: { on: { RESTORE: 'enrolled.up', REFUSE_ALL: 'disconnected.refused' } },
    failed: { type: 'final' },
  },
});

export type ModelEvent = 'START' | 'START_GIVING_UP' | 'CUT' | 'REFUSE_NEW' | 'REFUSE_ALL' | 'REJECT' | 'STALL' | 'RESTORE' | 'RENEWAL_DUE';
