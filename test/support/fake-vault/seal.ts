/**
 * Seal state, `GET /v1/sys/seal-status`, `GET /v1/sys/health`, `PUT /v1/sys/unseal`.
 *
 * docs/vault-api.md §Errors and status codes: while sealed every ordinary request (auth, secrets,
 * token endpoints) gets 503 `{"errors":["Vault is sealed"]}`, but `sys/seal-status`, `sys/health`,
 * `sys/unseal` still answer. §Seal status: seal-status is unauthenticated and 200 whether sealed or
 * not; its body is Go's `SealStatusResponse` in struct order, with `cluster_name`/`cluster_id` only
 * when unsealed. Shamir shares are simulated: `unsealKeys` holds `n` keys, `t` distinct ones
 * unseal.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { VaultHttpError } from './envelope.js';

export interface SealOptions {
  sealed?: boolean;
  /** The `version` field; `build_date` goes with it. */
  version?: string;
  buildDate?: string;
  shares?: number;
  threshold?: number;
}

export class SealState {
  sealed: boolean;
  readonly version: string;
  readonly buildDate: string;
  readonly n: number;
  readonly t: number;
  /** Base64 unseal key shares, as `vault operator init` prints them. */
  readonly unsealKeys: readonly string[];
  private readonly clusterName = `vault-cluster-${randomBytes(4).toString('hex')}`;
  private readonly clusterId = randomUUID();
  private readonly given = new Set<string>();
  private nonce = '';

  constructor(opts: SealOptions = {}) {
    this.sealed = opts.sealed ?? false;
    this.version = opts.version ?? '1.17.6';
    this.buildDate = opts.buildDate ?? '2024-09-24T19:48:40Z';
    this.n = opts.shares ?? 5;
    this.t = opts.threshold ?? 3;
    this.unsealKeys = Array.from({ length: this.n }, () => randomBytes(33).toString('base64'));
  }

  seal(): void {
    this.sealed = true;
    this.resetProgress();
  }

  unseal(): void {
    this.sealed = false;
    this.resetProgress();
  }

  private resetProgress(): void {
    this.given.clear();
    this.nonce = '';
  }

  /** §Seal status body, fields in `SealStatusResponse` order. */
  status(): Record<string, unknown> {
    const body: Record<string, unknown> = {
      type: 'shamir',
      initialized: true,
      sealed: this.sealed,
      t: this.t,
      n: this.n,
      progress: this.given.size,
      nonce: this.nonce,
      version: this.version,
      build_date: this.buildDate,
      migration: false,
    };
    if (!this.sealed) {
      body.cluster_name = this.clusterName;
      body.cluster_id = this.clusterId;
    }
    body.recovery_seal = false;
    body.storage_type = 'inmem';
    return body;
  }

  /**
   * `GET /v1/sys/health` with its default codes: 200 active, 503 sealed (node-vault's `health()`
   * does not treat a non-200 here as an error, §node-vault). Not in docs/vault-api.md; kept small.
   */
  health(nowMs: number, query: URLSearchParams): { status: number; body: Record<string, unknown> } {
    const code = (name: string, fallback: number) => {
      const v = query.get(name);
      return v !== null && /^\d+$/.test(v) ? Number(v) : fallback;
    };
    const body: Record<string, unknown> = {
      initialized: true,
      sealed: this.sealed,
      standby: this.sealed,
      performance_standby: false,
      replication_performance_mode: 'disabled',
      replication_dr_mode: 'disabled',
      server_time_utc: Math.floor(nowMs / 1000),
      version: this.version,
      enterprise: false,
    };
    if (!this.sealed) {
      body.cluster_name = this.clusterName;
      body.cluster_id = this.clusterId;
    }
    return { status: this.sealed ? code('sealedcode', 503) : code('activecode', 200), body };
  }

  /**
   * `PUT /v1/sys/unseal` (`http/sys_seal.go`): `{"reset":true}` restarts the count, `{"key":…}`
   * adds a share; the answer is the seal status. Messages are the handler's own.
   */
  submit(body: Record<string, unknown>): Record<string, unknown> {
    if (body.reset === true) {
      if (!this.sealed) throw new VaultHttpError(400, ['vault is unsealed']);
      this.resetProgress();
      return this.status();
    }
    const key = typeof body.key === 'string' ? body.key : '';
    if (key === '') throw new VaultHttpError(400, ["'key' must be specified in request body as JSON, or 'reset' set to true"]);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) && !/^[0-9a-fA-F]+$/.test(key)) {
      throw new VaultHttpError(400, ["'key' must be a valid hex or base64 string"]);
    }
    if (!this.sealed) return this.status();
    // Real Shamir only notices a wrong share when it combines them; the fake refuses it at once.
    if (!this.unsealKeys.includes(key)) throw new VaultHttpError(400, ['Unseal failed, invalid key']);
    if (this.given.size === 0) this.nonce = randomUUID();
    this.given.add(key);
    if (this.given.size >= this.t) this.unseal();
    return this.status();
  }
}
