/**
 * A fresh, short directory for a test's sockets. Linux limits a unix socket path to 107 bytes and
 * silently truncates longer ones at bind (docs/workload-api.md §grpc-js over unix sockets), so
 * sockets live under /tmp with a short prefix, never under a deep CI work directory.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export interface SocketDir {
  readonly dir: string;
  /** `<dir>/<name>`. */
  path(name?: string): string;
  remove(): void;
}

export function shortSocketDir(prefix = 'spire-'): SocketDir {
  const dir = mkdtempSync(join('/tmp', prefix));
  return {
    dir,
    path: (name = 'agent.sock') => join(dir, name),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
