/**
 * `ah agent visualize [--log LOG] [--actor ID] --out FILE.html`: the machines as statecharts in one
 * self-contained HTML file; with a log, each actor's replayed path laid over its machine, the
 * timeline of its events, and the stuck diagnosis. Reads the log exactly as `ah agent replay`.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { TimeQuery } from '../../replay/time-query.js';
import { EXIT_FAILURE } from '../common.js';
import { parseAt, replayOrExit } from './replay.js';

interface VisualizeFlags {
  log?: string;
  actor?: string;
  at?: TimeQuery;
  out: string;
}

export function registerVisualize(agent: Command): void {
  agent
    .command('visualize')
    .summary('draw the machines, and a replayed log over them, as one offline HTML page')
    .description(
      'Write FILE.html: the enrollment, rotation, connection and access-point machines as statecharts. ' +
        'With --log, each actor of the log drawn with its replayed path (visited states, numbered transitions, the state it ended in), ' +
        'its timeline of events and the stuck diagnosis. The file is self-contained: no network is needed to view it.',
    )
    .option('--log <file>', "debug log to replay (as for ah agent replay; '-' for stdin)")
    .option('--actor <id>', 'only this actor and its children (executor:NAME or NAME, access-point, link-N)')
    .option('--at <time>', 'draw the states as of this time (as for ah agent replay)', parseAt)
    .requiredOption('--out <file.html>', 'where to write the page')
    .action(async (flags: VisualizeFlags) => {
      // Graphviz (WebAssembly) is loaded by this command only, not by every `ah` start.
      const { machinesPage, replayPage } = await import('../../visualize/html-page.js');
      let html: string;
      let said: string;
      if (flags.log) {
        const result = await replayOrExit(flags.log, { actor: flags.actor, at: flags.at });
        html = await replayPage(result, flags.log);
        said = `${result.actors.length} actor${result.actors.length === 1 ? '' : 's'}, ${result.diagnoses.length} stuck`;
        if (result.mismatches)
          process.stderr.write(
            `note: the rebuilt path differs from the log in ${result.mismatches} place${result.mismatches === 1 ? '' : 's'} (shown on the page)\n`,
          );
      } else {
        html = await machinesPage();
        said = 'the machines alone';
      }
      try {
        await writeFile(flags.out, html);
      } catch (err) {
        process.stderr.write(
          `error: cannot write ${flags.out}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory' : (err as Error).message}\n`,
        );
        process.exit(EXIT_FAILURE);
      }
      process.stdout.write(`wrote ${flags.out} (${said})\n`);
    });
}
