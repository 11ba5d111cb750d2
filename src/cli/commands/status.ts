/** `ah agent status` and `ah agent fleet`: ask the daemons on their unix sockets. */
import { readdir } from 'node:fs/promises';
import type { Command } from 'commander';
import { queryStatus } from '../../actors/status-server.js';
import { AhError } from '../../errors/ah-error.js';
import type { ExecutorStatus } from '../../engine/executor-status.js';
import type { FleetEntryJson } from '../../engine/roster.js';
import { executorNameFromSocket, paths } from '../../engine/state-dir.js';
import { EXIT_FAILURE, parsers, stateDirFrom, stateDirOption } from '../common.js';
import { renderAuditWarning, renderExecutorStatus, renderFleet } from '../render.js';
import type { AuditHealth } from '../../audit/audit-log.js';

async function runningExecutorNames(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(paths.runDir(stateDir))).map(executorNameFromSocket).filter((n): n is string => n !== null).sort();
  } catch {
    return [];
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
    .action(async (flags: { name?: string; json?: boolean; showCert?: boolean; stateDir?: string }) => {
      const stateDir = stateDirFrom(flags.stateDir);
      const names = flags.name ? [flags.name] : await runningExecutorNames(stateDir);
      const command = flags.showCert ? 'status-cert' : 'status';
      const answers: ExecutorStatus[] = [];
      for (const name of names) {
        const answer = (await queryStatus(paths.executorSocket(stateDir, name), command)) as ExecutorStatus | null;
        if (answer) answers.push(answer);
      }
      if (answers.length === 0) notRunning(flags.name ? `executor named ${flags.name}` : 'executor', stateDir);
      const out = flags.json ? answers.map((a) => JSON.stringify(a)).join('\n') : answers.map(renderExecutorStatus).join('\n\n');
      process.stdout.write(`${out}\n`);
    });

  agent
    .command('fleet')
    .summary("list the executors enrolled with this machine's access point")
    .description("Ask the running access point (on its status socket in the state dir) for its roster.")
    .option('--json', 'print {executors:[{id, name, remoteAddress, since, lastHeartbeat, certNotAfter, state}]}')
    .addOption(stateDirOption())
    .action(async (flags: { json?: boolean; stateDir?: string }) => {
      const stateDir = stateDirFrom(flags.stateDir);
      const answer = (await queryStatus(paths.accessPointSocket(stateDir), 'fleet')) as { executors: FleetEntryJson[]; audit?: AuditHealth } | null;
      if (!answer) notRunning('access point', stateDir);
      process.stdout.write(`${flags.json ? JSON.stringify(answer) : renderFleet(answer.executors)}\n`);
      // A failing audit log is said under the table, on every look at the fleet.
      if (!flags.json && answer.audit && !answer.audit.writable) process.stdout.write(`${renderAuditWarning(answer.audit)}\n`);
    });
}
