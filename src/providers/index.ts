/** Building a provider from configuration. */
import { DevIdentityProvider } from './dev.js';
import { FilesIdentityProvider } from './files.js';
import type { IdentityProvider } from './identity-provider.js';

export type { IdentityMaterial, IdentityProvider, ProviderKind } from './identity-provider.js';

export interface DevIdentityConfig {
  readonly kind: 'dev';
  /** Lifetime of the self-signed certificate (`--dev-cert-ttl`). */
  readonly certTtlMs?: number;
}

export interface FilesIdentityConfig {
  readonly kind: 'files';
  readonly certPath?: string;
  readonly keyPath?: string;
  readonly caPath?: string;
  readonly pollIntervalMs?: number;
}

export type IdentityConfig = DevIdentityConfig | FilesIdentityConfig;

export interface ProviderContext {
  readonly role: 'executor' | 'access-point';
  readonly name: string;
  /** Where the dev identity keeps its files. */
  readonly devDir: string;
  /** Host names/IPs the access point is reached by. */
  readonly hosts?: readonly string[];
  /** A re-read found the files unchanged (`touch cert.pem`). */
  readonly onUnchanged?: (reason: string) => void;
}

export function createProvider(config: IdentityConfig, ctx: ProviderContext): IdentityProvider {
  switch (config.kind) {
    case 'dev':
      return new DevIdentityProvider({ role: ctx.role, name: ctx.name, dir: ctx.devDir, ttlMs: config.certTtlMs, hosts: ctx.hosts });
    case 'files':
      return new FilesIdentityProvider({
        certPath: config.certPath,
        keyPath: config.keyPath,
        caPath: config.caPath,
        pollIntervalMs: config.pollIntervalMs,
        onUnchanged: ctx.onUnchanged,
      });
  }
}
