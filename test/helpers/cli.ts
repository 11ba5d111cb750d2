/**
 * Running `./bin/ah` as a real child process: wait for log lines (JSON on stdout) with a bound,
 * run commands to completion, and make sure nothing outlives the test.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { eventually } from './eventually.js';
import { removeFakeClockFiles } from './faketime.js';
import { endAll, endGroup, spawnTracked } from './processes.js';
import { requireTool, type Tool } from './tools.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const AH = join(ROOT, 'bin', 'ah');

export interface LogLine {
  level: number;
  msg: string;
  component?: string;
  code?: string;
  [key: string]: unknown;
}

/**
 * A test for `waitForLine`: the narrated line named `event` (docs/log-events.md), and `also` if
 * given. Tests match on that name and the line's fields, never on its prose `msg`. (`ah_machine`
 * lines have an `event` too, XState's: an object, or a type such as `LINK_WELCOMED` or
 * `xstate.init`, never a snake_case name.)
 */
export function isEvent(event: string, also: (l: LogLine) => boolean = () => true): (l: LogLine) => boolean {
  return (l) => l.event === event && also(l);
}

const running = new Set<Daemon>();

export class Daemon {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<number | null>;
  private waiters: Array<{ test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = [];

  constructor(
    readonly child: ChildProcess,
    readonly label: string,
  ) {
    running.add(this);
    createInterface({ input: child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { level: 30, msg: text };
      }
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.test(line)) return true;
        w.resolve(line);
        return false;
      });
    });
    createInterface({ input: child.stderr! }).on('line', (text) => this.stderr.push(text));
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code) => {
        running.delete(this);
        resolveExit(code);
      });
      child.once('error', (err) => {
        running.delete(this);
        this.stderr.push(String(err));
        resolveExit(null);
      });
    });
  }

  /** The first line (already seen or to come) that passes `test`. */
  waitForLine(test: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    const seen = this.lines.find(test);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolveLine, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${this.label}: no log line ${what} within ${timeoutMs} ms; last lines:\n${this.lines
              .slice(-8)
              .map((l) => l.msg)
              .join('\n')}\nstderr: ${this.stderr.join('\n')}`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({
        test,
        resolve: (l) => {
          clearTimeout(timer);
          resolveLine(l);
        },
      });
    });
  }

  /** Lines after index `from` that pass `test` (to wait for *new* events). */
  waitForNewLine(from: number, test: (l: LogLine) => boolean, what: string, timeoutMs = 20_000): Promise<LogLine> {
    return this.waitForLine((l) => this.lines.indexOf(l) >= from && test(l), what, timeoutMs);
  }

  /** Signal the process and whatever it started (a wrapper's child too); SIGKILL after `timeoutMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<number | null> {
    await endGroup(this.child, signal, timeoutMs);
    return this.exited;
  }
}

export function tempStateDir(prefix = 'ah-'): string {
  // Short: unix socket paths must stay under 108 bytes.
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface SpawnExtras {
  /**
   * Run under another program, e.g. ['sh', '-c', 'umask 000; exec "$0" "$@"']. A moved clock is
   * not a wrapper but `fakeClock()`'s environment (helpers/faketime.ts says why).
   */
  readonly wrap?: string[];
  /** Drop to this uid/gid (tests run as root; root reads any file). */
  readonly uid?: number;
  readonly gid?: number;
}

function spawnAh(args: string[], env: Record<string, string>, extras: SpawnExtras) {
  // A wrapper that is missing fails here in one line rather than as a daemon that never logs.
  if (extras.wrap) requireTool(extras.wrap[0] as Tool);
  const argv = [...(extras.wrap ?? []), process.execPath, AH, ...args];
  const child = spawnTracked(argv[0]!, argv.slice(1), {
    cwd: ROOT,
    env: { ...process.env, AH_LOG: '', RUST_LOG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(extras.uid !== undefined ? { uid: extras.uid, gid: extras.gid ?? extras.uid } : {}),
  });
  if (env.FAKETIME !== undefined && child.pid !== undefined) child.once('exit', () => removeFakeClockFiles(child.pid!));
  return child;
}

export function startAh(args: string[], env: Record<string, string> = {}, label = args.slice(0, 2).join(' '), extras: SpawnExtras = {}): Daemon {
  return new Daemon(spawnAh(args, env, extras), label);
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runAh(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000, extras: SpawnExtras = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawnAh(args, env, extras);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => {
      void endGroup(child, 'SIGKILL');
      reject(new Error(`ah ${args.join(' ')} did not finish within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    // 'close', not 'exit': the output is complete, and so is anything the command started that held it.
    child.once('close', (code) => {
      clearTimeout(timer);
      void endGroup(child, 'SIGKILL').then(() => resolveRun({ code, stdout, stderr }));
    });
  });
}

/** Poll `ah agent status --json` until `test` passes (status is read from the daemon's socket). */
export async function waitForStatus(
  stateDir: string,
  test: (s: Record<string, any>) => boolean,
  what: string,
  timeoutMs = 20_000,
  extra: string[] = [],
): Promise<Record<string, any>> {
  const look = async () => {
    const run = await runAh(['agent', 'status', '--json', '--state-dir', stateDir, ...extra]);
    const status = run.code === 0 ? (JSON.parse(run.stdout.trim().split('\n')[0]!) as Record<string, any>) : null;
    return { run, status };
  };
  const seen = await eventually(look, (l) => l.status !== null && test(l.status), `status ${what}`, {
    timeoutMs,
    intervalMs: 200,
    show: (l) => `${l.run.stdout}${l.run.stderr}`,
  });
  return seen.status!;
}

/** Kill every daemon and command this file started (test/setup.ts also runs it after each file). */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((d) => d.stop('SIGKILL')));
  await endAll();
}
