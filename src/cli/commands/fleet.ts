/**
 * `ah agent fleet`: the access point's roster, filtered at the access point (`--state`, `--name`,
 * `--expiring-within`), read from its status socket a line at a time and written out as it comes:
 * `--json` copies each entry through without holding the whole answer; the table needs its column
 * widths, so it is written once the rows are in, in chunks, with the summary line under it.
 */
import { type Command, InvalidArgumentError } from 'commander';
import type { AuditHealth } from '../../audit/audit-log.js';
import { AhError } from '../../errors/ah-error.js';
import { paths } from '../../engine/state-dir.js';
import { FLEET_STATES, isFleetState, type FleetFilter, type FleetState, type FleetSummary } from '../../model/fleet-filter.js';
import type { FleetEntryJson } from '../../model/status.js';
import { notAnAhStatus, queryStatus, streamStatus } from '../../transport/status-server.js';
import { durationOption, option, stateDirFrom, stateDirOption } from '../common.js';
import { FleetAnswerReader, type FleetSink } from '../fleet-answer-reader.js';
import { FLAG_RANGES } from '../flag-ranges.js';
import { renderAuditWarning, renderFleet, renderFleetSummary } from '../render.js';
import { accessPointsOf, renderAccessPoints } from '../render-access-points.js';
import { answering, existingStateDir, notRunning } from './daemon-answer.js';

interface FleetFlags {
  json?: boolean;
  accessPoints?: boolean;
  state?: FleetState[];
  name?: string;
  expiringWithin?: number;
  stateDir?: string;
}

/** Bytes gathered before a write to stdout. */
const OUT_CHUNK = 64 * 1024;

const STATES_TEXT = FLEET_STATES.join(', ');

const parseStates = (value: string): FleetState[] => {
  const states = value.split(',').map((s) => s.trim());
  const bad = states.find((s) => !isFleetState(s));
  if (bad !== undefined) throw new InvalidArgumentError(`expected ${STATES_TEXT}, or several joined by commas; got '${bad}'`);
  return [...new Set(states as FleetState[])];
};

/** Executor names are letters, digits, dots, dashes and underscores; the glob adds `*` and `?`. */
const parseNameGlob = (value: string): string => {
  if (!/^[A-Za-z0-9._*?-]{1,256}$/.test(value)) {
    throw new InvalidArgumentError('expected a name or a glob of letters, digits, dots, dashes, underscores and the wildcards * and ?');
  }
  return value;
};

/** stdout, written a chunk at a time. */
class Out {
  private buffered = '';
  write(text: string): void {
    this.buffered += text;
    if (this.buffered.length >= OUT_CHUNK) this.flush();
  }
  flush(): void {
    if (this.buffered) process.stdout.write(this.buffered);
    this.buffered = '';
  }
}

/** `--json`: `{"executors":[…],"summary":{…}}` (and `audit`), entries copied as they arrive. */
function jsonSink(out: Out): FleetSink {
  let first = true;
  return {
    begin: () => out.write('{"executors":['),
    executor: (json) => {
      out.write(first ? json : `,${json}`);
      first = false;
    },
    end: (summary, audit) => {
      out.write(`],"summary":${JSON.stringify(summary)}${audit ? `,"audit":${JSON.stringify(audit)}` : ''}}\n`);
      out.flush();
    },
  };
}

/** The table, the summary line, and the audit warning while the audit log fails. */
function tableSink(out: Out): FleetSink {
  const rows: FleetEntryJson[] = [];
  return {
    begin: () => {},
    executor: (json) => rows.push(JSON.parse(json) as FleetEntryJson),
    end: (summary: FleetSummary, audit: AuditHealth | null) => {
      const now = Date.now();
      if (summary.total === 0) out.write('no executors enrolled\n');
      else if (rows.length === 0) out.write('no executor matches the filter\n');
      else for (const line of renderFleet(rows, now)) out.write(`${line}\n`);
      if (summary.total > 0) out.write(`${renderFleetSummary(summary, now)}\n`);
      // A failing audit log is said under the table, on every look at the fleet.
      if (audit && !audit.writable) out.write(`${renderAuditWarning(audit)}\n`);
      out.flush();
    },
  };
}

/** `ah agent fleet | head`: the reader left; that is not an error. */
function quietOnClosedStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    throw err;
  });
}

/** `--access-points`: `{"accessPoints":[{id, address, state, executors}]}` or a table. */
async function printAccessPoints(socket: string, stateDir: string, json: boolean): Promise<void> {
  const answer = await queryStatus(socket, 'access-points', undefined, 'access point');
  if (answer === null) notRunning('access point', stateDir);
  const list = accessPointsOf(answer);
  if (!list) throw notAnAhStatus(socket);
  process.stdout.write(json ? `${JSON.stringify({ accessPoints: list })}\n` : `${renderAccessPoints(list).join('\n')}\n`);
}

export function registerFleet(agent: Command): void {
  agent
    .command('fleet')
    .summary("list the executors enrolled with this machine's access point")
    .description(
      'Ask the running access point (on its status socket in the state dir) for its roster, with a summary line: counts by state and the first certificate to expire. ' +
        'States: active; rotating (a second link of the identity is open); late (no heartbeat for two intervals); expired (its certificate has ended). ' +
        'An access point with --roster lists the whole fleet, each executor once with the access point that holds it.',
    )
    .option('--json', 'print {executors:[{id, name, remoteAddress, since, lastHeartbeat, certNotAfter, state, serial, accessPoint}], summary}')
    .option('--access-points', 'list the access points instead (all of them with --roster): id, address, state (serving, draining), executors')
    .addOption(option('--state <states>', `only executors in these states: ${STATES_TEXT} (comma-separated)`, parseStates))
    .addOption(option('--name <pattern>', 'only executors whose name matches this glob (* and ?), e.g. "web-*"', parseNameGlob))
    .addOption(
      durationOption(
        '--expiring-within <duration>',
        'only executors whose certificate ends within this time (ended ones included)',
        FLAG_RANGES.expiringWithin,
      ),
    )
    .addOption(stateDirOption())
    .action((flags: FleetFlags) =>
      answering(async () => {
        const stateDir = stateDirFrom(flags.stateDir);
        const socket = paths.accessPointSocket(stateDir);
        const filter: FleetFilter = {
          ...(flags.state && { states: flags.state }),
          ...(flags.name !== undefined && { name: flags.name }),
          ...(flags.expiringWithin !== undefined && { expiringWithinMs: flags.expiringWithin }),
        };
        if (!(await existingStateDir(stateDir, 'access point'))) notRunning('access point', stateDir);
        if (flags.accessPoints) return printAccessPoints(socket, stateDir, flags.json === true);
        quietOnClosedStdout();
        const out = new Out();
        const said = (detail: string) => new AhError('ENROLL_STATUS_SOCKET_UNREACHABLE', { socket, detail });
        const reader = new FleetAnswerReader(flags.json ? jsonSink(out) : tableSink(out), filter, {
          notAnAnswer: () => notAnAhStatus(socket),
          refused: (message) => said(`the access point refused the request: ${message}`),
          cutShort: () => said('the answer stopped before its end (the access point stopped while answering? run ah agent fleet again)'),
        });
        const answered = await streamStatus(socket, { cmd: 'fleet', stream: true, filter }, (line) => reader.line(line), undefined, 'access point');
        if (!answered) notRunning('access point', stateDir);
        reader.finish();
      }),
    );
}
