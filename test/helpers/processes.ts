/**
 * Processes the tests start: each in its own process group (so a wrapper such as a shell or
 * script is ended together with the program it runs), tagged with the run's id in its environment
 * (so the run's teardown can find whatever outlived its test), and ended when its test file ends,
 * whatever the outcome.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { eventually } from './eventually.js';

/** The variable every test process carries; its value is the run's id (set by the global setup). */
export const TAG = 'AH_TEST_RUN';
/** The run's id reaches the workers under another name, so that the workers themselves are not tagged. */
export const RUN_ID_VAR = 'AH_TEST_RUN_ID';
export const RUN_ID = process.env[RUN_ID_VAR] ?? `pid-${process.pid}`;

/** The environment for a test process: `env` (default: this process's) with the run's tag. */
export function taggedEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { [RUN_ID_VAR]: _, ...rest } = env;
  return { ...rest, [TAG]: RUN_ID };
}

const live = new Set<ChildProcess>();

/** spawn(), but in a process group of its own, tagged, and remembered until its group is gone. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  killGroupsOnExit();
  const child = spawn(command, args, { ...options, env: taggedEnv(options.env), detached: true });
  live.add(child);
  // A command that cannot start (ENOENT) reports it here; the test sees it as an exit with no code.
  child.on('error', () => live.delete(child));
  return child;
}

let hooked = false;

/**
 * If this process goes away before the hooks ran (Ctrl-C, or the pool stopping its worker), the
 * groups go with it: in sessions of their own, they would not hear the terminal's signal. Set only
 * where processes are started, so the test runner's own process keeps its signal handling.
 */
function killGroupsOnExit(): void {
  if (hooked) return;
  hooked = true;
  const killAll = () => {
    for (const child of live) signalGroup(child, 'SIGKILL');
  };
  process.once('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAll();
      // Then die of it as we would have, unless someone else handles it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

const hasExited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // ESRCH: the group is gone already.
  }
}

/** Members of process group `pgid` that are still running (zombies are dead: they only await their parent). */
export function groupMembers(pgid: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProc(entry, 'stat');
    if (!stat) continue;
    // Fields after the command name (which may hold spaces): state ppid pgrp ...
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry));
  }
  return members;
}

/** Live processes (this one aside) whose environment holds `AH_TEST_RUN=<runId>`, with their command lines. */
export function taggedProcesses(runId: string): Array<{ pid: number; command: string }> {
  const entry = `${TAG}=${runId}`;
  const found: Array<{ pid: number; command: string }> = [];
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
    // A zombie's environment reads empty, so only live processes match.
    if (!readProc(pid, 'environ')?.split('\0').includes(entry)) continue;
    found.push({ pid: Number(pid), command: (readProc(pid, 'cmdline') ?? '').split('\0').join(' ').trim() });
  }
  return found;
}

function readProc(pid: string, file: string): string | null {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return null; // gone, or not ours to read
  }
}

/** Whether `test` came true within `timeoutMs` (the caller escalates when it did not). */
function until(test: () => boolean, timeoutMs: number): Promise<boolean> {
  return eventually(test, (ok) => ok, 'the process group to end', { timeoutMs, intervalMs: 25 }).then(
    () => true,
    () => false,
  );
}

/**
 * Send `signal` to the child's whole group and wait (bounded) until the child has exited and no
 * member of its group is left; past `graceMs` the group is killed. Resolves with the child's exit code.
 */
export async function endGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number | null> {
  if (child.pid === undefined) {
    live.delete(child); // it never started
    return child.exitCode;
  }
  const pgid = child.pid;
  const ended = () => hasExited(child) && groupMembers(pgid).length === 0;
  if (ended()) {
    live.delete(child); // nothing to signal (and its pid may be another process's by now)
    return child.exitCode;
  }
  const exited = hasExited(child) ? Promise.resolve() : new Promise<void>((r) => child.once('exit', () => r()));
  signalGroup(child, signal);
  if (!(await until(ended, graceMs))) {
    signalGroup(child, 'SIGKILL');
    await until(ended, 5_000);
  }
  await exited;
  live.delete(child);
  return child.exitCode;
}

/** End every process this test file started that is still around (run after each file, see test/setup.ts). */
export async function endAll(): Promise<void> {
  await Promise.all([...live].map((child) => endGroup(child, 'SIGKILL')));
}
