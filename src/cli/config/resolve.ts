/**
 * One command's configuration: for every key, the value that wins (flag, `--config`, environment,
 * user file, system file, then the code's default) and where it comes from; and putting the
 * winners into commander's options through each flag's own parser, so a value from a file meets
 * the same checks as one typed on the command line, and a refusal names the file, line and key.
 */
import type { Command, Option } from 'commander';
import { parseDirectives } from '../../log/directives.js';
import { parseListenAddress } from '../../util/address.js';
import { kindOf } from './option-kinds.js';
import { configError, where } from './problems.js';
import { CONFIG_ONLY_KEYS, GROUPS_WITH_IDENTITY, NOT_CONFIGURABLE, type ConfigGroup } from './keys.js';
import { serversOf, settingOf, type Layers, type Server, type Setting, type Source } from './layers.js';

export interface Entry extends Setting {
  /** The option it sets; none for the Vault credentials, which go to the environment the provider reads. */
  readonly option?: Option;
  readonly secret: boolean;
}

export interface Resolution {
  readonly group: ConfigGroup;
  readonly entries: readonly Entry[];
  readonly servers: readonly Server[];
}

/** Values that commander's parser does not check, but the daemon would refuse later without a line number. */
const EXTRA_CHECKS: Record<string, (text: string) => unknown> = {
  'log-level': (text) => parseDirectives(text, 'info', true),
  'fleet-listen': parseListenAddress,
  'metrics-listen': parseListenAddress,
  'debug-listen': parseListenAddress,
};

export function keyOf(option: Option): string {
  return option.long!.slice(2);
}

/** The options of a command that a file may set (hidden aliases such as --cert-file included). */
export function configurable(command: Command, group: ConfigGroup): Option[] {
  const excluded = new Set([...(NOT_CONFIGURABLE[group] ?? []), 'help', 'config']);
  return command.options.filter((o) => o.long && !excluded.has(keyOf(o)));
}

/** A remote-server item that names a `[[server]]` entry is its URL. */
function serverUrls(raw: unknown, servers: readonly Server[]): unknown {
  const items = Array.isArray(raw) ? raw : String(raw).split(',');
  const urls = items.map((item) => servers.find((s) => s.name === String(item).trim())?.url ?? String(item).trim());
  return Array.isArray(raw) || urls.length > 1 ? urls : urls[0];
}

export function resolve(command: Command, group: ConfigGroup, layers: Layers, rawFlags: ReadonlyMap<string, unknown>): Resolution {
  const opts = command.opts();
  const servers = serversOf(layers);
  const entries: Entry[] = [];
  for (const option of configurable(command, group)) {
    const key = keyOf(option);
    const fromFlag = command.getOptionValueSource(option.attributeName()) === 'cli';
    let setting: Setting | null = fromFlag ? { key, raw: rawFlags.get(key), source: { kind: 'flag' } } : settingOf(layers, group, opts, key);
    if (!setting && key === 'remote-server' && servers.length > 0) {
      // No remote-server anywhere: every [[server]] entry, in order, is the list.
      setting = { key, raw: servers.map((s) => s.name), source: servers[0]!.source };
    }
    if (!setting && option.defaultValue !== undefined) {
      // As the operator writes it: "30s" rather than 30000; the value itself otherwise (a host name, not "host name").
      const raw = kindOf(option)?.type === 'duration' ? (option.defaultValueDescription ?? option.defaultValue) : option.defaultValue;
      setting = { key, raw, source: { kind: 'default' } };
    }
    if (!setting) continue;
    if (key === 'remote-server') setting = { ...setting, raw: serverUrls(setting.raw, servers) };
    entries.push({ ...setting, option, secret: false });
  }
  if (GROUPS_WITH_IDENTITY.includes(group)) {
    for (const [key, spec] of Object.entries(CONFIG_ONLY_KEYS)) {
      const setting = settingOf(layers, group, opts, key);
      if (setting) entries.push({ ...setting, secret: spec.secret });
    }
  }
  return { group, entries, servers };
}

/** What the flag would have been given on the command line. */
function flagText(raw: unknown): string {
  if (Array.isArray(raw)) return raw.map(String).join(',');
  if (raw !== null && typeof raw === 'object') {
    return Object.entries(raw)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join(',');
  }
  return String(raw);
}

function describeSource(source: Source, key: string): { where: string; key: string } {
  if (source.kind === 'file') return { where: where(source.path, source.line), key: `${source.table}.${key}` };
  if (source.kind === 'env') return { where: `environment ${source.name}`, key };
  return { where: `--${key}`, key };
}

function parsedValue(entry: Entry): unknown {
  const option = entry.option!;
  try {
    if (option.isBoolean()) {
      if (typeof entry.raw === 'boolean') return entry.raw;
      const word = String(entry.raw).toLowerCase();
      if (['1', 'true', 'yes', 'on'].includes(word)) return true;
      if (['0', 'false', 'no', 'off'].includes(word)) return false;
      throw new Error(`expected true or false, got ${JSON.stringify(entry.raw)}`);
    }
    const text = flagText(entry.raw);
    EXTRA_CHECKS[entry.key]?.(text);
    return option.parseArg ? option.parseArg(text, undefined) : text;
  } catch (err) {
    const at = describeSource(entry.source, entry.key);
    throw configError('ENROLL_CONFIG_INVALID', { where: at.where, problem: `${at.key}: ${(err as Error).message}` });
  }
}

/** Check every value that comes from a file or the environment; throws the first refusal. */
export function parsedValues(resolution: Resolution): Map<string, unknown> {
  const values = new Map<string, unknown>();
  for (const entry of resolution.entries) {
    if (!entry.option || entry.source.kind === 'default' || (entry.source.kind === 'env' && entry.source.kept)) continue;
    // A flag was parsed by commander already; only a server name in it is new.
    if (entry.source.kind === 'flag' && entry.key !== 'remote-server') continue;
    values.set(entry.key, parsedValue(entry));
  }
  return values;
}

/** Into commander's options: the daemons read them as if they were flags. */
export function apply(command: Command, resolution: Resolution, values: ReadonlyMap<string, unknown>, env: NodeJS.ProcessEnv = process.env): void {
  for (const entry of resolution.entries) {
    if (entry.option && values.has(entry.key)) {
      const source = entry.source.kind === 'flag' ? 'cli' : entry.source.kind === 'env' ? 'env' : 'config';
      command.setOptionValueWithSource(entry.option.attributeName(), values.get(entry.key), source);
    }
    // The Vault credentials: the provider reads them from the environment, as before.
    if (!entry.option && entry.source.kind === 'file') env[CONFIG_ONLY_KEYS[entry.key]!.env] = String(entry.raw);
  }
}
