/**
 * `ah agent access-point`'s drain: the flags, the signals (SIGTERM drains, SIGINT stops at once),
 * and `--drain`, which asks the access point running on the state dir to drain through its
 * status socket and returns at once.
 */
import type { Command } from 'commander';
import type { AccessPoint } from '../../engine/access-point.js';
import { DEFAULT_DRAIN_RATE, DEFAULT_DRAIN_RETRY_AFTER_MS, DEFAULT_DRAIN_TIMEOUT_MS } from '../../engine/access-point-drain.js';
import { paths } from '../../engine/state-dir.js';
import { queryStatus } from '../../transport/status-server.js';
import { formatDuration } from '../../util/duration.js';
import { countOption, durationOption, EXIT_OK, stateDirFrom } from '../common.js';
import { COUNT_RANGES, FLAG_RANGES } from '../flag-ranges.js';
import { answering, notRunning } from './daemon-answer.js';

export interface DrainFlags {
  drain?: boolean;
  drainTimeout: number;
  drainRate: number;
  drainRetryAfter: number;
  stateDir?: string;
}

export function addDrainOptions(command: Command): Command {
  return command
    .option('--drain', 'ask the access point running on --state-dir to drain (as SIGTERM does), and return at once')
    .addOption(
      durationOption('--drain-timeout <duration>', 'a draining access point exits after this long even if links remain', FLAG_RANGES.drainTimeout, {
        value: DEFAULT_DRAIN_TIMEOUT_MS,
        shown: `${DEFAULT_DRAIN_TIMEOUT_MS / 1_000}s`,
      }),
    )
    .addOption(
      countOption('--drain-rate <n>', 'executors a draining access point asks to move per second (in jittered batches)', COUNT_RANGES.drainRate, {
        value: DEFAULT_DRAIN_RATE,
        shown: String(DEFAULT_DRAIN_RATE),
      }),
    )
    .addOption(
      durationOption(
        '--drain-retry-after <duration>',
        "told to executors (goodbye retryAfterMs): when they may dial this address again; at least the balancer's time to see /readyz fail",
        FLAG_RANGES.drainRetryAfter,
        { value: DEFAULT_DRAIN_RETRY_AFTER_MS, shown: formatDuration(DEFAULT_DRAIN_RETRY_AFTER_MS) },
      ),
    );
}

export function drainSettings(flags: DrainFlags) {
  return { drainTimeoutMs: flags.drainTimeout, drainRate: flags.drainRate, drainRetryAfterMs: flags.drainRetryAfter };
}

/** `--drain`: one line on stdout and exit 0, or the usual "not running" and exit 1. */
export async function requestDrain(flags: DrainFlags): Promise<void> {
  const stateDir = stateDirFrom(flags.stateDir);
  await answering(async () => {
    const answer = (await queryStatus(paths.accessPointSocket(stateDir), 'drain', undefined, 'access point')) as {
      draining?: boolean;
      links?: number;
      timeoutMs?: number;
    } | null;
    if (answer === null) notRunning('access point', stateDir);
    if (!answer.draining) throw new Error('the access point did not start draining (an older version?)');
    process.stdout.write(
      `access point draining: ${answer.links} link${answer.links === 1 ? '' : 's'} asked to move; it exits once they are gone or after ${formatDuration(answer.timeoutMs ?? 0)}\n`,
    );
  });
  process.exit(EXIT_OK);
}

/**
 * SIGTERM (systemd, Kubernetes): drain, then exit 0. SIGINT (Ctrl-C at a terminal): stop at once,
 * every link closed with goodbye "shutdown", exit 0. A second signal during a drain stops at once
 * too; a third exits without waiting for anything.
 */
export function drainOnSignals(accessPoint: AccessPoint): void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 2) process.exit(signal === 'SIGINT' ? 130 : 143);
    const done = signal === 'SIGTERM' && signals === 1 ? accessPoint.drain('SIGTERM') : accessPoint.stop();
    void done.then(() => process.exit(EXIT_OK));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A drain asked for through the status socket ends the process the same way.
  accessPoint.on('drained', () => process.exit(EXIT_OK));
}
