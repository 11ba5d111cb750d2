/**
 * Configuration files for the commands that take them: each gets `--config FILE`, and before its
 * action runs (commander's preAction hook) the files and the environment fill the options the
 * command line left unset. Without any file or variable nothing changes. The run's state stays
 * here for `ah config show` and for the daemons' SIGHUP.
 */
import { Option, type Command } from 'commander';
import { RENEWAL_THRESHOLD_RANGE } from '../../model/renewal-policy.js';
import { parsers } from '../common.js';
import { groupOfCommandPath, type ConfigGroup } from './keys.js';
import { tagOption } from './option-kinds.js';
import { loadLayers, type Layers } from './layers.js';
import { apply, parsedValues, resolve, type Resolution } from './resolve.js';

export interface ConfigRun {
  readonly command: Command;
  readonly group: ConfigGroup;
  readonly configPath: string | undefined;
  readonly rawFlags: ReadonlyMap<string, unknown>;
  layers: Layers;
  resolution: Resolution;
}

const rawFlagsOf = new WeakMap<Command, Map<string, unknown>>();
let current: ConfigRun | null = null;

/** The configuration of the command this process runs (null before its action, or for other commands). */
export function currentConfig(): ConfigRun | null {
  return current;
}

function commandPath(command: Command): string[] {
  const path: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) path.unshift(c.name());
  return path;
}

/** Keep each flag's text as typed, for `config show` (commander keeps only the parsed value). */
function recordRawFlags(command: Command): void {
  const raw = new Map<string, unknown>();
  rawFlagsOf.set(command, raw);
  for (const option of command.options) {
    const key = option.long?.slice(2);
    if (!key) continue;
    // Known by its parser alone; tagged before the parser is wrapped.
    if (option.parseArg === (parsers.fraction as unknown)) tagOption(option, { type: 'fraction', ...RENEWAL_THRESHOLD_RANGE });
    if (option.isBoolean()) {
      command.on(`option:${key}`, () => raw.set(key, true));
      continue;
    }
    const parse = option.parseArg;
    option.parseArg = ((value: string, previous: unknown) => {
      const parsed = parse ? parse(value, previous) : value;
      // A repeatable flag (its parser collects a list, as --remote-server's) keeps every value given.
      const before = raw.get(key);
      raw.set(key, Array.isArray(parsed) && before !== undefined ? [...[before].flat(), value] : value);
      return parsed;
    }) as typeof option.parseArg;
  }
}

function walk(command: Command, visit: (c: Command) => void): void {
  visit(command);
  for (const sub of command.commands) walk(sub, visit);
}

export function installConfig(program: Command): void {
  walk(program, (command) => {
    if (!groupOfCommandPath(commandPath(command))) return;
    command.addOption(new Option('--config <file>', 'also read settings from this TOML file (over the environment, the user and the system files; flags win)'));
    recordRawFlags(command);
  });
  program.hook('preAction', async (_program, actionCommand) => {
    const group = groupOfCommandPath(commandPath(actionCommand));
    if (!group) return;
    const configPath = actionCommand.opts().config as string | undefined;
    const layers = await loadLayers(configPath);
    const rawFlags = rawFlagsOf.get(actionCommand) ?? new Map();
    const resolution = resolve(actionCommand, group, layers, rawFlags);
    apply(actionCommand, resolution, parsedValues(resolution));
    current = { command: actionCommand, group, configPath, rawFlags, layers, resolution };
  });
}
