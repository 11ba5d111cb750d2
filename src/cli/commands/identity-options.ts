/** The identity flags both daemons share, and what they make of them. */
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { AhError } from '../../errors/ah-error.js';
import type { IdentityConfig } from '../../providers/index.js';
import { hostname } from 'node:os';
import { resolveWorkloadEndpoint } from '../../providers/spiffe/endpoint.js';
import { resolveCredentials } from '../../providers/vault/credentials.js';
import { durationOption, UsageError } from '../common.js';
import { FLAG_RANGES } from '../flag-ranges.js';
import { addExecIdentityOptions, execConfig, type ExecIdentityFlags } from './exec-identity-options.js';

export const IDENTITY_PROVIDERS = ['dev', 'files', 'spiffe', 'vault', 'exec'] as const;
/** Providers this build can run; the others are in the contract and refused clearly for now. */
const SUPPORTED = new Set(['dev', 'files', 'spiffe', 'vault', 'exec']);

export interface IdentityFlags extends ExecIdentityFlags {
  identity?: string;
  cert?: string;
  key?: string;
  ca?: string;
  certFile?: string;
  keyFile?: string;
  caFile?: string;
  devCertTtl?: number;
  filesPollInterval?: number;
  spiffeSocket?: string;
  vaultAddr?: string;
  vaultRole?: string;
  vaultPath?: string;
  vaultCommonName?: string;
  vaultUriSan?: string;
  vaultTtl?: number;
  vaultRoleIdFile?: string;
  vaultSecretIdFile?: string;
}

export function addIdentityOptions(command: Command, role: 'executor' | 'access-point'): Command {
  const caHelp =
    role === 'executor'
      ? "CA bundle (PEM) that issued the access point's certificate"
      : "CA bundle (PEM) that issued the executors' certificates; executors must chain to it";
  command
    .addOption(new Option('--identity <provider>', 'identity provider (default: files when --cert/--key are given, else dev)').choices([...IDENTITY_PROVIDERS]))
    .option('--cert <path>', `certificate (PEM; leaf first, then intermediates) of this ${role === 'executor' ? 'executor' : 'access point'}`)
    .option('--key <path>', 'its private key (PEM)')
    .option('--ca <path>', caHelp)
    .addOption(new Option('--cert-file <path>', 'same as --cert').hideHelp())
    .addOption(new Option('--key-file <path>', 'same as --key').hideHelp())
    .addOption(new Option('--ca-file <path>', 'same as --ca').hideHelp())
    .addOption(
      durationOption('--dev-cert-ttl <duration>', 'lifetime of the dev identity certificate', FLAG_RANGES.devCertTtl, { value: undefined, shown: '24h' }),
    )
    .option(
      '--spiffe-socket <path>',
      'spiffe identity: Workload API socket, a path or unix:///path (default: $SPIFFE_ENDPOINT_SOCKET, else /run/spire/agent.sock)',
    )
    .option('--vault-addr <url>', 'vault identity: Vault address (default: $VAULT_ADDR); VAULT_CACERT is honoured')
    .option('--vault-role <role>', 'vault identity: the PKI role to issue from')
    .option('--vault-path <path>', 'vault identity: the PKI issue path (default: pki/issue/<role>)')
    .option('--vault-common-name <name>', `vault identity: common name to request (default: ${role === 'executor' ? '--name' : 'the host name'})`)
    .option('--vault-uri-san <uri>', 'vault identity: URI SAN to request, e.g. spiffe://example.org/ah/agent/executor-1 (default: the role decides)')
    .addOption(durationOption('--vault-ttl <duration>', 'vault identity: certificate TTL to request', FLAG_RANGES.vaultTtl, { value: 3_600_000, shown: '1h' }))
    .option('--vault-role-id-file <path>', 'vault identity: read the AppRole role ID from this file (default: $VAULT_ROLE_ID)')
    .option('--vault-secret-id-file <path>', 'vault identity: read the AppRole secret ID from this file (default: $VAULT_SECRET_ID); or give VAULT_TOKEN')
    .addOption(
      durationOption(
        '--files-poll-interval <duration>',
        'files identity: also re-read the files this often, for changes the watch missed',
        FLAG_RANGES.filesPollInterval,
        { value: 30_000, shown: '30s' },
      ),
    );
  return addExecIdentityOptions(command);
}

/** Which provider, with which settings. Throws UsageError on flags that do not go together. */
export function identityConfig(flags: IdentityFlags, role: 'executor' | 'access-point'): { config: IdentityConfig; extraCaPath?: string } {
  const cert = flags.cert ?? flags.certFile;
  const key = flags.key ?? flags.keyFile;
  const ca = flags.ca ?? flags.caFile;
  const kind = flags.identity ?? (cert || key ? 'files' : 'dev');
  if (!SUPPORTED.has(kind)) throw new UsageError(`--identity ${kind} is not available in this build yet (use dev, files or spiffe)`);
  if (flags.spiffeSocket && kind !== 'spiffe') throw new UsageError('--spiffe-socket needs --identity spiffe');
  const exec = execConfig(flags, kind);
  if (exec) {
    if (cert || key) throw new UsageError('--cert and --key need --identity files (the exec identity comes from --dynamic-cert-cmd)');
    return { config: exec, extraCaPath: ca };
  }
  if (kind === 'vault') return { config: vaultConfig(flags, role), extraCaPath: ca };
  if (kind === 'spiffe') {
    if (cert || key) throw new UsageError('--cert and --key need --identity files (SPIFFE identities come from the Workload API)');
    try {
      resolveWorkloadEndpoint(flags.spiffeSocket);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    return { config: { kind: 'spiffe', socket: flags.spiffeSocket }, extraCaPath: ca };
  }
  if (kind === 'dev') {
    if (cert || key) throw new UsageError('--cert and --key need --identity files');
    return { config: { kind: 'dev', certTtlMs: flags.devCertTtl }, extraCaPath: ca };
  }
  if (role === 'access-point' && (!cert || !key)) throw new UsageError('--identity files needs --cert and --key for the access point');
  if (role === 'executor' && !ca) throw new UsageError("--identity files needs --ca (the CA that issued the access point's certificate)");
  if (Boolean(cert) !== Boolean(key)) throw new UsageError(cert ? '--cert needs --key' : '--key needs --cert');
  return { config: { kind: 'files', certPath: cert, keyPath: key, caPath: ca, pollIntervalMs: flags.filesPollInterval } };
}

/** A CA bundle given with a provider that has none of its own, read once. */
export function readCaFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new AhError('ENROLL_FILE_NOT_FOUND', { path, dir: '.' });
    if (code === 'EACCES') throw new AhError('ENROLL_PERMISSION_DENIED', { path });
    throw new AhError('ENROLL_UNREADABLE_PEM', { what: 'CA certificates', path, detail: code ?? String(err) });
  }
}

function vaultConfig(flags: IdentityFlags, role: 'executor' | 'access-point'): IdentityConfig {
  const addr = flags.vaultAddr ?? process.env.VAULT_ADDR;
  if (!addr) throw new UsageError('--identity vault needs --vault-addr (or VAULT_ADDR)');
  try {
    new URL(addr);
  } catch {
    throw new UsageError(`invalid --vault-addr '${addr}' (expected e.g. https://vault.example.com:8200)`);
  }
  if (!flags.vaultRole) throw new UsageError('--identity vault needs --vault-role');
  let credentials: ReturnType<typeof resolveCredentials>;
  try {
    credentials = resolveCredentials({ roleIdFile: flags.vaultRoleIdFile, secretIdFile: flags.vaultSecretIdFile });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (!credentials) {
    throw new UsageError('--identity vault needs VAULT_ROLE_ID and VAULT_SECRET_ID (or --vault-role-id-file and --vault-secret-id-file), or VAULT_TOKEN');
  }
  const caCertPath = process.env.VAULT_CACERT;
  return {
    kind: 'vault',
    addr,
    role: flags.vaultRole,
    path: flags.vaultPath,
    commonName: flags.vaultCommonName ?? (role === 'access-point' ? hostname() : undefined),
    uriSan: flags.vaultUriSan,
    ttlMs: flags.vaultTtl,
    credentials,
    caCertPem: caCertPath ? readCaFile(caCertPath) : undefined,
  };
}
