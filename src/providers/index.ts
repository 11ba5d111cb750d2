/** Building a provider from configuration. */
import { DevIdentityProvider } from './dev.js';
import { FilesIdentityProvider } from './files.js';
import { SpiffeIdentityProvider } from './spiffe.js';
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

export interface SpiffeIdentityConfig {
  readonly kind: 'spiffe';
  /** `--spiffe-socket`: a path or unix:///path; else SPIFFE_ENDPOINT_SOCKET; else /run/spire/agent.sock. */
  readonly socket?: string;
}

export type IdentityConfig = DevIdentityConfig | FilesIdentityConfig | SpiffeIdentityConfig;

export interface ProviderContext {
  readonly role: 'executor' | 'access-point';
  readonly name: string;
  /** Where the dev identity keeps its files. */
  readonly devDir: string;
  /** Host names/IPs the access point is reached by. */
  readonly hosts?: readonly string[];
  /** A re-read found the files unchanged (`touch cert.pem`). */
  readonly onUnchanged?: (reason: string) => void;
  /** The provider lost its source and will try again (SPIFFE). */
  readonly onReconnect?: (info: { attempt: number; inMs: number; reason: string; code: string }) => void;
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
    case 'spiffe':
      return new SpiffeIdentityProvider({ socket: config.socket, onReconnect: ctx.onReconnect });
  }
}
