/**
 * Building a provider from configuration. Each provider's module is imported only when that
 * provider is asked for: SPIFFE brings gRPC and protobuf, Vault an HTTP client, files a file
 * watcher, dev a certificate generator, exec a child process; an executor carries the code of its own identity only.
 */
import type { VaultCredentials } from './vault/credentials.js';
import type { IdentityProvider, ProviderLogHook } from './identity-provider.js';

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

export interface VaultIdentityConfig {
  readonly kind: 'vault';
  readonly addr: string;
  readonly role: string;
  readonly path?: string;
  /** Default: the executor's name (the access point's host name). */
  readonly commonName?: string;
  readonly uriSan?: string;
  readonly ttlMs?: number;
  readonly credentials: VaultCredentials;
  /** PEM of the CA of Vault's HTTPS listener (VAULT_CACERT). */
  readonly caCertPem?: string;
}

export interface ExecIdentityConfig {
  readonly kind: 'exec';
  /** `--dynamic-cert-cmd`; `--dynamic-cert-shell` runs it with /bin/sh -c. */
  readonly command: string;
  readonly shell?: boolean;
  readonly ttlMs?: number;
  readonly timeoutMs?: number;
}

export type IdentityConfig = DevIdentityConfig | FilesIdentityConfig | SpiffeIdentityConfig | VaultIdentityConfig | ExecIdentityConfig;

export interface ProviderContext {
  readonly role: 'executor' | 'access-point';
  readonly name: string;
  /** Where the dev identity keeps its files. */
  readonly devDir: string;
  /** Host names/IPs the access point is reached by. */
  readonly hosts?: readonly string[];
  /** A re-read found the files unchanged (`touch cert.pem`). */
  readonly onUnchanged?: (reason: string) => void;
  /** Something worth a log line happened inside the provider (Vault token renewed, sealed, ...). */
  readonly onEvent?: ProviderLogHook;
  /** The provider lost its source and will try again (SPIFFE). */
  readonly onReconnect?: (info: { attempt: number; inMs: number; reason: string; code: string }) => void;
}

export async function createProvider(config: IdentityConfig, ctx: ProviderContext): Promise<IdentityProvider> {
  switch (config.kind) {
    case 'dev': {
      const { DevIdentityProvider } = await import('./dev.js');
      return new DevIdentityProvider({ role: ctx.role, name: ctx.name, dir: ctx.devDir, ttlMs: config.certTtlMs, hosts: ctx.hosts });
    }
    case 'files': {
      const { FilesIdentityProvider } = await import('./files.js');
      return new FilesIdentityProvider({
        certPath: config.certPath,
        keyPath: config.keyPath,
        caPath: config.caPath,
        pollIntervalMs: config.pollIntervalMs,
        onUnchanged: ctx.onUnchanged,
        onEvent: ctx.onEvent,
      });
    }
    case 'spiffe': {
      const { SpiffeIdentityProvider } = await import('./spiffe.js');
      return new SpiffeIdentityProvider({ socket: config.socket, onReconnect: ctx.onReconnect });
    }
    case 'vault': {
      const { VaultIdentityProvider } = await import('./vault.js');
      return new VaultIdentityProvider({
        addr: config.addr,
        role: config.role,
        path: config.path,
        commonName: config.commonName ?? ctx.name,
        uriSan: config.uriSan,
        ttlMs: config.ttlMs,
        credentials: config.credentials,
        caCertPem: config.caCertPem,
        onEvent: ctx.onEvent,
      });
    }
    case 'exec': {
      const { ExecIdentityProvider } = await import('./exec.js');
      return new ExecIdentityProvider({ ...config, onEvent: ctx.onEvent });
    }
  }
}
