/**
 * An executor, as a library: `createExecutor(options)` gives an object to `start()` and `stop()`,
 * whose `status()` is what `ah agent status` prints and whose typed events report state changes,
 * rotations and errors. The `ah agent enroll` command is a thin shell around it.
 */
import { randomInt, X509Certificate } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { createActor, type Actor, type AnyActorRef } from 'xstate';
import { fleetLink, OpenLinks } from '../actors/fleet-link.js';
import type { LinkHeartbeats } from '../actors/link-heartbeats.js';
import { identityWork } from '../actors/identity-watch.js';
import { AhError, messageOf, type ErrorInfo } from '../errors/ah-error.js';
import type { Logging } from '../log/logger.js';
import { machineInspector } from '../log/machine-log.js';
import type { Readiness } from '../metrics/http-server.js';
import type { BackoffPolicy } from '../util/backoff.js';
import { topLevelState, type enrollmentMachine, type EnrollmentState } from '../machines/enrollment.js';

import type { IdentityConfig, IdentityMaterial, IdentityProvider } from '../providers/index.js';
import type { AccessPointTrust, ServerSanPolicy } from '../transport/access-point-trust.js';
import { DEFAULT_RENEWAL_THRESHOLD, isRenewalThreshold, RENEWAL_JITTER, RENEWAL_THRESHOLD_RANGE } from '../model/renewal-policy.js';
import { formatHostPort, type parseRemoteServer, parseRemoteServers } from '../util/address.js';
import { formatDuration } from '../util/duration.js';
import { VERSION } from '../version.js';
import { describe, splitPemCertificates, type CertificateDescription } from '../x509/certificate.js';
import { identityProviderFor, loggingFrom, SideServers } from './daemon-support.js';
import { executorStatus, type ExecutorStatus } from './executor-status.js';
import { narrateRelink } from './relink-narration.js';
import { MaterialStore } from '../actors/material-store.js';
import { ClientContextCache } from '../transport/client-context-cache.js';
import { verifyMaterial } from '../x509/verify-material.js';
import { attachExecutorIo, executorMachine } from './executor-machine.js';
import { paths } from './state-dir.js';
import { checkStateDir } from './state-dir-trust.js';
import { clearLongTimeout, longClock, setLongTimeout } from '../util/long-timer.js';

export interface ExecutorOptions {
  readonly name: string;
  /**
   * `https://HOST[:PORT]` of the access point (port 4433 by default); several as a list or
   * comma-separated: they are tried in a shuffled order, failing over from one to the next.
   */
  readonly remoteServer: string | readonly string[];
  readonly stateDir: string;
  readonly identity?: IdentityConfig;
  readonly connectTimeoutMs?: number;
  /** Give up after this many failed attempts (dials of one access point) in a row; 0 (default) retries for ever. */
  readonly maxAttempts?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly backoff?: BackoffPolicy;
  /** Fraction of the certificate lifetime after which to renew (DEFAULT_RENEWAL_THRESHOLD, 0.7). */
  readonly renewalThreshold?: number;
  /** A ready logging setup; or just `logLevel` ('info', 'ah_transport=debug', ...). Silent by default. */
  readonly logging?: Logging;
  readonly logLevel?: string;
  /** Serve status on `<stateDir>/run/executor.<name>.sock` (default true). */
  readonly statusSocket?: boolean;
  readonly tlsMinVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** A provider instance, instead of one built from `identity` (for embedding and tests). */
  readonly provider?: IdentityProvider;
  /**
   * Trust the access point through this CA bundle (PEM text), for identities that bring none of
   * their own. The files identity's `--ca` is part of its (watched) material instead.
   */
  readonly caPem?: string;
  /** `--expected-server-id`: the access point's exact SPIFFE ID. */
  readonly expectedServerId?: string;
  /** `--server-san`: names (or SPKI pins) any of which the access point must present. */
  readonly serverSan?: ServerSanPolicy;
  /** `--metrics-listen HOST:PORT`: Prometheus `/metrics`, `/healthz` and `/readyz`. */
  readonly metricsListen?: string;
}

export interface ExecutorEvents {
  /** Any change of the state value. */
  state: [ExecutorStatus];
  enrolled: [ExecutorStatus];
  disconnected: [ExecutorStatus];
  rotated: [{ serial: string; previousSerial: string | null; rotations: number }];
  /** A new error (the executor keeps retrying unless it also emits `failed`). */
  error: [AhError];
  /** Given up (`--max-attempts`); final. */
  failed: [AhError];
}

export type ExecutorOutcome = { readonly state: 'stopped' } | { readonly state: 'failed'; readonly error: AhError };

export const DEFAULT_CONNECT_TIMEOUT_MS = 30_000;

const toAhError = (e: ErrorInfo): AhError => AhError.fromInfo(e);

export class Executor extends EventEmitter<ExecutorEvents> {
  /** The first access point given. */
  readonly remote: ReturnType<typeof parseRemoteServer>;
  /** Every access point given, in the order given, duplicates dropped. */
  readonly remotes: ReadonlyArray<ReturnType<typeof parseRemoteServer>>;
  readonly done: Promise<ExecutorOutcome>;
  private settle!: (outcome: ExecutorOutcome) => void;
  private actor: Actor<typeof enrollmentMachine> | null = null;
  private provider: IdentityProvider | null = null;
  private readonly sides = new SideServers();
  private readonly openLinks = new OpenLinks();
  private readonly store = new MaterialStore();
  /** One TLS context per material, kept across reconnects and rotation retries. */
  private readonly contexts = new ClientContextCache();
  /** Each welcomed link's heartbeats (the links keep them): the status's `lastHeartbeat` is the active one's. */
  private readonly heartbeats = new Map<string, LinkHeartbeats>();
  private readonly logging: Logging;
  private stopping: Promise<void> | null = null;
  /** When the provider last delivered material (for SPIFFE: the last push). */
  private identityUpdatedAt: number | null = null;
  /** Why the executor gave up, once it has. */
  private failure: AhError | null = null;

  constructor(readonly options: ExecutorOptions) {
    super();
    this.remotes = parseRemoteServers(options.remoteServer);
    if (this.remotes.length === 0) throw new RangeError('no --remote-server given');
    this.remote = this.remotes[0]!;
    this.logging = loggingFrom(options);
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  get state(): EnrollmentState {
    return this.actor ? topLevelState(this.actor.getSnapshot().value) : 'disconnected';
  }

  status(): ExecutorStatus {
    if (!this.actor) throw new Error('executor not started');
    const snap = this.actor.getSnapshot();
    return executorStatus(topLevelState(snap.value), snap.value, snap.context, {
      remoteServer: this.remote.url,
      stateDir: this.options.stateDir,
      identityUpdatedAt: this.identityUpdatedAt,
      lastAckAt: snap.context.link.id ? this.heartbeats.get(snap.context.link.id)?.lastAckAt : null,
    });
  }

  /** `/readyz`: ready while a link is up (enrolled, renewing or relinking), as the enrollment machine says. */
  readiness(): Readiness {
    if (!this.actor) return { ready: false, state: 'starting' };
    const { value } = this.actor.getSnapshot();
    const state = topLevelState(value);
    const linked = state === 'enrolled' || state === 'renewing' || state === 'relinking';
    return { ready: linked, state: typeof value === 'string' ? value : JSON.stringify(value) };
  }

  /** The certificate in use (or about to be), described for `--show-cert`. */
  certificate(): CertificateDescription | null {
    const ctx = this.actor?.getSnapshot().context;
    const fingerprint = ctx?.link.identity?.fingerprint ?? ctx?.identity?.fingerprint;
    if (!fingerprint) return null;
    const [leaf] = splitPemCertificates(this.store.get(fingerprint).certPem);
    return leaf ? describe(new X509Certificate(leaf)) : null;
  }

  async start(): Promise<void> {
    const { options } = this;
    const log = this.logging.get('ah_executor');
    // Before anything is read from it or written to it.
    await checkStateDir(options.stateDir);
    await this.sides.start(
      {
        ...(options.metricsListen && {
          metrics: {
            listen: options.metricsListen,
            // Only with --metrics-listen: prom-client is loaded here, not by every executor.
            registry: async () => {
              const [{ createRegistry }, { executorMetrics }] = await Promise.all([import('../metrics/common.js'), import('../metrics/executor-metrics.js')]);
              const registry = createRegistry('executor', options.name);
              executorMetrics(this, registry);
              return registry;
            },
            readiness: () => this.readiness(),
          },
        }),
        ...(options.statusSocket !== false && {
          status: {
            path: paths.executorSocket(options.stateDir, options.name),
            handler: (cmd: string) => (cmd === 'status-cert' ? { ...this.status(), certificate: this.certificate() } : this.status()),
            owner: { role: 'executor', name: options.name },
          },
        }),
      },
      this.logging,
    );
    const provider = await identityProviderFor(
      { ...options, identity: options.identity ?? { kind: 'dev' } },
      { role: 'executor', name: options.name, devDir: paths.devIdentity(options.stateDir, 'executor', options.name) },
      this.logging,
    );
    provider.on('material', () => (this.identityUpdatedAt = Date.now()));
    this.store.on('bundleChanged', (m) =>
      this.logging
        .get('ah_identity_provider')
        .info({ event: 'trust_bundle_updated', serial: m.summary.serial }, 'trust bundle updated (CA rotation): new links verify against it'),
    );
    this.provider = provider;
    const actor = this.createMachine(provider);
    this.actor = actor;
    this.observe(actor, log);
    log.info(
      {
        event: 'executor_starting',
        remoteServer: this.remote.url,
        remoteServers: this.remotes.map((r) => r.url),
        provider: provider.kind,
        stateDir: options.stateDir,
        version: VERSION,
      },
      `executor ${options.name} starting: enrolling with ${this.remotes.length === 1 ? this.remote.url : `one of ${this.remotes.map((r) => r.url).join(', ')}`} (identity ${provider.kind})`,
    );
    actor.start();
  }

  /**
   * How this executor trusts the access point at `host`: a CA (the flag's, or the identity's
   * bundle), else trust on first use.
   */
  private trustFor(material: IdentityMaterial, host = this.remote.host): AccessPointTrust {
    const { options } = this;
    const bundlePem = options.caPem ?? material.bundlePem;
    return bundlePem
      ? { kind: 'ca', bundlePem, host, expectedServerId: options.expectedServerId, serverSan: options.serverSan }
      : { kind: 'first-use', dir: paths.knownAccessPoints(options.stateDir) };
  }

  /** The enrollment machine with this executor's I/O: the identity watch and renewal, and its fleet links. */
  private createMachine(provider: IdentityProvider): Actor<ReturnType<typeof executorMachine>> {
    const { options } = this;
    const address = formatHostPort(this.remote);
    const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const trustFor = (material: IdentityMaterial, host?: string) => this.trustFor(material, host);
    const identityLog = this.logging.get('ah_identity_provider');
    const { watch, renew } = identityWork(provider, this.store, identityLog, (material) => this.verifyMaterial(material, trustFor(material)));
    const link = fleetLink(
      {
        trustFor,
        hello: { name: options.name, version: VERSION, labels: { ...(options.labels ?? {}) } },
        minVersion: options.tlsMinVersion,
        store: this.store,
        log: this.logging.get('ah_transport'),
        contexts: this.contexts,
        heartbeats: this.heartbeats,
      },
      this.openLinks,
    );
    const actor = createActor(executorMachine(), {
      id: `executor:${options.name}`,
      // Connect timeouts, backoff and heartbeats come from flags: any length must wait that long.
      clock: longClock,
      input: {
        name: options.name,
        remoteServer: address,
        remoteServers: this.remotes.map(formatHostPort),
        connectTimeoutMs,
        connectTimeoutLabel: formatDuration(connectTimeoutMs),
        maxAttempts: options.maxAttempts ?? 0,
        backoff: options.backoff,
        seed: randomInt(2 ** 31),
        rotation: {
          provider: provider.kind,
          canIssue: provider.canIssue,
          maxAgeMs: provider.maxAgeMs,
          threshold: options.renewalThreshold ?? DEFAULT_RENEWAL_THRESHOLD,
          jitter: RENEWAL_JITTER,
          retry: options.backoff,
        },
      },
      inspect: machineInspector(this.logging.get('ah_machine'), `executor:${options.name}`),
    });
    attachExecutorIo(actor.system, { watch, renew, link });
    return actor;
  }

  /**
   * Material is checked once, when it arrives, by building the TLS context its links will dial
   * with: OpenSSL refuses a key that does not belong to the certificate. When the context cannot
   * be built, the plain checks say why in the guide's words; if they find nothing (the trust
   * bundle is what OpenSSL could not read), the dial reports it as before.
   */
  private verifyMaterial(material: IdentityMaterial, trust: AccessPointTrust): void {
    if (!material.certPem) return verifyMaterial(material);
    try {
      this.contexts.contextFor(material, { caPem: trust.kind === 'ca' ? trust.bundlePem : undefined, minVersion: this.options.tlsMinVersion });
    } catch {
      verifyMaterial(material);
    }
  }

  /**
   * A configuration reload: renew at this fraction of the lifetime from the next certificate on
   * (the current one keeps the renewal point it was given).
   */
  setRenewalThreshold(threshold: number): void {
    if (!isRenewalThreshold(threshold))
      throw new RangeError(`renewal threshold ${threshold} is outside ${RENEWAL_THRESHOLD_RANGE.min}..${RENEWAL_THRESHOLD_RANGE.max}`);
    const rotation = (this.actor?.getSnapshot().children as Record<string, AnyActorRef | undefined> | undefined)?.rotation;
    rotation?.send({ type: 'SET_THRESHOLD', threshold });
  }

  /** Say goodbye on every link, wait until the goodbyes are out, then stop. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const actor = this.actor;
      if (actor && actor.getSnapshot().status === 'active') actor.send({ type: 'SHUTDOWN' });
      await this.openLinks.drained();
      actor?.stop();
      await this.provider?.stop();
      await this.sides.close();
      this.logging.get('ah_executor').info({ event: 'executor_stopped' }, `executor ${this.options.name} stopped`);
      this.settle({ state: 'stopped' });
    })();
    return this.stopping;
  }

  /**
   * Resolves with the status once the executor is in `state`; rejects after `timeoutMs`, or at
   * once with the failure when the executor has given up (a failed executor never moves again).
   */
  waitFor(state: EnrollmentState, timeoutMs = 30_000): Promise<ExecutorStatus> {
    if (this.actor && this.state === state) return Promise.resolve(this.status());
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const finish = () => {
        clearLongTimeout(timer);
        this.off('state', onState);
        this.off('failed', onFailed);
      };
      const timer = setLongTimeout(() => {
        finish();
        reject(new Error(`executor ${this.options.name} not ${state} within ${timeoutMs} ms (now ${this.state})`));
      }, timeoutMs);
      const onState = (s: ExecutorStatus) => {
        if (s.state !== state) return;
        finish();
        resolve(s);
      };
      const onFailed = (error: AhError) => {
        finish();
        reject(error);
      };
      this.on('state', onState);
      this.on('failed', onFailed);
    });
  }

  /** Turn snapshots into log lines people read and into the typed events. */
  private observe(actor: Actor<typeof enrollmentMachine>, log: ReturnType<Logging['get']>): void {
    let previousValue = '';
    let previousState: EnrollmentState | null = null;
    let previousError: ErrorInfo | null = null;
    let previousSerial: string | null = null;
    let previousRotations = 0;
    actor.subscribe({
      next: (snap) => {
        const value = JSON.stringify(snap.value);
        const ctx = snap.context;
        const state = topLevelState(snap.value);
        if (ctx.lastError && ctx.lastError !== previousError) {
          // Logged where they happen (a refused older certificate by the identity watch, which
          // hears the rotation machine's verdict).
          this.emit('error', toAhError(ctx.lastError));
        }
        if (value !== previousValue) {
          const status = this.status();
          this.narrate(previousState, state, snap.value, ctx, log);
          this.emit('state', status);
          if (state === 'enrolled' && previousState !== 'enrolled' && previousState !== 'renewing' && previousState !== 'relinking')
            this.emit('enrolled', status);
          // Not at start: only a link (or an attempt) that was lost.
          if (state === 'disconnected' && previousState !== null && previousState !== 'disconnected') this.emit('disconnected', status);
        }
        if (ctx.rotations !== previousRotations) {
          const serial = ctx.link.identity?.serial ?? '';
          log.info(
            {
              event: 'rotation_complete',
              rotations: ctx.rotations,
              serial,
              previousSerial,
              nextRotationAt: ctx.nextRotationAt && new Date(ctx.nextRotationAt).toISOString(),
            },
            `rotation complete: now using certificate serial ${serial} (rotation ${ctx.rotations}); old link closed with goodbye "rotated"`,
          );
          this.emit('rotated', { serial, previousSerial, rotations: ctx.rotations });
          previousRotations = ctx.rotations;
        }
        if (ctx.link.identity) previousSerial = ctx.link.identity.serial;
        previousError = ctx.lastError;
        previousValue = value;
        previousState = state;
        if (snap.status === 'done') {
          const error = toAhError(ctx.lastError ?? { code: 'ENROLL_INTERNAL', params: { detail: 'failed without an error' }, retryable: false });
          this.failure = error;
          this.emit('failed', error);
          this.settle({ state: 'failed', error });
        }
      },
      error: (err) => {
        log.error({ event: 'executor_crashed', err }, 'enrollment machine crashed');
        const error = new AhError('ENROLL_INTERNAL', { detail: (err as Error).message });
        this.failure = error;
        this.emit('failed', error);
        this.settle({ state: 'failed', error });
      },
    });
  }

  private narrate(
    from: EnrollmentState | null,
    to: EnrollmentState,
    value: unknown,
    ctx: ReturnType<Actor<typeof enrollmentMachine>['getSnapshot']>['context'],
    log: ReturnType<Logging['get']>,
  ): void {
    const detail = JSON.stringify(value);
    const err = ctx.lastError;
    const code = err?.code;
    if (to === 'handshaking' && from !== 'handshaking') {
      const server = ctx.candidate.server ?? ctx.config.remoteServer;
      log.debug({ event: 'connecting', attempt: ctx.attempts + 1, accessPoint: server }, `connecting to ${server} (attempt ${ctx.attempts + 1})`);
    } else if (to === 'enrolled' && from === 'handshaking') {
      log.info(
        {
          event: 'enrolled',
          accessPoint: ctx.link.server,
          executorId: ctx.executorId,
          serial: ctx.link.identity?.serial,
          notAfter: ctx.link.identity && new Date(ctx.link.identity.notAfter).toISOString(),
        },
        `enrolled with access point ${ctx.link.server ?? ctx.config.remoteServer} as ${ctx.executorId}`,
      );
    } else if (narrateRelink(from, to, detail, ctx, log)) {
      // A step of a move away from a draining access point: said there.
    } else if (to === 'renewing' && from === 'enrolled') {
      log.info({ event: 'renewal_due', serial: ctx.link.identity?.serial }, `certificate renewal due: rotating (renewing serial ${ctx.link.identity?.serial})`);
    } else if (detail === '{"renewing":"retryWait"}' && err) {
      log.warn(
        { event: 'rotation_link_failed', code, retryInMs: ctx.retry.delayMs },
        `rotation: new link failed: ${messageOf(err)}; keeping the current link, retrying in ${formatDuration(ctx.retry.delayMs)}`,
      );
    } else if (detail === '{"disconnected":"backingOff"}' && err) {
      log.warn(
        { event: 'retrying', code, attempt: ctx.attempts, retryInMs: ctx.retry.delayMs },
        `${messageOf(err)}; retrying in ${formatDuration(ctx.retry.delayMs)} (attempt ${ctx.attempts})`,
      );
    } else if (detail === '{"disconnected":"failingOver"}' && err) {
      const next = ctx.servers[ctx.retry.serverIndex];
      log.warn(
        { event: 'failing_over', code, attempt: ctx.attempts, accessPoint: next },
        `${messageOf(err)}; trying access point ${next} next (attempt ${ctx.attempts})`,
      );
    } else if (to === 'failed' && err) {
      log.error(
        { event: 'gave_up', code, attempts: ctx.attempts },
        `${messageOf(err)}; giving up after ${ctx.attempts} attempt${ctx.attempts === 1 ? '' : 's'}`,
      );
    } else if (detail === '{"disconnected":"waitingForIdentity"}' && err) {
      log.warn({ event: 'waiting_for_identity', code }, `${messageOf(err)}; waiting for usable identity material`);
    }
  }
}

export function createExecutor(options: ExecutorOptions): Executor {
  return new Executor(options);
}
