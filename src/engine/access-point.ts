/**
 * An access point, as a library: `createAccessPoint(options)`; `ah agent access-point` is a thin
 * shell around it. It runs the `access-point` machine (its own identity, through the rotation
 * machine, and the listener: actors/fleet-listener.ts) and hands each executor link to
 * actors/executor-links.ts, which runs one `connection` machine per link and keeps the roster.
 * This file wires them to the audit log, the metrics and the status socket, and owns start and stop.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { createActor, type Actor } from 'xstate';
import { ExecutorLinks, type DuplicateIdentityPolicy, type ExecutorLinksEvents } from '../actors/executor-links.js';
import { fleetListenerActor } from '../actors/fleet-listener.js';
import { identityActors } from '../actors/identity-watch.js';
import { MaterialStore } from '../actors/material-store.js';
import { Roster } from '../actors/roster.js';
import type { FleetRowView } from '../model/fleet-filter.js';
import { AccessPointAudit } from '../audit/access-point-audit.js';
import type { AuditHealth } from '../audit/audit-log.js';
import { RejectionCoalescer } from '../audit/rejection-coalescer.js';
import { AhError, messageOf, type ErrorInfo } from '../errors/ah-error.js';
import type { Logging } from '../log/logger.js';
import { machineInspector } from '../log/machine-log.js';
import { accessPointMachine } from '../machines/access-point.js';
import { rotationMachine } from '../machines/rotation.js';
import { accessPointMetrics } from '../metrics/access-point-metrics.js';
import { createRegistry } from '../metrics/common.js';
import { rosterMetrics } from '../metrics/roster-metrics.js';
import type { Readiness } from '../metrics/http-server.js';
import { LATE_AFTER_INTERVALS } from '../model/fleet-filter.js';
import type { IdentitySummary } from '../model/identity.js';
import { DEFAULT_RENEWAL_THRESHOLD, RENEWAL_JITTER } from '../model/renewal-policy.js';
import type { IdentityConfig, IdentityProvider } from '../providers/index.js';
import type { ExecutorPolicy } from '../transport/executor-policy.js';
import type { FleetServer, ServerIdentity } from '../transport/fleet-server.js';
import { HandshakeGate, type HandshakeGateStats, type ShedReason } from '../transport/handshake-gate.js';
import { HandshakeShedLog } from '../transport/handshake-shed-log.js';
import { HEARTBEAT_INTERVAL_RANGE } from '../transport/messages.js';
import { SessionResumption, type HandshakeCounts } from '../transport/session-resumption.js';
import { formatHostPort, parseListenAddress, type HostPort } from '../util/address.js';
import { formatRange, inRange } from '../util/duration.js';
import { longClock } from '../util/long-timer.js';
import { VERSION } from '../version.js';
import { parseSpiffeIdPrefix, type SpiffeIdPrefix } from '../x509/spiffe-id.js';
import { identityProviderFor, loggingFrom, SideServers } from './daemon-support.js';
import { FleetHealth } from './fleet-health.js';
import { identityStatus, type IdentityStatus } from './executor-status.js';
import { fleetAnswer } from './fleet-answer.js';
import { defaultAccessPointId, FleetRoster, type RosterOptions } from './fleet-roster.js';
import type { EtcdRosterStatus } from '../actors/roster-etcd.js';
import { paths } from './state-dir.js';
import { checkStateDir } from './state-dir-trust.js';
import type { FleetDirectory } from '../model/fleet-directory.js';
import { AccessPointDrain, DEFAULT_DRAIN_RATE, DEFAULT_DRAIN_RETRY_AFTER_MS, DEFAULT_DRAIN_TIMEOUT_MS, type DrainOutcome } from './access-point-drain.js';

export type { DuplicateIdentityPolicy };
export interface AccessPointOptions {
  /** `HOST:PORT` to listen on (default `0.0.0.0:4433`; port 0 picks a free one). */
  readonly listen?: string;
  readonly stateDir: string;
  readonly identity?: IdentityConfig;
  readonly heartbeatIntervalMs?: number;
  readonly executorSanUriPrefix?: string;
  /** A ready logging setup; or just `logLevel`. Silent by default. */
  readonly logging?: Logging;
  readonly logLevel?: string;
  readonly statusSocket?: boolean;
  readonly tlsMinVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly provider?: IdentityProvider;
  /** A link that sends no hello in this time is closed (default 10 s). */
  readonly helloTimeoutMs?: number;
  /** `--audit-log FILE`: one JSON line per enrollment, rejection, rotation, departure and reload. */
  readonly auditLog?: string;
  /** `--metrics-listen HOST:PORT`: Prometheus `/metrics`, `/healthz` and `/readyz`. */
  readonly metricsListen?: string;
  /**
   * `--duplicate-identity`: what a new link for a connected identity gets when it cannot prove it
   * continues the open one. `supersede` (default): the newest link wins; `reject`: it is refused.
   */
  readonly duplicateIdentity?: DuplicateIdentityPolicy;
  /** `--max-handshakes`: TLS handshakes in flight at most; further connections wait their turn in a queue (default 256). */
  readonly maxHandshakes?: number;
  /** `--handshake-queue`: connections that may wait for a handshake; when full, new ones are closed before TLS (default 8 × maxHandshakes). */
  readonly handshakeQueue?: number;
  /** `--handshake-rate`: TLS handshakes a second per source address, in bursts of up to twice that (default 20). */
  readonly handshakeRate?: number;
  /** `--audit-required`: while the audit log cannot be written, refuse enrollments and report not ready. */
  readonly auditRequired?: boolean;
  /** How often the TLS session key in the state dir rotates (default 24 h); sessions live at most that long. */
  readonly sessionKeyRotationMs?: number;
  /** `--access-point-id`: this access point's name in the fleet (default: the host name). */
  readonly accessPointId?: string;
  /** `--advertise-address https://HOST:PORT`: where executors reach it (default: the listen address, or the host name on 0.0.0.0). */
  readonly advertiseAddress?: string;
  /** `--roster etcd://…`: the fleet-wide roster on etcd (engine/fleet-roster.ts); without it, the in-memory roster. */
  readonly roster?: RosterOptions;
  /**
   * Where the fleet's other access points are known (the etcd roster with `--roster`); without
   * one, this access point is a directory of one. The welcome names the others that serve.
   */
  readonly directory?: FleetDirectory;
  /** Drain (SIGTERM, `--drain`): exit once the links are gone or after this long (default 60 s). */
  readonly drainTimeoutMs?: number;
  /** Drain: links asked to move per second (default 200). */
  readonly drainRate?: number;
  /** Drain: told to executors as goodbye's retryAfterMs, when they may dial this address again (default 2 s). */
  readonly drainRetryAfterMs?: number;
}

export interface AccessPointStatus {
  readonly role: 'access-point';
  readonly state: string;
  readonly listen: string | null;
  readonly identity: IdentityStatus | null;
  /** When the access point's own certificate is due for renewal. */
  readonly nextRotationAt: string | null;
  readonly devMode: boolean;
  readonly executors: number;
  readonly links: number;
  readonly lastError: { code: string; message: string } | null;
  /** `--audit-log`: whether records are being written (null without an audit log). */
  readonly audit: AuditHealth | null;
  /** TLS handshakes in flight and waiting (`--max-handshakes`, `--handshake-queue`), and completed: full or resumed from a session (one kept across restarts). */
  readonly handshakes: HandshakeGateStats & HandshakeCounts;
  /** `--access-point-id`. */
  readonly accessPoint: string;
  /** The fleet-wide roster with `--roster` (null without). */
  readonly roster: EtcdRosterStatus | null;
  readonly pid: number;
  readonly version: string;
}

/** The links' events (admitted, rejected, departed, heartbeat, machine, duplicate: actors/executor-links.ts), and the access point's own. */
export interface AccessPointEvents extends ExecutorLinksEvents {
  listening: [HostPort];
  /** A connection closed before TLS: the handshake queue full or waited out, or `--handshake-rate`. */
  shed: [{ remoteAddress: string; sourceAddress: string; reason: ShedReason }];
  /** The access point's own certificate was renewed: new links get the new one. */
  renewed: [{ serial: string; previousSerial: string | null; notAfter: string }];
  error: [AhError];
  /** A drain ended (links gone or timeout) and the access point stopped. */
  drained: [DrainOutcome];
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

export class AccessPoint extends EventEmitter<AccessPointEvents> {
  readonly roster = new Roster();
  private readonly logging: Logging;
  private readonly listenAt: HostPort;
  private readonly links: ExecutorLinks;
  private readonly sides = new SideServers();
  private actor: Actor<typeof accessPointMachine> | null = null;
  private server: FleetServer | null = null;
  private provider: IdentityProvider | null = null;
  private audit: AccessPointAudit | null = null;
  private rejections: RejectionCoalescer | null = null;
  private readonly gate: HandshakeGate;
  private shedLog: HandshakeShedLog | null = null;
  private resumption: SessionResumption | null = null;
  private bound: HostPort | null = null;
  private stopping: Promise<void> | null = null;
  private readonly devMode: boolean;
  /** The certificate the listener presents now. */
  private serving: IdentitySummary | null = null;
  /** `--executor-san-uri-prefix`, parsed (null: the provider's default, if any); a reload may change it. */
  private sanUriPrefix: SpiffeIdPrefix | null;
  /** The provider's default prefix (SPIFFE: the agents of our own trust domain). */
  private providerSanUriPrefix: SpiffeIdPrefix | null = null;
  /** Told to links welcomed from now on; a reload may change it. */
  private heartbeatMs: number;
  /** `--audit-log`; a reload may change it. */
  private auditLogPath: string | undefined;
  /** Who may enroll now; replaced as a whole when the identity (and so the trust bundle) changes. */
  private policy: ExecutorPolicy = { requireCa: false, sanUriPrefix: null };
  /** What `ah agent doctor --fleet` reads (status socket command `fleet-health`). */
  private readonly health = new FleetHealth();
  /** Its place among the fleet's access points, and with `--roster` the fleet-wide roster. */
  private readonly fleet: FleetRoster;
  private readonly directory: FleetDirectory;
  /** Set once a drain starts (SIGTERM, `--drain`); never unset. */
  private drainRun: AccessPointDrain | null = null;
  private draining: Promise<void> | null = null;

  constructor(readonly options: AccessPointOptions) {
    super();
    this.logging = loggingFrom(options);
    this.listenAt = parseListenAddress(options.listen ?? '0.0.0.0:4433');
    // Executors refuse a welcome with any other interval: fail here, where the value was given.
    if (options.heartbeatIntervalMs !== undefined && !inRange(options.heartbeatIntervalMs, HEARTBEAT_INTERVAL_RANGE)) {
      throw new RangeError(`heartbeatIntervalMs ${options.heartbeatIntervalMs} is outside ${formatRange(HEARTBEAT_INTERVAL_RANGE)}, which executors accept`);
    }
    this.heartbeatMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
    this.auditLogPath = options.auditLog;
    this.devMode = (options.identity?.kind ?? 'dev') === 'dev' && !options.provider;
    // Throws SpiffeIdError (a RangeError naming the rule) for a prefix that is not a SPIFFE ID.
    this.sanUriPrefix = options.executorSanUriPrefix !== undefined ? parseSpiffeIdPrefix(options.executorSanUriPrefix) : null;
    this.roster.lateAfterMs = LATE_AFTER_INTERVALS * this.heartbeatIntervalMs;
    this.fleet = new FleetRoster(options.accessPointId ?? defaultAccessPointId(), options, this.roster, this.logging);
    this.gate = new HandshakeGate({ maxInFlight: options.maxHandshakes, queueLimit: options.handshakeQueue, perSourceRate: options.handshakeRate });
    this.links = new ExecutorLinks({
      roster: this.roster,
      logging: this.logging,
      heartbeatIntervalMs: this.heartbeatIntervalMs,
      helloTimeoutMs: options.helloTimeoutMs,
      duplicateIdentity: options.duplicateIdentity ?? 'supersede',
      policy: () => this.policy,
      audit: () => this.audit,
      rejections: () => this.rejections,
      auditUnavailable: () => this.auditUnavailable(),
      wantsMachineRecords: () => this.listenerCount('machine') > 0,
      health: this.health,
      draining: () => (this.drainRun ? { retryAfterMs: this.drainOptions.retryAfterMs } : null),
      otherAccessPoints: () => this.otherAccessPoints(),
      remoteHolders: this.fleet,
    });
    // With --roster the etcd roster; without, a directory of this access point alone.
    this.directory = options.directory ?? this.fleet;
    for (const event of ['admitted', 'rejected', 'departed', 'heartbeat', 'machine', 'duplicate'] as const) {
      this.links.on(event, (...args: unknown[]) => (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args));
    }
  }

  // The links' machine records are made only while someone listens for them (the live view).
  override on<T extends EventEmitter.EventNames<AccessPointEvents>>(event: T, fn: EventEmitter.EventListener<AccessPointEvents, T>, context?: unknown): this {
    super.on(event, fn, context);
    if (event === 'machine') this.links.inspectMachines(true);
    return this;
  }

  override off<T extends EventEmitter.EventNames<AccessPointEvents>>(
    event: T,
    fn?: EventEmitter.EventListener<AccessPointEvents, T>,
    context?: unknown,
    once?: boolean,
  ): this {
    super.off(event, fn, context, once);
    if (event === 'machine') this.links.inspectMachines(this.listenerCount('machine') > 0);
    return this;
  }

  /** Where it listens (after `start()`), e.g. `127.0.0.1:4433`. */
  get address(): HostPort {
    if (!this.bound) throw new Error('access point not listening');
    return this.bound;
  }

  /** `--access-point-id`. */
  get accessPointId(): string {
    return this.fleet.accessPointId;
  }

  /**
   * The live debug view's rows: the whole fleet with `--roster` (an executor held by another
   * access point has no heartbeat time here), else this access point's roster as it is.
   */
  fleetRows(now = Date.now()): Iterable<FleetRowView> {
    if (this.fleet.status() === null) return this.roster.rows(now);
    return this.fleet
      .source()
      .select({}, now)
      .executors.map((e) => ({
        id: e.id,
        name: e.name,
        state: e.state,
        certNotAfter: Date.parse(e.certNotAfter),
        entry: { lastHeartbeat: e.lastHeartbeat ? Date.parse(e.lastHeartbeat) : null, remoteAddress: e.remoteAddress, since: Date.parse(e.since) },
        accessPoint: e.accessPoint ?? null,
      }));
  }

  status(): AccessPointStatus {
    const snap = this.actor?.getSnapshot();
    const ctx = snap?.context;
    return {
      role: 'access-point',
      state: this.drainRun && !this.stopping ? 'draining' : snap ? String(snap.value) : 'stopped',
      listen: this.bound ? formatHostPort(this.bound) : null,
      identity: identityStatus(ctx?.identity ?? null),
      nextRotationAt: ctx?.nextRotationAt ? new Date(ctx.nextRotationAt).toISOString() : null,
      devMode: this.devMode,
      executors: this.roster.size,
      links: this.links.size,
      lastError: ctx?.lastError ? { code: ctx.lastError.code, message: messageOf(ctx.lastError) } : null,
      audit: this.audit?.health() ?? null,
      handshakes: { ...this.gate.stats, ...(this.resumption?.counts ?? { full: 0, resumed: 0 }) },
      accessPoint: this.fleet.accessPointId,
      roster: this.fleet.status(),
      pid: process.pid,
      version: VERSION,
    };
  }

  /** The status socket's `fleet-health`: the roster and the last hour of what the fleet doctor judges. */
  private fleetHealth() {
    const roster = this.roster.toJSON();
    return { ...roster, health: this.health.toJSON(Date.now(), new Set(roster.executors.map((x) => x.id))), auditLog: this.auditLogPath ?? null };
  }

  /** `/readyz`: serving (own identity in hand, listener bound) and not shutting down. */
  readiness(): Readiness {
    const snap = this.actor?.getSnapshot();
    if (this.stopping) return { ready: false, state: 'stopping' };
    // Balancers stop sending new connections here while the executors move away.
    if (this.drainRun) return { ready: false, state: 'draining' };
    if (this.auditUnavailable()) return { ready: false, state: 'audit log cannot be written (--audit-required)' };
    if (snap?.status !== 'active') return { ready: false, state: snap ? String(snap.value) : 'starting' };
    return { ready: snap.value === 'serving' && this.bound !== null, state: String(snap.value) };
  }

  /** SIGHUP: reopen the audit log by its name (after logrotate moved it). */
  reopenAuditLog(): void {
    this.audit?.reopen();
  }

  /**
   * Resolves once the listener accepts connections; rejects if it cannot, after closing again
   * whatever it had opened (metrics server, status socket, audit log, provider).
   */
  async start(): Promise<HostPort> {
    try {
      return await this.open();
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  private async open(): Promise<HostPort> {
    const { options } = this;
    const log = this.logging.get('ah_access_point');
    // Before anything is read from it (a planted dev key would be served) or written to it.
    await checkStateDir(options.stateDir);
    await this.sides.start(
      {
        ...(options.metricsListen && {
          metrics: {
            listen: options.metricsListen,
            registry: () => {
              const registry = createRegistry('access-point', 'access-point');
              accessPointMetrics(this, registry, { heartbeatIntervalMs: this.heartbeatIntervalMs });
              if (options.roster) rosterMetrics(() => this.fleet.fleetWide, registry);
              return registry;
            },
            readiness: () => this.readiness(),
          },
        }),
        ...(options.statusSocket !== false && {
          status: {
            path: paths.accessPointSocket(options.stateDir),
            handler: (cmd, request) => {
              if (cmd === 'drain') return this.drainFromSocket();
              if (cmd === 'access-points') return { accessPoints: this.fleet.accessPoints() };
              return cmd === 'fleet'
                ? fleetAnswer(this.fleet.source(), request, this.audit?.health() ?? null)
                : cmd === 'fleet-health'
                  ? this.fleetHealth()
                  : this.status();
            },
            owner: { role: 'access point', name: 'access-point' },
          },
        }),
      },
      this.logging,
    );
    // After the status socket: a second access point on this state dir stops before touching the log.
    if (this.auditLogPath) {
      this.audit = new AccessPointAudit(this.auditLogPath, log);
      this.audit.open();
    }
    this.rejections = new RejectionCoalescer(this.audit, log);
    this.shedLog = new HandshakeShedLog(this.logging.get('ah_transport'), this.gate);
    this.resumption = SessionResumption.open({
      keyFile: paths.sessionKeys(options.stateDir),
      storeFile: paths.sessions(options.stateDir),
      keyRotationMs: options.sessionKeyRotationMs,
      onError: (err) =>
        this.logging
          .get('ah_transport')
          .warn(
            { event: 'tls_sessions_unwritable', detail: err.message },
            `TLS sessions cannot be saved in the state dir (${err.message}): after a restart executors make full handshakes`,
          ),
    });
    const provider = await identityProviderFor(
      options,
      { role: 'access-point', name: 'access-point', devDir: paths.devIdentity(options.stateDir, 'access-point', 'access-point'), hosts: [this.listenAt.host] },
      this.logging,
    );
    this.provider = provider;
    const actor = this.createMachine(provider);
    this.actor = actor;
    const ready = this.whenListening(actor);
    if (this.devMode) {
      log.warn(
        { event: 'dev_mode' },
        'DEV MODE: executors are admitted WITHOUT CA verification (dev identity, self-signed). ' +
          'Do not use in production: give --identity files --cert --key --ca, spiffe or vault.',
      );
    }
    actor.start();
    const bound = await ready;
    this.warnIfServingInvalid('start');
    this.audit?.started({ listen: formatHostPort(bound), provider: provider.kind, devMode: this.devMode, identity: this.serving, version: VERSION });
    log.info(
      {
        event: 'access_point_listening',
        address: formatHostPort(bound),
        executorSanUriPrefix: this.policy.sanUriPrefix?.text ?? null,
        provider: provider.kind,
        version: VERSION,
        heartbeatIntervalMs: this.heartbeatIntervalMs,
      },
      `access point listening on ${formatHostPort(bound)} (fleet protocol ah-fleet/1, identity ${provider.kind})`,
    );
    this.fleet.start(bound, this.links);
    this.emit('listening', bound);
    return bound;
  }

  /** The `access-point` machine with its rotation (the provider's material) and its listener. */
  private createMachine(provider: IdentityProvider): Actor<typeof accessPointMachine> {
    const log = this.logging.get('ah_access_point');
    const store = new MaterialStore();
    const { watchIdentity, renewIdentity } = identityActors(provider, store, this.logging.get('ah_identity_provider'));
    // The listener's TLS identity, and with it who may enroll: executors are verified against the
    // identity's bundle (files: --ca) when there is one.
    const serverIdentity = (fingerprint: string): ServerIdentity => {
      const m = store.get(fingerprint);
      // SPIFFE: admit the agents of our own trust domain unless told otherwise.
      const ownDomainAgents =
        provider.kind === 'spiffe' && m.summary.spiffeId ? parseSpiffeIdPrefix(`${/^spiffe:\/\/[^/]+/.exec(m.summary.spiffeId)![0]}/ah/agent/`) : null;
      this.providerSanUriPrefix = ownDomainAgents;
      this.policy = { requireCa: m.bundlePem !== null, sanUriPrefix: this.sanUriPrefix ?? ownDomainAgents };
      this.serving = m.summary;
      return { certPem: m.certPem, keyPem: m.keyPem, clientCaPem: m.bundlePem };
    };
    // A CA rotation pushes a new bundle with the same certificate: verify new links against it at once.
    store.on('bundleChanged', (m) => {
      if (m.summary.fingerprint !== this.serving?.fingerprint || !this.server) return;
      this.audit?.reloaded({ reason: 'trust bundle updated', identity: m.summary, previous: this.serving, listen: this.bound && formatHostPort(this.bound) });
      this.server.useIdentity(serverIdentity(m.summary.fingerprint));
      log.info({ event: 'trust_bundle_updated', serial: m.summary.serial }, 'trust bundle updated (CA rotation): new executor links are verified against it');
    });
    const fleetListener = fleetListenerActor({
      listen: this.listenAt,
      minVersion: this.options.tlsMinVersion,
      gate: this.gate,
      resumption: this.resumption ?? undefined,
      serverIdentity,
      onServer: (server) => (this.server = server),
      onLink: (link) => {
        this.warnIfServingInvalid(`handshake from ${link.remoteAddress}`);
        this.links.attach(link);
      },
      onRefused: ({ remoteAddress, reason }) => {
        // Executors that find our certificate expired hang up right after the handshake.
        this.warnIfServingInvalid(`handshake from ${remoteAddress}`);
        this.logging
          .get('ah_transport')
          .info(
            { event: 'connection_refused_before_protocol', remoteAddress, reason },
            `connection from ${remoteAddress} refused before the fleet protocol: ${reason}`,
          );
      },
      onShed: (shed) => {
        this.shedLog?.shed(shed);
        this.emit('shed', shed);
      },
      beforeRenewed: (fingerprint) => {
        const previous = this.serving;
        const renewed = store.get(fingerprint).summary;
        // Recorded before the new certificate is used.
        this.audit?.reloaded({ reason: 'identity renewed', identity: renewed, previous, listen: this.bound && formatHostPort(this.bound) });
        log.info(
          { event: 'access_point_certificate_renewed', serial: renewed.serial },
          'access point certificate renewed: new connections use the new certificate',
        );
        this.emit('renewed', { serial: renewed.serial, previousSerial: previous?.serial ?? null, notAfter: new Date(renewed.notAfter).toISOString() });
      },
    });
    const machine = accessPointMachine.provide({
      actors: { rotation: rotationMachine.provide({ actors: { watchIdentity, renewIdentity } }), fleetListener },
    });
    return createActor(machine, {
      id: 'access-point',
      clock: longClock,
      input: {
        listen: formatHostPort(this.listenAt),
        seed: randomInt(2 ** 31),
        rotation: {
          provider: provider.kind,
          canIssue: provider.canIssue,
          maxAgeMs: provider.maxAgeMs,
          threshold: DEFAULT_RENEWAL_THRESHOLD,
          jitter: RENEWAL_JITTER,
        },
      },
      inspect: machineInspector(this.logging.get('ah_machine'), 'access-point'),
    });
  }

  /** Resolves with the bound address once the machine is serving; rejects when it fails or crashes. */
  private whenListening(actor: Actor<typeof accessPointMachine>): Promise<HostPort> {
    return new Promise<HostPort>((resolve, reject) => {
      let lastError: ErrorInfo | null = null;
      actor.subscribe({
        next: (snap) => {
          const ctx = snap.context;
          if (ctx.lastError && ctx.lastError !== lastError) {
            lastError = ctx.lastError;
            this.emit('error', AhError.fromInfo(ctx.lastError));
          }
          if (snap.value === 'failed') reject(AhError.fromInfo(ctx.lastError!));
          if (ctx.boundAddress && !this.bound) {
            this.bound = parseListenAddress(ctx.boundAddress);
            resolve(this.bound);
          }
        },
        // A crash (a provider or the listener threw) ends the machine: say so instead of hanging.
        error: (err) => {
          this.logging.get('ah_access_point').error({ event: 'access_point_crashed', err }, 'access point machine crashed');
          const error = new AhError('ENROLL_INTERNAL', { detail: (err as Error)?.message ?? String(err) });
          this.emit('error', error);
          reject(error);
        },
      });
    });
  }

  /**
   * Drain (SIGTERM, `ah agent access-point --drain`): not ready any more (`/readyz` 503), new
   * links turned away with goodbye{draining}, the directory told, every executor asked to move
   * (access-point-drain.ts); then stop, once the links are gone or at the drain timeout. Resolves
   * when stopped. `stop()` during a drain closes what is left at once.
   */
  drain(trigger: string): Promise<void> {
    if (this.stopping) return this.stopping;
    this.draining ??= (async () => {
      const log = this.logging.get('ah_access_point');
      this.drainRun = new AccessPointDrain(this.links, { ...this.drainOptions, log });
      log.info({ event: 'drain_requested', trigger }, `drain requested (${trigger})`);
      this.directory
        .setState('draining')
        .catch((err: Error) =>
          log.warn({ event: 'drain_directory_failed', detail: err.message }, `cannot mark this access point draining in the roster: ${err.message}`),
        );
      const outcome = await this.drainRun.run();
      await this.stop();
      // Stopped meanwhile (SIGINT, a second signal): that stop says what happened.
      if (outcome.outcome !== 'stopped') this.emit('drained', outcome);
    })();
    return this.draining;
  }

  /** The status socket's `drain`: start it (once) and answer at once; the process exits when it ends. */
  private drainFromSocket(): { draining: true; links: number; timeoutMs: number } {
    void this.drain('status socket');
    return { draining: true, links: this.links.size, timeoutMs: this.drainOptions.timeoutMs };
  }

  private get drainOptions() {
    const o = this.options;
    return {
      timeoutMs: o.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS,
      rate: o.drainRate ?? DEFAULT_DRAIN_RATE,
      retryAfterMs: o.drainRetryAfterMs ?? DEFAULT_DRAIN_RETRY_AFTER_MS,
    };
  }

  /** The welcome's list: the other access points that serve now. */
  private otherAccessPoints(): string[] {
    const self = this.fleet.accessPointId;
    return this.directory
      .accessPoints()
      .filter((ap) => ap.state === 'serving' && ap.id !== self)
      .map((ap) => ap.address);
  }

  /** Close every link with goodbye{reason:"shutdown"}, stop listening, stop. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // A drain gives way: what is left is closed now.
      this.drainRun?.cancel();
      // Stop accepting now; server.close() resolves only once every socket is gone.
      const closed = this.server?.close();
      const links = await this.links.drainAll('shutdown');
      await closed;
      await this.fleet.stop();
      this.actor?.stop();
      await this.provider?.stop();
      this.shedLog?.flush();
      this.resumption?.close();
      this.rejections?.flush();
      if (this.bound) this.audit?.stopped({ links });
      this.audit?.close();
      await this.sides.close();
      this.logging
        .get('ah_access_point')
        .info({ event: 'access_point_stopped', links }, `access point stopped (${links} link${links === 1 ? '' : 's'} closed)`);
    })();
    return this.stopping;
  }

  /**
   * An access point with an expired (or not yet valid) certificate keeps serving, so executors read
   * the guide's expiry message instead of "connection refused"; it says so loudly meanwhile.
   */
  private warnIfServingInvalid(when: string): void {
    const s = this.serving;
    const now = Date.now();
    if (!s || (now >= s.notBefore && now <= s.notAfter)) return;
    this.logging.get('ah_access_point').error(
      {
        event: 'access_point_certificate_invalid',
        code: 'ENROLL_CERT_NOT_VALID_NOW',
        serial: s.serial,
        notBefore: new Date(s.notBefore).toISOString(),
        notAfter: new Date(s.notAfter).toISOString(),
      },
      `access point certificate has expired or is not yet valid (${when}): executors will refuse it; renew the certificate files (they are reloaded automatically)`,
    );
  }

  /** `--audit-required` and the audit log's last write (or open) failed: enrollments fail closed. */
  private auditUnavailable(): boolean {
    return this.options.auditRequired === true && this.audit !== null && !this.audit.health().writable;
  }

  private get heartbeatIntervalMs(): number {
    return this.heartbeatMs;
  }

  // --- Live changes (SIGHUP re-reads the configuration): each applies to what comes next. -----

  /** The interval welcomed links are told from now on; links already up keep theirs. */
  setHeartbeatInterval(ms: number): void {
    if (!inRange(ms, HEARTBEAT_INTERVAL_RANGE)) throw new RangeError(`heartbeatIntervalMs ${ms} is outside ${formatRange(HEARTBEAT_INTERVAL_RANGE)}`);
    this.heartbeatMs = ms;
    this.links.setHeartbeatInterval(ms);
    // Links told the old interval still run on it: judge lateness by the longer of the two.
    this.roster.lateAfterMs = Math.max(this.roster.lateAfterMs, LATE_AFTER_INTERVALS * ms);
  }

  /** Who may enroll from now on (undefined: the provider's default); links already admitted stay. */
  setExecutorSanUriPrefix(prefix: string | undefined): void {
    this.sanUriPrefix = prefix !== undefined ? parseSpiffeIdPrefix(prefix) : null;
    this.policy = { ...this.policy, sanUriPrefix: this.sanUriPrefix ?? this.providerSanUriPrefix };
  }

  /** Write audit records to another file (or none) from now on. */
  setAuditLog(path: string | undefined): void {
    if (path === this.auditLogPath) return;
    const log = this.logging.get('ah_access_point');
    const next = path ? new AccessPointAudit(path, log) : null;
    next?.open();
    this.rejections?.flush();
    this.audit?.close();
    this.audit = next;
    this.auditLogPath = path;
    if (this.rejections) this.rejections = new RejectionCoalescer(this.audit, log);
  }
}

export function createAccessPoint(options: AccessPointOptions): AccessPoint {
  return new AccessPoint(options);
}
