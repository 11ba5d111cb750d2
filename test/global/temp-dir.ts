/**
 * Global setup: every temporary file of the run (state dirs, test PKI and its private keys, etcd
 * data, sockets) goes under one directory of the run's own, removed at the end. `os.tmpdir()` reads
 * TMPDIR, and the test workers and every process they start inherit it. Without it each run left a
 * few hundred directories in /tmp, private keys among them (tests stop daemons with signals, so
 * their own clean-up does not run).
 *
 * Listed first in vitest.config.ts: vitest tears down in reverse order, so this runs after the
 * leftover processes are killed and nothing writes here any more.
 */
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  // Short: unix socket paths under it must stay under 108 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'ah-test-'));
  // Like /tmp: some tests run the CLI as another uid, which makes its own files here.
  chmodSync(dir, 0o1777);
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
