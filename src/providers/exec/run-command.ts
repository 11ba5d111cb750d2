/**
 * One run of the identity command, fenced in: stdin is /dev/null (a command that prompts gets EOF,
 * not our terminal), it leads its own process group so that a timeout kills whatever it started
 * too, stdout is bounded (a command that prints without end cannot eat our memory), and at most
 * the first few stderr lines are kept, without anything that looks like key material. Whatever
 * the command leaves running in its group when it exits is killed: nothing it starts outlives it.
 */
import { spawn } from 'node:child_process';
import { AhError } from '../../errors/ah-error.js';
import { formatDuration } from '../../util/duration.js';
import { stderrLines } from './stderr-lines.js';

export interface CommandSpec {
  /** The program and its arguments (already split, or ['/bin/sh', '-c', CMD]). */
  readonly argv: readonly string[];
  /** What messages call it: the program as typed. */
  readonly program: string;
  readonly timeoutMs: number;
  /** Bytes of stdout beyond which the command is killed. */
  readonly maxOutputBytes: number;
  /** The provider stops: kill the command where it stands. */
  readonly signal?: AbortSignal;
}

export interface CommandResult {
  readonly stdout: string;
  /** The first stderr lines, key material left out. */
  readonly stderr: string[];
}

/** Kept of stderr before it is cut into lines: enough for the first lines of any message. */
const STDERR_KEEP_BYTES = 64 * 1024;

/** `(stderr: …)` for a message: the command's first line in its own words, or nothing. */
export function stderrSuffix(lines: readonly string[]): string {
  return lines[0] ? ` (stderr: ${lines[0]})` : '';
}

function killGroup(pid: number | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone: the group is empty.
  }
}

function formatBytes(n: number): string {
  return n >= 1024 * 1024 ? `${n / (1024 * 1024)} MiB` : `${Math.round(n / 1024)} KiB`;
}

/** What a run tells its owner for the log. */
export interface RunHooks {
  /** The kept stderr lines, once the command is over (failed: it exited non-zero, timed out, ...). */
  readonly stderr: (lines: string[], failed: boolean) => void;
  /** The process group was killed before the command finished. */
  readonly killed: (reason: 'timeout' | 'output-too-large', pid: number) => void;
}

/** Runs the command; resolves with its output, or rejects with the catalog's error. */
export function runCommand(spec: CommandSpec, hooks: RunHooks): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(spec.argv[0]!, spec.argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const out: Buffer[] = [];
    let outBytes = 0;
    const err: Buffer[] = [];
    let errBytes = 0;
    let ended: 'timeout' | 'too-large' | null = null;
    let settled = false;
    const stop = (why: 'timeout' | 'too-large') => {
      if (ended) return;
      ended = why;
      killGroup(child.pid);
      hooks.killed(why === 'timeout' ? 'timeout' : 'output-too-large', child.pid ?? 0);
    };
    const timer = setTimeout(() => stop('timeout'), spec.timeoutMs);
    const abort = () => killGroup(child.pid);
    spec.signal?.addEventListener('abort', abort, { once: true });
    child.stdout!.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > spec.maxOutputBytes) return stop('too-large');
      out.push(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      if (errBytes < STDERR_KEEP_BYTES) err.push(chunk);
      errBytes += chunk.length;
    });
    const finish = (error: AhError | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      spec.signal?.removeEventListener('abort', abort);
      const lines = stderrLines(Buffer.concat(err).subarray(0, STDERR_KEEP_BYTES).toString('utf8'));
      if (lines.length) hooks.stderr(lines, error !== null);
      if (error) reject(error);
      else resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: lines });
    };
    const said = () => stderrSuffix(stderrLines(Buffer.concat(err).subarray(0, STDERR_KEEP_BYTES).toString('utf8')));
    child.once('error', (e: NodeJS.ErrnoException) => {
      killGroup(child.pid);
      const detail = e.code === 'ENOENT' ? 'no such file or directory' : e.code === 'EACCES' ? 'permission denied' : (e.code ?? e.message);
      finish(new AhError('ENROLL_EXEC_NOT_STARTED', { command: spec.program, detail }));
    });
    // 'close': the exit and all of stdout and stderr (a child it left behind may hold them open
    // until it is killed, below, or the timeout kills the group).
    child.once('exit', () => killGroup(child.pid));
    child.once('close', (code, signal) => {
      const command = spec.program;
      if (ended === 'timeout') return finish(new AhError('ENROLL_EXEC_TIMEOUT', { command, timeout: formatDuration(spec.timeoutMs), stderr: said() }));
      if (ended === 'too-large')
        return finish(new AhError('ENROLL_EXEC_OUTPUT_TOO_LARGE', { command, limit: formatBytes(spec.maxOutputBytes), stderr: said() }));
      if (code !== 0)
        return finish(new AhError('ENROLL_EXEC_FAILED', { command, status: code === null ? `signal ${signal}` : `status ${code}`, stderr: said() }));
      finish(null);
    });
  });
}
