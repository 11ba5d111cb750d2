/**
 * `ah agent replay LOG`: rebuild every actor's state path from a debug log with the pure machines
 * (no I/O, a clock that never moves), check it against the states the log recorded, print it with
 * times and durations, and say which actors are stuck and why, in the guide's words.
 *
 * Exit 0 when every rebuilt state matches the log (stuck or not: the diagnosis is the answer);
 * 1 when they differ or the log cannot be read (one line naming the line); 2 for usage errors.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { AhError } from '../../errors/ah-error.js';
// The replay itself (and with it XState and every machine) is loaded when a log is replayed, not
// for `ah --help` or `ah agent enroll`.
import type { ReplayResult } from '../../replay/replay-log.js';
import { parseTimeQuery, type TimeQuery } from '../../replay/time-query.js';
import { EXIT_FAILURE, EXIT_OK, UsageError } from '../common.js';

export interface ReplayFlags {
  actor?: string;
  at?: TimeQuery;
  json?: boolean;
}

export const parseAt = (value: string): TimeQuery => {
  try {
    return parseTimeQuery(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/** One line on stderr, the catalog's message, and exit 1: there is nothing more to say about a bad file. */
export function unreadable(path: string, detail: string): never {
  process.stderr.write(`error: ${new AhError('ENROLL_LOG_UNREADABLE', { path, detail }).message}\n`);
  process.exit(EXIT_FAILURE);
}

const FS_ERRORS: Record<string, string> = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'is a directory', EPERM: 'permission denied' };

/** Replay LOG ('-' for stdin), turning every way the file can be wrong into one line. */
export async function replayOrExit(path: string, options: { actor?: string; at?: TimeQuery }): Promise<ReplayResult> {
  const [{ replayFile }, { LogLineError }] = await Promise.all([import('../../replay/replay-log.js'), import('../../replay/log-record.js')]);
  let result: ReplayResult;
  try {
    result = await replayFile(path === '-' ? process.stdin : path, options);
  } catch (err) {
    if (err instanceof LogLineError) unreadable(path, err.message);
    const code = (err as NodeJS.ErrnoException).code;
    if (code && FS_ERRORS[code]) unreadable(path, FS_ERRORS[code]!);
    throw err;
  }
  if (result.machineLines === 0 && result.at === null) {
    const first = result.firstSkipped ? `; first line not from ah: line ${result.firstSkipped.line}: ${result.firstSkipped.text}` : '';
    unreadable(path, `no ah_machine lines in ${result.lines} line${result.lines === 1 ? '' : 's'}${first} (record with --log-level debug)`);
  }
  if (options.actor && result.actors.length === 0) {
    throw new UsageError(`no actor '${options.actor}' in ${path} (actors: ${result.actorNames.join(', ') || 'none'})`);
  }
  return result;
}

export function registerReplay(agent: Command): void {
  agent
    .command('replay')
    .summary("rebuild each machine's state path from a debug log and say where it is stuck")
    .description(
      "Read LOG (JSON lines of --log-level debug, also as journalctl -o cat, -o short or -o json print them; '-' reads stdin), " +
        "rebuild every actor's states with the pure machines on a simulated clock, check them against the states the log recorded, " +
        "print the path with times (UTC) and durations, and for an actor stuck where it should not stay, the guide's error message, causes and fixes. " +
        'Exit 0 when the rebuilt states match the log, 1 when they differ or the log cannot be read.',
    )
    .argument('<log>', "log file, or '-' for stdin")
    .option('--actor <id>', 'only this actor and its children (executor:NAME or NAME, access-point, link-N)')
    .option('--at <time>', 'show the states at this time: ISO (2026-11-29T16:20:01Z), clock time (16:20:01, local), +90s into the log, or epoch ms', parseAt)
    .option('--json', 'print the replay as one JSON object')
    .action(async (log: string, flags: ReplayFlags) => {
      const result = await replayOrExit(log, { actor: flags.actor, at: flags.at });
      const [{ toJson }, { renderText }] = await Promise.all([import('../../replay/report-json.js'), import('../../replay/report-text.js')]);
      process.stdout.write(`${flags.json ? JSON.stringify(toJson(result)) : renderText(result, log)}\n`);
      process.exitCode = result.mismatches ? EXIT_FAILURE : EXIT_OK;
    });
}
