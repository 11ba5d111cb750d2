/**
 * `ah agent replay --json`: the same findings as plain data, every step included, for scripts and
 * for the visualizer's page. Times are epoch milliseconds, as in the log.
 */
import { messageOf } from '../errors/ah-error.js';
import type { ActorRebuild, Mismatch, Unconfirmed } from './actor-rebuild.js';
import type { ReplayResult } from './replay-log.js';
import { actorLabel } from './report-text.js';
import { formatValue } from './state-value.js';
import type { Diagnosis } from './stuck.js';

export interface StepJson {
  readonly line: number;
  readonly stateLine: number | null;
  readonly time: number;
  readonly durationMs: number;
  readonly event: string;
  readonly source: string;
  readonly state: string;
  readonly value: unknown;
  readonly path: string;
  readonly quiet: Record<string, number>;
  readonly error: { code: string; message: string } | null;
}

export interface ActorJson {
  readonly actor: string;
  readonly label: string;
  readonly run: number;
  readonly machine: string;
  readonly rebuilt: boolean;
  readonly status: ActorRebuild['status'];
  readonly events: number;
  readonly input: unknown;
  readonly final: { readonly state: string; readonly value: unknown; readonly path: string; readonly since: number } | null;
  readonly steps: readonly StepJson[];
  readonly mismatchCount: number;
  readonly mismatches: readonly Mismatch[];
  /** Changes at the very end of the log whose state line was not written yet. */
  readonly unconfirmed: readonly Unconfirmed[];
}

export interface DiagnosisJson extends Diagnosis {
  readonly message: string;
}

export interface ReplayJson {
  readonly lines: number;
  readonly machineLines: number;
  readonly otherLines: number;
  readonly skippedLines: number;
  readonly firstSkipped: ReplayResult['firstSkipped'];
  readonly unterminated: boolean;
  readonly from: number | null;
  readonly to: number | null;
  readonly at: number | null;
  readonly matches: boolean;
  readonly mismatches: number;
  readonly actors: readonly ActorJson[];
  readonly diagnoses: readonly DiagnosisJson[];
}

export function actorJson(a: ActorRebuild, end: number): ActorJson {
  const last = a.steps[a.steps.length - 1];
  return {
    actor: a.actor,
    label: actorLabel(a),
    run: a.run,
    machine: a.machine,
    rebuilt: a.rebuilt,
    status: a.status,
    events: a.events,
    input: a.input ?? null,
    final: last ? { state: last.state, value: last.value, path: formatValue(last.value), since: last.time } : null,
    steps: a.steps.map((s, i) => ({
      line: s.line,
      stateLine: s.stateLine,
      time: s.time,
      durationMs: (a.steps[i + 1]?.time ?? end) - s.time,
      event: s.event,
      source: s.source,
      state: s.state,
      value: s.value,
      path: formatValue(s.value),
      quiet: s.quiet,
      error: s.error ? { code: s.error.code, message: messageOf(s.error) } : null,
    })),
    mismatchCount: a.mismatchCount,
    mismatches: a.mismatches,
    unconfirmed: a.unconfirmed,
  };
}

export function toJson(r: ReplayResult): ReplayJson {
  const end = r.at ?? r.to ?? 0;
  return {
    lines: r.lines,
    machineLines: r.machineLines,
    otherLines: r.otherLines,
    skippedLines: r.skippedLines,
    firstSkipped: r.firstSkipped,
    unterminated: r.unterminated,
    from: r.from,
    to: r.to,
    at: r.at,
    matches: r.mismatches === 0,
    mismatches: r.mismatches,
    actors: r.actors.map((a) => actorJson(a, end)),
    diagnoses: r.diagnoses.map((d) => ({ ...d, message: messageOf(d.error) })),
  };
}
