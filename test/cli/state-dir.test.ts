/**
 * What lives in the state dir: the access point key trusted on first use, status sockets shared
 * by several executors, sockets left behind by killed daemons.
 */
import { existsSync, readFileSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';

afterAll(stopAll);

const enrolled = (l: LogLine) => l.msg.startsWith('enrolled with access point');

async function accessPointOn(listen: string, stateDir: string): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', listen, '--state-dir', stateDir], {}, `access-point ${stateDir}`);
  const line = await daemon.waitForLine((l) => l.msg.startsWith('access point listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

describe('trust on first use of the dev access point', () => {
  it('remembers the key, refuses a changed one naming the file to delete, and trusts again once it is deleted', async () => {
    const executorDir = tempStateDir();
    const first = await accessPointOn('127.0.0.1:0', tempStateDir());
    const remote = `https://127.0.0.1:${first.port}`;
    const executor = startAh(['agent', 'enroll', '--remote-server', remote, '--name', 'e', '--state-dir', executorDir]);
    await executor.waitForLine(enrolled, 'enrolled');
    expect(await executor.stop()).toBe(0);
    const pinFile = join(executorDir, 'known-access-points', `127.0.0.1_${first.port}.pin`);
    const trusted = readFileSync(pinFile, 'utf8').split(' ')[0]!;
    expect(trusted).toMatch(/^sha256:[A-Za-z0-9+/]{43}=$/);

    // Same address, another access point (another state dir, so another key).
    await first.daemon.stop();
    const impostor = await accessPointOn(`127.0.0.1:${first.port}`, tempStateDir());
    const refused = await runAh(['agent', 'enroll', '--remote-server', remote, '--name', 'e', '--max-attempts', '1', '--state-dir', executorDir]);
    expect(refused.code).toBe(1);
    const line = refused.stderr.split('\n')[0]!;
    expect(line).toMatch(
      new RegExp(
        `^error: access point 127\\.0\\.0\\.1:${first.port} presented a key that differs from the one trusted on first use ` +
          `\\(trusted ${trusted.replace(/[+/]/g, '\\$&')}, presented sha256:\\S+\\); if the access point was re-created on purpose, delete ${pinFile.replace(/\./g, '\\.')}$`,
      ),
    );
    expect(refused.stderr).toContain(`rm ${pinFile}`);

    unlinkSync(pinFile);
    const again = startAh(['agent', 'enroll', '--remote-server', remote, '--name', 'e', '--state-dir', executorDir]);
    await again.waitForLine(enrolled, 'enrolled after the pin was deleted');
    expect(readFileSync(pinFile, 'utf8').split(' ')[0]).not.toBe(trusted);
    await again.stop();
    await impostor.daemon.stop();
  });

  it('keeps its key across restarts, so executors keep trusting it', async () => {
    const dir = tempStateDir();
    const one = await accessPointOn('127.0.0.1:0', dir);
    const executor = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${one.port}`, '--name', 'e', '--state-dir', dir]);
    await executor.waitForLine(enrolled, 'enrolled');
    await one.daemon.stop();
    const mark = executor.lines.length;
    const two = await accessPointOn(`127.0.0.1:${one.port}`, dir);
    await executor.waitForNewLine(mark, enrolled, 'enrolled with the restarted access point', 40_000);
    await executor.stop();
    await two.daemon.stop();
  });
});

describe('status sockets', () => {
  it('serves several executors from one state dir, by name or all together', async () => {
    const dir = tempStateDir();
    const ap = await accessPointOn('127.0.0.1:0', dir);
    const remote = `https://127.0.0.1:${ap.port}`;
    const a = startAh(['agent', 'enroll', '--remote-server', remote, '--name', 'alpha', '--state-dir', dir]);
    const b = startAh(['agent', 'enroll', '--remote-server', remote, '--name', 'beta', '--state-dir', dir]);
    await Promise.all([a.waitForLine(enrolled, 'alpha enrolled'), b.waitForLine(enrolled, 'beta enrolled')]);

    const all = await runAh(['agent', 'status', '--json', '--state-dir', dir]);
    expect(all.stdout.trim().split('\n').map((l) => JSON.parse(l).name)).toEqual(['alpha', 'beta']);
    const one = await runAh(['agent', 'status', '--json', '--name', 'beta', '--state-dir', dir]);
    expect(JSON.parse(one.stdout)).toMatchObject({ name: 'beta', state: 'enrolled' });
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', dir])).stdout);
    expect(fleet.executors.map((e: { name: string }) => e.name)).toEqual(['alpha', 'beta']);

    // A second executor with a name already running is refused, and the first one is untouched.
    const twin = await runAh(['agent', 'enroll', '--remote-server', remote, '--name', 'alpha', '--state-dir', dir]);
    expect(twin.code).toBe(1);
    expect(twin.stderr.split('\n')[0]).toBe(`error: an executor named alpha is already running (status socket ${join(dir, 'run', 'executor.alpha.sock')})`);
    expect(JSON.parse((await runAh(['agent', 'status', '--json', '--name', 'alpha', '--state-dir', dir])).stdout).state).toBe('enrolled');

    // Killed without a chance to clean up: the socket file stays, status says nothing runs,
    // and the next start replaces it.
    await a.stop('SIGKILL');
    const socket = join(dir, 'run', 'executor.alpha.sock');
    expect(existsSync(socket)).toBe(true);
    const stale = await runAh(['agent', 'status', '--name', 'alpha', '--state-dir', dir]);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toBe(`error: no executor named alpha is running in ${dir}\n`);
    const listed = await runAh(['agent', 'status', '--json', '--state-dir', dir]);
    expect(listed.stdout.trim().split('\n').map((l) => JSON.parse(l).name)).toEqual(['beta']);
    const back = startAh(['agent', 'enroll', '--remote-server', remote, '--name', 'alpha', '--state-dir', dir]);
    await back.waitForLine(enrolled, 'alpha enrolled again');
    await Promise.all([back.stop(), b.stop(), ap.daemon.stop()]);

    const none = await runAh(['agent', 'fleet', '--state-dir', dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`error: no access point is running in ${dir}\n`);
  });
});
