/**
 * A timer-free model of the `rotation` machine for an identity that is pushed (the files
 * provider): the harness writes certificate files whose validity puts the renewal point in the
 * future (FRESH), already behind (DUE), or the certificate past its end (EXPIRED), or a key of
 * another certificate (BAD); or it lets a due certificate run out. `renewing` belongs to providers
 * that are asked for material (dev, vault) and is covered by the enrollment model's rotations.
 */
import { createMachine } from 'xstate';

export const rotationModel = createMachine({
  id: 'rotation-model',
  initial: 'idle',
  states: {
    idle: { on: { START_WITHOUT_FILES: 'loading', START_FRESH: 'valid', START_DUE: 'renew-due', START_EXPIRED: 'expired' } },
    loading: { on: { WRITE_FRESH: 'valid', WRITE_DUE: 'renew-due', WRITE_EXPIRED: 'expired', WRITE_BAD: 'loading' } },
    valid: {
      on: {
        WRITE_FRESH: 'valid', // a newer certificate: taken
        WRITE_DUE: 'valid', // one that ends earlier: refused, the current one stays
        WRITE_BAD: 'valid', // a torn set: refused
      },
    },
    'renew-due': { on: { WRITE_FRESH: 'valid', WRITE_BAD: 'renew-due', LET_EXPIRE: 'expired' } },
    expired: { on: { WRITE_FRESH: 'valid' } },
  },
});

export type RotationModelEvent =
  | 'START_WITHOUT_FILES'
  | 'START_FRESH'
  | 'START_DUE'
  | 'START_EXPIRED'
  | 'WRITE_FRESH'
  | 'WRITE_DUE'
  | 'WRITE_EXPIRED'
  | 'WRITE_BAD'
  | 'LET_EXPIRE';
