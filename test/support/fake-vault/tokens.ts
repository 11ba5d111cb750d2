/**
 * The token store: service tokens with TTLs, lookup-self, renew-self, expiry.
 *
 * docs/vault-api.md §AppRole login (what a login hands out), §Token lookup and renewal (lookup-self
 * / renew-self shapes) and §Errors and status codes (a dead token is 403 `permission denied` +
 * `invalid token`). TTL arithmetic follows Vault's `CalculateTTL`: times truncated to the second,
 * the TTL is the requested increment, else the backend's TTL (the AppRole's `token_ttl`), else the
 * system default; it never runs past the token's start + max TTL, and when it is cut short Vault
 * adds the warning `TTL of "<asked>" exceeded the effective max_ttl of "<left>"; TTL value is
 * capped accordingly`. Expiry is checked when a token is used (Vault revokes at expiry; the client
 * sees the same).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DEFAULT_POLICY_PATHS } from './acl.js';
import type { AuthBlock } from './envelope.js';
import { errorResponse } from './envelope.js';
import { SYSTEM_DEFAULT_TTL_SECONDS, SYSTEM_MAX_TTL_SECONDS, goDuration, goQuote } from './durations.js';

const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Random base62 text (Vault's token and accessor alphabet). */
export function base62(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += BASE62[b % 62];
  return out;
}

/** A service token id in Vault ≥ 1.10's format (`hvs.` prefix). */
export function newTokenId(): string {
  return `hvs.${base62(24)}`;
}

export interface TokenEntry {
  readonly id: string;
  readonly accessor: string;
  /** Sorted, with `default` (or just `root`), as Vault stores them. */
  readonly policies: readonly string[];
  readonly meta: Readonly<Record<string, string>> | null;
  readonly displayName: string;
  /** Where the token was created, e.g. `auth/approle/login` (lookup-self `path`). */
  readonly path: string;
  readonly entityId: string;
  readonly orphan: boolean;
  readonly renewable: boolean;
  readonly root: boolean;
  /** Extra path patterns this token's policies allow (the fake's ACL, see acl.ts). */
  readonly allowedPaths: readonly string[];
  /** Creation (issue) time, epoch ms. */
  readonly createdAt: number;
  /** The TTL granted at creation, seconds (lookup-self `creation_ttl`); 0 for root. */
  readonly creationTtl: number;
  /** Backend TTL / max TTL used again on renewal (AppRole `token_ttl` / `token_max_ttl`). */
  readonly backendTtl: number;
  readonly backendMaxTtl: number;
  /** Epoch ms when the token dies; null never (root). */
  expireAt: number | null;
  lastRenewal: number | null;
}

export interface CreateTokenInput {
  policies: readonly string[];
  meta: Record<string, string> | null;
  displayName: string;
  path: string;
  /** 0 → system default (768h). */
  ttl: number;
  /** 0 → system max (768h). */
  maxTtl: number;
  allowedPaths: readonly string[];
  renewable?: boolean;
  root?: boolean;
  id?: string;
}

/** Policies as Vault keeps them on a token: deduplicated, sorted, `default` added (not for root). */
function tokenPolicies(policies: readonly string[], root: boolean): string[] {
  if (root) return ['root'];
  return [...new Set(['default', ...policies])].sort();
}

/** Go's RFC3339Nano for a UTC instant: fraction without trailing zeros. */
export function rfc3339Nano(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d*?)0*Z$/, (_, frac: string) => (frac ? `.${frac}Z` : 'Z'));
}

export class TokenStore {
  private readonly tokens = new Map<string, TokenEntry>();

  constructor(private readonly now: () => number) {}

  /**
   * Vault's `CalculateTTL` (seconds). `startMs` is the token's issue time (renewals are bounded
   * by issue time + max TTL), or undefined at creation.
   */
  private calculateTtl(increment: number, backendTtl: number, backendMaxTtl: number, startMs: number | undefined) {
    const now = Math.floor(this.now() / 1000);
    const start = startMs === undefined ? now : Math.floor(startMs / 1000);
    let maxTtl = SYSTEM_MAX_TTL_SECONDS;
    if (backendMaxTtl > 0 && backendMaxTtl < maxTtl) maxTtl = backendMaxTtl;
    let ttl = increment > 0 ? increment : backendTtl > 0 ? backendTtl : SYSTEM_DEFAULT_TTL_SECONDS;
    const warnings: string[] = [];
    const maxValidTtl = start + maxTtl - now;
    if (maxValidTtl < 0) throw errorResponse('past the max TTL, cannot renew');
    if (maxValidTtl - ttl < 0) {
      warnings.push(
        `TTL of ${goQuote(goDuration(ttl))} exceeded the effective max_ttl of ${goQuote(goDuration(maxValidTtl))}; TTL value is capped accordingly`,
      );
      ttl = maxValidTtl;
    }
    return { ttl, warnings };
  }

  create(input: CreateTokenInput): { entry: TokenEntry; warnings: string[] } {
    const root = input.root ?? false;
    const { ttl, warnings } = root ? { ttl: 0, warnings: [] } : this.calculateTtl(0, input.ttl, input.maxTtl, undefined);
    const createdAt = this.now();
    const entry: TokenEntry = {
      id: input.id ?? newTokenId(),
      accessor: base62(24),
      policies: tokenPolicies(input.policies, root),
      meta: input.meta,
      displayName: input.displayName,
      path: input.path,
      entityId: root ? '' : randomUUID(),
      orphan: true,
      renewable: root ? false : (input.renewable ?? true),
      root,
      allowedPaths: root ? ['*'] : [...DEFAULT_POLICY_PATHS, ...input.allowedPaths],
      createdAt,
      creationTtl: ttl,
      backendTtl: input.ttl,
      backendMaxTtl: input.maxTtl,
      expireAt: root ? null : createdAt + ttl * 1000,
      lastRenewal: null,
    };
    this.tokens.set(entry.id, entry);
    return { entry, warnings };
  }

  /** The live entry for a token id, or undefined (unknown, revoked, or past its expiry). */
  lookup(id: string): TokenEntry | undefined {
    const entry = this.tokens.get(id);
    if (!entry) return undefined;
    if (entry.expireAt !== null && this.now() >= entry.expireAt) {
      this.tokens.delete(id); // Vault's expiration manager revokes it at expiry
      return undefined;
    }
    return entry;
  }

  /** Make a token dead now, as if its TTL had run out. */
  expire(id: string): boolean {
    return this.tokens.delete(id);
  }

  revoke(id: string): boolean {
    return this.tokens.delete(id);
  }

  /** Live token ids (expired ones are dropped on the way). */
  liveIds(): string[] {
    return [...this.tokens.keys()].filter((id) => this.lookup(id) !== undefined);
  }

  /** Seconds left, truncated like Vault's `ttl` in lookup-self. */
  ttlLeft(entry: TokenEntry): number {
    if (entry.expireAt === null) return 0;
    return Math.max(0, Math.trunc((entry.expireAt - this.now()) / 1000));
  }

  /**
   * renew-self (§Token lookup and renewal): the granted TTL may be shorter than asked; the response
   * says how long. A token without a lease (root) is refused the way Vault refuses a non-renewable
   * lease.
   */
  renew(entry: TokenEntry, increment: number): { ttl: number; warnings: string[] } {
    if (!entry.renewable || entry.expireAt === null) throw errorResponse('lease is not renewable');
    const { ttl, warnings } = this.calculateTtl(increment, entry.backendTtl, entry.backendMaxTtl, entry.createdAt);
    const now = this.now();
    entry.expireAt = now + ttl * 1000;
    entry.lastRenewal = now;
    return { ttl, warnings };
  }

  /**
   * The `auth` block of a login or renew-self answer (§AppRole login, §Token lookup and renewal).
   */
  authBlock(entry: TokenEntry, leaseDuration: number): AuthBlock {
    return {
      client_token: entry.id,
      accessor: entry.accessor,
      policies: [...entry.policies],
      token_policies: [...entry.policies],
      metadata: entry.meta ? { ...entry.meta } : null,
      lease_duration: leaseDuration,
      renewable: entry.renewable,
      entity_id: entry.entityId,
      token_type: 'service',
      orphan: entry.orphan,
      mfa_requirement: null,
      num_uses: 0,
    };
  }

  /** lookup-self `data` (§Token lookup and renewal): the TTL is `data.ttl`, seconds remaining. */
  lookupData(entry: TokenEntry): Record<string, unknown> {
    const data: Record<string, unknown> = {
      accessor: entry.accessor,
      creation_time: Math.floor(entry.createdAt / 1000),
      creation_ttl: entry.creationTtl,
      display_name: entry.displayName,
      entity_id: entry.entityId,
      expire_time: entry.expireAt === null ? null : rfc3339Nano(entry.expireAt),
      explicit_max_ttl: 0,
      id: entry.id,
      meta: entry.meta ? { ...entry.meta } : null,
      num_uses: 0,
      orphan: entry.orphan,
      path: entry.path,
      policies: [...entry.policies],
      renewable: entry.renewable,
      ttl: this.ttlLeft(entry),
      type: 'service',
    };
    if (!entry.root) data.issue_time = rfc3339Nano(entry.createdAt);
    if (entry.lastRenewal !== null) {
      data.last_renewal = rfc3339Nano(entry.lastRenewal);
      data.last_renewal_time = Math.floor(entry.lastRenewal / 1000);
    }
    return data;
  }
}
