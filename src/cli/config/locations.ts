/**
 * Where the configuration files are, lowest precedence first. The system scope's path can be
 * moved by AH_SYSTEM_CONFIG, for tests only (they cannot write /etc); it is not a feature.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

export type FileScope = 'system' | 'user' | 'config';

export const SYSTEM_CONFIG = '/etc/agent-harbor/config.toml';

export function systemConfigPath(env: NodeJS.ProcessEnv): string {
  return env.AH_SYSTEM_CONFIG || SYSTEM_CONFIG;
}

/** `$AH_HOME/config.toml`, else `$XDG_CONFIG_HOME/agent-harbor/config.toml`, else `~/.config/agent-harbor/config.toml`. */
export function userConfigPath(env: NodeJS.ProcessEnv): string {
  if (env.AH_HOME) return join(env.AH_HOME, 'config.toml');
  return join(env.XDG_CONFIG_HOME || join(env.HOME || homedir(), '.config'), 'agent-harbor', 'config.toml');
}
