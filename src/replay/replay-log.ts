/**
 * Replay a whole log: classify each line, hand each machine line to the run of its actor, and at
 * the end say what every actor went through, where the rebuilt path disagrees with the log, and
 * which actors are stuck. Lines are processed as they are read; nothing but the state paths is
 * kept, so a log of millions of events replays in constant memory per actor.
 *
 * An actor whose `xstate.init` line appears again (the daemon restarted, within one journal) starts
 * a new run, shown as `<actor>#2`.
 */
import type { Readable } from 'node:stream';
import { ActorRebuild } from './actor-rebuild.js';
import { readLines, splitLines, type LineCount } from './line-reader.js';
import { classifyLine, type MachineRecord } from './log-record.js';
import { replayableMachine } from './replay-machines.js';
import { dedupe, diagnose, type Diagnosis } from './stuck.js';
import { resolveTimeQuery, type TimeQuery } from './time-query.js';

export interface ReplayOptions {
  /** Only this actor and its children (`executor:NAME` may be given as NAME). */
  readonly actor?: string;
  /** Stop at this time: states, mismatches and diagnoses are as of then. */
  readonly at?: TimeQuery;
}

export interface ReplayResult {
  readonly lines: number;
  readonly machineLines: number;
  /** ah log lines of other components (not needed to replay). */
  readonly otherLines: number;
  /** Lines that are not ah log lines at all, skipped. */
  readonly skippedLines: number;
  readonly firstSkipped: { readonly line: number; readonly text: string } | null;
  /** The file's last line has no newline (it may still have been written to). */
  readonly unterminated: boolean;
  /** First and last time of the machine lines read (epoch ms). */
  readonly from: number | null;
  readonly to: number | null;
  /** The `--at` time, resolved. */
  readonly at: number | null;
  /** In order of first appearance. */
  readonly actors: readonly ActorRebuild[];
  /** Every actor name in the log, also those `--actor` left out. */
  readonly actorNames: readonly string[];
  /** Machines this build does not know (a log from another version). */
  readonly unknownMachines: ReadonlyArray<{ readonly actor: string; readonly machine: string; readonly line: number }>;
  readonly diagnoses: readonly Diagnosis[];
  /** Mismatches over all actors. */
  readonly mismatches: number;
}

export function actorFilter(wanted: string | undefined): (actor: string) => boolean {
  if (!wanted) return () => true;
  const names = wanted.includes(':') || wanted.startsWith('link-') || wanted.startsWith('access-point') ? [wanted] : [wanted, `executor:${wanted}`];
  return (actor) => names.some((n) => actor === n || actor.startsWith(`${n}/`) || actor.startsWith(`${n}#`));
}

/** Feed lines one by one, then `finish()`. */
export class ReplaySession {
  private readonly runs = new Map<string, ActorRebuild>();
  private readonly order: ActorRebuild[] = [];
  private readonly names = new Set<string>();
  private readonly runCount = new Map<string, number>();
  private readonly unknown: Array<{ actor: string; machine: string; line: number }> = [];
  private readonly wanted: (actor: string) => boolean;
  private machineLines = 0;
  private otherLines = 0;
  private skipped = 0;
  private firstSkipped: { line: number; text: string } | null = null;
  private from: number | null = null;
  private to: number | null = null;
  private at: number | null = null;
  /** Past `--at`: the rest of the log is not read. */
  private cut = false;

  constructor(private readonly options: ReplayOptions = {}) {
    this.wanted = actorFilter(options.actor);
  }

  /** @throws LogLineError for a line that looks like ours but cannot be read. */
  readonly line = (text: string, line: number): void => {
    if (this.cut) return;
    const c = classifyLine(text, line);
    if (c.kind === 'other') {
      this.otherLines++;
      // The log goes on until its last line of ours (a link's heartbeats, say): the diagnosis's
      // "now", and what the tail of unconfirmed steps is measured back from.
      if (c.time !== null && this.from !== null && c.time > (this.to ?? 0) && (this.at === null || c.time <= this.at)) this.to = c.time;
      return;
    }
    if (c.kind === 'foreign') {
      if (text.trim() === '') return;
      this.skipped++;
      this.firstSkipped ??= { line, text: text.length > 80 ? `${text.slice(0, 77)}...` : text };
      return;
    }
    this.record(c.record);
  };

  private record(r: MachineRecord): void {
    if (this.from === null) {
      this.from = r.time;
      if (this.options.at) this.at = resolveTimeQuery(this.options.at, r.time);
    }
    if (this.at !== null && r.time > this.at) {
      this.cut = true;
      return;
    }
    this.machineLines++;
    this.to = this.to === null ? r.time : Math.max(this.to, r.time);
    this.names.add(r.actor);
    if (!this.wanted(r.actor)) return;
    const isInit = r.kind === 'event' && r.source === 'init';
    let run = this.runs.get(r.actor);
    if (!run || isInit) {
      if (run && isInit) run.finish(`before it restarted (line ${r.line})`);
      const n = (this.runCount.get(r.actor) ?? 0) + 1;
      this.runCount.set(r.actor, n);
      const logic = replayableMachine(r.machine);
      if (!logic && n === 1) this.unknown.push({ actor: r.actor, machine: r.machine, line: r.line });
      run = new ActorRebuild(r.actor, r.machine, n, isInit ? logic : null, r);
      this.runs.set(r.actor, run);
      this.order.push(run);
      return;
    }
    if (r.kind === 'event') run.onEvent(r);
    else run.onState(r);
  }

  finish(count: LineCount): ReplayResult {
    const endOfLog = !this.cut && this.at === null;
    for (const run of this.runs.values()) run.finish(endOfLog ? 'before the log ends' : null, this.to);
    const now = this.at ?? this.to ?? 0;
    // An actor that was replaced by a later run of the same name ended with its process; only the
    // current run of each actor can be stuck.
    const current = new Set(this.runs.values());
    const diagnoses = dedupe(
      this.order
        .filter((a) => current.has(a))
        .map((a) => diagnose(a, now))
        .filter((d): d is Diagnosis => d !== null),
    );
    for (const run of this.order) run.dispose();
    return {
      lines: count.lines,
      machineLines: this.machineLines,
      otherLines: this.otherLines,
      skippedLines: this.skipped,
      firstSkipped: this.firstSkipped,
      unterminated: count.unterminated,
      from: this.from,
      to: this.to,
      at: this.at,
      actors: this.order,
      actorNames: [...this.names],
      unknownMachines: this.unknown,
      diagnoses,
      mismatches: this.order.reduce((n, a) => n + a.mismatchCount, 0),
    };
  }
}

export async function replayFile(input: string | Readable, options: ReplayOptions = {}): Promise<ReplayResult> {
  const session = new ReplaySession(options);
  const count = await readLines(input, session.line);
  return session.finish(count);
}

export function replayText(text: string, options: ReplayOptions = {}): ReplayResult {
  const session = new ReplaySession(options);
  const count = splitLines(text, session.line);
  return session.finish(count);
}
