/**
 * SIGHUP on a daemon: read the configuration files again. What the daemon can change while it
 * runs (`live`) changes; every other changed key is logged as needing a restart; a file that
 * does not pass is refused with its one line and the running configuration stays as it was.
 */
import type { Component } from '../../log/directives.js';
import { levelPlanFrom } from '../../log/directives.js';
import type { Logging } from '../../log/logger.js';
import { currentConfig } from './hook.js';
import { loadLayers } from './layers.js';
import { parsedValues, resolve, type Entry, type Resolution } from './resolve.js';

/** A live setting: the keys it reads, and how to apply their new values (undefined: unset). */
export interface LiveSetting {
  readonly keys: readonly string[];
  apply(valueFor: (key: string) => unknown): void;
}

/** The log level: `log-level`, else AH_LOG/RUST_LOG as at start. */
export function liveLogLevel(logging: Logging): LiveSetting {
  return {
    keys: ['log-level'],
    apply: (valueFor) => logging.setPlan?.(levelPlanFrom(valueFor('log-level') as string | undefined, process.env)),
  };
}

function fingerprint(entry: Entry | undefined): string {
  return entry ? JSON.stringify([entry.raw, entry.source.kind === 'default']) : 'unset';
}

function changedKeys(before: Resolution, after: Resolution): string[] {
  const keys = new Set([...before.entries, ...after.entries].map((e) => e.key));
  const byKey = (r: Resolution, key: string) => r.entries.find((e) => e.key === key);
  return [...keys].filter((key) => fingerprint(byKey(before, key)) !== fingerprint(byKey(after, key)));
}

/** The value a key now has: parsed from a file or variable, else the code's default, else unset. */
function valueIn(resolution: Resolution, values: ReadonlyMap<string, unknown>, key: string): unknown {
  if (values.has(key)) return values.get(key);
  const entry = resolution.entries.find((e) => e.key === key);
  if (entry?.source.kind === 'flag') return entry.option?.parseArg ? entry.option.parseArg(String(entry.raw), undefined) : entry.raw;
  return entry?.source.kind === 'default' ? entry.option?.defaultValue : undefined;
}

export async function reloadConfig(logging: Logging, component: Component, live: readonly LiveSetting[]): Promise<void> {
  const run = currentConfig();
  if (!run) return;
  const log = logging.get(component);
  let resolution: Resolution;
  let values: Map<string, unknown>;
  try {
    const layers = await loadLayers(run.configPath);
    resolution = resolve(run.command, run.group, layers, run.rawFlags);
    values = parsedValues(resolution);
  } catch (err) {
    const code = (err as { code?: string }).code ?? 'ENROLL_CONFIG_INVALID';
    log.error(
      { event: 'config_reload_refused', code, detail: (err as Error).message },
      `configuration not reloaded, the running one stays: ${(err as Error).message}`,
    );
    return;
  }
  const changed = changedKeys(run.resolution, resolution);
  const applied: string[] = [];
  for (const setting of live) {
    if (!setting.keys.some((k) => changed.includes(k))) continue;
    try {
      setting.apply((key) => valueIn(resolution, values, key));
      applied.push(...setting.keys.filter((k) => changed.includes(k)));
    } catch (err) {
      // Checked by the flag's parser already; a setter that still refuses leaves that key as it was.
      log.error(
        { event: 'config_reload_refused', code: 'ENROLL_CONFIG_INVALID', detail: (err as Error).message, keys: setting.keys },
        `not applied: ${(err as Error).message}`,
      );
    }
  }
  const restartRequired = changed.filter((k) => !applied.includes(k));
  run.resolution = resolution;
  log.info({ event: 'config_reloaded', applied, restartRequired }, `configuration reloaded: ${applied.length ? applied.join(', ') : 'nothing'} applied`);
  if (restartRequired.length > 0) {
    log.warn(
      { event: 'config_restart_required', keys: restartRequired },
      `configuration changed that takes effect at the next restart: ${restartRequired.join(', ')}`,
    );
  }
}

/** Reload on every SIGHUP, one at a time. */
export function reloadOnSighup(logging: Logging, component: Component, live: readonly LiveSetting[]): void {
  let chain = Promise.resolve();
  process.on('SIGHUP', () => {
    chain = chain.then(() => reloadConfig(logging, component, live));
  });
}
