/**
 * An executor link's heartbeats on XState's SimulatedClock: the cadence a fifth inside the
 * interval, acks counted, the link lost after three unanswered, and nothing after stop or loss.
 */
import { describe, expect, it } from 'vitest';
import { SimulatedClock } from 'xstate';
import { ACKS_OVERDUE_REASON, heartbeatPeriodMs, LinkHeartbeats } from '../../src/actors/link-heartbeats.js';
import { advance } from '../helpers/clock.js';

function heartbeats(clock = new SimulatedClock()) {
  const sent: Array<{ seq: number; at: number }> = [];
  let lost = 0;
  const beats = new LinkHeartbeats(clock, { send: (seq) => sent.push({ seq, at: clock.now() }), lost: () => lost++ }, () => clock.now());
  return { clock, sent, beats, lost: () => lost };
}

describe('link heartbeats', () => {
  it('beats a fifth inside the interval from the welcome on, numbered from 1, while acked', () => {
    const { clock, sent, beats, lost } = heartbeats();
    beats.start(1_000, clock.now());
    expect(beats.lastAckAt).toBe(0);
    // A fifth early, so that no gap at the access point grows past the interval it asked for.
    clock.increment(799);
    expect(sent).toEqual([]);
    clock.increment(1);
    expect(sent).toEqual([{ seq: 1, at: 800 }]);
    for (let i = 0; i < 100; i++) {
      beats.acked(sent.at(-1)!.seq, clock.now());
      advance(clock, 800);
    }
    expect(sent.map((s) => s.seq)).toEqual(Array.from({ length: 101 }, (_, i) => i + 1));
    expect(sent.map((s) => s.at)).toEqual(Array.from({ length: 101 }, (_, i) => (i + 1) * 800));
    expect(beats.lastAckAt).toBe(100 * 800);
    expect(lost()).toBe(0);
    expect(heartbeatPeriodMs(5_000)).toBe(4_000);
  });

  it('reports the link lost once, when three heartbeats in a row went unanswered, and sends nothing after', () => {
    const { clock, sent, beats, lost } = heartbeats();
    beats.start(1_000, clock.now());
    advance(clock, 800);
    beats.acked(1, clock.now());
    advance(clock, 3 * 800);
    expect(sent.map((s) => s.seq)).toEqual([1, 2, 3, 4]);
    expect(lost()).toBe(0);
    // The fourth due time after the last ack: 2, 3 and 4 went unanswered.
    advance(clock, 800);
    expect(lost()).toBe(1);
    advance(clock, 60_000);
    expect(sent).toHaveLength(4);
    expect(lost()).toBe(1);
    expect(ACKS_OVERDUE_REASON).toBe('no heartbeat acknowledged for 3 intervals');
  });

  it('a late ack still counts: only the unanswered ones since the newest ack lose the link', () => {
    const { clock, beats, lost } = heartbeats();
    beats.start(1_000, clock.now());
    advance(clock, 3 * 800);
    // Heartbeat 3's ack arrives just before the fourth is due: 1 and 2 answered with it.
    beats.acked(3, clock.now());
    advance(clock, 3 * 800);
    expect(lost()).toBe(0);
    advance(clock, 800);
    expect(lost()).toBe(1);
  });

  it('an ack for a heartbeat never sent counts for no more than the last one sent', () => {
    const { clock, beats, lost } = heartbeats();
    beats.start(1_000, clock.now());
    advance(clock, 800);
    beats.acked(1_000_000, clock.now());
    advance(clock, 4 * 800);
    expect(lost()).toBe(1);
  });

  it("a link that takes over from another (rotation, move) carries on its cadence: the first beat when the other's next was due", () => {
    const old = heartbeats();
    const { clock } = old;
    old.beats.start(1_000, clock.now());
    advance(clock, 800 + 300);
    expect(old.beats.nextDueAt).toBe(1_600);
    // The new link is welcomed 300 ms after the old one's last heartbeat; the old one goes with it.
    const next = heartbeats(clock);
    next.beats.start(1_000, clock.now(), old.beats);
    old.beats.stop();
    advance(clock, 499);
    expect(next.sent).toEqual([]);
    advance(clock, 1);
    expect(next.sent).toEqual([{ seq: 1, at: 1_600 }]);
    advance(clock, 800);
    expect(next.sent.at(-1)).toEqual({ seq: 2, at: 2_400 });
    expect(old.sent).toEqual([{ seq: 1, at: 800 }]);
    // One that has none scheduled (stopped, lost) leaves the new link its own full period.
    const third = heartbeats(clock);
    third.beats.start(1_000, clock.now(), old.beats);
    advance(clock, 799);
    expect(third.sent).toEqual([]);
    advance(clock, 1);
    expect(third.sent).toEqual([{ seq: 1, at: 3_200 }]);
  });

  it('stop() cancels the next heartbeat; start() again begins a new cadence', () => {
    const { clock, sent, beats, lost } = heartbeats();
    beats.start(1_000, clock.now());
    advance(clock, 800);
    beats.stop();
    advance(clock, 60_000);
    expect(sent).toHaveLength(1);
    expect(lost()).toBe(0);
    const restartedAt = clock.now();
    beats.start(2_000, restartedAt);
    advance(clock, 1_600);
    expect(sent.at(-1)).toEqual({ seq: 2, at: restartedAt + 1_600 });
    expect(beats.lastAckAt).toBe(restartedAt);
  });
});
