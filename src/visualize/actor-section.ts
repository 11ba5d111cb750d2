/**
 * One actor drawn: its machine as a statechart with the path laid over it, the stuck diagnosis in
 * the CLI's words, where the rebuilt path disagrees with the log, and the timeline of events. The
 * same markup serves the offline page (`ah agent visualize`) and the access point's live view, so
 * an operator reads one picture in both places.
 */
import { formatForTerminal, messageOf } from '../errors/ah-error.js';
import type { StateValue } from '../replay/log-record.js';
import { MACHINES } from '../replay/replay-machines.js';
import { formatValue } from '../replay/state-value.js';
import type { Diagnosis } from '../replay/stuck.js';
import { formatDuration } from '../util/duration.js';
import { toDot } from './dot.js';
import { overlayPath } from './path-overlay.js';
import { eventLabel, statechart } from './statechart.js';
import { renderSvg } from './svg.js';

export interface ViewStep {
  readonly time: number;
  readonly event: string;
  readonly source: string;
  readonly value: StateValue;
  /** Log line of the event (replay), absent live. */
  readonly line?: number;
  /** Events received in this state that did not leave it, by type. */
  readonly quiet?: Readonly<Record<string, number>>;
  readonly error?: { readonly code: string; readonly params: Readonly<Record<string, string>> } | null;
}

export interface ActorView {
  readonly id: string;
  readonly label: string;
  readonly machine: string;
  readonly steps: readonly ViewStep[];
  /** Ended in a final state. */
  readonly done: boolean;
  /** Until when the last state lasted (end of log, or now). */
  readonly end: number;
  /** Offsets are from here (the log's first line). */
  readonly origin: number;
  readonly subtitle?: string;
  readonly check?: {
    readonly rebuilt: boolean;
    readonly mismatchCount: number;
    readonly mismatches: ReadonlyArray<{ readonly line: number; readonly detail: string }>;
    /** Changes at the very end of the log whose state line it does not have yet. */
    readonly unconfirmed?: ReadonlyArray<{ readonly line: number; readonly event: string; readonly rebuilt: StateValue }>;
  };
  readonly diagnosis?: Diagnosis | null;
  /** Steps left out of the timeline (the live view keeps the recent ones). */
  readonly earlierSteps?: number;
}

const TIMELINE_HEAD = 50;
const TIMELINE_TAIL = 450;

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export const clock = (ms: number) => new Date(ms).toISOString().slice(11, 23);

export function diagnosisBlock(d: Diagnosis, label: string): string {
  const text = formatForTerminal(d.error) + (d.lastError ? `\n  last error: ${messageOf(d.lastError)} (${d.lastError.code})` : '');
  return (
    `<div class="diagnosis" data-kind="${escapeHtml(d.kind)}" data-code="${escapeHtml(d.error.code)}">` +
    `<p><strong>${d.kind === 'rejected' ? 'Rejected' : 'Stuck'}:</strong> ${escapeHtml(label)} (${escapeHtml(d.machine)}) in <code>${escapeHtml(d.state)}</code> since ${clock(d.since)} UTC: ${escapeHtml(d.summary)}</p>` +
    `<pre>${escapeHtml(text)}</pre></div>`
  );
}

function quietText(quiet: Readonly<Record<string, number>> | undefined): string {
  if (!quiet) return '';
  return Object.entries(quiet)
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => (n > 1 ? `${t} ×${n}` : t))
    .join(', ');
}

/** `from link-2`, unless the event's name already says who sent it (`renew done`). */
function sender(s: ViewStep): string {
  if (s.source === 'self') return ' <span class="from">(timer)</span>';
  if (!s.source.startsWith('child:')) return '';
  const child = s.source.slice(6);
  return s.event.endsWith(`.actor.${child}`) ? '' : ` <span class="from">from ${escapeHtml(child)}</span>`;
}

function timeline(v: ActorView): string {
  const rows: string[] = [];
  const invokeSrc = MACHINES[v.machine] ? statechart(MACHINES[v.machine]!).invokeSrc : new Map<string, string>();
  const offset = v.earlierSteps ?? 0;
  const row = (s: ViewStep, i: number) => {
    const next = v.steps[i + 1];
    const lasted = (next ? next.time : v.end) - s.time;
    const n = offset + i + 1;
    const last = i === v.steps.length - 1;
    const error = s.error ? `<div class="err">${escapeHtml(messageOf(s.error))} <code>${escapeHtml(s.error.code)}</code></div>` : '';
    const quiet = quietText(s.quiet);
    return (
      `<tr class="step${last ? ' last' : ''}" data-step="${n}" id="${escapeHtml(v.id)}-step-${n}">` +
      `<td class="n">${n}</td><td class="t">${clock(s.time)}</td><td class="off">+${formatDuration(Math.max(0, s.time - v.origin))}</td>` +
      `<td class="ev"><span title="${escapeHtml(s.event)}">${escapeHtml(eventLabel(s.event, invokeSrc))}</span>${sender(s)}${s.line ? ` <span class="line">line ${s.line}</span>` : ''}${error}</td>` +
      `<td class="st"><code>${escapeHtml(formatValue(s.value))}</code>${last ? (v.done ? ' <span class="tag">final</span>' : ' <span class="tag">now</span>') : ''}</td>` +
      `<td class="dur">${formatDuration(Math.max(0, lasted))}${last && !v.done ? '+' : ''}</td>` +
      `<td class="quiet">${escapeHtml(quiet)}</td></tr>`
    );
  };
  const total = v.steps.length;
  if (total <= TIMELINE_HEAD + TIMELINE_TAIL) v.steps.forEach((s, i) => rows.push(row(s, i)));
  else {
    for (let i = 0; i < TIMELINE_HEAD; i++) rows.push(row(v.steps[i]!, i));
    rows.push(`<tr class="gap"><td colspan="7">… ${total - TIMELINE_HEAD - TIMELINE_TAIL} steps not shown (ah agent replay --json has them all) …</td></tr>`);
    for (let i = total - TIMELINE_TAIL; i < total; i++) rows.push(row(v.steps[i]!, i));
  }
  return (
    `<table class="timeline"><thead><tr><th>#</th><th>time (UTC)</th><th>offset</th><th>event</th><th>state entered</th><th>for</th><th>then, without leaving it</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}

export async function actorSection(v: ActorView): Promise<string> {
  const machine = MACHINES[v.machine];
  const last = v.steps[v.steps.length - 1];
  const parts: string[] = [];
  const check = v.check
    ? !v.check.rebuilt
      ? '<span class="verdict unchecked">not rebuilt: the log begins after it started</span>'
      : v.check.mismatchCount === 0
        ? '<span class="verdict ok">rebuilt path matches the log</span>'
        : `<span class="verdict bad">differs from the log in ${v.check.mismatchCount} place${v.check.mismatchCount === 1 ? '' : 's'}</span>`
    : '';
  parts.push(`<h2><span class="name">${escapeHtml(v.label)}</span> <span class="machine">${escapeHtml(v.machine)}</span> ${check}</h2>`);
  if (v.subtitle) parts.push(`<p class="subtitle">${escapeHtml(v.subtitle)}</p>`);
  if (last) {
    parts.push(
      `<p class="final">${v.done ? 'Ended in' : 'Now in'} <code class="current-state">${escapeHtml(formatValue(last.value))}</code> since ${clock(last.time)} UTC ` +
        `(${formatDuration(Math.max(0, v.end - last.time))}), after ${v.steps.length + (v.earlierSteps ?? 0)} state${v.steps.length === 1 ? '' : 's'}.</p>`,
    );
  }
  if (v.diagnosis) parts.push(diagnosisBlock(v.diagnosis, v.label));
  if (v.check?.unconfirmed?.length) {
    parts.push(
      `<ul class="notes">${v.check.unconfirmed.map((u) => `<li data-line="${u.line}">line ${u.line}: the log ends before the state line of ${escapeHtml(u.event)}; shown as rebuilt: <code>${escapeHtml(formatValue(u.rebuilt))}</code></li>`).join('')}</ul>`,
    );
  }
  if (v.check?.mismatches.length) {
    parts.push(
      `<ul class="mismatches">${v.check.mismatches.map((m) => `<li data-line="${m.line}">line ${m.line}: ${escapeHtml(m.detail)}</li>`).join('')}</ul>`,
    );
  }
  if (machine) {
    const chart = statechart(machine);
    const overlay = overlayPath(chart, v.steps, v.done);
    // Live, the first steps kept may not start at the machine's start.
    const shown = v.earlierSteps ? { ...overlay, initial: false } : overlay;
    parts.push(`<div class="chart">${await renderSvg(toDot(chart, shown, `${v.label} (${v.machine})`, `${v.id}/`))}</div>`);
  }
  parts.push(timeline(v));
  return `<section class="actor" id="actor-${escapeHtml(v.id)}" data-actor="${escapeHtml(v.id)}" data-machine="${escapeHtml(v.machine)}">${parts.join('\n')}</section>`;
}

/** A machine alone, without a path. */
export async function machineSection(id: string): Promise<string> {
  const machine = MACHINES[id]!;
  const chart = statechart(machine);
  return (
    `<section class="machine-only" id="machine-${escapeHtml(id)}" data-machine="${escapeHtml(id)}"><h2><span class="name">${escapeHtml(id)}</span></h2>` +
    `<div class="chart">${await renderSvg(toDot(chart, null, id))}</div></section>`
  );
}

/**
 * The page's look, shared with the live view. Step numbers on the drawing match the timeline's
 * first column; clicking a row outlines its transition.
 */
export const PAGE_CSS = `
:root { font-family: system-ui, Helvetica, Arial, sans-serif; color: #263238; }
body { margin: 0; background: #fafafa; }
header { background: #263238; color: #eceff1; padding: 12px 20px; }
header h1 { margin: 0; font-size: 18px; font-weight: 600; }
header p { margin: 4px 0 0; font-size: 13px; color: #b0bec5; }
main { padding: 12px 20px 40px; }
nav.actors { margin: 10px 0; font-size: 13px; }
nav.actors a { margin-right: 12px; color: #1565c0; text-decoration: none; }
section.actor, section.machine-only { background: white; border: 1px solid #cfd8dc; border-radius: 6px; padding: 10px 16px; margin: 14px 0; }
h2 { font-size: 16px; margin: 4px 0 8px; }
h2 .machine { font-weight: 400; color: #607d8b; font-size: 13px; margin-left: 6px; }
.verdict { font-size: 12px; font-weight: 500; padding: 2px 8px; border-radius: 10px; margin-left: 8px; }
.verdict.ok { background: #e8f5e9; color: #2e7d32; }
.verdict.bad { background: #ffebee; color: #c62828; }
.verdict.unchecked { background: #eceff1; color: #546e7a; }
.final, .subtitle { font-size: 13px; margin: 4px 0; }
.current-state { background: #ffb74d; padding: 1px 6px; border-radius: 4px; }
.diagnosis { border-left: 4px solid #e65100; background: #fff3e0; padding: 6px 12px; margin: 8px 0; }
.diagnosis p { margin: 4px 0; font-size: 13px; }
.diagnosis pre { font-size: 12px; margin: 6px 0; white-space: pre-wrap; }
ul.mismatches { color: #c62828; font-size: 13px; }
ul.notes { color: #546e7a; font-size: 13px; }
.chart { overflow-x: auto; margin: 8px 0; }
.chart svg { max-width: 100%; height: auto; }
table.timeline { border-collapse: collapse; font-size: 12px; width: 100%; }
table.timeline th { text-align: left; border-bottom: 1px solid #b0bec5; padding: 3px 6px; color: #546e7a; font-weight: 500; }
table.timeline td { border-bottom: 1px solid #eceff1; padding: 3px 6px; vertical-align: top; }
table.timeline tr.step { cursor: pointer; }
table.timeline tr.step:hover, table.timeline tr.selected { background: #e3f2fd; }
table.timeline tr.last td.st code { background: #ffb74d; padding: 0 4px; border-radius: 3px; }
table.timeline .from, table.timeline .line { color: #78909c; }
table.timeline .err { color: #c62828; }
table.timeline .tag { font-size: 10px; background: #eceff1; border-radius: 8px; padding: 0 5px; }
table.timeline td.quiet { color: #78909c; }
table.timeline tr.gap td { text-align: center; color: #78909c; }
svg .transition.focus path, svg .transition.focus polygon { stroke: #1565c0 !important; stroke-width: 4px; }
svg .transition.focus text { fill: #1565c0 !important; font-weight: bold; }
.legend { font-size: 12px; color: #546e7a; }
.legend span { display: inline-block; padding: 1px 8px; border-radius: 4px; margin-right: 8px; border: 1px solid #cfd8dc; }
`;

export const PAGE_SCRIPT = `
document.addEventListener('click', (e) => {
  const row = e.target.closest && e.target.closest('tr.step');
  if (!row) return;
  const section = row.closest('section.actor');
  section.querySelectorAll('.focus').forEach((el) => el.classList.remove('focus'));
  section.querySelectorAll('tr.selected').forEach((el) => el.classList.remove('selected'));
  row.classList.add('selected');
  section.querySelectorAll('.step-' + row.dataset.step).forEach((el) => el.classList.add('focus'));
});
`;

export const LEGEND =
  '<p class="legend"><span style="background:#fff3c4">visited</span><span style="background:#ffb74d">current or final state</span>' +
  '<span style="color:#d32f2f;border-color:#d32f2f">transition taken, #step</span><span>▶ the event that took it</span></p>';
