import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    // The run's temporary files in a directory of its own; a stale dist/ is rebuilt first; at the
    // end, no process the tests started may be left, then the directory goes.
    globalSetup: ['test/global/temp-dir.ts', 'test/global/fresh-dist.ts', 'test/global/leftover-processes.ts'],
    // Real TLS links, child processes and file watches: bounded waits on events, never sleeps.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
