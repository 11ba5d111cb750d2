/**
 * What `ah agent replay` says of a stuck enrollment reads the rebuilt machine's context
 * (replay/stuck.ts): checked against the real enrollment machine's context, so that a change to its
 * shape cannot silently drop a detail from the diagnosis.
 */
import { describe, expect, it } from 'vitest';
import type { PathStep } from '../../src/replay/actor-rebuild.js';
import { diagnose, STORM_ATTEMPTS } from '../../src/replay/stuck.js';
import { formatDuration } from '../../src/util/duration.js';
import { createHarness, identity } from '../helpers/machine-harness.js';

const refused = { code: 'ENROLL_CONNECTION_REFUSED', params: { address: '127.0.0.1:4433' }, retryable: true } as const;

function step(time: number, value: PathStep['value'], event: string): PathStep {
  return {
    line: 1,
    stateLine: null,
    time,
    event,
    source: 'external',
    value,
    state: JSON.stringify(value),
    quiet: {},
    quietCount: 0,
    lastQuietLine: null,
    lastQuietTime: null,
    error: null,
  };
}

describe('stuck enrollment diagnoses from the machine context', () => {
  it('a retry storm says how many attempts failed and when the next one is', () => {
    const h = createHarness();
    const t0 = h.clock.now();
    h.material(identity(1, t0, 24 * 3_600_000));
    for (let i = 0; i < STORM_ATTEMPTS; i++) {
      h.lastLink().report({ type: 'LINK_FAILED', error: refused });
      if (i < STORM_ATTEMPTS - 1) h.clock.increment(h.context.retry.delayMs);
    }
    expect(h.value).toEqual({ disconnected: 'backingOff' });
    const now = h.clock.now();
    const d = diagnose(
      {
        actor: 'executor:test',
        machine: 'enrollment',
        steps: [step(t0, 'handshaking', 'IDENTITY_READY'), step(now, { disconnected: 'backingOff' }, 'LINK_FAILED')],
        value: h.value,
        context: h.context as unknown as Record<string, unknown>,
      },
      now,
    );
    expect(d).toMatchObject({ kind: 'retry-storm', error: { code: 'ENROLL_CONNECTION_REFUSED' } });
    expect(d!.summary).toBe(`${STORM_ATTEMPTS} failed attempts in a row over ${formatDuration(now - t0)}, next in ${formatDuration(h.context.retry.delayMs)}`);
  });
});
