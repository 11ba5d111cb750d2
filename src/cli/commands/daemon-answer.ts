/** What `ah agent status` and `ah agent fleet` share: finding the state dir, and saying why there is no answer. */
import { stat } from 'node:fs/promises';
import { AhError } from '../../errors/ah-error.js';
import { EXIT_FAILURE, printError } from '../common.js';

export const AS_OWNER = (role: string) => `run as the user that runs the ${role}, or root`;

/** The state dir as `status` and `fleet` read it: null when there is none (nothing runs). */
export async function existingStateDir(stateDir: string, role: string): Promise<string | null> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(stateDir)).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code !== 'ENOTDIR') {
      throw new AhError('ENROLL_STATUS_DIR_UNREADABLE', {
        path: stateDir,
        detail: code === 'EACCES' ? `permission denied (${AS_OWNER(role)})` : (code ?? String(err)),
      });
    }
    isDirectory = false;
  }
  if (!isDirectory) throw new AhError('ENROLL_STATE_DIR_NOT_A_DIRECTORY', { path: stateDir });
  return stateDir;
}

/** Run a `status`/`fleet` action; what keeps it from an answer is one line and exit 1. */
export async function answering(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (!(err instanceof AhError)) throw err;
    printError(err);
    process.exit(EXIT_FAILURE);
  }
}

/** One line, as for a usage error: there is nothing to diagnose beyond "start it". */
export function notRunning(role: string, stateDir: string): never {
  process.stderr.write(`error: ${new AhError('ENROLL_NOT_RUNNING', { role, stateDir }).message}\n`);
  process.exit(EXIT_FAILURE);
}
