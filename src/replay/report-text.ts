/**
 * `ah agent replay` for people: per actor, the path with times (UTC, as the log's `time` fields)
 * and how long each state lasted, then where the rebuilt path and the log disagree (by line), then
 * the stuck actors with the guide's message, causes and fixes, exactly as the CLI prints errors.
 */
import { formatForTerminal, messageOf } from '../errors/ah-error.js';
import { formatDuration } from '../util/duration.js';
import type { ActorRebuild, PathStep } from './actor-rebuild.js';
import type { ReplayResult } from './replay-log.js';
import { formatValue } from './state-value.js';
import type { Diagnosis } from './stuck.js';

/** Long paths (a retry storm) show their start and their end. */
const HEAD_STEPS = 10;
const TAIL_STEPS = 50;

export const clockTime = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export function actorLabel(a: Pick<ActorRebuild, 'actor' | 'run'>): string {
  return a.run > 1 ? `${a.actor}#${a.run}` : a.actor;
}

function fromWhom(source: string, event: string): string {
  if (source.startsWith('child:')) return event.endsWith(`.actor.${source.slice(6)}`) ? '' : ` from ${source.slice(6)}`;
  if (source === 'self') return ' (timer)';
  return '';
}

/** `IDENTITY_RENEWED ×2, RENEWAL_DUE`: what happened in a state without leaving it. */
export function quietSummary(step: PathStep, max = 4): string {
  const entries = Object.entries(step.quiet).sort((a, b) => b[1] - a[1]);
  const shown = entries.slice(0, max).map(([type, n]) => (n > 1 ? `${type} ×${n}` : type));
  if (entries.length > max) shown.push(`${entries.length - max} more kinds`);
  return shown.join(', ');
}

function pathRows(a: ActorRebuild, end: number, origin: number): string[] {
  const rows: string[] = [];
  const width = Math.min(40, Math.max(12, ...a.steps.map((s) => formatValue(s.value).length)));
  const render = (s: PathStep, i: number) => {
    const next = a.steps[i + 1];
    const lasted = (next ? next.time : end) - s.time;
    const last = i === a.steps.length - 1;
    const quiet = s.quietCount ? `; then ${quietSummary(s)}` : '';
    return (
      `  ${String(i + 1).padStart(4)}  ${clockTime(s.time)}  ${`+${formatDuration(s.time - origin)}`.padEnd(8)}  ` +
      `${formatValue(s.value).padEnd(width)}  ${(last && a.status !== 'done' ? `${formatDuration(lasted)}+` : formatDuration(lasted)).padEnd(7)}  ` +
      `${s.event}${fromWhom(s.source, s.event)} (line ${s.line})${quiet}${last ? (a.status === 'done' ? '  ← final state' : '  ← last state') : ''}`
    );
  };
  if (a.steps.length <= HEAD_STEPS + TAIL_STEPS + 5) {
    a.steps.forEach((s, i) => rows.push(render(s, i)));
  } else {
    for (let i = 0; i < HEAD_STEPS; i++) rows.push(render(a.steps[i]!, i));
    rows.push(`        … ${a.steps.length - HEAD_STEPS - TAIL_STEPS} more steps (--json has them all) …`);
    for (let i = a.steps.length - TAIL_STEPS; i < a.steps.length; i++) rows.push(render(a.steps[i]!, i));
  }
  return rows;
}

function verdict(a: ActorRebuild): string {
  if (!a.rebuilt) return 'not rebuilt: the log begins after it started (no init line), path as logged';
  if (a.mismatchCount === 0) return 'rebuilt states match the log';
  return `DIFFERS from the log (${a.mismatchCount} mismatch${a.mismatchCount === 1 ? '' : 'es'})`;
}

export function renderDiagnosis(d: Diagnosis, label = d.actor): string {
  const head =
    d.kind === 'rejected'
      ? `REJECTED ${label} (${d.machine}), ${d.state} since ${clockTime(d.since)}: ${d.summary}`
      : `STUCK ${label} (${d.machine}) in ${d.state} since ${clockTime(d.since)}: ${d.summary}`;
  const body = formatForTerminal(d.error);
  const also = d.lastError ? `\n  last error: ${messageOf(d.lastError)} (${d.lastError.code})` : '';
  return `${head}\n${body}${also}`;
}

function header(r: ReplayResult, name: string): string[] {
  const parts = [`${r.lines} line${r.lines === 1 ? '' : 's'}`, `${r.machineLines} machine line${r.machineLines === 1 ? '' : 's'}`];
  if (r.otherLines) parts.push(`${r.otherLines} other ah line${r.otherLines === 1 ? '' : 's'}`);
  parts.push(r.skippedLines ? `${r.skippedLines} not from ah, skipped (first: line ${r.firstSkipped!.line}: ${r.firstSkipped!.text})` : 'no line skipped');
  const out = [`replayed ${name}: ${parts.join(', ')}`];
  if (r.from !== null && r.to !== null) {
    out.push(
      r.at !== null
        ? `log from ${new Date(r.from).toISOString()}, read up to --at; times below are UTC`
        : `log from ${new Date(r.from).toISOString()} to ${new Date(r.to).toISOString()} (${formatDuration(r.to - r.from)}); times below are UTC`,
    );
  }
  if (r.unterminated) out.push('note: the last line has no newline: the log may have been copied while it was written');
  for (const u of r.unknownMachines) out.push(`note: ${u.actor} runs machine "${u.machine}", unknown to this version of ah (line ${u.line}): shown as logged`);
  return out;
}

export function renderText(r: ReplayResult, name: string): string {
  const out = header(r, name);
  if (r.at !== null) return [...out, ...renderAt(r)].join('\n');
  const end = r.to ?? 0;
  const origin = r.from ?? 0;
  for (const a of r.actors) {
    out.push(
      '',
      `${actorLabel(a)} (${a.machine}): ${a.steps.length} state${a.steps.length === 1 ? '' : 's'}, ${a.events} event${a.events === 1 ? '' : 's'}; ${verdict(a)}`,
    );
    out.push(`  ${'#'.padStart(4)}  ${'time'.padEnd(12)}  ${'offset'.padEnd(8)}  state, for how long, and what led there`);
    out.push(...pathRows(a, end, origin));
    for (const u of a.unconfirmed)
      out.push(`  (line ${u.line}: the log ends before the state line of ${u.event}; shown as rebuilt: ${formatValue(u.rebuilt)})`);
    for (const m of a.mismatches) out.push(`  ✗ line ${m.line}: ${m.detail}`);
    if (a.mismatchCount > a.mismatches.length) out.push(`  ✗ … and ${a.mismatchCount - a.mismatches.length} more`);
  }
  out.push('');
  out.push(...renderVerdicts(r));
  return out.join('\n');
}

function renderVerdicts(r: ReplayResult): string[] {
  const out: string[] = [];
  if (r.mismatches) {
    const first = r.actors.flatMap((a) => a.mismatches.map((m) => ({ a, m }))).sort((x, y) => x.m.line - y.m.line)[0]!;
    out.push(
      `MISMATCH: the rebuilt path differs from the log in ${r.mismatches} place${r.mismatches === 1 ? '' : 's'}; first at line ${first.m.line} (${actorLabel(first.a)}): ${first.m.detail}`,
    );
  } else if (r.actors.some((a) => a.rebuilt)) {
    out.push('every rebuilt state matches the log');
  }
  const byActor = new Map(r.actors.map((a) => [a.actor, a] as const));
  const label = (d: Diagnosis) => (byActor.get(d.actor) ? actorLabel(byActor.get(d.actor)!) : d.actor);
  if (!r.diagnoses.some((d) => d.kind !== 'rejected')) out.push('no actor is stuck');
  // Links rejected for the same reason (an executor retrying with a refused certificate) are one block.
  const groups = new Map<string, Diagnosis[]>();
  for (const d of r.diagnoses) {
    const key = d.kind === 'rejected' ? `rejected|${d.error.code}|${JSON.stringify(d.error.params)}` : `${d.actor}|${groups.size}`;
    groups.set(key, [...(groups.get(key) ?? []), d]);
  }
  for (const [, list] of groups) {
    const last = list[list.length - 1]!;
    const names = list.length > 4 ? `${list.slice(0, 3).map(label).join(', ')}, … ${label(last)} (${list.length} links)` : list.map(label).join(', ');
    out.push('', renderDiagnosis(last, names));
  }
  return out;
}

function renderAt(r: ReplayResult): string[] {
  const at = r.at!;
  const out = [
    '',
    `states at ${new Date(at).toISOString()} (${r.from !== null ? `+${formatDuration(Math.max(0, at - r.from))} into the log` : 'no machine line before it'}):`,
  ];
  if (r.from !== null && at < r.from) out.push("  (before the log's first machine line)");
  const width = Math.max(8, ...r.actors.map((a) => actorLabel(a).length));
  for (const a of r.actors) {
    const last = a.steps[a.steps.length - 1];
    if (!last) continue;
    out.push(
      `  ${actorLabel(a).padEnd(width)}  ${a.machine.padEnd(12)}  ${formatValue(last.value).padEnd(32)}  since ${clockTime(last.time)} (${formatDuration(at - last.time)})`,
    );
  }
  out.push('');
  out.push(...renderVerdicts(r));
  return out;
}
