/**
 * Which flags a configuration file may set, in which table, and under which environment names.
 *
 * A key is the flag's own long name (`remote-server`), in the table of its command
 * (`[agent.enroll]`). The environment rule is one: `AH_` + the key in upper case with `_` for `-`
 * (`AH_REMOTE_SERVER`, `AH_CONNECT_TIMEOUT`), for the command that runs. Names the daemons read
 * already keep working beside it and rank after it: `AH_LOG`/`RUST_LOG` (log-level),
 * `VAULT_ADDR`, `SPIFFE_ENDPOINT_SOCKET`, and the Vault secrets `VAULT_ROLE_ID`,
 * `VAULT_SECRET_ID`, `VAULT_TOKEN`, which have no `AH_` name.
 */

/** Command paths whose flags a file may set, and the table that holds them. */
export const CONFIG_GROUPS = ['agent.enroll', 'agent.access-point', 'agent.doctor', 'agent.status', 'agent.fleet'] as const;
export type ConfigGroup = (typeof CONFIG_GROUPS)[number];

/** Flags of one run rather than of a machine's setup: modes, output formats, queries. */
export const NOT_CONFIGURABLE: Readonly<Partial<Record<ConfigGroup, readonly string[]>>> = {
  'agent.doctor': ['json', 'production', 'access-point', 'fleet'],
  'agent.status': ['name', 'json', 'show-cert'],
  'agent.fleet': ['json', 'state', 'name', 'expiring-within'],
};

/**
 * Keys without a flag: the Vault credentials and CA, which until now only the environment could give.
 * A file that holds a secret must be readable by its owner alone.
 */
export const CONFIG_ONLY_KEYS: Readonly<Record<string, { readonly env: string; readonly secret: boolean; readonly description: string }>> = {
  'vault-role-id': { env: 'VAULT_ROLE_ID', secret: false, description: 'vault identity: the AppRole role ID (as VAULT_ROLE_ID)' },
  'vault-secret-id': { env: 'VAULT_SECRET_ID', secret: true, description: 'vault identity: the AppRole secret ID (as VAULT_SECRET_ID); the file must be 0600' },
  'vault-token': { env: 'VAULT_TOKEN', secret: true, description: 'vault identity: a Vault token (as VAULT_TOKEN); the file must be 0600' },
  'vault-cacert': { env: 'VAULT_CACERT', secret: false, description: "vault identity: the CA of Vault's own TLS certificate (as VAULT_CACERT)" },
};
/** The groups that take the Vault credentials (those with the identity flags). */
export const GROUPS_WITH_IDENTITY: readonly ConfigGroup[] = ['agent.enroll', 'agent.access-point', 'agent.doctor'];

export function isSecretKey(key: string): boolean {
  return CONFIG_ONLY_KEYS[key]?.secret === true;
}

/** The rule: `AH_` + KEY with `_` for `-`. */
export function envNameOf(key: string): string {
  return `AH_${key.toUpperCase().replace(/-/g, '_')}`;
}

/**
 * Established names, after the rule's. The code reads them itself when the flag is unset, so a
 * value from them is left to it (same parsing as before any configuration file existed).
 */
export const KEPT_ENV_NAMES: Readonly<Record<string, readonly string[]>> = {
  'log-level': ['AH_LOG', 'RUST_LOG'],
  'vault-addr': ['VAULT_ADDR'],
  'spiffe-socket': ['SPIFFE_ENDPOINT_SOCKET'],
  'vault-role-id': ['VAULT_ROLE_ID'],
  'vault-secret-id': ['VAULT_SECRET_ID'],
  'vault-token': ['VAULT_TOKEN'],
  'vault-cacert': ['VAULT_CACERT'],
};

/** Environment names for a key, first wins; `kept` ones the code reads on its own. */
export function envNamesOf(key: string): Array<{ name: string; kept: boolean }> {
  const rule = CONFIG_ONLY_KEYS[key] ? [] : [envNameOf(key)];
  // AH_STATE_DIR is the rule's name and was read by the code before: leave it to the code too.
  return [...rule.map((name) => ({ name, kept: name === 'AH_STATE_DIR' })), ...(KEPT_ENV_NAMES[key] ?? []).map((name) => ({ name, kept: true }))];
}

/**
 * The tables a command reads, lowest first: the doctor checks the setup of the daemon it is given,
 * and status and fleet ask the daemon of the state dir its own table names.
 */
export function tablesFor(group: ConfigGroup, opts: Record<string, unknown>): ConfigGroup[] {
  if (group === 'agent.doctor') return [opts.accessPoint ? 'agent.access-point' : 'agent.enroll', 'agent.doctor'];
  if (group === 'agent.status') return ['agent.enroll', 'agent.status'];
  if (group === 'agent.fleet') return ['agent.access-point', 'agent.fleet'];
  return [group];
}

export function groupOfCommandPath(path: readonly string[]): ConfigGroup | null {
  const name = path.join('.');
  return (CONFIG_GROUPS as readonly string[]).includes(name) ? (name as ConfigGroup) : null;
}
