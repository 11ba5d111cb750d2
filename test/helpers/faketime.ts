/**
 * A clock moved for one daemon: libfaketime preloaded into the process itself. The `faketime`
 * wrapper would do the same, but it does not pass SIGTERM on, so a wrapped daemon outlives its test.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const LIBFAKETIME = ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib', '/usr/local/lib']
  .map((dir) => join(dir, 'faketime', 'libfaketime.so.1'))
  .find((path) => existsSync(path));

/** Environment for a process whose clock is `offset` (faketime syntax: '+1h', '-2d') from ours. */
export function fakeClock(offset: string): Record<string, string> {
  if (!LIBFAKETIME) throw new Error('libfaketime.so.1 not found (apt-get install faketime)');
  return { LD_PRELOAD: LIBFAKETIME, FAKETIME: offset };
}
