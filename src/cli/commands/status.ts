/** `ah agent status` and `ah agent fleet`: ask the daemons on their unix sockets. */
import { readdir, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { queryStatus } from '../../transport/status-server.js';
import { AhError } from '../../errors/ah-error.js';
import type { ExecutorStatus } from '../../engine/executor-status.js';
import type { FleetEntryJson } from '../../engine/roster.js';
import { executorNameFromSocket, paths } from '../../engine/state-dir.js';
import { EXIT_FAILURE, parsers, printError, stateDirFrom, stateDirOption } from '../common.js';
import { renderAuditWarning, renderExecutorStatus, renderFleet } from '../render.js';
import type { AuditHealth } from '../../audit/audit-log.js';

const AS_OWNER = (role: string) => `run as the user that runs the ${role}, or root`;

/** The state dir as `status` and `fleet` read it: null when there is none (nothing runs). */
async function existingStateDir(stateDir: string, role: string): Promise<string | null> {
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

async function runningExecutorNames(stateDir: string): Promise<string[]> {
  const runDir = paths.runDir(stateDir);
  try {
    return (await readdir(runDir))
      .map(executorNameFromSocket)
      .filter((n): n is string => n !== null)
      .sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return [];
    const detail =
      code === 'EACCES' ? `permission denied (${AS_OWNER('executor')})` : code === 'ENOTDIR' ? `${runDir} is not a directory` : (code ?? String(err));
    throw new AhError('ENROLL_STATUS_DIR_UNREADABLE', { path: runDir, detail });
  }
}

/** Run a `status`/`fleet` action; what keeps it from an answer is one line and exit 1. */
async function answering(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (err) {
    if (!(err instanceof AhError)) throw err;
    printError(err);
    process.exit(EXIT_FAILURE);
  }
}

/** One line, as for a usage error: there is nothing to diagnose beyond "start it". */
function notRunning(role: string, stateDir: string): never {
  process.stderr.write(`error: ${new AhError('ENROLL_NOT_RUNNING', { role, stateDir }).message}\n`);
  process.exit(EXIT_FAILURE);
}

export function registerStatus(agent: Command): void {
  agent
    .command('status')
    .summary("show this machine's executor enrollment state")
    .description('Ask the running executor (on its status socket in the state dir) for its state, identity and last error.')
    .option('--name <name>', 'executor name, when several run from one state dir', parsers.name)
    .option('--json', 'one JSON object per executor')
    .option('--show-cert', 'add the certificate in use: subject, issuer, SANs, serial, validity, time left')
    .addOption(stateDirOption())
    .action((flags: { name?: string; json?: boolean; showCert?: boolean; stateDir?: string }) =>
      answering(async () => {
        const stateDir = stateDirFrom(flags.stateDir);
        const exists = await existingStateDir(stateDir, 'executor');
        const names = !exists ? [] : flags.name ? [flags.name] : await runningExecutorNames(stateDir);
        const command = flags.showCert ? 'status-cert' : 'status';
        const answers: ExecutorStatus[] = [];
        for (const name of names) {
          const answer = (await queryStatus(paths.executorSocket(stateDir, name), command, undefined, 'executor')) as ExecutorStatus | null;
          if (answer) answers.push(answer);
        }
        if (answers.length === 0) notRunning(flags.name ? `executor named ${flags.name}` : 'executor', stateDir);
        const out = flags.json ? answers.map((a) => JSON.stringify(a)).join('\n') : answers.map(renderExecutorStatus).join('\n\n');
        process.stdout.write(`${out}\n`);
      }),
    );

  agent
    .command('fleet')
    .summary("list the executors enrolled with this machine's access point")
    .description('Ask the running access point (on its status socket in the state dir) for its roster.')
    .option('--json', 'print {executors:[{id, name, remoteAddress, since, lastHeartbeat, certNotAfter, state}]}')
    .addOption(stateDirOption())
    .action((flags: { json?: boolean; stateDir?: string }) =>
      answering(async () => {
        const stateDir = stateDirFrom(flags.stateDir);
        const exists = await existingStateDir(stateDir, 'access point');
        const answer = exists
          ? ((await queryStatus(paths.accessPointSocket(stateDir), 'fleet', undefined, 'access point')) as {
              executors: FleetEntryJson[];
              audit?: AuditHealth;
            } | null)
          : null;
        if (!answer) notRunning('access point', stateDir);
        process.stdout.write(`${flags.json ? JSON.stringify(answer) : renderFleet(answer.executors)}\n`);
        // A failing audit log is said under the table, on every look at the fleet.
        if (!flags.json && answer.audit && !answer.audit.writable) process.stdout.write(`${renderAuditWarning(answer.audit)}\n`);
      }),
    );
}
