/**
 * Replay of the gathered logs, as `ah agent replay` and `ah agent visualize --actor` make it: for
 * each log with machine lines, the replay report, and for each actor the replay finds stuck, its
 * visualize page (its path over its machine, its timeline, the diagnosis with the guide's fixes).
 * The logs are replayed as they go into the bundle, already redacted.
 */
import type { ReplayResult } from '../replay/replay-log.js';

/** An access point with many refused links would give a page each; the first ones say enough. */
export const MAX_STUCK_PAGES = 20;

export interface ReplayFiles {
  readonly report: string | null;
  readonly pages: Array<{ readonly actor: string; readonly file: string; readonly html: string; readonly summary: string }>;
  /** Why there is no report, or why some pages were left out. */
  readonly note: string | null;
}

const fileName = (actor: string) => actor.replace(/[^A-Za-z0-9._-]/g, '_');

export async function replayLog(text: string, name: string): Promise<ReplayFiles> {
  const [{ replayText }, { LogLineError }, { renderText }] = await Promise.all([
    import('../replay/replay-log.js'),
    import('../replay/log-record.js'),
    import('../replay/report-text.js'),
  ]);
  let whole: ReplayResult;
  try {
    whole = replayText(text);
  } catch (err) {
    if (err instanceof LogLineError) return { report: null, pages: [], note: `cannot replay: ${err.message}` };
    throw err;
  }
  if (whole.machineLines === 0) {
    return { report: null, pages: [], note: 'no ah_machine lines (the daemons log them with --log-level debug, or AH_LOG=ah_machine=debug)' };
  }
  const report = renderText(whole, name);
  const stuck = [...new Set(whole.diagnoses.map((d) => d.actor))];
  if (stuck.length === 0) return { report, pages: [], note: null };
  const { replayPage } = await import('../visualize/html-page.js');
  const pages: Array<ReplayFiles['pages'][number]> = [];
  for (const actor of stuck.slice(0, MAX_STUCK_PAGES)) {
    const one = replayText(text, { actor });
    const diagnosis = one.diagnoses.find((d) => d.actor === actor) ?? whole.diagnoses.find((d) => d.actor === actor)!;
    pages.push({ actor, file: `${fileName(actor)}.html`, html: await replayPage(one, name), summary: `${diagnosis.kind}: ${diagnosis.summary}` });
  }
  const left = stuck.length - pages.length;
  return { report, pages, note: left > 0 ? `${left} more stuck actors without a page (the report names them all)` : null };
}
