/**
 * Rotation through the CLI, make-before-break: with a short dev certificate the executor renews
 * again and again without a missed heartbeat and without ever leaving the access point's roster;
 * when the new link is refused, the old link carries on and the rotation is retried.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { ModeProxy } from '../helpers/mode-proxy.js';

afterAll(stopAll);

const HEARTBEAT_MS = 500;
// A timer fires a little late, never early: a missed heartbeat shows as a gap of two intervals.
const TIMER_SLACK_MS = 250;

const rotationDone = isEvent('rotation_complete');

async function accessPoint(stateDir: string): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', `${HEARTBEAT_MS}ms`, '--state-dir', stateDir]);
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

describe('rotation', () => {
  it('rotates a 4s dev certificate repeatedly with no missed heartbeat and no roster gap', async () => {
    const dir = tempStateDir();
    const ap = await accessPoint(dir);
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${ap.port}`,
      '--name',
      'rot',
      '--dev-cert-ttl',
      '4s',
      '--state-dir',
      dir,
      '--log-level',
      'info,ah_machine=debug,ah_transport=debug',
    ]);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    await ex.waitForLine((l) => rotationDone(l) && (l.rotations as number) >= 2, 'two rotations', 30_000);
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', dir])).stdout);
    await ex.stop();
    await ap.daemon.stop();

    expect(status.rotations).toBeGreaterThanOrEqual(2);
    expect(status.state).toMatch(/^(enrolled|renewing)$/);
    expect(Date.parse(status.nextRotationAt)).toBeGreaterThan(Date.parse(status.identity.notBefore));

    // The serial changed at each rotation, and each new serial is what status shows last.
    const rotations = ex.lines.filter(rotationDone);
    const serials = [rotations[0]!.previousSerial, ...rotations.map((l) => l.serial)];
    expect(new Set(serials).size).toBe(serials.length);
    // The guide's `journalctl -u ah-executor | grep -i "rotat\|renew"` finds them.
    expect(ex.lines.filter((l) => /rotat|renew/i.test(l.msg) && l.level >= 30).length).toBeGreaterThanOrEqual(4);

    // Heartbeats never paused: the gaps between acknowledgements stay within one interval.
    const acks = ex.lines.filter(isEvent('heartbeat_acked')).map((l) => l.time as number);
    expect(acks.length).toBeGreaterThanOrEqual(5);
    const gaps = acks.slice(1).map((t, i) => t - acks[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(HEARTBEAT_MS + TIMER_SLACK_MS);

    // The access point never reported the executor absent; it saw each new link replace the old.
    const apLines = ap.daemon.lines;
    const rot = 'spiffe://dev.local/ah/agent/rot';
    expect(apLines.filter(isEvent('executor_left', (l) => l.executorId === rot && (l.time as number) < (rotations.at(-1)!.time as number)))).toEqual([]);
    expect(apLines.filter(isEvent('executor_rotated', (l) => l.executorId === rot)).length).toBeGreaterThanOrEqual(2);
  });

  it('keeps the old link when the new one is refused, says so, and retries until it gets through', async () => {
    const dir = tempStateDir();
    const ap = await accessPoint(dir);
    const proxy = await ModeProxy.start({ forward: ap.port });
    try {
      const ex = startAh([
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${proxy.port}`,
        '--name',
        'stubborn',
        '--dev-cert-ttl',
        '12s',
        '--renewal-threshold',
        '0.3',
        '--backoff-base',
        '300ms',
        '--backoff-max',
        '600ms',
        '--state-dir',
        dir,
      ]);
      await ex.waitForLine(isEvent('enrolled'), 'enrolled');
      // From now on the network refuses new connections; the established link keeps flowing.
      await proxy.setMode('refuse');
      const refused = await ex.waitForLine(isEvent('rotation_link_failed'), 'the failed rotation', 20_000);
      expect(refused).toMatchObject({ level: 40, code: 'ENROLL_CONNECTION_REFUSED', retryInMs: expect.any(Number) });
      // The catalog's message for the code, with the address the executor dialled.
      expect(refused.msg).toContain(`: connection refused to 127.0.0.1:${proxy.port};`);

      const during = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', dir])).stdout);
      expect(during).toMatchObject({ state: 'renewing', rotations: 0, lastError: { code: 'ENROLL_CONNECTION_REFUSED' } });
      expect(during.detail).toEqual({ renewing: expect.stringMatching(/^(retryWait|applying)$/) });
      // The old link still heartbeats: the roster's last heartbeat moves on.
      const fleet = async () => JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', dir])).stdout).executors[0];
      const before = Date.parse((await fleet()).lastHeartbeat);
      await ex.waitForNewLine(ex.lines.indexOf(refused) + 1, isEvent('rotation_link_failed'), 'a second failed try');
      await eventually(
        async () => Date.parse((await fleet()).lastHeartbeat),
        (after) => after > before,
        'a heartbeat on the old link newer than the one before',
        { timeoutMs: 10_000 },
      );

      await proxy.setMode('forward');
      const done = await ex.waitForLine(rotationDone, 'the rotation to complete', 20_000);
      expect(done.rotations).toBe(1);
      const after2 = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', dir])).stdout);
      expect(after2).toMatchObject({ state: 'enrolled', rotations: 1, lastError: null });
      expect(ex.lines.some((l) => l.code === 'ENROLL_LINK_LOST')).toBe(false);
      await ex.stop();
    } finally {
      await proxy.stop();
      await ap.daemon.stop();
    }
  });
});
