/**
 * What the checks share: the configuration, and each probe (resolve, connect, handshake, identity,
 * SPIFFE, Vault, enrollment) run at most once, on first need. Checks print in the order,
 * but a probe may run earlier for a check that needs it: the TLS check needs the trust bundle an
 * SVID brings, so the SPIFFE probe runs then, and its own checks report it later. The probes take
 * the context as the `DoctorSession` interface of `session.ts`, which is why they can ask it for
 * one another's results without importing this file.
 */
import { hostname } from 'node:os';
import { queryStatus } from '../transport/status-server.js';
import { paths } from '../engine/state-dir.js';
import { AhError } from '../errors/ah-error.js';
import { ALPN_PROTOCOL } from '../transport/messages.js';
import { tryBind } from './access-point.js';
import { knownAccessPointFile } from '../transport/access-point-trust.js';
import { formatHostPort } from '../util/address.js';
import { probeEnrollment } from './enrollment.js';
import { loadIdentity } from './identity.js';
import { resolveHost, tcpConnect } from './network.js';
import { probeSpiffe } from './spiffe.js';
import { probeExec } from './exec.js';
import type {
  BindProbe,
  DoctorSession,
  EnrollProbe,
  ExecProbe,
  IdentityProbe,
  ResolveProbe,
  SpiffeProbe,
  TcpProbe,
  TlsProbe,
  TrustPlan,
  VaultProbe,
} from './session.js';
import { probeTls } from './tls.js';
import type { DoctorConfig } from './types.js';
import { probeVault } from './vault.js';

export class DoctorContext implements DoctorSession {
  private readonly memo = new Map<string, Promise<unknown>>();

  constructor(
    readonly config: DoctorConfig,
    readonly now: () => number = Date.now,
  ) {}

  private once<T>(key: string, make: () => Promise<T>): Promise<T> {
    let p = this.memo.get(key) as Promise<T> | undefined;
    if (!p) {
      p = make();
      this.memo.set(key, p);
    }
    return p;
  }

  resolve(): Promise<ResolveProbe> {
    return this.once('resolve', () => resolveHost(this.config.target.host, this.config.connectTimeoutMs));
  }

  tcp(): Promise<TcpProbe> {
    return this.once('tcp', async (): Promise<TcpProbe> => {
      // Access point mode with nothing on its port: it is not running, there is nothing to dial.
      if (this.config.role === 'access-point' && (await this.listenProbe()).free) {
        return { ok: false, error: new AhError('ENROLL_CONNECTION_REFUSED', { address: this.config.target.address }), notRunning: true };
      }
      return tcpConnect(this.config.target, this.config.connectTimeoutMs);
    });
  }

  /** Access point mode: can `--fleet-listen` be bound (nothing holds it)? */
  listenProbe(): Promise<BindProbe> {
    return this.once('listen', () => tryBind(this.config.listen!));
  }

  /** Access point mode: the access point of this state dir answers on its status socket, or the port answers as one (ALPN). */
  accessPointAnswers(): Promise<boolean> {
    return this.once('ap-answers', async () => {
      const status = await queryStatus(paths.accessPointSocket(this.config.stateDir), 'status', 2_000).catch(() => null);
      if (status) return true;
      const tcp = await this.tcp();
      if (!tcp.ok) return false;
      const tls = await this.tls();
      return tls.ok && tls.alpn === ALPN_PROTOCOL;
    });
  }

  tls(): Promise<TlsProbe> {
    return this.once('tls', () => probeTls(this));
  }

  identity(): Promise<IdentityProbe> {
    return this.once('identity', () => loadIdentity(this));
  }

  spiffe(): Promise<SpiffeProbe> {
    const identity = this.config.identity;
    if (identity.kind !== 'spiffe') return Promise.reject(new Error('not the spiffe identity'));
    return this.once('spiffe', () => probeSpiffe(identity.socket, this.config.connectTimeoutMs));
  }

  vault(): Promise<VaultProbe> {
    const identity = this.config.identity;
    if (identity.kind !== 'vault') return Promise.reject(new Error('not the vault identity'));
    const commonName = identity.commonName ?? (this.config.role === 'access-point' ? hostname() : this.config.name);
    return this.once('vault', () => probeVault(identity, commonName, this.config.connectTimeoutMs));
  }

  exec(): Promise<ExecProbe> {
    const identity = this.config.identity;
    if (identity.kind !== 'exec') return Promise.reject(new Error('not the exec identity'));
    return this.once('exec', () => probeExec(identity));
  }

  enrollment(): Promise<EnrollProbe> {
    return this.once('enrollment', () => probeEnrollment(this));
  }

  /** The executor's rule (engine/executor.ts): `--ca` for identities without a bundle, else the identity's bundle, else first use. */
  trust(): Promise<TrustPlan> {
    return this.once('trust', async (): Promise<TrustPlan> => {
      const { config } = this;
      if (config.role === 'access-point') return { kind: 'none', reason: 'access point mode' };
      const id = await this.identity();
      if (config.extraCaPath) {
        return id.extraCaPem
          ? { kind: 'ca', bundlePem: id.extraCaPem, origin: `--ca ${config.extraCaPath}` }
          : { kind: 'none', reason: `--ca ${config.extraCaPath} could not be read (see identity files)` };
      }
      if (id.bundlePem) return { kind: 'ca', bundlePem: id.bundlePem, origin: id.bundleOrigin ?? 'the CA bundle' };
      if (id.kind === 'dev') return { kind: 'first-use', file: knownAccessPointFile(paths.knownAccessPoints(config.stateDir), formatHostPort(config.target)) };
      return { kind: 'none', reason: id.unavailable?.reason ?? 'no CA bundle (see the identity checks)' };
    });
  }

  /** Access point mode, listening on every interface: say which address was checked. */
  listenNote(): string {
    const listen = this.config.listen;
    if (this.config.role !== 'access-point' || !listen) return '';
    const all = listen.host === '0.0.0.0' || listen.host === '::';
    return all
      ? ` (it listens on ${formatHostPort(listen)}, all interfaces: checking ${this.config.target.address})`
      : ` (--fleet-listen ${formatHostPort(listen)})`;
  }
}
