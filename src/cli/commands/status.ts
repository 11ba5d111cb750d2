/** `ah agent status` and `ah agent fleet`: ask the daemons on their unix sockets. */
import { readdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { queryStatus } from '../../transport/status-server.js';
import { AhError } from '../../errors/ah-error.js';
import type { ExecutorStatus } from '../../engine/executor-status.js';
import { executorNameFromSocket, paths } from '../../engine/state-dir.js';
import { parsers, stateDirFrom, stateDirOption } from '../common.js';
import { renderExecutorStatus } from '../render.js';
import { answering, AS_OWNER, existingStateDir, notRunning } from './daemon-answer.js';
import { registerFleet } from './fleet.js';

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
  registerFleet(agent);
}
