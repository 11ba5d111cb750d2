/**
 * The dev identity: a self-signed P-256 certificate made at start and kept in the state dir, so
 * the guide's two development commands work on one machine without a CA. The access point keeps
 * its key across restarts and renewals (executors trust it on first use, by key); executors get a
 * fresh key with every certificate.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EventEmitter } from 'eventemitter3';
import { AhError } from '../errors/ah-error.js';
import { summarizePem } from '../x509/certificate.js';
import { createSelfSigned } from '../x509/self-signed.js';
import type { IdentityMaterial, IdentityProvider, ProviderEvents } from './identity-provider.js';

export const DEV_TRUST_DOMAIN = 'dev.local';
export const DEFAULT_DEV_CERT_TTL_MS = 24 * 3_600_000;

export interface DevProviderOptions {
  readonly role: 'executor' | 'access-point';
  /** Executor name (ends up in the SPIFFE ID); the access point uses its host name. */
  readonly name: string;
  /** Directory for cert.pem and key.pem. */
  readonly dir: string;
  readonly ttlMs?: number;
  /** Extra DNS names and IPs for the access point certificate (its listen address). */
  readonly hosts?: readonly string[];
  /** Current time; injected so tests can make certificates for any moment. */
  readonly now?: () => number;
}

export function devSpiffeId(role: 'executor' | 'access-point', name: string): string {
  return role === 'executor' ? `spiffe://${DEV_TRUST_DOMAIN}/ah/agent/${name}` : `spiffe://${DEV_TRUST_DOMAIN}/ah/access-point`;
}

export class DevIdentityProvider extends EventEmitter<ProviderEvents> implements IdentityProvider {
  readonly kind = 'dev' as const;
  readonly canIssue = true;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: DevProviderOptions) {
    super();
    this.ttlMs = options.ttlMs ?? DEFAULT_DEV_CERT_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  get certPath(): string {
    return join(this.options.dir, 'cert.pem');
  }

  get keyPath(): string {
    return join(this.options.dir, 'key.pem');
  }

  async start(): Promise<void> {
    try {
      this.emit('material', await this.issue());
    } catch (err) {
      this.emit(
        'error',
        err instanceof AhError ? err : new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: this.options.dir, detail: String((err as Error).message) }),
      );
    }
  }

  async issue(): Promise<IdentityMaterial> {
    const { role, name, dir } = this.options;
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: dir, detail: (err as Error).message });
    }
    const keyPem = role === 'access-point' ? await this.readKeptKey() : undefined;
    const now = this.now();
    // Executors are named by their URI SAN only; the access point also by the names it is reached at.
    const hosts = new Set(role === 'executor' ? [] : ['localhost', '127.0.0.1', '::1', hostname(), ...(this.options.hosts ?? [])]);
    const pair = await createSelfSigned({
      commonName: role === 'executor' ? name : `ah access point ${name}`,
      uris: [devSpiffeId(role, name)],
      dnsNames: [...hosts].filter((h) => !/^[\d.:]+$/.test(h) && h !== '0.0.0.0'),
      ips: [...hosts].filter((h) => /^[\d.:]+$/.test(h) && h !== '0.0.0.0' && h !== '::'),
      notBefore: now,
      notAfter: now + this.ttlMs,
      keyPem,
      usage: role === 'executor' ? 'client' : 'server',
    });
    await this.writeAtomically(this.keyPath, pair.keyPem, 0o600);
    await this.writeAtomically(this.certPath, pair.certPem, 0o644);
    return {
      certPem: pair.certPem,
      keyPem: pair.keyPem,
      bundlePem: null,
      summary: summarizePem(pair.certPem, 'dev'),
    };
  }

  async stop(): Promise<void> {
    this.removeAllListeners();
  }

  private async readKeptKey(): Promise<string | undefined> {
    try {
      return await readFile(this.keyPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: this.keyPath, detail: (err as Error).message });
    }
  }

  private async writeAtomically(path: string, data: string, mode: number): Promise<void> {
    const tmp = `${path}.tmp-${process.pid}`;
    try {
      await writeFile(tmp, data, { mode });
      await chmod(tmp, mode);
      await rename(tmp, path);
    } catch (err) {
      throw new AhError('ENROLL_STATE_DIR_UNUSABLE', { path, detail: (err as Error).message });
    }
  }
}
