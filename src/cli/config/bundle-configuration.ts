/**
 * The support bundle's configuration.json from the configuration module itself: for the two
 * daemons' command groups, every key merged from the files and the environment with where it came
 * from (`ah config show agent enroll --explain --json` without flags), secrets as `[redacted]`,
 * plus what the running daemons report. A file that does not validate is said, not fatal: the
 * bundle is most wanted when something is wrong.
 */
import type { Command } from 'commander';
import type { ConfigurationSource } from '../../support/configuration.js';
import { configurationFromKnownState } from '../../support/configuration.js';
import type { ConfigGroup } from './keys.js';
import { loadLayers } from './layers.js';
import { resolve } from './resolve.js';
import { sourceText } from './show.js';

const DAEMON_GROUPS: ReadonlyArray<{ group: ConfigGroup; path: readonly string[] }> = [
  { group: 'agent.enroll', path: ['agent', 'enroll'] },
  { group: 'agent.access-point', path: ['agent', 'access-point'] },
];

function find(program: Command, path: readonly string[]): Command | null {
  let at: Command | undefined = program;
  for (const name of path) at = at?.commands.find((c) => c.name() === name);
  return at ?? null;
}

export function configurationFromFiles(program: Command, configPath: string | undefined): ConfigurationSource {
  return async (known) => {
    const daemons = (await configurationFromKnownState(known)) as Record<string, unknown>;
    const groups: Record<string, unknown> = {};
    try {
      const layers = await loadLayers(configPath, known.env);
      for (const { group, path } of DAEMON_GROUPS) {
        const command = find(program, path);
        if (!command) continue;
        const resolution = resolve(command, group, layers, new Map());
        groups[group] = {
          settings: resolution.entries.map((e) => ({ key: e.key, value: e.secret ? '[redacted]' : e.raw, source: sourceText(e.source) })),
          servers: resolution.servers.map((s) => ({ name: s.name, url: s.url, source: sourceText(s.source) })),
        };
      }
      return {
        from: 'the configuration files and environment, merged as the daemons merge them',
        groups,
        files: layers.files.map((f) => ({ scope: f.scope, path: f.file.path })),
        daemons,
      };
    } catch (err) {
      return { from: 'the configuration could not be merged', error: (err as Error).message, daemons };
    }
  };
}
