/**
 * Error codes are the catalog's union: a misspelt code written in our source fails `tsc -p .` (each
 * `@ts-expect-error` below makes `tsc` fail the day the typo would be accepted), while a code sent by
 * a newer access point, which this build does not know, still reaches the operator as sent.
 */
import { describe, expect, it } from 'vitest';
import { AhError, type ErrorInfo } from '../../src/errors/ah-error.js';
import { isErrorCode } from '../../src/errors/catalog.js';
import { executorStatus } from '../../src/engine/executor-status.js';
import { topLevelState } from '../../src/machines/enrollment.js';
import { createHarness, identity } from '../helpers/machine-harness.js';

const HOUR = 3_600_000;

describe('error codes are typed as the catalog', () => {
  it('refuses a misspelt code where our code builds an error', () => {
    // @ts-expect-error: ENROLL_LINK_LSOT is not a code of the catalog
    const typo: ErrorInfo = { code: 'ENROLL_LINK_LSOT', params: {}, retryable: true };
    // The typo really is none of the catalog's codes, so the line above must fail tsc.
    expect(isErrorCode(typo.code)).toBe(false);
    expect(isErrorCode('ENROLL_LINK_LOST')).toBe(true);
    // @ts-expect-error: nor can an AhError be made with it
    expect(() => new AhError('ENROLL_CONECTION_REFUSED')).toThrow();
  });

  it("keeps a newer peer's code from its reject frame, with the peer's words, through the machine to status", () => {
    const h = createHarness();
    h.material(identity(1, h.clock.now(), 24 * HOUR));
    expect(h.value).toBe('handshaking');
    // What the fleet client does with `reject{code:"ENROLL_FROM_THE_FUTURE"}` (transport/fleet-client.ts).
    const rejected = AhError.fromInfo({ code: 'ENROLL_FROM_THE_FUTURE', params: { message: 'upgrade to 9.0' }, retryable: true });
    h.lastLink().report({ type: 'LINK_FAILED', error: rejected.toInfo() });
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    const status = executorStatus(topLevelState(h.value), h.value, h.context, { remoteServer: 'https://127.0.0.1:4433', stateDir: '/nowhere' });
    expect(status.lastError).toEqual({ code: 'ENROLL_FROM_THE_FUTURE', message: 'upgrade to 9.0' });
  });
});
