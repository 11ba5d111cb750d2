/**
 * The AppRole auth method: `POST /v1/auth/<mount>/login` (docs/vault-api.md §AppRole login).
 *
 * Unauthenticated. Checks in Vault's order (`builtin/credential/approle/path_login.go`):
 * `missing role_id` → unknown role_id → `missing secret_id` (when the role binds one) → unknown,
 * expired or used-up secret_id. Every refusal is a `logical.ErrorResponse` → 400 with the plain
 * message; an unknown role_id and a bad secret_id read the same (`invalid role or secret ID`) so a
 * caller cannot tell which half was wrong. Success issues a token whose TTL is the role's
 * `token_ttl` bounded by `token_max_ttl`, with `metadata.role_name` always set.
 */
import { errorResponse, type LogicalResponse } from './envelope.js';
import { optionSeconds, type VaultDuration } from './durations.js';
import type { TokenStore } from './tokens.js';

export interface AppRoleConfig {
  /** Auth mount path (`vault auth enable -path=<mount> approle`). Default `approle`. */
  mount?: string;
  /** The role's name (goes into `metadata.role_name`). Default `executor`. */
  roleName?: string;
  roleId: string;
  /** Secret IDs accepted for this role. Omit with `bindSecretId: false`. */
  secretId?: string | readonly string[];
  /** Vault's `bind_secret_id` (default true): a secret_id is required at login. */
  bindSecretId?: boolean;
  /** `secret_id_ttl`: how long each secret ID stays valid after it is added. 0/absent = for ever. */
  secretIdTtl?: VaultDuration;
  /** `secret_id_num_uses`: logins each secret ID allows. 0/absent = unlimited. */
  secretIdNumUses?: number;
  /** `token_ttl` of issued tokens (seconds or `"1h"`). Absent = system default 768h. */
  tokenTtl?: VaultDuration;
  /** `token_max_ttl`: renewals never go past creation + this. Absent = system max 768h. */
  tokenMaxTtl?: VaultDuration;
  /** `token_policies` (names only; shown in `policies`, with `default` added). Default none. */
  tokenPolicies?: readonly string[];
  /**
   * What those policies allow, as Vault policy path patterns (see acl.ts). Default `["*"]`:
   * everything, so a test gets a 403 only when it asks for one.
   */
  allowedPaths?: readonly string[];
}

interface SecretIdEntry {
  readonly createdAt: number;
  readonly ttl: number;
  usesLeft: number; // 0 = unlimited
}

interface RoleState {
  readonly mount: string;
  readonly name: string;
  readonly roleId: string;
  readonly bindSecretId: boolean;
  readonly secretIdTtl: number;
  readonly secretIdNumUses: number;
  readonly tokenTtl: number;
  readonly tokenMaxTtl: number;
  readonly policies: readonly string[];
  readonly allowedPaths: readonly string[];
  readonly secretIds: Map<string, SecretIdEntry>;
}

/** JSON body fields arrive as anything; Vault's TypeString takes strings (and trims them). */
function stringField(body: Record<string, unknown>, key: string): string {
  const v = body[key];
  if (v === undefined || v === null) return '';
  return String(v).trim();
}

export class AppRoleBackend {
  private readonly roles: RoleState[] = [];

  constructor(
    configs: readonly AppRoleConfig[],
    private readonly tokens: TokenStore,
    private readonly now: () => number,
  ) {
    for (const c of configs) this.addRole(c);
  }

  addRole(c: AppRoleConfig): void {
    const tokenTtl = optionSeconds(c.tokenTtl, 0);
    const tokenMaxTtl = optionSeconds(c.tokenMaxTtl, 0);
    // Vault refuses to save such a role ("token_ttl" must not exceed "token_max_ttl").
    if (tokenMaxTtl > 0 && tokenTtl > tokenMaxTtl) throw new Error('fake-vault: approle tokenTtl must not exceed tokenMaxTtl');
    const role: RoleState = {
      mount: c.mount ?? 'approle',
      name: c.roleName ?? 'executor',
      roleId: c.roleId,
      bindSecretId: c.bindSecretId ?? true,
      secretIdTtl: optionSeconds(c.secretIdTtl, 0),
      secretIdNumUses: c.secretIdNumUses ?? 0,
      tokenTtl,
      tokenMaxTtl,
      policies: c.tokenPolicies ?? [],
      allowedPaths: c.allowedPaths ?? ['*'],
      secretIds: new Map(),
    };
    this.roles.push(role);
    const ids = c.secretId === undefined ? [] : typeof c.secretId === 'string' ? [c.secretId] : c.secretId;
    for (const id of ids) this.addSecretId(id, { roleName: role.name, mount: role.mount });
  }

  /** The auth mounts that exist (each answers `auth/<mount>/login`). */
  mounts(): Set<string> {
    return new Set(this.roles.map((r) => r.mount));
  }

  private role(opts: { roleName?: string; mount?: string }): RoleState {
    const found = this.roles.find((r) => (opts.roleName === undefined || r.name === opts.roleName) && (opts.mount === undefined || r.mount === opts.mount));
    if (!found) throw new Error(`fake-vault: no approle role ${opts.roleName ?? '(any)'} on mount ${opts.mount ?? '(any)'}`);
    return found;
  }

  /** Mint a secret ID for a role (like `vault write -f auth/approle/role/<r>/custom-secret-id`). */
  addSecretId(secretId: string, opts: { roleName?: string; mount?: string; ttl?: VaultDuration; numUses?: number } = {}): void {
    const role = this.role(opts);
    role.secretIds.set(secretId, {
      createdAt: this.now(),
      ttl: opts.ttl === undefined ? role.secretIdTtl : optionSeconds(opts.ttl, 0),
      usesLeft: opts.numUses ?? role.secretIdNumUses,
    });
  }

  /** Destroy a secret ID on every role; true if one existed. */
  revokeSecretId(secretId: string): boolean {
    let found = false;
    for (const r of this.roles) found = r.secretIds.delete(secretId) || found;
    return found;
  }

  /** `POST /v1/auth/<mount>/login` (§AppRole login). */
  login(mount: string, body: Record<string, unknown>): LogicalResponse {
    const roleId = stringField(body, 'role_id');
    if (roleId === '') throw errorResponse('missing role_id');
    const role = this.roles.find((r) => r.mount === mount && r.roleId === roleId);
    if (!role) throw errorResponse('invalid role or secret ID');
    if (role.bindSecretId) {
      const secretId = stringField(body, 'secret_id');
      if (secretId === '') throw errorResponse('missing secret_id');
      const entry = role.secretIds.get(secretId);
      if (!entry) throw errorResponse('invalid role or secret ID');
      if (entry.ttl > 0 && this.now() >= entry.createdAt + entry.ttl * 1000) {
        role.secretIds.delete(secretId); // Vault's tidy would remove it; the answer is the same
        throw errorResponse('invalid role or secret ID');
      }
      if (entry.usesLeft > 0) {
        entry.usesLeft -= 1;
        if (entry.usesLeft === 0) role.secretIds.delete(secretId); // last use: deleted, this login still succeeds
      }
    }
    const { entry, warnings } = this.tokens.create({
      policies: role.policies,
      meta: { role_name: role.name },
      displayName: mount,
      path: `auth/${mount}/login`,
      ttl: role.tokenTtl,
      maxTtl: role.tokenMaxTtl,
      allowedPaths: role.allowedPaths,
    });
    return {
      auth: this.tokens.authBlock(entry, entry.creationTtl),
      warnings,
      mountType: 'approle',
    };
  }
}
