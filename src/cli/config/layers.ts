/**
 * The configuration layers of one command, read and checked: the system file, the user file,
 * the environment and `--config FILE` (flags are commander's). A file that is missing from a
 * scope is no layer; a `--config` file that is missing is an error.
 */
import { existsSync } from 'node:fs';
import { configError } from './problems.js';
import { envNamesOf, isSecretKey, tablesFor, type ConfigGroup } from './keys.js';
import { systemConfigPath, userConfigPath, type FileScope } from './locations.js';
import type { TomlFile } from './toml-file.js';

export type Source =
  | { readonly kind: 'flag' }
  | { readonly kind: 'file'; readonly scope: FileScope; readonly path: string; readonly line: number | undefined; readonly table: string }
  | { readonly kind: 'env'; readonly name: string; readonly kept: boolean }
  | { readonly kind: 'default' };

/** A value as written (TOML value, or the variable's text) and where it was written. */
export interface Setting {
  readonly key: string;
  readonly raw: unknown;
  readonly source: Source;
}

export interface Server {
  readonly name: string;
  readonly url: string;
  /** Where the entry's name is written; `urlSource`, its URL. */
  readonly source: Source;
  readonly urlSource: Source;
}

export interface Layers {
  readonly files: ReadonlyArray<{ readonly scope: FileScope; readonly file: TomlFile }>;
  readonly env: NodeJS.ProcessEnv;
}

async function loadFile(path: string, scope: FileScope): Promise<TomlFile | null> {
  // A scope without a file is fine; --config names one that must be there.
  if (scope !== 'config' && !existsSync(path)) return null;
  // Loaded only when there is a file: a command without one starts as fast as before.
  const { readTomlFile } = await import('./toml-file.js');
  const file = readTomlFile(path);
  const { validateFile } = await import('./schema.js');
  validateFile(file);
  refuseExposedSecrets(file);
  return file;
}

/** As ssh with its keys: a secret in a file others may read is refused, naming the fix. */
function refuseExposedSecrets(file: TomlFile): void {
  if ((file.mode & 0o077) === 0) return;
  const agent = (file.data.agent ?? {}) as Record<string, Record<string, unknown>>;
  for (const table of Object.values(agent)) {
    const key = Object.keys(table).find(isSecretKey);
    if (key) throw configError('ENROLL_CONFIG_SECRET_EXPOSED', { path: file.path, key, mode: `0${file.mode.toString(8).padStart(3, '0')}` });
  }
}

export async function loadLayers(configPath: string | undefined, env: NodeJS.ProcessEnv = process.env): Promise<Layers> {
  const files: Array<{ scope: FileScope; file: TomlFile }> = [];
  for (const [scope, path] of [
    ['system', systemConfigPath(env)],
    ['user', userConfigPath(env)],
    ['config', configPath],
  ] as const) {
    if (path === undefined) continue;
    const file = await loadFile(path, scope);
    if (file) files.push({ scope, file });
  }
  return { files, env };
}

function fileSetting(scope: FileScope, file: TomlFile, tables: readonly ConfigGroup[], key: string): Setting | null {
  // Within a file, the command's own table wins over the one it inherits (doctor: enroll's).
  for (const table of [...tables].reverse()) {
    const path = ['agent', ...table.split('.').slice(1)];
    const values = path.reduce<unknown>((node, p) => (node as Record<string, unknown> | undefined)?.[p], file.data) as Record<string, unknown> | undefined;
    if (values && key in values) return { key, raw: values[key], source: { kind: 'file', scope, path: file.path, line: file.lineOf([...path, key]), table } };
  }
  return null;
}

function envSetting(env: NodeJS.ProcessEnv, key: string): Setting | null {
  for (const { name, kept } of envNamesOf(key)) {
    // An empty variable counts as unset, as AH_LOG and RUST_LOG always have.
    const value = env[name];
    if (value) return { key, raw: value, source: { kind: 'env', name, kept } };
  }
  return null;
}

/**
 * The winning value of `key` below the flags: `--config`, then the environment, then the user's
 * file, then the system's; null when none sets it.
 */
export function settingOf(layers: Layers, group: ConfigGroup, opts: Record<string, unknown>, key: string): Setting | null {
  const tables = tablesFor(group, opts);
  const inFile = (scope: FileScope) => {
    const entry = layers.files.find((f) => f.scope === scope);
    return entry ? fileSetting(scope, entry.file, tables, key) : null;
  };
  return inFile('config') ?? envSetting(layers.env, key) ?? inFile('user') ?? inFile('system');
}

/** `[[server]]` entries of every file; a name given again in a higher scope replaces the entry. */
export function serversOf(layers: Layers): Server[] {
  const byName = new Map<string, Server>();
  for (const { scope, file } of layers.files) {
    const list = (file.data.server ?? []) as Array<{ name: string; url: string }>;
    list.forEach((entry, i) => {
      byName.delete(entry.name);
      const at = (key: string): Source => ({ kind: 'file', scope, path: file.path, line: file.lineOf(['server', i, key]), table: 'server' });
      byName.set(entry.name, { name: entry.name, url: entry.url, source: at('name'), urlSource: at('url') });
    });
  }
  return [...byName.values()];
}
