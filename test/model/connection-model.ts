/**
 * A timer-free model of the access point's `connection` machine, driven from the other end of
 * the link by a raw TLS client (the harness): connect with or without a certificate, send hello,
 * heartbeats, goodbye or garbage, fall silent, hang up, or shut the access point down.
 * `verifying` is passed through on hello (verification takes microseconds), so it is checked in
 * the logged path rather than as a resting state.
 */
import { createMachine } from 'xstate';

export const connectionModel = createMachine({
  id: 'connection-model',
  initial: 'idle',
  states: {
    idle: { on: { CONNECT: 'accepted.certified', CONNECT_ANONYMOUS: 'accepted.anonymous' } },
    accepted: {
      initial: 'certified',
      states: {
        certified: {
          on: {
            HELLO: '#connection-model.active',
            HEARTBEAT: '#connection-model.closed', // nothing but hello before verification
            GARBAGE: '#connection-model.closed',
            HANG_UP: '#connection-model.closed',
          },
        },
        anonymous: { on: { HELLO: '#connection-model.draining', HANG_UP: '#connection-model.closed' } },
      },
    },
    active: {
      on: {
        HEARTBEAT: 'active',
        GOODBYE: 'closed',
        FALL_SILENT: 'closed', // three heartbeat intervals without one
        GARBAGE: 'closed',
        HELLO: 'closed', // a second hello is a protocol error
        HANG_UP: 'closed',
        SHUT_DOWN_ACCESS_POINT: 'closed', // goodbye{shutdown}, drained
      },
    },
    // A reject was sent; the access point waits for the peer to close, a bounded while.
    draining: { on: { HANG_UP: 'closed', WAIT_DRAIN: 'closed' } },
    closed: { type: 'final' },
  },
});

export type ConnectionModelEvent =
  | 'CONNECT'
  | 'CONNECT_ANONYMOUS'
  | 'HELLO'
  | 'HEARTBEAT'
  | 'GOODBYE'
  | 'GARBAGE'
  | 'HANG_UP'
  | 'FALL_SILENT'
  | 'SHUT_DOWN_ACCESS_POINT'
  | 'WAIT_DRAIN';
