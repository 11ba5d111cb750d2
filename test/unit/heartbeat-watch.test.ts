import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { HeartbeatWatch } from '../../src/actors/heartbeat-watch.js';
import { advance } from '../helpers/clock.js';

function watched() {
  const clock = new SimulatedClock();
  const silent: Array<{ link: string; at: number }> = [];
  const watch = new HeartbeatWatch(clock, (link) => silent.push({ link, at: clock.now() }));
  return { clock, silent, watch };
}

describe('heartbeat watch', () => {
  it('reports a link exactly when it has been silent for its whole allowance since the last heartbeat', () => {
    const { clock, silent, watch } = watched();
    watch.watch('a', 3_000);
    for (let i = 0; i < 4; i++) {
      advance(clock, 2_900);
      watch.heard('a');
    }
    // Last heard at 11,600: due at 14,600, not a millisecond before.
    advance(clock, 2_999);
    expect(silent).toEqual([]);
    advance(clock, 1);
    expect(silent).toEqual([{ link: 'a', at: 14_600 }]);
    // Reported once, then forgotten.
    advance(clock, 30_000);
    expect(silent).toHaveLength(1);
    expect(watch.size).toBe(0);
  });

  it('keeps each link on its own deadline', () => {
    const { clock, silent, watch } = watched();
    watch.watch('a', 1_000);
    advance(clock, 500);
    watch.watch('b', 1_000);
    advance(clock, 400);
    watch.heard('a');
    advance(clock, 700);
    expect(silent.map((s) => s.link)).toEqual(['b']);
    advance(clock, 300);
    expect(silent).toEqual([
      { link: 'b', at: 1_500 },
      { link: 'a', at: 1_900 },
    ]);
  });

  it('forgets a link it is told to stop watching, and a second watch replaces the first', () => {
    const { clock, silent, watch } = watched();
    watch.watch('a', 1_000);
    watch.unwatch('a');
    watch.watch('b', 1_000);
    advance(clock, 600);
    watch.watch('b', 1_000);
    advance(clock, 999);
    expect(silent).toEqual([]);
    advance(clock, 1);
    expect(silent).toEqual([{ link: 'b', at: 1_600 }]);
    watch.heard('b');
    expect(watch.size).toBe(0);
  });
});
