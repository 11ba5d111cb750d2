/**
 * `ah agent visualize`: one self-contained HTML file. Styles, script and drawings are inline, and
 * the page's Content-Security-Policy forbids loading anything, so it opens the same on a laptop
 * without network as on the machine that wrote it, and can be attached to a ticket.
 */
import { basename } from 'node:path';
import { MACHINES } from '../replay/replay-machines.js';
import type { ReplayResult } from '../replay/replay-log.js';
import { actorLabel } from '../replay/report-text.js';
import { formatDuration } from '../util/duration.js';
import { VERSION } from '../version.js';
import { messageOf } from '../errors/ah-error.js';
import { actorSection, escapeHtml, LEGEND, machineSection, PAGE_CSS, PAGE_SCRIPT, type ActorView } from './actor-section.js';

/** Beyond this many actors (an access point with many links), `--actor` picks one. */
export const MAX_ACTORS_DRAWN = 40;

const CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:";

export function page(title: string, subtitle: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${PAGE_CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(title)}</h1><p>${escapeHtml(subtitle)}</p></header>
<main>
${body}
</main>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

/** The machines alone: what `ah agent visualize` draws without `--log`. */
export async function machinesPage(): Promise<string> {
  const sections = await Promise.all(Object.keys(MACHINES).map(machineSection));
  return page(
    'ah state machines',
    `enrollment, rotation, connection and access-point, as defined in ah ${VERSION}`,
    `<p class="legend">Rounded boxes are states, shaded boxes states with sub-states (entered at their dot), double borders final states; "any state" arrows apply everywhere; ⟳ names what a state runs.</p>\n${sections.join('\n')}`,
  );
}

export async function replayPage(result: ReplayResult, logPath: string): Promise<string> {
  const origin = result.from ?? 0;
  const end = result.at ?? result.to ?? origin;
  const byActor = new Map(result.diagnoses.map((d) => [d.actor, d] as const));
  const drawn = result.actors.slice(0, MAX_ACTORS_DRAWN);
  const views: ActorView[] = drawn.map((a) => ({
    id: actorLabel(a),
    label: actorLabel(a),
    machine: a.machine,
    steps: a.steps,
    done: a.status === 'done',
    end,
    origin,
    check: { rebuilt: a.rebuilt, mismatchCount: a.mismatchCount, mismatches: a.mismatches, unconfirmed: a.unconfirmed },
    // Only an actor's current run can be stuck.
    diagnosis: result.actors.filter((x) => x.actor === a.actor).pop() === a ? (byActor.get(a.actor) ?? null) : null,
  }));
  const sections = [];
  for (const v of views) sections.push(await actorSection(v));

  const summary = [
    `${result.lines} lines, ${result.machineLines} machine lines`,
    result.skippedLines ? `${result.skippedLines} lines not from ah skipped (first: line ${result.firstSkipped!.line})` : null,
    result.from !== null && result.to !== null
      ? `${new Date(result.from).toISOString()} to ${new Date(result.to).toISOString()} (${formatDuration(result.to - result.from)})`
      : null,
    result.at !== null ? `states as of ${new Date(result.at).toISOString()}` : null,
    result.mismatches
      ? `the rebuilt path differs from the log in ${result.mismatches} place${result.mismatches === 1 ? '' : 's'}`
      : 'every rebuilt state matches the log',
  ].filter(Boolean);
  const stuck = result.diagnoses.length
    ? `<section class="diagnoses"><h2>Stuck</h2><ul>${result.diagnoses
        .map(
          (d) =>
            `<li><a href="#actor-${escapeHtml(d.actor)}">${escapeHtml(d.actor)}</a> in <code>${escapeHtml(d.state)}</code>: ${escapeHtml(d.summary)} — <strong>${escapeHtml(messageOf(d.error))}</strong> (${escapeHtml(d.error.code)})</li>`,
        )
        .join('')}</ul></section>`
    : '<p class="final">No actor is stuck.</p>';
  const nav = `<nav class="actors">${views.map((v) => `<a href="#actor-${escapeHtml(v.id)}">${escapeHtml(v.label)}</a>`).join('')}</nav>`;
  const more =
    result.actors.length > drawn.length
      ? `<p class="final">${result.actors.length - drawn.length} more actors not drawn: pick one with --actor (${escapeHtml(
          result.actors
            .slice(drawn.length, drawn.length + 5)
            .map(actorLabel)
            .join(', '),
        )}, …).</p>`
      : '';
  return page(`ah replay: ${basename(logPath)}`, summary.join(' · '), `${nav}\n${stuck}\n${LEGEND}\n${sections.join('\n')}\n${more}`);
}
