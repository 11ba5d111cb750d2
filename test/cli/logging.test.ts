/**
 * Logs: JSON lines on stdout, levels from --log-level or RUST_LOG-style directives, one line per
 * machine event and state change at debug, and never a private key.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, startAh, stopAll, tempStateDir, waitForStatus, type Daemon } from '../helpers/cli.js';
import { taggedEnv } from '../helpers/processes.js';
import { requireTool, skipWithout } from '../helpers/tools.js';

afterAll(stopAll);

const enrolled = isEvent('enrolled');

async function pair(apEnv: Record<string, string>, apArgs: string[], exEnv: Record<string, string>, exArgs: string[]) {
  const dir = tempStateDir();
  const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '200ms', '--state-dir', dir, ...apArgs], apEnv);
  const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
  const ex = startAh(['agent', 'enroll', '--remote-server', `https://${line.address}`, '--name', 'logs', '--state-dir', dir, ...exArgs], exEnv);
  await ex.waitForLine(enrolled, 'enrolled');
  return { dir, ap, ex };
}

async function settle(d: Daemon) {
  await d.stop();
  return d.lines;
}

describe('logging', () => {
  it('--log-level debug logs every machine event and state change as one JSON line', async () => {
    const { dir, ap, ex } = await pair({}, ['--log-level', 'debug'], {}, ['--log-level', 'debug']);
    // Wait until at least one heartbeat went round.
    await ex.waitForLine(isEvent('heartbeat_acked'), 'a heartbeat acknowledged');
    const exLines = await settle(ex);
    const apLines = await settle(ap);

    const machineLines = exLines.filter((l) => l.component === 'ah_machine');
    for (const l of machineLines) {
      expect(typeof l.time).toBe('number');
      expect(l.level).toBe(20);
      expect(['event', 'state']).toContain(l.kind);
      expect(typeof l.actor).toBe('string');
      expect(typeof l.machine).toBe('string');
    }
    const states = machineLines.filter((l) => l.kind === 'state' && l.machine === 'enrollment').map((l) => l.state);
    expect(states.slice(0, 3)).toEqual(['disconnected', 'handshaking', 'enrolled']);
    const events = machineLines.filter((l) => l.kind === 'event' && l.actor === 'executor:logs');
    expect(events[0]).toMatchObject({ source: 'init', event: { type: 'xstate.init' } });
    expect(events.find((l) => (l.event as { type: string }).type === 'LINK_WELCOMED')).toMatchObject({ source: 'child:link-1', machine: 'enrollment' });
    // Heartbeats are the link's own, at debug on ah_transport: numbered from 1 on each link.
    expect(exLines.find(isEvent('heartbeat_sent'))).toMatchObject({ component: 'ah_transport', link: 'link-1', seq: 1, level: 20 });
    expect(exLines.find(isEvent('heartbeat_acked'))).toMatchObject({ component: 'ah_transport', link: 'link-1', seq: 1, level: 20 });
    expect(machineLines.some((l) => l.actor === 'executor:logs/rotation' && l.machine === 'rotation' && l.kind === 'state' && l.state === 'valid')).toBe(true);

    const links = apLines.filter((l) => l.component === 'ah_machine' && l.machine === 'connection' && l.kind === 'state').map((l) => l.state);
    expect(links.slice(0, 3)).toEqual(['accepted', 'verifying', 'active']);

    // Nothing of the private key, anywhere.
    const key = readFileSync(join(dir, 'dev', 'executor.logs', 'key.pem'), 'utf8');
    const body = key
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    const everything = JSON.stringify(exLines) + JSON.stringify(apLines);
    expect(everything).not.toContain('PRIVATE KEY');
    expect(everything).not.toContain(body.slice(0, 40));
  });

  it('RUST_LOG directives pick components, and AH_LOG wins over RUST_LOG', async () => {
    const { ex, ap } = await pair({ RUST_LOG: 'debug', AH_LOG: 'info' }, [], { RUST_LOG: 'ah_machine=debug,ah_transport=warn' }, []);
    const exLines = await settle(ex);
    const apLines = await settle(ap);
    expect(exLines.some((l) => l.component === 'ah_machine' && l.level === 20)).toBe(true);
    expect(exLines.some((l) => l.component === 'ah_transport' && l.level < 40)).toBe(false);
    expect(exLines.some((l) => l.component === 'ah_executor' && l.level === 30)).toBe(true); // default info
    // AH_LOG=info for the access point: no debug lines at all, despite RUST_LOG=debug.
    expect(apLines.filter((l) => l.level < 30)).toEqual([]);
    expect(apLines.some((l) => l.level === 30)).toBe(true);
  });

  it('--log-level wins over AH_LOG', async () => {
    const dir = tempStateDir();
    const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', dir]);
    const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    const ex = startAh(['agent', 'enroll', '--remote-server', `https://${line.address}`, '--name', 'quiet', '--state-dir', dir, '--log-level', 'warn'], {
      AH_LOG: 'debug',
    });
    // Nothing below warn is logged, so readiness is read from the status socket.
    await waitForStatus(dir, (s) => s.state === 'enrolled', 'enrolled');
    const lines = await settle(ex);
    await settle(ap);
    expect(lines.filter((l) => l.level < 40)).toEqual([]);
  });
});

describe('pretty output on a terminal', () => {
  it.skipIf(skipWithout('script'))('prints human lines when stdout is a TTY', async () => {
    const { spawnSync } = await import('node:child_process');
    const dir = tempStateDir();
    // `script` runs the command on a pseudo-terminal; the refused connection ends it at once.
    const r = spawnSync(
      requireTool('script'),
      ['-qec', `${process.execPath} bin/ah agent enroll --remote-server https://127.0.0.1:1 --name tty --max-attempts 1 --state-dir ${dir}`, '/dev/null'],
      {
        cwd: join(import.meta.dirname, '../..'),
        env: taggedEnv({ ...process.env, NO_COLOR: '1', AH_LOG: '', RUST_LOG: '' }),
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    expect(r.status).toBe(1);
    const lines = r.stdout.split(/\r?\n/).filter(Boolean);
    // `time LEVEL component message key=value`, the line's event among the fields.
    expect(lines.some((l) => /^\d\d:\d\d:\d\d\.\d{3} INFO {2}ah_executor \S.* event=executor_starting( |$)/.test(l))).toBe(true);
    expect(lines.some((l) => l.startsWith('{'))).toBe(false);
    expect(lines).toContain('error: connection refused to 127.0.0.1:1');
  });
});
