/**
 * Global setup: gives the run an id that every process the tests start carries in its environment
 * (test/helpers/processes.ts), and at the end fails the run, naming them, if any such process is
 * still alive (after killing it). Another run, concurrent or earlier, has another id.
 */
import { randomUUID } from 'node:crypto';
import { RUN_ID_VAR, taggedProcesses } from '../helpers/processes.js';

export default function setup(): () => void {
  const id = randomUUID();
  process.env[RUN_ID_VAR] = id;
  return () => {
    const left = taggedProcesses(id);
    if (left.length === 0) return;
    for (const { pid } of left) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone in the meantime
      }
    }
    // A teardown's error would only be logged: the exit code is what fails the run.
    process.exitCode = 1;
    console.error(
      `FAIL: ${left.length} process(es) started by the tests were still running at the end (killed now):\n` +
        left.map((p) => `  pid ${p.pid}: ${p.command}`).join('\n'),
    );
  };
}
