/**
 * What lives in the state dir: the access point key trusted on first use, status sockets shared
 * by several executors, sockets left behind by killed daemons.
 */
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';

afterAll(stopAll);

const enrolled = isEvent('enrolled');

async function accessPointOn(listen: string, stateDir: string): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', listen, '--state-dir', stateDir], {}, `access-point ${stateDir}`);
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
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
    expect(
      all.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).name),
    ).toEqual(['alpha', 'beta']);
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
    expect(
      listed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).name),
    ).toEqual(['beta']);
    const back = startAh(['agent', 'enroll', '--remote-server', remote, '--name', 'alpha', '--state-dir', dir]);
    await back.waitForLine(enrolled, 'alpha enrolled again');
    await Promise.all([back.stop(), b.stop(), ap.daemon.stop()]);

    const none = await runAh(['agent', 'fleet', '--state-dir', dir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toBe(`error: no access point is running in ${dir}\n`);
  });
});

const apArgs = (stateDir: string) => ['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', stateDir];
const NOBODY = { uid: 65534, gid: 65534 };
const modeOf = (path: string) => statSync(path).mode & 0o777;

/** A key someone else put there, for the access point to serve if it trusted the directory. */
function plantKey(stateDir: string): string {
  const dir = join(stateDir, 'dev', 'access-point');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  writeFileSync(join(dir, 'key.pem'), key, { mode: 0o600 });
  return key;
}

describe('who may have made the state dir (StrictModes)', () => {
  it('refuses a world-writable state dir holding a planted access point key, and serves nothing', async () => {
    const dir = tempStateDir();
    const key = plantKey(dir);
    chmodSync(dir, 0o777);
    const r = await runAh(apArgs(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: state directory ${dir} is writable by group and others (mode 0777): chmod 700 ${dir}\n`);
    expect(existsSync(join(dir, 'dev', 'access-point', 'cert.pem'))).toBe(false);
    expect(readFileSync(join(dir, 'dev', 'access-point', 'key.pem'), 'utf8')).toBe(key);
  });

  it('refuses a state dir owned by another user', async () => {
    const dir = tempStateDir();
    chownSync(dir, 65534, 65534);
    const r = await runAh(apArgs(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: state directory ${dir} is owned by uid 65534, not by this user (uid 0) or root: check what it holds, then chown 0 ${dir}\n`);
  });

  it('refuses a planted known-access-points/ owned by another user (it would pin their access point)', async () => {
    const dir = tempStateDir();
    const known = join(dir, 'known-access-points');
    mkdirSync(known, { mode: 0o755 });
    writeFileSync(join(known, '127.0.0.1_4433.pin'), 'sha256:AAAA 127.0.0.1:4433 first seen 2026-01-01T00:00:00.000Z\n');
    chownSync(known, 65534, 65534);
    const r = await runAh(['agent', 'enroll', '--remote-server', 'https://127.0.0.1:4433', '--name', 'e', '--max-attempts', '1', '--state-dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: directory ${known} is owned by uid 65534, not by this user (uid 0) or root: check what it holds, then chown 0 ${known}\n`);
  });

  it('refuses a dev key readable by others, and a group-writable pin', async () => {
    const dir = tempStateDir();
    plantKey(dir);
    const key = join(dir, 'dev', 'access-point', 'key.pem');
    chmodSync(key, 0o644);
    const r = await runAh(apArgs(dir));
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`error: private key ${key} is readable or writable by group or others (mode 0644): chmod 600 ${key}\n`);

    const pin = join(dir, 'known-access-points', '127.0.0.1_4433.pin');
    mkdirSync(join(dir, 'known-access-points'), { mode: 0o700 });
    writeFileSync(pin, 'sha256:AAAA\n', { mode: 0o664 });
    chmodSync(pin, 0o664);
    const e = await runAh(['agent', 'enroll', '--remote-server', 'https://127.0.0.1:4433', '--name', 'e', '--max-attempts', '1', '--state-dir', dir]);
    expect(e.code).toBe(1);
    expect(e.stderr).toBe(`error: file ${pin} is writable by group (mode 0664): chmod go-w ${pin}\n`);
  });

  it('makes its state dir 0700 and keeps the status sockets to its user whatever the umask', async () => {
    const parent = tempStateDir();
    chmodSync(parent, 0o755); // as /var/lib: the state dir itself is what keeps others out
    const dir = join(parent, 'state');
    const umask000 = { wrap: ['sh', '-c', 'umask 000; exec "$0" "$@"'] };
    const ap = startAh(apArgs(dir), {}, 'access-point umask 000', umask000);
    const line = await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    const executor = startAh(
      ['agent', 'enroll', '--remote-server', `https://${String(line.address)}`, '--name', 'e', '--state-dir', dir],
      {},
      'enroll umask 000',
      umask000,
    );
    await executor.waitForLine(enrolled, 'enrolled');
    for (const d of [
      dir,
      join(dir, 'run'),
      join(dir, 'dev'),
      join(dir, 'dev', 'access-point'),
      join(dir, 'dev', 'executor.e'),
      join(dir, 'known-access-points'),
    ]) {
      expect(modeOf(d).toString(8), d).toBe('700');
    }
    for (const socket of ['access-point.sock', 'executor.e.sock']) expect(modeOf(join(dir, 'run', socket)) & 0o077, socket).toBe(0);
    expect(modeOf(join(dir, 'dev', 'access-point', 'key.pem')).toString(8)).toBe('600');

    // Another user is told why it gets no answer, and what to do.
    const fleet = await runAh(['agent', 'fleet', '--state-dir', dir], {}, 60_000, NOBODY);
    expect(fleet.code).toBe(1);
    expect(fleet.stderr).toBe(
      `error: cannot reach the status socket ${join(dir, 'run', 'access-point.sock')}: permission denied (run as the user that runs the access point, or root)\n`,
    );
    const all = await runAh(['agent', 'status', '--state-dir', dir], {}, 60_000, NOBODY);
    expect(all.code).toBe(1);
    expect(all.stderr).toBe(
      `error: cannot list the status sockets in ${join(dir, 'run')}: permission denied (run as the user that runs the executor, or root)\n`,
    );
    const named = await runAh(['agent', 'status', '--name', 'e', '--state-dir', dir], {}, 60_000, NOBODY);
    expect(named.code).toBe(1);
    expect(named.stderr).toBe(
      `error: cannot reach the status socket ${join(dir, 'run', 'executor.e.sock')}: permission denied (run as the user that runs the executor, or root)\n`,
    );
    // Its own user (root here) still reads both.
    expect((await runAh(['agent', 'status', '--json', '--state-dir', dir])).code).toBe(0);
    await Promise.all([executor.stop(), ap.stop()]);
  });
});

describe('status and fleet say what keeps them from an answer', () => {
  it('a state dir that is a file: "is not a directory", for status, fleet and the daemons', async () => {
    const file = join(tempStateDir(), 'state');
    writeFileSync(file, 'not a directory\n');
    for (const args of [
      ['agent', 'status'],
      ['agent', 'fleet'],
      ['agent', 'status', '--name', 'e'],
      ['agent', 'access-point', '--fleet-listen', '127.0.0.1:0'],
    ]) {
      const r = await runAh([...args, '--state-dir', file]);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr, args.join(' ')).toBe(`error: state directory ${file} is not a directory\n`);
    }
  });

  it('a socket that accepts and hangs up: says so, names the socket and how to find its process', async () => {
    const dir = tempStateDir();
    mkdirSync(join(dir, 'run'), { mode: 0o700 });
    const servers = ['access-point.sock', 'executor.x.sock'].map((name) => {
      const server = createServer((socket) => socket.destroy());
      return { server, path: join(dir, 'run', name), listening: new Promise<void>((r) => server.listen(join(dir, 'run', name), r)) };
    });
    await Promise.all(servers.map((s) => s.listening));
    try {
      const said = (socket: string) =>
        `error: cannot reach the status socket ${socket}: the process on it closed the connection without answering (not an ah daemon, or a stuck one: ss -xlp | grep ${socket}; restart it)\n`;
      const fleet = await runAh(['agent', 'fleet', '--state-dir', dir]);
      expect(fleet.code).toBe(1);
      expect(fleet.stderr).toBe(said(servers[0]!.path));
      const status = await runAh(['agent', 'status', '--state-dir', dir]);
      expect(status.code).toBe(1);
      expect(status.stderr).toBe(said(servers[1]!.path));
    } finally {
      for (const s of servers) s.server.close();
    }
  });
});
