/**
 * Recent logs for the bundle: the system journal of the units `ah-executor` and `ah-access-point`
 * when `journalctl` is there and has entries for them, and the log files the operator names, each
 * cut to the lines since `--since`. A line's time is its JSON `time` (pino's epoch milliseconds, or
 * an ISO string) or an ISO timestamp at its start; a line without one (a stack trace, a wrapped
 * message) goes with the line before it, and lines before the first timed one are kept. Each log
 * keeps at most its last MAX_LOG_BYTES.
 */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { readLines } from '../replay/line-reader.js';

export const JOURNAL_UNITS = ['ah-executor', 'ah-access-point'] as const;
export const MAX_LOG_BYTES = 32 * 1024 * 1024;

export interface GatheredLog {
  /** File name inside the bundle's logs/ directory. */
  readonly name: string;
  /** Where it came from: `journalctl -u …` or the file's path. */
  readonly source: string;
  readonly text: string;
  readonly lines: number;
  /** Lines dropped to stay under MAX_LOG_BYTES. */
  readonly cut: boolean;
}

export type LogOutcome = { readonly log: GatheredLog } | { readonly missing: { readonly what: string; readonly why: string } };

const ISO_AT_START = /^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)/;

/** The time of a log line, or null when it carries none. */
export function lineTime(line: string): number | null {
  if (line.startsWith('{')) {
    try {
      const t = (JSON.parse(line) as { time?: unknown }).time;
      if (typeof t === 'number' && Number.isFinite(t)) return t;
      if (typeof t === 'string' && !Number.isNaN(Date.parse(t))) return Date.parse(t);
    } catch {
      // not JSON after all: look for a timestamp at the start
    }
  }
  const m = ISO_AT_START.exec(line);
  return m && !Number.isNaN(Date.parse(m[1]!)) ? Date.parse(m[1]!) : null;
}

/** Keeps the lines since a time, and only the last MAX_LOG_BYTES of them. */
class SinceFilter {
  private readonly kept: string[] = [];
  private bytes = 0;
  private head = 0;
  private keeping = true;
  cut = false;

  constructor(private readonly since: number) {}

  line = (text: string): void => {
    const t = lineTime(text);
    if (t !== null) this.keeping = t >= this.since;
    if (!this.keeping) return;
    this.kept.push(text);
    this.bytes += Buffer.byteLength(text) + 1;
    while (this.bytes > MAX_LOG_BYTES && this.head < this.kept.length) {
      this.bytes -= Buffer.byteLength(this.kept[this.head]!) + 1;
      this.kept[this.head++] = '';
      this.cut = true;
    }
  };

  get lines(): string[] {
    return this.kept.slice(this.head);
  }
}

export async function logFile(path: string, since: number, name: string): Promise<LogOutcome> {
  const filter = new SinceFilter(since);
  try {
    await readLines(path, filter.line);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : (code ?? String(err));
    return { missing: { what: `log file ${path}`, why } };
  }
  const lines = filter.lines;
  return { log: { name, source: path, text: lines.length ? `${lines.join('\n')}\n` : '', lines: lines.length, cut: filter.cut } };
}

/** A name for each --log-file inside logs/, unique even when two files share a base name. */
export function logNames(paths: readonly string[]): string[] {
  const used = new Set<string>(['journal.log']);
  return paths.map((p) => {
    const base = basename(p).replace(/[^A-Za-z0-9._-]/g, '_') || 'log';
    let name = base;
    for (let n = 2; used.has(name); n++) name = `${base}.${n}`;
    used.add(name);
    return name;
  });
}

/** journalctl's output read a line at a time into `sink` (a month of journal need not fit in memory); its exit and stderr's first line. */
function journalctl(args: string[], sink: (line: string) => void): Promise<{ missing: boolean; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('journalctl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 4096) stderr += d;
    });
    // Settled either way: a spawn that failed leaves a stream that never yields.
    const read = readLines(child.stdout, (line) => {
      if (line !== '') sink(line);
    }).catch(() => undefined);
    child.once('error', (err: NodeJS.ErrnoException) => resolve({ missing: err.code === 'ENOENT', code: null, stderr: err.message }));
    child.once('close', (code) => void read.then(() => resolve({ missing: false, code, stderr })));
  });
}

/**
 * The journal of both units since `since`, as the messages alone (`-o cat`): the daemons' JSON
 * lines, which carry their own time, and which replay reads back.
 */
export async function journal(since: number): Promise<LogOutcome> {
  const what = `system journal (journalctl ${JOURNAL_UNITS.map((u) => `-u ${u}`).join(' ')})`;
  const args = [...JOURNAL_UNITS.flatMap((u) => ['-u', u]), '--since', `@${Math.floor(since / 1000)}`, '-o', 'cat', '--no-pager', '-q'];
  const filter = new SinceFilter(since);
  const r = await journalctl(args, filter.line);
  if (r.missing) return { missing: { what, why: 'journalctl is not installed on this machine' } };
  if (r.code !== 0 && filter.lines.length === 0) {
    const first = r.stderr.split('\n').find((l) => l.trim()) ?? `exit ${r.code}`;
    return { missing: { what, why: `journalctl failed: ${first.trim()}` } };
  }
  const lines = filter.lines;
  if (lines.length === 0) return { missing: { what, why: `no entries for these units since ${new Date(since).toISOString()}` } };
  return { log: { name: 'journal.log', source: `journalctl ${args.join(' ')}`, text: `${lines.join('\n')}\n`, lines: lines.length, cut: filter.cut } };
}
