/**
 * `ah agent demo`: a small fleet in one process, on the library the daemons use. An access point on
 * a free loopback port and three executors with short dev certificates enroll, heartbeat and
 * rotate for `--duration`, under a live table; then a summary says what happened and whether any
 * heartbeat was late or any link dropped. With `--json` the table goes to stderr and stdout holds
 * only the JSON summary.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { formatDuration } from '../../util/duration.js';
import { countOption, durationOption, stateDirOption } from '../common.js';
import { COUNT_RANGES, FLAG_RANGES } from '../flag-ranges.js';
import { demoSummary, renderDemoTable, type DemoExecutorRow, type DemoSummary } from '../render-demo.js';
import { clearLongTimeout, setLongTimeout } from '../../util/long-timer.js';

interface DemoFlags {
  duration: number;
  executors: number;
  certTtl: number;
  heartbeatInterval: number;
  stateDir?: string;
  json?: boolean;
}

export function registerDemo(agent: Command): void {
  agent
    .command('demo')
    .summary('watch a small fleet enroll and rotate (access point + executors, one process)')
    .description(
      'Start an access point on a free loopback port and a few executors with short-lived dev certificates,\n' +
        'show a live table while they enroll, heartbeat and rotate, then print a summary. Ctrl-C ends early.',
    )
    .addOption(durationOption('--duration <duration>', 'how long to run', FLAG_RANGES.demoDuration, { value: 60_000, shown: '60s' }))
    .addOption(countOption('--executors <n>', 'how many executors (one process runs them all)', COUNT_RANGES.demoExecutors, { value: 3, shown: '3' }))
    .addOption(durationOption('--cert-ttl <duration>', 'lifetime of each dev certificate', FLAG_RANGES.demoCertTtl, { value: 10_000, shown: '10s' }))
    .addOption(durationOption('--heartbeat-interval <duration>', 'heartbeat interval', FLAG_RANGES.heartbeatInterval, { value: 1_000, shown: '1s' }))
    .addOption(stateDirOption('state directory (default: a temporary one, removed at the end)'))
    .option('--json', 'print only the summary, as JSON, on stdout (the live table goes to stderr)')
    .action(async (flags: DemoFlags) => {
      const summary = await runDemo(flags);
      process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `${demoSummary(summary)}\n`);
      process.exit(0);
    });
}

/**
 * The demo as one script, in the order a person watches it: start the access point, start the
 * executors, redraw the table while it runs, stop everything, count. Longer than a screen because
 * it is that story, told once.
 */
async function runDemo(flags: DemoFlags): Promise<DemoSummary> {
  const { createAccessPoint, createExecutor } = await import('../../index.js');
  const stateDir = flags.stateDir ?? mkdtempSync(join(tmpdir(), 'ah-demo-'));
  const count = flags.executors;
  const startedAt = Date.now();

  // Every demo executor dials from 127.0.0.1: the per-source handshake rate is not what it shows.
  const accessPoint = createAccessPoint({ listen: '127.0.0.1:0', stateDir, heartbeatIntervalMs: flags.heartbeatInterval, handshakeRate: 100_000 });
  const lastBeat = new Map<string, number>();
  const heartbeats = new Map<string, number>();
  const longestGap = new Map<string, number>();
  let dropped = 0;
  let enrollments = 0;
  accessPoint.on('admitted', (e) => {
    if (!e.relinked) enrollments++;
  });
  accessPoint.on('heartbeat', ({ id, at }) => {
    const previous = lastBeat.get(id);
    if (previous !== undefined) longestGap.set(id, Math.max(longestGap.get(id) ?? 0, at - previous));
    lastBeat.set(id, at);
    heartbeats.set(id, (heartbeats.get(id) ?? 0) + 1);
  });
  let stopping = false;
  accessPoint.on('departed', () => {
    if (!stopping) dropped++;
  });
  const { port } = await accessPoint.start();

  const executors = Array.from({ length: count }, (_, i) =>
    createExecutor({
      name: `demo-${i + 1}`,
      remoteServer: `https://127.0.0.1:${port}`,
      stateDir,
      identity: { kind: 'dev', certTtlMs: flags.certTtl },
      backoff: { baseMs: 200, capMs: 2_000 },
    }),
  );
  await Promise.all(executors.map((e) => e.start()));

  const rows = (): DemoExecutorRow[] =>
    executors.map((e) => {
      const s = e.status();
      const id = `spiffe://dev.local/ah/agent/${s.name}`;
      return {
        name: s.name,
        state: s.state,
        certLeftMs: s.identity ? Date.parse(s.identity.notAfter) - Date.now() : null,
        rotations: s.rotations,
        heartbeats: heartbeats.get(id) ?? 0,
        serial: s.identity?.serial ?? '-',
      };
    });

  // With --json, stdout carries the summary alone (so it pipes into jq): the progress goes to stderr.
  const progress = flags.json ? process.stderr : process.stdout;
  const tty = Boolean(progress.isTTY);
  progress.write(
    `ah demo: access point on 127.0.0.1:${port}, ${count} executors, certificates of ${formatDuration(flags.certTtl)}, ` +
      `heartbeat every ${formatDuration(flags.heartbeatInterval)}, for ${formatDuration(flags.duration)}\n` +
      `state dir ${stateDir} (try: ./bin/ah agent status --state-dir ${stateDir})\n\n`,
  );
  let drawnLines = 0;
  const draw = () => {
    const table = renderDemoTable(rows(), Date.now() - startedAt);
    if (tty && drawnLines) progress.write(`\x1b[${drawnLines}F\x1b[J`);
    progress.write(`${table}\n${tty ? '' : '\n'}`);
    drawnLines = table.split('\n').length;
  };
  draw();
  const ticker = setInterval(draw, tty ? 500 : 2_000);

  await new Promise<void>((resolve) => {
    const timer = setLongTimeout(resolve, flags.duration);
    process.once('SIGINT', () => {
      clearLongTimeout(timer);
      resolve();
    });
  });
  clearInterval(ticker);
  draw();
  const final = rows();
  stopping = true;
  await Promise.all(executors.map((e) => e.stop()));
  await accessPoint.stop();
  if (!flags.stateDir) rmSync(stateDir, { recursive: true, force: true });

  return {
    durationMs: Date.now() - startedAt,
    executors: count,
    certTtlMs: flags.certTtl,
    heartbeatIntervalMs: flags.heartbeatInterval,
    enrollments,
    rotations: Object.fromEntries(final.map((r) => [r.name, r.rotations])),
    heartbeats: [...heartbeats.values()].reduce((a, b) => a + b, 0),
    longestGapMs: Math.max(0, ...longestGap.values()),
    linksDropped: dropped,
  };
}
