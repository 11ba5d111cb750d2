/**
 * `ah config show agent enroll [its flags] [--explain] [--json]`: the configuration that command
 * would run with, merged, and with --explain where each value comes from. Secrets are never
 * printed.
 */
import type { Command } from 'commander';
import { UsageError } from '../common.js';
import { currentConfig } from './hook.js';
import { kindOf } from './option-kinds.js';
import type { Entry } from './resolve.js';
import type { Source } from './layers.js';

const REDACTED = '[redacted]';

/** The value as TOML writes it: numbers and booleans bare, the rest quoted. */
function tomlValue(entry: Entry): string {
  if (entry.secret) return JSON.stringify(REDACTED);
  const { raw, option } = entry;
  if (Array.isArray(raw)) return `[${raw.map((r) => JSON.stringify(String(r))).join(', ')}]`;
  if (raw !== null && typeof raw === 'object') {
    return `{ ${Object.entries(raw)
      .map(([k, v]) => `${JSON.stringify(k)} = ${JSON.stringify(String(v))}`)
      .join(', ')} }`;
  }
  const kind = option && kindOf(option)?.type;
  const numeric = kind === 'count' || kind === 'fraction';
  if (typeof raw === 'boolean' || typeof raw === 'number') return String(raw);
  if (numeric && /^\d*\.?\d+$/.test(String(raw))) return String(raw);
  return JSON.stringify(String(raw));
}

function jsonValue(entry: Entry): unknown {
  if (entry.secret) return REDACTED;
  return entry.raw;
}

export function sourceText(source: Source): string {
  switch (source.kind) {
    case 'flag':
      return 'flag';
    case 'env':
      return `env ${source.name}`;
    case 'default':
      return 'default';
    case 'file':
      return `${source.scope === 'config' ? '--config' : source.scope} ${source.path}${source.line === undefined ? '' : `:${source.line}`}`;
  }
}

function printText(explain: boolean): void {
  const run = currentConfig()!;
  const lines: string[] = [];
  const table = (header: string, rows: Array<{ left: string; note: string }>) => {
    lines.push(header);
    const width = Math.max(0, ...rows.map((r) => r.left.length));
    for (const row of rows) lines.push(explain ? `${row.left.padEnd(width)}  # ${row.note}` : row.left);
  };
  table(
    `[${run.group}]`,
    run.resolution.entries.map((e) => ({ left: `${e.key} = ${tomlValue(e)}`, note: sourceText(e.source) })),
  );
  for (const server of run.resolution.servers) {
    lines.push('');
    table('[[server]]', [
      { left: `name = ${JSON.stringify(server.name)}`, note: sourceText(server.source) },
      { left: `url = ${JSON.stringify(server.url)}`, note: sourceText(server.urlSource) },
    ]);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}

function printJson(): void {
  const run = currentConfig()!;
  const out = {
    command: run.group.replace('.', ' '),
    settings: run.resolution.entries.map((e) => ({ key: e.key, value: jsonValue(e), source: e.source, secret: e.secret })),
    servers: run.resolution.servers,
  };
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

/** Find the command the words name (`agent enroll`); what follows are its flags. */
function target(program: Command, words: readonly string[]): Command {
  let command = program;
  for (const word of words) {
    if (word.startsWith('-')) break;
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    command = sub;
  }
  return command;
}

export function registerConfig(program: Command, buildProgram: () => Command): void {
  const config = program
    .command('config')
    .description('show the configuration the commands run with (TOML files, environment, flags)')
    .helpOption('-h, --help', 'show help')
    .helpCommand(false);
  config
    .command('show')
    .summary("print a command's merged configuration")
    .description(
      'Print the configuration COMMAND would run with (e.g. `ah config show agent enroll`), merged from\n' +
        '/etc/agent-harbor/config.toml, the user file ($AH_HOME/config.toml, else\n' +
        '$XDG_CONFIG_HOME/agent-harbor/config.toml or ~/.config/agent-harbor/config.toml), the environment\n' +
        '(AH_<KEY>), --config FILE and the flags given after COMMAND. Secrets are shown as [redacted].',
    )
    .argument('<command...>', 'the command and its flags, e.g. agent enroll --config /etc/ah/executor.toml')
    .option('--explain', 'say where each value comes from: flag, env NAME, --config/user/system FILE:LINE, default')
    .option('--json', 'print {command, settings:[{key, value, source}], servers} as JSON')
    .helpOption('-h, --help', 'show help')
    .allowUnknownOption()
    .action(async (words: string[], flags: { explain?: boolean; json?: boolean }) => {
      const fresh = buildProgram();
      const command = target(fresh, words);
      if (!takesConfig(command)) {
        const named = words
          .slice(
            0,
            Math.max(
              0,
              words.findIndex((w) => w.startsWith('-')),
            ) || words.length,
          )
          .join(' ');
        throw new UsageError(`no configuration for '${named}' (use agent enroll, agent access-point, agent doctor, agent status or agent fleet)`);
      }
      // Parse the command line as the command would, without running it.
      command.action(() => {});
      await fresh.parseAsync(words, { from: 'user' });
      if (flags.json) printJson();
      else printText(Boolean(flags.explain));
    });
}

function takesConfig(command: Command): boolean {
  return command.options.some((o) => o.long === '--config');
}
