/**
 * The merged configuration with where each value came from, for the bundle's configuration.json.
 *
 * The seam: `ConfigurationSource` is any function that returns that configuration as JSON. Today
 * the CLI passes `configurationFromKnownState`, which says what this build knows without
 * configuration files: the state dir and where it came from, the environment variables ah reads,
 * and what the running daemons report (their access point, listen address, identity provider).
 * When the configuration module can explain itself (`ah config show --explain --json`), the CLI
 * passes a function that returns that instead; nothing else changes. Whatever it returns goes
 * through `redactConfiguration` (a setting named like a secret loses its value, whatever the
 * shape) and then through the bundle's redaction step like every other file.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { DaemonAnswers } from './daemons.js';
import { isSecretName, REDACTED, secretValue } from './redact.js';

/** What the bundle knows when it asks for the configuration. */
export interface KnownState {
  readonly stateDir: string;
  /** `flag`, `env AH_STATE_DIR` or `default`. */
  readonly stateDirSource: string;
  readonly env: NodeJS.ProcessEnv;
  readonly daemons: DaemonAnswers;
}

export type ConfigurationSource = (known: KnownState) => Promise<unknown>;

export interface Setting {
  readonly key: string;
  readonly value: unknown;
  readonly source: string;
}

/** The environment variables ah reads today, besides any AH_ one. */
const ENV_READ = ['RUST_LOG', 'SPIFFE_ENDPOINT_SOCKET', 'VAULT_ADDR', 'VAULT_CACERT', 'VAULT_ROLE_ID', 'VAULT_SECRET_ID', 'VAULT_TOKEN'];

/** Agent Harbor's configuration files, lowest precedence first (read by the configuration module, not by this build). */
export function configFiles(env: NodeJS.ProcessEnv): Array<{ scope: string; path: string }> {
  const user = env.AH_HOME ? join(env.AH_HOME, 'config.toml') : join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'agent-harbor', 'config.toml');
  return [
    { scope: 'system', path: '/etc/agent-harbor/config.toml' },
    { scope: 'user', path: user },
  ];
}

function daemonSettings(daemons: DaemonAnswers): Setting[] {
  const out: Setting[] = [];
  for (const e of daemons.executors) {
    const source = `running executor ${e.name} (its status)`;
    out.push({ key: `executor.${e.name}.remote-server`, value: e.remoteServer, source });
    out.push({ key: `executor.${e.name}.identity`, value: e.identity?.provider ?? null, source });
    out.push({ key: `executor.${e.name}.state-dir`, value: e.stateDir, source });
  }
  const ap = daemons.accessPoint;
  if (ap) {
    const source = 'running access point (its status)';
    out.push({ key: 'access-point.fleet-listen', value: ap.listen ?? null, source });
    out.push({ key: 'access-point.identity', value: ap.identity?.provider ?? null, source });
    out.push({ key: 'access-point.dev-mode', value: ap.devMode ?? null, source });
  }
  return out;
}

/** Today's filler for the seam: flags, environment and what the daemons report. */
export const configurationFromKnownState: ConfigurationSource = async (known) => {
  const env: Setting[] = Object.keys(known.env)
    .filter((k) => k.startsWith('AH_') || ENV_READ.includes(k))
    .sort()
    .map((k) => ({ key: k, value: known.env[k], source: 'env' }));
  return {
    from: 'flags, environment and the running daemons (this build reads no configuration file)',
    settings: [{ key: 'state-dir', value: known.stateDir, source: known.stateDirSource }, ...env, ...daemonSettings(known.daemons)],
    files: configFiles(known.env),
  };
};

/**
 * A secret's value removed by structure, before the text rules run: `{key|name: "VAULT_TOKEN",
 * value: …}` (a setting in a list) and `{"secret-id": …}` (a setting by name) alike.
 */
export function redactConfiguration(json: unknown): unknown {
  if (Array.isArray(json)) return json.map(redactConfiguration);
  if (json === null || typeof json !== 'object') return json;
  const o = json as Record<string, unknown>;
  const named = typeof o.key === 'string' ? o.key : typeof o.name === 'string' ? o.name : null;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const secret =
      k === 'value' && named !== null
        ? isSecretName(named)
        : typeof v === 'string'
          ? secretValue(k, v)
          : isSecretName(k) && typeof v === 'object' && v !== null;
    if (secret) {
      out[k] = v === undefined || v === '' ? v : REDACTED;
    } else {
      out[k] = redactConfiguration(v);
    }
  }
  return out;
}
