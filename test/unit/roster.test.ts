import { describe, expect, it } from 'vitest';
import { Roster } from '../../src/actors/roster.js';

const admit = (r: Roster, linkId: string, serial: string, at: number) =>
  r.admit({ executorId: 'spiffe://x/ah/agent/e', name: 'e', linkId, remoteAddress: `127.0.0.1:${at}`, certNotAfter: at + 1000, serial, at });

describe('roster', () => {
  it('keeps the executor across a rotation: the old link leaving does not remove it', () => {
    const r = new Roster();
    expect(admit(r, 'link-1', 'A', 1)).toBe('joined');
    expect(admit(r, 'link-2', 'B', 2)).toBe('relinked');
    expect(r.depart('spiffe://x/ah/agent/e', 'link-1')).toBe(false);
    expect(r.get('spiffe://x/ah/agent/e')).toMatchObject({ linkId: 'link-2', serial: 'B', since: 1 });
    expect(r.depart('spiffe://x/ah/agent/e', 'link-2')).toBe(true);
    expect(r.size).toBe(0);
  });

  it('falls back to the link still open when the newest leaves first (a doctor probe with the same certificate)', () => {
    const r = new Roster();
    admit(r, 'link-1', 'A', 1);
    admit(r, 'link-2', 'A', 2); // the probe
    r.heartbeat('spiffe://x/ah/agent/e', 'link-1', 5); // the real executor keeps beating
    expect(r.depart('spiffe://x/ah/agent/e', 'link-2')).toBe(false);
    expect(r.get('spiffe://x/ah/agent/e')).toMatchObject({ linkId: 'link-1', remoteAddress: '127.0.0.1:1', lastHeartbeat: 5 });
    r.heartbeat('spiffe://x/ah/agent/e', 'link-1', 9);
    expect(r.toJSON().executors[0]!.lastHeartbeat).toBe(new Date(9).toISOString());
  });
});
