/**
 * The Vault identity: AppRole login (or a token), then the PKI secrets engine issues a key and a
 * certificate (docs/vault-api.md, through the real node-vault client, §node-vault). What comes back
 * is verified before use. The token is renewed at two thirds of its TTL, or the login repeated, so
 * a long-running executor never holds a dead one; a dead token met anyway is replaced and the call
 * retried once. While Vault is sealed its seal status is polled, and an unseal issues at once.
 */
import { EventEmitter } from 'eventemitter3';
import NodeVault from 'node-vault';
import { AhError } from '../errors/ah-error.js';
import { backoffDelay, type BackoffPolicy } from '../util/backoff.js';
import { summarize } from '../x509/certificate.js';
import type { IdentityMaterial, IdentityProvider, ProviderEvents, ProviderLogHook } from './identity-provider.js';
import type { VaultCredentials } from './vault/credentials.js';
import { verifyIssueResponse } from './vault/issue-response.js';
import { isDeadToken, isSealed, vaultErrorToCatalog } from './vault/vault-errors.js';
import { clearLongTimeout, setLongTimeout, type LongTimer } from '../util/long-timer.js';

export interface VaultProviderOptions {
  /** `--vault-addr`, else VAULT_ADDR. */
  readonly addr: string;
  /** `--vault-role`: the PKI role. */
  readonly role: string;
  /** `--vault-path`, default `pki/issue/<role>`. */
  readonly path?: string;
  readonly commonName: string;
  readonly uriSan?: string;
  /** Requested certificate TTL (`--vault-ttl`, 1h). */
  readonly ttlMs?: number;
  readonly credentials: VaultCredentials;
  /** VAULT_CACERT: the CA of Vault's own HTTPS listener. */
  readonly caCertPem?: string;
  /** Retries of the first issue (later renewals are retried by the rotation machine). */
  readonly retry?: BackoffPolicy;
  /** Bad credentials may be fixed by someone, but not in a second: retried this slowly. */
  readonly authRetry?: BackoffPolicy;
  readonly sealPollMs?: number;
  /** Things worth a log line: token renewed, login repeated, TTL clamped, sealed, unsealed. */
  readonly onEvent?: ProviderLogHook;
}

interface Token {
  readonly renewable: boolean;
  /** Epoch ms; Infinity for a token without TTL (root). */
  readonly expiresAt: number;
  readonly ttlMs: number;
}

export class VaultIdentityProvider extends EventEmitter<ProviderEvents> implements IdentityProvider {
  readonly kind = 'vault' as const;
  readonly canIssue = true;
  private readonly client: NodeVault.client;
  private readonly path: string;
  private token: Token | null = null;
  private tokenTimer: LongTimer | null = null;
  private startTimer: LongTimer | null = null;
  private sealPoll: NodeJS.Timeout | null = null;
  private stopped = false;
  private haveMaterial = false;
  /** An issue failed while sealed: issue again the moment Vault is unsealed. */
  private issueOnUnseal = false;

  constructor(private readonly options: VaultProviderOptions) {
    super();
    this.path = options.path ?? `pki/issue/${options.role}`;
    this.client = NodeVault({
      endpoint: options.addr,
      apiVersion: 'v1',
      ...(options.credentials.kind === 'token' ? { token: options.credentials.token } : {}),
      requestOptions: { timeout: 10_000, ...(options.caCertPem ? { ca: options.caCertPem } : {}) },
    });
  }

  async start(): Promise<void> {
    void this.firstIssue(1);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearLongTimeout(this.tokenTimer);
    clearLongTimeout(this.startTimer);
    if (this.sealPoll) clearTimeout(this.sealPoll);
    this.removeAllListeners();
  }

  /** New key and certificate from the PKI engine, verified. */
  async issue(): Promise<IdentityMaterial> {
    try {
      await this.ensureToken();
      let body: unknown;
      try {
        body = await this.client.write(this.path, this.issueRequest());
      } catch (err) {
        if (!isDeadToken(err) || this.options.credentials.kind !== 'approle') throw err;
        // The token died under us (revoked, expired between checks): log in again, once.
        this.token = null;
        this.options.onEvent?.('warn', 'vault token no longer valid; logging in again', { event: 'vault_token_invalid' });
        await this.ensureToken();
        body = await this.client.write(this.path, this.issueRequest());
      }
      const material = this.toMaterial(body);
      this.issueOnUnseal = false;
      return material;
    } catch (err) {
      const error = err instanceof AhError ? err : vaultErrorToCatalog(err, 'issue', { addr: this.options.addr, path: this.path });
      if (error.code === 'ENROLL_VAULT_SEALED') this.watchSeal();
      throw error;
    }
  }

  private issueRequest() {
    return {
      common_name: this.options.commonName,
      ...(this.options.uriSan ? { uri_sans: this.options.uriSan } : {}),
      ttl: `${Math.max(1, Math.round((this.options.ttlMs ?? 3_600_000) / 1000))}s`,
      format: 'pem',
      private_key_format: 'pkcs8',
    };
  }

  /** Until the first material, the provider retries on its own (the rotation machine is waiting). */
  private async firstIssue(attempt: number): Promise<void> {
    if (this.stopped) return;
    try {
      const material = await this.issue();
      this.haveMaterial = true;
      this.emit('material', material);
    } catch (err) {
      if (this.stopped) return;
      const error = err as AhError;
      this.emit('error', error);
      if (error.code === 'ENROLL_VAULT_SEALED') return; // the seal watch issues on unseal
      const slow = error.code === 'ENROLL_VAULT_AUTH_FAILED' || error.code === 'ENROLL_VAULT_ISSUE_FAILED';
      const policy = slow ? (this.options.authRetry ?? { baseMs: 10_000, capMs: 300_000 }) : (this.options.retry ?? { baseMs: 1_000, capMs: 30_000 });
      const delay = Math.max(slow ? policy.baseMs / 2 : 0, backoffDelay(policy, attempt, Math.random()));
      this.startTimer = setLongTimeout(() => void this.firstIssue(attempt + 1), delay);
    }
  }

  private toMaterial(body: unknown): IdentityMaterial {
    const issued = verifyIssueResponse(body, { addr: this.options.addr, path: this.path });
    for (const w of issued.warnings) this.options.onEvent?.('warn', `vault: ${w}`, { event: 'vault_warning', warning: w });
    return { certPem: issued.certPem, keyPem: issued.keyPem, bundlePem: issued.bundlePem, summary: summarize(issued.leaf, 'vault') };
  }

  /** A usable token: log in (AppRole), or look the given token up, if we have none in hand. */
  private async ensureToken(): Promise<void> {
    if (this.token && Date.now() < this.token.expiresAt - 1_000) return;
    const creds = this.options.credentials;
    try {
      if (creds.kind === 'approle') {
        const res = (await this.client.approleLogin({ role_id: creds.roleId, secret_id: creds.secretId, mount_point: creds.mount })) as {
          auth?: { lease_duration?: number; renewable?: boolean };
        };
        if (!res?.auth)
          throw new AhError('ENROLL_VAULT_BAD_RESPONSE', {
            addr: this.options.addr,
            path: `auth/${creds.mount}/login`,
            detail: 'the login response has no auth',
          });
        this.setToken(res.auth.lease_duration ?? 0, Boolean(res.auth.renewable));
        this.options.onEvent?.('info', 'vault: logged in with AppRole', { event: 'vault_logged_in', ttlSeconds: res.auth.lease_duration });
      } else {
        const res = (await this.client.tokenLookupSelf()) as { data?: { ttl?: number; renewable?: boolean } };
        this.setToken(res?.data?.ttl ?? 0, Boolean(res?.data?.renewable));
      }
    } catch (err) {
      if (err instanceof AhError) throw err;
      throw vaultErrorToCatalog(err, creds.kind === 'approle' ? 'login' : 'token', { addr: this.options.addr, path: 'auth' });
    }
  }

  private setToken(ttlSeconds: number, renewable: boolean): void {
    const ttlMs = ttlSeconds * 1000;
    this.token = { renewable, ttlMs, expiresAt: ttlMs > 0 ? Date.now() + ttlMs : Infinity };
    clearLongTimeout(this.tokenTimer);
    this.tokenTimer = null;
    // A token TTL can exceed what one setTimeout waits (Vault's default max is 32 days).
    if (ttlMs > 0) this.tokenTimer = setLongTimeout(() => void this.refreshToken(), Math.max(500, (ttlMs * 2) / 3));
  }

  /** At two thirds of the token's TTL: renew it, or (not renewable, at its max TTL, dead) log in again. */
  private async refreshToken(): Promise<void> {
    if (this.stopped || !this.token) return;
    const creds = this.options.credentials;
    try {
      if (this.token.renewable) {
        const res = (await this.client.tokenRenewSelf({ increment: `${Math.round(this.token.ttlMs / 1000)}s` })) as {
          auth?: { lease_duration?: number; renewable?: boolean };
        };
        const granted = res?.auth?.lease_duration ?? 0;
        // Renewal stops helping near the token's max TTL: the grant shrinks. Then log in instead.
        if (granted * 1000 >= this.token.ttlMs / 3 || creds.kind !== 'approle') {
          this.setToken(granted, Boolean(res?.auth?.renewable));
          this.options.onEvent?.('info', 'vault: token renewed', { event: 'vault_token_renewed', ttlSeconds: granted });
          return;
        }
      }
      if (creds.kind !== 'approle') return;
      this.token = null;
      await this.ensureToken();
    } catch (err) {
      if (isSealed(err)) {
        this.watchSeal();
        return;
      }
      this.options.onEvent?.('warn', `vault: token renewal failed (${(err as Error).message}); logging in again at the next use`, {
        event: 'vault_token_renewal_failed',
      });
      this.token = null;
    }
  }

  /** Poll the (unauthenticated) seal status; on unseal, issue at once if an issue is waiting. */
  private watchSeal(): void {
    this.issueOnUnseal = true;
    if (this.sealPoll || this.stopped) return;
    this.options.onEvent?.('warn', 'vault is sealed: the current certificate stays in use; waiting for an unseal', { event: 'vault_sealed' });
    const poll = async () => {
      this.sealPoll = null;
      if (this.stopped) return;
      let sealed = true;
      try {
        sealed = Boolean(((await this.client.status()) as { sealed?: boolean }).sealed);
      } catch {
        // Unreachable counts as still sealed; keep polling.
      }
      if (sealed) {
        this.sealPoll = setTimeout(() => void poll(), this.options.sealPollMs ?? 1_000);
        return;
      }
      this.options.onEvent?.('info', 'vault is unsealed: renewing now', { event: 'vault_unsealed' });
      if (!this.issueOnUnseal) return;
      try {
        const material = await this.issue();
        this.haveMaterial = true;
        this.emit('material', material);
      } catch (err) {
        this.emit('error', err as AhError);
        if (!this.haveMaterial && (err as AhError).code !== 'ENROLL_VAULT_SEALED') void this.firstIssue(1);
      }
    };
    this.sealPoll = setTimeout(() => void poll(), this.options.sealPollMs ?? 1_000);
  }
}
