/**
 * Who may have written the state dir. It holds the access point's dev key, the access point keys
 * executors trust on first use and the status sockets: a directory another user can write (or
 * made) could hand us their key or pin their access point. So, as ssh's StrictModes does, every
 * directory from the state dir down must be owned by this user or root and not writable by group
 * or others, and private keys readable by their owner only; else the daemon refuses to start with
 * one line naming the path and the fix. A state dir that does not exist yet is created 0700.
 */
import { mkdir, readdir, stat } from 'node:fs/promises';
import { statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { AhError } from '../errors/ah-error.js';

type Kind = 'state directory' | 'directory' | 'private key' | 'file';

const uid = () => process.getuid?.() ?? 0;

function mode(st: Stats): string {
  return `0${(st.mode & 0o777).toString(8).padStart(3, '0')}`;
}

function refuse(what: Kind, path: string, problem: string, fix: string): never {
  throw new AhError('ENROLL_STATE_DIR_INSECURE', { what, path, problem, fix });
}

/** One path against the rules; returns its stats, or null when it does not exist. */
async function check(path: string, what: Kind): Promise<Stats | null> {
  let st: Stats | undefined;
  try {
    // Synchronous, and no error object for a path that is not there (most of them, on a first
    // start): a few stat calls at start, which otherwise cost half a millisecond each time.
    st = statSync(path, { throwIfNoEntry: false });
    if (!st) return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ENOTDIR' && what === 'state directory') throw new AhError('ENROLL_STATE_DIR_NOT_A_DIRECTORY', { path });
    throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path, detail: code ?? (err as Error).message });
  }
  const isDir = what === 'state directory' || what === 'directory';
  if (isDir && !st.isDirectory()) {
    if (what === 'state directory') throw new AhError('ENROLL_STATE_DIR_NOT_A_DIRECTORY', { path });
    refuse(what, path, 'is not a directory', `move it away: mv ${path} ${path}.bad`);
  }
  if (st.uid !== uid() && st.uid !== 0) {
    refuse(
      what,
      path,
      `is owned by uid ${st.uid}, not by this user (uid ${uid()}) or root`,
      `check what it holds, then ${uid() === 0 ? '' : 'sudo '}chown ${uid()} ${path}`,
    );
  }
  const others = (st.mode & 0o002) !== 0;
  const group = (st.mode & 0o020) !== 0;
  if (what === 'private key' && (st.mode & 0o077) !== 0) {
    refuse(what, path, `is readable or writable by group or others (mode ${mode(st)})`, `chmod 600 ${path}`);
  }
  if (others || group) {
    const by = others && group ? 'group and others' : others ? 'others' : 'group';
    refuse(what, path, `is writable by ${by} (mode ${mode(st)})`, isDir ? `chmod 700 ${path}` : `chmod go-w ${path}`);
  }
  return st;
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/**
 * Create the state dir (0700) if needed, then check it and what we keep in it. Throws AhError.
 * `create: false` (the doctor) only looks: a missing state dir is not an error here.
 */
export async function checkStateDir(stateDir: string, { create = true }: { create?: boolean } = {}): Promise<void> {
  if (!(await check(stateDir, 'state directory'))) {
    if (!create) return;
    try {
      await mkdir(stateDir, { recursive: true, mode: 0o700 });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTDIR' || code === 'EEXIST') throw new AhError('ENROLL_STATE_DIR_NOT_A_DIRECTORY', { path: stateDir });
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: stateDir, detail: code ?? (err as Error).message });
    }
    await check(stateDir, 'state directory');
    return;
  }
  await check(join(stateDir, 'run'), 'directory');
  // Whoever reads the session keys can resume an executor's session as the access point.
  await check(join(stateDir, 'tls-session-keys.json'), 'private key');
  const known = join(stateDir, 'known-access-points');
  if (await check(known, 'directory')) {
    for (const name of await entries(known)) await check(join(known, name), 'file');
  }
  const dev = join(stateDir, 'dev');
  if (await check(dev, 'directory')) {
    for (const name of await entries(dev)) {
      const dir = join(dev, name);
      const st = await stat(dir).catch(() => null);
      if (!st?.isDirectory()) continue;
      await check(dir, 'directory');
      await check(join(dir, 'key.pem'), 'private key');
      await check(join(dir, 'cert.pem'), 'file');
    }
  }
}
