/**
 * The fleet doctor's judgement and the access point's memory behind it, on fixed data: the
 * renewal point and the expiry window, clock skew both ways, rejections grouped by code with their
 * top hosts, takeovers, flapping, and the hour window that bounds it all.
 */
import { describe, expect, it } from 'vitest';
import { FleetHealth, HEALTH_WINDOW_MS } from '../../src/engine/fleet-health.js';
import { fleetFindings, type FleetDoctorOptions } from '../../src/doctor/fleet.js';
import { parseExecutorMessage } from '../../src/transport/messages.js';

const HOUR = 3_600_000;
const NOW = Date.parse('2026-11-30T12:00:00.000Z');
const OPTIONS: FleetDoctorOptions = { stateDir: '/x', expiringWithinMs: 24 * HOUR, renewalThreshold: 0.7, clockSkewThresholdMs: 5_000, maxReconnects: 5 };
const iso = (ms: number) => new Date(ms).toISOString();

function entry(id: string, notAfter: number, remoteAddress = '10.0.0.1:5000') {
  return { id, name: id, remoteAddress, since: iso(NOW - HOUR), lastHeartbeat: iso(NOW), certNotAfter: iso(notAfter), state: 'active' as const, serial: 'AB' };
}

function answer(health: FleetHealth, executors: ReturnType<typeof entry>[]) {
  return { executors, health: health.toJSON(NOW, new Set(executors.map((e) => e.id))), auditLog: null };
}

describe('fleet findings', () => {
  it('past the renewal point (threshold + jitter) is an error; short of it but expiring within the window, a warning', () => {
    const h = new FleetHealth();
    // 24h certificates: renewal due by 75% (18h) at the latest.
    h.admitted('overdue', { notBefore: NOW - 19 * HOUR, serial: 'AB' }, NOW - HOUR);
    h.admitted('due-soon', { notBefore: NOW - 17 * HOUR, serial: 'AB' }, NOW - HOUR);
    h.admitted('fresh', { notBefore: NOW - HOUR, serial: 'AB' }, NOW - HOUR);
    const findings = fleetFindings(
      answer(h, [entry('overdue', NOW + 5 * HOUR), entry('due-soon', NOW + 7 * HOUR), entry('fresh', NOW + 71 * HOUR)]),
      [],
      NOW,
      OPTIONS,
    );
    expect(findings.map((f) => [f.kind, f.params.executorId, f.severity])).toEqual([
      ['renewal-overdue', 'overdue', 'error'],
      ['expiring', 'due-soon', 'warning'],
    ]);
    expect(findings[0]!.message).toBe('executor overdue holds certificate serial AB past its renewal point (2026-11-30T09:48:00.000Z): 5h left');
  });

  it('clock skew either way beyond the threshold; within it, nothing', () => {
    const h = new FleetHealth();
    for (const id of ['ahead', 'behind', 'fine']) h.admitted(id, { notBefore: NOW - HOUR, serial: 'AB' }, NOW - HOUR);
    h.heartbeat('ahead', NOW + 90_000, NOW);
    h.heartbeat('behind', NOW - 7_000, NOW);
    h.heartbeat('fine', NOW + 4_000, NOW);
    const findings = fleetFindings(
      answer(
        h,
        ['ahead', 'behind', 'fine'].map((id) => entry(id, NOW + 71 * HOUR)),
      ),
      [],
      NOW,
      OPTIONS,
    );
    expect(findings.map((f) => f.message)).toEqual([
      'clock skew: executor ahead at 10.0.0.1:5000 is 1m30s ahead of the access point (more than 5s)',
      'clock skew: executor behind at 10.0.0.1:5000 is 7s behind the access point (more than 5s)',
    ]);
  });

  it('groups rejections by code, most first, with the top three hosts (ports folded, IPv6 too)', () => {
    const r = (code: string, remoteAddress: string) => ({ at: NOW, code, message: `${code} text`, remoteAddress });
    const rejections = [
      ...['10.0.0.9:1', '10.0.0.9:2', '10.0.0.9:3', '[::1]:4', '[::1]:5', '10.0.0.7:6', '10.0.0.8:7'].map((a) => r('ENROLL_SAN_MISMATCH', a)),
      r('ENROLL_CLIENT_CERT_REQUIRED', '10.0.0.1:9'),
    ];
    const findings = fleetFindings(answer(new FleetHealth(), []), rejections, NOW, OPTIONS);
    expect(findings.map((f) => f.message)).toEqual([
      'enrollments rejected in the last hour with ENROLL_SAN_MISMATCH: 7 (ENROLL_SAN_MISMATCH text); top addresses: 10.0.0.9 (3), ::1 (2), 10.0.0.7 (1)',
      'enrollments rejected in the last hour with ENROLL_CLIENT_CERT_REQUIRED: 1 (ENROLL_CLIENT_CERT_REQUIRED text); top addresses: 10.0.0.1 (1)',
    ]);
  });

  it('takeovers of one identity are one error per identity; more admissions than --max-reconnects is flapping', () => {
    const h = new FleetHealth();
    for (let i = 0; i < 7; i++) h.admitted('twin', { notBefore: NOW - HOUR, serial: 'AB' }, NOW - 60_000 + i);
    h.duplicate({ at: NOW - 2, executorId: 'twin', remoteAddress: 'b:2', previousRemoteAddress: 'a:1' });
    h.duplicate({ at: NOW - 1, executorId: 'twin', remoteAddress: 'a:3', previousRemoteAddress: 'b:2' });
    const findings = fleetFindings(answer(h, [entry('twin', NOW + 71 * HOUR)]), [], NOW, OPTIONS);
    expect(findings.map((f) => [f.severity, f.message])).toEqual([
      ['error', 'identity twin is held by two executors: b:2 and a:3 (2 takeovers in the last hour)'],
      ['warning', 'executor twin reconnected 6 times in the last hour (more than 5)'],
    ]);
  });
});

describe('the access point memory behind it', () => {
  it('forgets what is older than the hour, and identities gone and quiet for that long', () => {
    const h = new FleetHealth();
    h.admitted('gone', { notBefore: NOW - 3 * HOUR, serial: 'AB' }, NOW - 2 * HOUR);
    h.rejected({ at: NOW - HEALTH_WINDOW_MS - 1, code: 'OLD', message: 'old', remoteAddress: 'x:1' });
    h.rejected({ at: NOW, code: 'NEW', message: 'new', remoteAddress: 'x:1' });
    const json = h.toJSON(NOW, new Set());
    expect(Object.keys(json.identities)).toEqual([]);
    expect(json.rejections.map((r) => r.code)).toEqual(['NEW']);
  });

  it('keeps at most 2000 rejections whatever a flood sends', () => {
    const h = new FleetHealth();
    for (let i = 0; i < 5_000; i++) h.rejected({ at: NOW, code: 'FLOOD', message: 'm', remoteAddress: 'x:1' });
    expect(h.toJSON(NOW, new Set()).rejections).toHaveLength(2_000);
  });
});

describe('the heartbeat clock on the wire', () => {
  it('carries sentAt when sent, and refuses a malformed one', () => {
    expect(parseExecutorMessage({ type: 'heartbeat', seq: 1, sentAt: NOW })).toEqual({ type: 'heartbeat', seq: 1, sentAt: NOW });
    expect(parseExecutorMessage({ type: 'heartbeat', seq: 1 })).toEqual({ type: 'heartbeat', seq: 1 });
    expect(() => parseExecutorMessage({ type: 'heartbeat', seq: 1, sentAt: 'noon' })).toThrow('malformed heartbeat: sentAt');
  });
});
