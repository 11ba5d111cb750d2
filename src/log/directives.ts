/**
 * `RUST_LOG`-style level directives, as the guide uses them:
 * `ah_identity_provider=debug,ah_cli=debug`, a bare `debug` for everything, `off` for nothing.
 * A directive `a::b=level` applies to component `a` (our components are whole crates' worth).
 */
export const COMPONENTS = ['ah_cli', 'ah_executor', 'ah_access_point', 'ah_identity_provider', 'ah_transport', 'ah_machine', 'ah_status', 'ah_roster'] as const;
export type Component = (typeof COMPONENTS)[number];

export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type Level = (typeof LEVELS)[number];

export interface LevelPlan {
  readonly defaultLevel: Level;
  readonly components: Partial<Record<Component, Level>>;
}

function toLevel(word: string): Level | null {
  const w = word.trim().toLowerCase();
  if (w === 'off' || w === 'none') return 'silent';
  if (w === 'warning') return 'warn';
  return (LEVELS as readonly string[]).includes(w) ? (w as Level) : null;
}

const UNKNOWN_TARGET_HINT = `use a level (trace, debug, info, warn, error, off) or a component (ah, ${COMPONENTS.join(', ')})`;

/**
 * Throws RangeError naming the first directive it cannot read. `strict` (the `--log-level` flag,
 * which is ours alone) also refuses names that are neither a level nor one of our components,
 * which env_logger, and so AH_LOG/RUST_LOG shared with other programs, ignores.
 */
export function parseDirectives(text: string, fallback: Level = 'info', strict = false): LevelPlan {
  let defaultLevel = fallback;
  const components: Partial<Record<Component, Level>> = {};
  for (const raw of text.split(',')) {
    const part = raw.trim();
    if (!part) continue;
    const eq = part.indexOf('=');
    if (eq < 0) {
      const level = toLevel(part);
      if (level) {
        defaultLevel = level;
        continue;
      }
      // `ah_cli` alone means "everything from that component" in env_logger.
      const component = part.split('::')[0] as Component;
      if ((COMPONENTS as readonly string[]).includes(component)) components[component] = 'trace';
      else if (strict) throw new RangeError(`invalid log level or component '${part}' (${UNKNOWN_TARGET_HINT})`);
      continue;
    }
    const target = part.slice(0, eq).split('::')[0]!.trim();
    const level = toLevel(part.slice(eq + 1));
    if (!level) throw new RangeError(`invalid log level in directive '${part}' (use trace, debug, info, warn, error or off)`);
    if (target === 'ah') {
      for (const c of COMPONENTS) components[c] = level;
    } else if ((COMPONENTS as readonly string[]).includes(target)) {
      components[target as Component] = level;
    } else if (strict) {
      throw new RangeError(`invalid component in directive '${part}' (${UNKNOWN_TARGET_HINT})`);
    }
    // Directives for crates we do not have are ignored, as env_logger does.
  }
  return { defaultLevel, components };
}

/** `--log-level` wins, then AH_LOG, then RUST_LOG. */
export function levelPlanFrom(flag: string | undefined, env: NodeJS.ProcessEnv): LevelPlan {
  // An empty variable counts as unset, as with env_logger.
  if (flag !== undefined) return parseDirectives(flag, 'info', true);
  return parseDirectives(env.AH_LOG || env.RUST_LOG || '');
}
