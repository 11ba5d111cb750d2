/**
 * The guide's "Development Setup", exactly as written, as child processes:
 *
 *   ah agent access-point --fleet-listen 127.0.0.1:4433
 *   ah agent enroll --remote-server https://127.0.0.1:4433 --name test
 *
 * The only addition is AH_STATE_DIR, so the test does not touch the machine's state dir.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir } from '../helpers/cli.js';

const GUIDE_ACCESS_POINT = ['agent', 'access-point', '--fleet-listen', '127.0.0.1:4433'];
const GUIDE_ENROLL = ['agent', 'enroll', '--remote-server', 'https://127.0.0.1:4433', '--name', 'test'];

const isEnrolled = isEvent('enrolled', (l) => l.component === 'ah_executor');
const isListening = isEvent('access_point_listening', (l) => l.address === '127.0.0.1:4433');

afterAll(stopAll);

describe('guide development setup', () => {
  it('enrolls, shows in status and fleet, survives an access point restart, and stops cleanly', async () => {
    const stateDir = tempStateDir();
    const env = { AH_STATE_DIR: stateDir };

    const accessPoint = startAh(GUIDE_ACCESS_POINT, env, 'access-point');
    const listening = await accessPoint.waitForLine(isListening, 'saying it listens');
    expect(listening.level).toBe(30);
    const devWarning = accessPoint.lines.find(isEvent('dev_mode'));
    expect(devWarning?.level).toBe(40);

    const executor = startAh(GUIDE_ENROLL, env, 'executor');
    await executor.waitForLine(isEnrolled, 'saying it enrolled');

    const status = await runAh(['agent', 'status', '--json'], env);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout);
    expect(s).toMatchObject({
      name: 'test',
      state: 'enrolled',
      detail: 'enrolled',
      remoteServer: 'https://127.0.0.1:4433',
      identity: { provider: 'dev', spiffeId: 'spiffe://dev.local/ah/agent/test' },
      rotations: 0,
      attempts: 0,
      lastError: null,
    });
    for (const key of ['connectedSince', 'nextRotationAt', 'identity']) expect(s[key]).not.toBeNull();
    expect(Date.parse(s.identity.notAfter)).toBeGreaterThan(Date.now());
    expect(s.identity.serial).toMatch(/^[0-9A-F]+$/);

    const human = await runAh(['agent', 'status'], env);
    expect(human.stdout.split('\n')[0]).toBe('executor test: enrolled');

    const fleet = await runAh(['agent', 'fleet', '--json'], env);
    expect(fleet.code).toBe(0);
    const { executors } = JSON.parse(fleet.stdout);
    expect(executors).toHaveLength(1);
    expect(executors[0]).toMatchObject({ id: 'spiffe://dev.local/ah/agent/test', name: 'test', state: 'active' });
    for (const key of ['remoteAddress', 'since', 'lastHeartbeat', 'certNotAfter']) expect(executors[0][key]).toBeTruthy();
    expect(executors[0].certNotAfter).toBe(s.identity.notAfter);

    // The access point goes away: it says goodbye, the executor goes back to retrying.
    const before = executor.lines.length;
    expect(await accessPoint.stop('SIGTERM')).toBe(0);
    await executor.waitForNewLine(before, (l) => l.code === 'ENROLL_LINK_LOST', 'about the lost link');
    const down = JSON.parse((await runAh(['agent', 'status', '--json'], env)).stdout);
    expect(down.state).toBe('disconnected');
    // Its last attempt's error: the lost link, the port closed, or (a redial that reached the access
    // point while it was still draining, before it exited) the drain itself.
    expect(down.lastError.code).toMatch(/^ENROLL_(LINK_LOST|CONNECTION_REFUSED|ACCESS_POINT_DRAINING)$/);

    // It comes back: the same command, the same state dir, the same key (trusted on first use).
    const again = startAh(GUIDE_ACCESS_POINT, env, 'access-point again');
    await again.waitForLine(isListening, 'saying it listens again');
    const mark = executor.lines.length;
    await executor.waitForNewLine(mark, isEnrolled, 'saying it enrolled again', 40_000);
    expect(JSON.parse((await runAh(['agent', 'status', '--json'], env)).stdout).state).toBe('enrolled');

    // SIGTERM: the executor says goodbye and exits 0; the access point sees it leave.
    const seen = again.lines.length;
    expect(await executor.stop('SIGTERM')).toBe(0);
    const left = await again.waitForNewLine(
      seen,
      isEvent('executor_left', (l) => l.reason === 'goodbye: shutdown'),
      'about the executor leaving',
    );
    expect(left.executorId).toBe('spiffe://dev.local/ah/agent/test');
    expect(existsSync(join(stateDir, 'run', 'executor.test.sock'))).toBe(false);

    const gone = await runAh(['agent', 'status'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toBe(`error: no executor is running in ${stateDir}\n`);
    expect(await again.stop('SIGINT')).toBe(0);
    expect(readdirSync(join(stateDir, 'known-access-points'))).toEqual(['127.0.0.1_4433.pin']);
  });
});
