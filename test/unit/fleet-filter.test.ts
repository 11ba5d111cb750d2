import { describe, expect, it } from 'vitest';
import { FleetTally, fleetFilterFrom, fleetMatcher, fleetState, globMatcher } from '../../src/model/fleet-filter.js';

describe('fleet states and filters', () => {
  it('an entry is in the worst state that applies: expired, then late, then rotating', () => {
    const now = 1_000_000;
    const state = (certNotAfter: number, lastHeartbeat: number, openLinks: number) => fleetState({ certNotAfter, lastHeartbeat, openLinks }, now, 10_000);
    expect(state(now + 1, now, 1)).toBe('active');
    expect(state(now + 1, now - 10_000, 1)).toBe('active');
    expect(state(now + 1, now - 10_001, 1)).toBe('late');
    expect(state(now + 1, now, 2)).toBe('rotating');
    expect(state(now + 1, now - 20_000, 2)).toBe('late');
    expect(state(now, now, 2)).toBe('expired');
  });

  it('a glob matches the whole name; only * and ? are wild', () => {
    expect(globMatcher('web-*')('web-1')).toBe(true);
    expect(globMatcher('web-*')('a-web-1')).toBe(false);
    expect(globMatcher('w?b.1')('web.1')).toBe(true);
    expect(globMatcher('w?b.1')('webx1')).toBe(false);
    expect(globMatcher('a+b')('aab')).toBe(false);
    expect(globMatcher('a+b')('a+b')).toBe(true);
  });

  it('the filters together, and the summary over what they keep', () => {
    const now = 0;
    const keep = fleetMatcher({ states: ['late', 'expired'], name: 'db-*', expiringWithinMs: 100 }, now);
    const rows = [
      { id: 'a', name: 'db-1', state: 'late', certNotAfter: 50 },
      { id: 'b', name: 'db-2', state: 'expired', certNotAfter: -5 },
      { id: 'c', name: 'db-3', state: 'late', certNotAfter: 500 },
      { id: 'd', name: 'web-1', state: 'late', certNotAfter: 50 },
      { id: 'e', name: 'db-4', state: 'active', certNotAfter: 50 },
    ] as const;
    const tally = new FleetTally();
    for (const r of rows.filter(keep)) tally.add(r);
    expect(tally.summary(rows.length)).toEqual({
      total: 5,
      matched: 2,
      byState: { active: 0, rotating: 0, late: 1, expired: 1 },
      soonestExpiry: { id: 'b', name: 'db-2', certNotAfter: new Date(-5).toISOString() },
    });
  });

  it('a filter from the wire: what is wrong with it, said', () => {
    expect(fleetFilterFrom(undefined)).toEqual({});
    expect(fleetFilterFrom({ states: ['late'], name: 'x*', expiringWithinMs: 5 })).toEqual({ states: ['late'], name: 'x*', expiringWithinMs: 5 });
    expect(fleetFilterFrom([])).toBe('filter is not an object');
    expect(fleetFilterFrom({ states: 'late' })).toBe('states must be a list of active, rotating, late, expired');
    expect(fleetFilterFrom({ name: 7 })).toBe('name must be a glob of at most 256 characters');
    expect(fleetFilterFrom({ expiringWithinMs: -1 })).toBe('expiringWithinMs must be a number of milliseconds');
  });
});
