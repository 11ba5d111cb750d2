/**
 * An access point that stops answering without closing anything (SIGSTOP: the socket stays open,
 * nothing is read or acked). The executor's link counts its own heartbeats: after three
 * unanswered it is lost, in the guide's words, and the executor dials again until the access point
 * answers (SIGCONT). Meanwhile `ah agent status` showed the last answered heartbeat.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';

afterAll(stopAll);

const acked = isEvent('heartbeat_acked');
const sent = isEvent('heartbeat_sent');

async function statusOf(dir: string) {
  const r = await runAh(['agent', 'status', '--json', '--state-dir', dir]);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as {
    state: string;
    lastHeartbeat: string | null;
    connectedSince: string | null;
    lastError: { code: string; message: string } | null;
  };
}

async function moreAcks(ex: Daemon, n: number): Promise<LogLine> {
  let from = ex.lines.length;
  let line: LogLine | undefined;
  for (let i = 0; i < n; i++) {
    line = await ex.waitForNewLine(from, acked, 'a heartbeat acknowledged');
    from = ex.lines.indexOf(line) + 1;
  }
  return line!;
}

describe('an access point that goes silent', () => {
  it('is left after three unanswered heartbeats with ENROLL_LINK_LOST, and enrolled with again once it answers', async () => {
    const dir = tempStateDir();
    const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '200ms', '--state-dir', dir]);
    const { address } = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://${address}`,
      '--name',
      'silence',
      '--state-dir',
      dir,
      '--backoff-base',
      '100ms',
      '--backoff-max',
      '500ms',
      '--log-level',
      'info,ah_transport=debug',
    ]);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');

    // The status's last heartbeat is the link's last ack, and moves with them.
    await moreAcks(ex, 2);
    const before = await statusOf(dir);
    expect(before.state).toBe('enrolled');
    expect(Date.parse(before.lastHeartbeat!)).toBeGreaterThanOrEqual(Date.parse(before.connectedSince!));
    await moreAcks(ex, 2);
    const after = await statusOf(dir);
    expect(Date.parse(after.lastHeartbeat!)).toBeGreaterThan(Date.parse(before.lastHeartbeat!));

    const from = ex.lines.length;
    process.kill(ap.child.pid!, 'SIGSTOP');
    try {
      const lost = await ex.waitForNewLine(from, (l) => l.code === 'ENROLL_LINK_LOST', 'the link declared lost');
      expect(lost.msg).toContain(`link to ${address} lost: no heartbeat acknowledged for 3 intervals`);
      // On the wire: three heartbeats went out after the last one answered, and no fourth.
      const link = ex.lines.slice(0, ex.lines.indexOf(lost)).filter((l) => sent(l) || acked(l));
      const lastAck = link.map((l) => acked(l)).lastIndexOf(true);
      const unanswered = link.slice(lastAck + 1);
      expect(unanswered.map((l) => l.event)).toEqual(['heartbeat_sent', 'heartbeat_sent', 'heartbeat_sent']);
      expect(new Set(unanswered.map((l) => l.link)).size).toBe(1);
      const down = await statusOf(dir);
      // Backing off, or already dialing the access point again (its kernel still accepts TCP).
      expect(['disconnected', 'handshaking']).toContain(down.state);
      expect(down.lastHeartbeat).toBeNull();
      expect(down.lastError?.code).toBe('ENROLL_LINK_LOST');
    } finally {
      process.kill(ap.child.pid!, 'SIGCONT');
    }
    await ex.waitForNewLine(from, isEvent('enrolled'), 'enrolled again once the access point answers');
    expect((await statusOf(dir)).state).toBe('enrolled');
    expect(await ex.stop()).toBe(0);
    expect(await ap.stop()).toBe(0);
  });
});
