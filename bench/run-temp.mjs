// Every temporary file of a benchmark run (material, the measured processes' state dirs, etcd
// data) goes under one directory, removed when the run ends, Ctrl-C included: the measured
// processes are stopped with signals and never clean up after themselves. Imported for its effect
// by ipc.mjs, so the first bench process of a run makes the directory and every process it starts
// inherits it through TMPDIR.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

if (!process.env.AH_BENCH_TMP) {
  const dir = mkdtempSync(join(tmpdir(), 'ah-bench-run-'));
  process.env.AH_BENCH_TMP = dir;
  process.env.TMPDIR = dir;
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130));
}
