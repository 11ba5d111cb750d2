/**
 * A clock moved for one daemon: libfaketime preloaded into the process itself. Not the `faketime`
 * wrapper: it does not pass SIGTERM on, so a wrapped daemon outlives its test; and it creates a
 * semaphore named after its own pid with O_EXCL, so once a killed wrapper has left that name in
 * /dev/shm, a later wrapper given the same pid fails (`faketime: sem_open: File exists`).
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib']
  .map((dir) => join(dir, 'faketime', 'libfaketime.so.1'))
  .find((path) => existsSync(path));

/** Environment for a process whose clock is `offset` (faketime syntax: '+1h', '-2d') from ours. */
export function fakeClock(offset: string): Record<string, string> {
  if (!LIBFAKETIME) throw new Error('libfaketime.so.1 not found (apt-get install faketime)');
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset };
}

/**
 * libfaketime 0.9.10 makes a semaphore and a shared-memory segment named after the preloaded
 * process's pid and removes them at a clean exit only; a test's daemon is signalled, so this removes
 * them once it has ended. (The library itself shrugs off a stale pair; the wrapper does not.)
 */
export function removeFakeClockFiles(pid: number): void {
  for (const name of [`sem.faketime_sem_${pid}`, `faketime_shm_${pid}`]) rmSync(join('/dev/shm', name), { force: true });
}
