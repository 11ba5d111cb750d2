/**
 * An access point, as a library: `createAccessPoint(options)`; `ah agent access-point` is a thin
 * shell around it. It runs the `access-point` machine (its own identity and the listener) and one
 * `connection` machine per executor link, whose wire effects are provided here.
 */
import { randomInt } from 'node:crypto';
import { EventEmitter } from 'eventemitter3';
import { createActor, fromCallback, fromPromise, type Actor } from 'xstate';
import { identityActors } from '../actors/identity-watch.js';
import { AccessPointAudit, type AuditedExecutor } from '../audit/access-point-audit.js';
import type { AuditHealth } from '../audit/audit-log.js';
import { StatusServer } from '../actors/status-server.js';
import { AhError, messageOf } from '../errors/ah-error.js';
import { renderMessage } from '../errors/catalog.js';
import { parseDirectives } from '../log/directives.js';
import { createLogging, silentLogging, type Logging } from '../log/logger.js';
import { machineInspector, type MachineLogRecord } from '../log/machine-log.js';
import { accessPointMetrics } from '../metrics/access-point-metrics.js';
import { createRegistry } from '../metrics/common.js';
import { startMetricsServer, type MetricsServer, type Readiness } from '../metrics/http-server.js';
import { accessPointMachine, type ListenerCommand } from '../machines/access-point.js';
import { connectionMachine, type ConnectionEmitted, type PeerVerdict, type VerifyPeerInput } from '../machines/connection.js';
import { rotationMachine } from '../machines/rotation.js';
import type { IdentitySummary, MachineError } from '../machines/types.js';
import { createProvider, type IdentityConfig, type IdentityProvider } from '../providers/index.js';
import { verifyContinuity } from '../transport/continuity.js';
import { newNonce } from '../transport/continuity.js';
import { verifyExecutor, type ExecutorPolicy } from '../transport/executor-policy.js';
import { parseSpiffeIdPrefix, type SpiffeIdPrefix } from '../x509/spiffe-id.js';
import { DuplicateIdentities } from './duplicate-identities.js';
import { FleetHealth } from './fleet-health.js';
import { FleetServer, type ServerIdentity, type ServerLink } from '../transport/fleet-server.js';
import type { ExecutorMessage } from '../transport/messages.js';
import { formatHostPort, parseListenAddress, type HostPort } from '../util/address.js';
import { VERSION } from '../version.js';
import { identityStatus, type IdentityStatus } from './executor-status.js';
import { MaterialStore } from './material-store.js';
import { Roster, type FleetEntryJson, type RosterEntry } from './roster.js';
import { paths } from './state-dir.js';

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
}

export type DuplicateIdentityPolicy = 'supersede' | 'reject';

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
  readonly pid: number;
  readonly version: string;
}

export interface AccessPointEvents {
  listening: [HostPort];
  /** `relinked`: the identity had a link already (a rotation, or with `duplicate` a second holder that took over). */
  admitted: [FleetEntryJson & { relinked: boolean; duplicate?: boolean }];
  rejected: [{ remoteAddress: string; error: AhError }];
  departed: [{ id: string; reason: string }];
  /** Every heartbeat of an admitted executor (by identity, whichever link carried it). */
  heartbeat: [{ id: string; linkId: string; seq: number; at: number }];
  /** Every event and state of every link's machine, as `ah_machine` logs them; only when listened to (the debug view). */
  machine: [MachineLogRecord];
  /** A second holder of a connected identity took it over (the old link is closed `superseded`). */
  duplicate: [{ id: string; remoteAddress: string; previousRemoteAddress: string; serial: string; previousSerial: string }];
  /** The access point's own certificate was renewed: new links get the new one. */
  renewed: [{ serial: string; previousSerial: string | null; notAfter: string }];
  error: [AhError];
}

export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

interface LinkSlot {
  readonly link: ServerLink;
  readonly actor: Actor<typeof connectionMachine>;
}

export class AccessPoint extends EventEmitter<AccessPointEvents> {
  readonly roster = new Roster();
  private readonly links = new Map<string, LinkSlot>();
  private readonly logging: Logging;
  private readonly listenAt: HostPort;
  private actor: Actor<typeof accessPointMachine> | null = null;
  private server: FleetServer | null = null;
  private provider: IdentityProvider | null = null;
  private statusServer: StatusServer | null = null;
  private metricsServer: MetricsServer | null = null;
  private audit: AccessPointAudit | null = null;
  private bound: HostPort | null = null;
  private stopping: Promise<void> | null = null;
  private readonly devMode: boolean;
  /** The certificate the listener presents now. */
  private serving: IdentitySummary | null = null;
  /** `--executor-san-uri-prefix`, parsed once (null: the provider's default, if any). */
  private readonly sanUriPrefix: SpiffeIdPrefix | null;
  /** Who may enroll now; replaced as a whole when the identity (and so the trust bundle) changes. */
  private policy: ExecutorPolicy = { requireCa: false, sanUriPrefix: null };
  private readonly duplicates = new DuplicateIdentities();
  /** What `ah agent doctor --fleet` reads (status socket command `fleet-health`). */
  private readonly health = new FleetHealth();

  constructor(readonly options: AccessPointOptions) {
    super();
    this.logging = options.logging ?? (options.logLevel ? createLogging({ plan: parseDirectives(options.logLevel) }) : silentLogging());
    this.listenAt = parseListenAddress(options.listen ?? '0.0.0.0:4433');
    this.devMode = (options.identity?.kind ?? 'dev') === 'dev' && !options.provider;
    // Throws SpiffeIdError (a RangeError naming the rule) for a prefix that is not a SPIFFE ID.
    this.sanUriPrefix = options.executorSanUriPrefix !== undefined ? parseSpiffeIdPrefix(options.executorSanUriPrefix) : null;
  }

  /** Where it listens (after `start()`), e.g. `127.0.0.1:4433`. */
  get address(): HostPort {
    if (!this.bound) throw new Error('access point not listening');
    return this.bound;
  }

  status(): AccessPointStatus {
    const snap = this.actor?.getSnapshot();
    const ctx = snap?.context;
    return {
      role: 'access-point',
      state: snap ? String(snap.value) : 'stopped',
      listen: this.bound ? formatHostPort(this.bound) : null,
      identity: identityStatus(ctx?.identity ?? null),
      nextRotationAt: ctx?.nextRotationAt ? new Date(ctx.nextRotationAt).toISOString() : null,
      devMode: this.devMode,
      executors: this.roster.size,
      links: this.links.size,
      lastError: ctx?.lastError ? { code: ctx.lastError.code, message: messageOf(ctx.lastError) } : null,
      audit: this.audit?.health() ?? null,
      pid: process.pid,
      version: VERSION,
    };
  }

  /** The status socket's `fleet-health`: the roster and the last hour of what the fleet doctor judges. */
  private fleetHealth() {
    const roster = this.roster.toJSON();
    return { ...roster, health: this.health.toJSON(Date.now(), new Set(roster.executors.map((x) => x.id))), auditLog: this.options.auditLog ?? null };
  }

  /** `/readyz`: serving (own identity in hand, listener bound) and not shutting down. */
  readiness(): Readiness {
    const snap = this.actor?.getSnapshot();
    if (this.stopping) return { ready: false, state: 'stopping' };
    if (!snap || snap.status !== 'active') return { ready: false, state: snap ? String(snap.value) : 'starting' };
    return { ready: snap.value === 'serving' && this.bound !== null, state: String(snap.value) };
  }

  /** SIGHUP: reopen the audit log by its name (after logrotate moved it). */
  reopenAuditLog(): void {
    this.audit?.reopen();
  }

  /** Resolves once the listener accepts connections; rejects if it cannot. */
  async start(): Promise<HostPort> {
    const { options } = this;
    const log = this.logging.get('ah_access_point');
    if (options.metricsListen) {
      const registry = createRegistry('access-point', 'access-point');
      accessPointMetrics(this, registry, { heartbeatIntervalMs: this.heartbeatIntervalMs });
      this.metricsServer = await startMetricsServer(options.metricsListen, { registry, readiness: () => this.readiness() }, this.logging.get('ah_status'));
    }
    if (options.statusSocket !== false) {
      this.statusServer = new StatusServer(
        paths.accessPointSocket(options.stateDir),
        (cmd) =>
          cmd === 'fleet-health'
            ? this.fleetHealth()
            : cmd === 'fleet' ? { ...this.roster.toJSON(), ...(this.audit ? { audit: this.audit.health() } : {}) } : this.status(),
        { role: 'access point', name: 'access-point' },
      );
      await this.statusServer.listen();
    }
    // After the status socket: a second access point on this state dir stops before touching the log.
    if (options.auditLog) {
      this.audit = new AccessPointAudit(options.auditLog, log);
      this.audit.open();
    }
    const provider =
      options.provider ??
      createProvider(options.identity ?? { kind: 'dev' }, {
        role: 'access-point',
        name: 'access-point',
        devDir: paths.devIdentity(options.stateDir, 'access-point', 'access-point'),
        hosts: [this.listenAt.host],
        onUnchanged: (reason) => this.logging.get('ah_identity_provider').info({ reason }, 'identity files re-checked: unchanged'),
        onEvent: (level, message, fields) => this.logging.get('ah_identity_provider')[level](fields ?? {}, message),
        onReconnect: ({ attempt, inMs, reason, code }) =>
          this.logging.get('ah_identity_provider').warn({ attempt, code }, `${reason}; reconnecting to the Workload API in ${inMs} ms (the current SVID stays in use)`),
      });
    this.provider = provider;
    const store = new MaterialStore();
    const { watchIdentity, renewIdentity } = identityActors(provider, store, this.logging.get('ah_identity_provider'));
    // Executors are verified against the identity's bundle (files: --ca) when there is one.
    const serverIdentity = (fingerprint: string): ServerIdentity => {
      const m = store.get(fingerprint);
      // SPIFFE: admit the agents of our own trust domain unless told otherwise.
      const ownDomainAgents =
        provider.kind === 'spiffe' && m.summary.spiffeId ? parseSpiffeIdPrefix(`${/^spiffe:\/\/[^/]+/.exec(m.summary.spiffeId)![0]}/ah/agent/`) : null;
      this.policy = { requireCa: m.bundlePem !== null, sanUriPrefix: this.sanUriPrefix ?? ownDomainAgents };
      this.serving = m.summary;
      return { certPem: m.certPem, keyPem: m.keyPem, clientCaPem: m.bundlePem };
    };
    // A CA rotation pushes a new bundle with the same certificate: verify new links against it at once.
    store.on('bundleChanged', (m) => {
      if (m.summary.fingerprint !== this.serving?.fingerprint || !this.server) return;
      this.audit?.reloaded({ reason: 'trust bundle updated', identity: m.summary, previous: this.serving, listen: this.bound && formatHostPort(this.bound) });
      this.server.useIdentity(serverIdentity(m.summary.fingerprint));
      log.info({ serial: m.summary.serial }, 'trust bundle updated (CA rotation): new executor links are verified against it');
    });

    const fleetListener = fromCallback<ListenerCommand, { fingerprint: string }>(({ input, sendBack, receive }) => {
      const server = new FleetServer({
        listen: this.listenAt,
        identity: serverIdentity(input.fingerprint),
        minVersion: options.tlsMinVersion,
      });
      this.server = server;
      server.on('link', (link) => this.attach(link));
      server.on('refused', ({ remoteAddress, reason }) => {
        // Executors that find our certificate expired hang up right after the handshake.
        this.warnIfServingInvalid(`handshake from ${remoteAddress}`);
        this.logging.get('ah_transport').info({ remoteAddress, reason }, `connection from ${remoteAddress} refused before the fleet protocol: ${reason}`);
      });
      server.listen().then(
        (bound) => sendBack({ type: 'LISTENING', address: formatHostPort(bound) }),
        (err: NodeJS.ErrnoException) => {
          const error = new AhError('ENROLL_LISTEN_FAILED', {
            address: formatHostPort(this.listenAt),
            detail: err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message,
            port: String(this.listenAt.port),
          });
          sendBack({ type: 'LISTEN_FAILED', error: error.toInfo() });
        },
      );
      receive((command) => {
        const previous = this.serving;
        const renewed = store.get(command.fingerprint).summary;
        // Recorded before the new certificate is used.
        this.audit?.reloaded({ reason: 'identity renewed', identity: renewed, previous, listen: this.bound && formatHostPort(this.bound) });
        server.useIdentity(serverIdentity(command.fingerprint));
        log.info({ serial: renewed.serial }, 'access point certificate renewed: new connections use the new certificate');
        this.emit('renewed', { serial: renewed.serial, previousSerial: previous?.serial ?? null, notAfter: new Date(renewed.notAfter).toISOString() });
      });
      return () => void server.close();
    });

    const machine = accessPointMachine.provide({
      actors: { rotation: rotationMachine.provide({ actors: { watchIdentity, renewIdentity } }), fleetListener },
    });
    const actor = createActor(machine, {
      id: 'access-point',
      input: {
        listen: formatHostPort(this.listenAt),
        seed: randomInt(2 ** 31),
        rotation: { provider: provider.kind, canIssue: provider.canIssue, threshold: 0.7, jitter: 0.05 },
      },
      inspect: machineInspector(this.logging.get('ah_machine'), 'access-point'),
    });
    this.actor = actor;

    const ready = new Promise<HostPort>((resolve, reject) => {
      let lastError: MachineError | null = null;
      actor.subscribe((snap) => {
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
      });
    });
    if (this.devMode) {
      log.warn(
        'DEV MODE: executors are admitted WITHOUT CA verification (dev identity, self-signed). ' +
          'Do not use in production: give --identity files --cert --key --ca, spiffe or vault.',
      );
    }
    actor.start();
    const bound = await ready;
    this.warnIfServingInvalid('start');
    this.audit?.started({ listen: formatHostPort(bound), provider: provider.kind, devMode: this.devMode, identity: this.serving, version: VERSION });
    log.info(
      { address: formatHostPort(bound), executorSanUriPrefix: this.policy.sanUriPrefix?.text ?? null, provider: provider.kind, version: VERSION, heartbeatIntervalMs: this.heartbeatIntervalMs },
      `access point listening on ${formatHostPort(bound)} (fleet protocol ah-fleet/1, identity ${provider.kind})`,
    );
    this.emit('listening', bound);
    return bound;
  }

  /** Close every link with goodbye{reason:"shutdown"}, stop listening, stop. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const log = this.logging.get('ah_access_point');
      // Stop accepting now; server.close() resolves only once every socket is gone.
      const closed = this.server?.close();
      const closing = [...this.links.values()].map(
        ({ actor }) =>
          new Promise<void>((resolve) => {
            if (actor.getSnapshot().status !== 'active') return resolve();
            actor.subscribe({ complete: () => resolve() });
            actor.send({ type: 'DRAIN', reason: 'shutdown' });
          }),
      );
      await Promise.all(closing);
      await closed;
      this.actor?.stop();
      await this.provider?.stop();
      await this.statusServer?.close();
      if (this.bound) this.audit?.stopped({ links: closing.length });
      this.audit?.close();
      await this.metricsServer?.close();
      log.info(`access point stopped (${closing.length} link${closing.length === 1 ? '' : 's'} closed)`);
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
      { code: 'ENROLL_CERT_NOT_VALID_NOW', serial: s.serial, notBefore: new Date(s.notBefore).toISOString(), notAfter: new Date(s.notAfter).toISOString() },
      `access point certificate has expired or is not yet valid (${when}): executors will refuse it; renew the certificate files (they are reloaded automatically)`,
    );
  }

  private get heartbeatIntervalMs(): number {
    return this.options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  }

  private connectionLogic: ReturnType<typeof connectionMachine.provide> | null = null;

  /** One provided connection machine serves every link; effects find their socket by link id. */
  private logic() {
    if (this.connectionLogic) return this.connectionLogic;
    const wire = (linkId: string) => this.links.get(linkId)?.link;
    this.connectionLogic = connectionMachine.provide({
      actors: {
        verifyPeer: fromPromise<PeerVerdict, VerifyPeerInput>(async ({ input }) => {
          const link = wire(input.linkId);
          if (!link) throw { code: 'ENROLL_LINK_LOST', params: { address: '?', detail: 'link gone' }, retryable: true };
          try {
            const verdict = verifyExecutor(link.handshake, this.policy, Date.now(), { name: input.name });
            return { ...verdict, nonce: newNonce(), ...this.admissionOf(verdict.executorId, input, link) };
          } catch (err) {
            throw err instanceof AhError ? err.toInfo() : { code: 'ENROLL_INTERNAL', params: { detail: String(err) }, retryable: true };
          }
        }),
      },
      actions: {
        sendWelcome: ({ context }) => {
          const link = wire(context.linkId);
          if (!link) return;
          // The audit line is on disk before the executor hears it is in (enrolled, or rotated
          // when this identity already has a link: the roster admits it right after).
          if (this.audit && context.peer!.admission === 'duplicate') {
            const previous = this.roster.get(context.peer!.executorId);
            this.audit.duplicate(
              { executorId: context.peer!.executorId, name: context.name ?? '', remoteAddress: context.remoteAddress, serial: context.peer!.serial, notAfter: context.peer!.certNotAfter, link: context.linkId },
              previous ? auditedEntry(previous) : null,
              'superseded',
            );
          } else if (this.audit) {
            const previous = this.roster.get(context.peer!.executorId);
            this.audit.admitted(
              { executorId: context.peer!.executorId, name: context.name ?? '', remoteAddress: context.remoteAddress, serial: context.peer!.serial, notAfter: context.peer!.certNotAfter, link: context.linkId },
              previous ? auditedEntry(previous) : null,
            );
          }
          link.send({
            type: 'welcome',
            executorId: context.peer!.executorId,
            heartbeatInterval: context.heartbeatIntervalMs,
            serverTime: Date.now(),
            ...(context.peer!.nonce ? { nonce: context.peer!.nonce } : {}),
          });
        },
        sendAck: ({ context }, params) => wire(context.linkId)?.send({ type: 'ack', seq: params.seq }),
        sendReject: ({ context }, params) => {
          const link = wire(context.linkId);
          // On disk before the executor hears why.
          this.audit?.rejected({ error: params.error, remoteAddress: context.remoteAddress, name: context.name, link: context.linkId, certificate: link?.handshake.certificate });
          link?.send({
            type: 'reject',
            code: params.error.code,
            message: renderMessage(params.error.code, params.error.params),
            params: { ...params.error.params },
          });
        },
        sendGoodbye: ({ context }, params) => wire(context.linkId)?.send({ type: 'goodbye', reason: params.reason }),
        endSocket: ({ context }) => wire(context.linkId)?.end(),
        destroySocket: ({ context }) => wire(context.linkId)?.destroy(),
      },
    });
    return this.connectionLogic;
  }

  /**
   * A verified link for an identity that already has open links: a rotation when it proves it
   * continues one of them (the signature over that link's nonce, transport/continuity.ts) or
   * presents the very same key (a doctor probe, a restart with the same certificate); otherwise a
   * second holder, refused under `--duplicate-identity reject` and taking over by default.
   */
  private admissionOf(executorId: string, claim: VerifyPeerInput, link: ServerLink): Pick<PeerVerdict, 'admission' | 'supersedes'> {
    const entry = this.roster.get(executorId);
    const holders = [...(entry?.open.keys() ?? [])].filter((id) => id !== link.id).flatMap((id) => {
      const slot = this.links.get(id);
      const cert = slot?.link.handshake.certificate;
      return slot && cert ? [{ id, cert, nonce: slot.actor.getSnapshot().context.peer?.nonce, remoteAddress: slot.link.remoteAddress }] : [];
    });
    if (holders.length === 0) return { admission: 'joined' };
    const cert = link.handshake.certificate!;
    const proof = claim.continuity;
    const continues = holders.some(
      (h) => (proof !== null && h.nonce === proof.nonce && verifyContinuity(h.cert, cert, proof)) || h.cert.publicKey.equals(cert.publicKey),
    );
    if (continues) return { admission: 'rotated' };
    if ((this.options.duplicateIdentity ?? 'supersede') === 'reject') {
      throw new AhError('ENROLL_DUPLICATE_IDENTITY', { executorId, existing: holders.map((h) => h.remoteAddress).join(', ') });
    }
    return { admission: 'duplicate', supersedes: holders.map((h) => h.id) };
  }

  /** The newcomer is in: close the links it pushed out, and say so (once as an error when it keeps happening). */
  private supersede(e: Extract<ConnectionEmitted, { type: 'admitted' }>, previous: { remoteAddress: string; serial: string } | null): void {
    const log = this.logging.get('ah_access_point');
    const previousRemoteAddress = previous?.remoteAddress ?? '?';
    log.warn(
      { event: 'duplicate_identity', executorId: e.executorId, remoteAddress: e.remoteAddress, previousRemoteAddress, serial: e.serial, previousSerial: previous?.serial ?? null, link: e.linkId },
      `duplicate identity ${e.executorId}: a new holder at ${e.remoteAddress} (serial ${e.serial}) supersedes the link from ${previousRemoteAddress} (serial ${previous?.serial ?? '?'}) without proving it is the same executor`,
    );
    for (const linkId of e.supersedes) this.links.get(linkId)?.actor.send({ type: 'DRAIN', reason: 'superseded' });
    this.emit('duplicate', { id: e.executorId, remoteAddress: e.remoteAddress, previousRemoteAddress, serial: e.serial, previousSerial: previous?.serial ?? '?' });
    this.health.duplicate({ at: e.at, executorId: e.executorId, remoteAddress: e.remoteAddress, previousRemoteAddress });
    const flapping = this.duplicates.takeover(e.executorId, previousRemoteAddress, e.remoteAddress, e.at);
    if (flapping) {
      const error = new AhError('ENROLL_DUPLICATE_IDENTITY_FLAPPING', { executorId: flapping.executorId, first: flapping.first, second: flapping.second });
      log.error({ event: 'duplicate_identity_flapping', code: error.code, executorId: e.executorId, first: flapping.first, second: flapping.second, takeovers: flapping.takeovers }, error.message);
    }
  }

  private attach(link: ServerLink): void {
    const log = this.logging.get('ah_access_point');
    this.warnIfServingInvalid(`handshake from ${link.remoteAddress}`);
    const actor = createActor(this.logic(), {
      id: link.id,
      input: {
        linkId: link.id,
        remoteAddress: link.remoteAddress,
        heartbeatIntervalMs: this.heartbeatIntervalMs,
        helloTimeoutMs: this.options.helloTimeoutMs,
      },
      inspect: machineInspector(this.logging.get('ah_machine'), link.id, this.listenerCount('machine') ? (r) => this.emit('machine', r) : undefined),
    });
    this.links.set(link.id, { link, actor });

    actor.on('admitted', (e: Extract<ConnectionEmitted, { type: 'admitted' }>) => {
      const before = this.roster.get(e.executorId);
      const previous = before ? { remoteAddress: before.remoteAddress, serial: before.serial } : null;
      const outcome = this.roster.admit(e);
      const cert = link.handshake.certificate;
      // A doctor's probe (ah.doctor label) is not the executor reconnecting.
      const probe = actor.getSnapshot().context.labels['ah.doctor'] === 'true';
      if (cert && !probe) this.health.admitted(e.executorId, { notBefore: Date.parse(cert.validFrom), serial: e.serial }, e.at);
      if (e.admission === 'duplicate') {
        this.supersede(e, previous);
        this.emit('admitted', { ...this.roster.entryJson(e.executorId)!, relinked: true, duplicate: true });
        return;
      }
      const entry = this.roster.entryJson(e.executorId)!;
      if (outcome === 'joined') {
        log.info({ executorId: e.executorId, name: e.name, remoteAddress: e.remoteAddress, serial: e.serial, link: e.linkId }, `executor ${e.name} enrolled as ${e.executorId} from ${e.remoteAddress}`);
      } else {
        log.info({ executorId: e.executorId, serial: e.serial, link: e.linkId }, `executor ${e.name} rotated: new link with certificate serial ${e.serial} replaces the old one`);
      }
      this.emit('admitted', { ...entry, relinked: outcome === 'relinked' });
    });
    actor.on('heartbeat', (e: Extract<ConnectionEmitted, { type: 'heartbeat' }>) => {
      this.roster.heartbeat(e.executorId, e.linkId, e.at);
      this.emit('heartbeat', { id: e.executorId, linkId: e.linkId, seq: e.seq, at: e.at });
    });
    actor.on('rejected', (e: Extract<ConnectionEmitted, { type: 'rejected' }>) => {
      const cert = link.handshake.certificate;
      log.warn(
        { code: e.error.code, remoteAddress: e.remoteAddress, subject: cert?.subject.replace(/\n/g, ', ') ?? null, sans: cert?.subjectAltName ?? null, link: e.linkId },
        `executor from ${e.remoteAddress} rejected: ${messageOf(e.error)}`,
      );
      this.emit('rejected', { remoteAddress: e.remoteAddress, error: AhError.fromInfo(e.error) });
      this.health.rejected({ at: Date.now(), code: e.error.code, message: messageOf(e.error), remoteAddress: e.remoteAddress });
    });
    actor.on('departed', (e: Extract<ConnectionEmitted, { type: 'departed' }>) => {
      const entry = e.executorId ? this.roster.get(e.executorId) : undefined;
      if (e.executorId && this.roster.depart(e.executorId, e.linkId)) {
        this.audit?.departed(auditedEntry(entry!), e.reason);
        log.info({ executorId: e.executorId, reason: e.reason, link: e.linkId }, `executor ${e.executorId} left: ${e.reason}`);
        this.emit('departed', { id: e.executorId, reason: e.reason });
      } else {
        log.debug({ executorId: e.executorId, reason: e.reason, link: e.linkId }, `link closed: ${e.reason}`);
      }
    });
    actor.subscribe({ complete: () => this.links.delete(link.id) });

    link.on('message', (m: ExecutorMessage) => {
      const at = Date.now();
      if (m.type === 'hello') actor.send({ type: 'HELLO', name: m.name, version: m.version, labels: m.labels, ...(m.continuity ? { continuity: m.continuity } : {}), at });
      else if (m.type === 'heartbeat') {
        actor.send({ type: 'HEARTBEAT', seq: m.seq, at });
        const executorId = actor.getSnapshot().context.peer?.executorId;
        if (executorId && m.sentAt !== undefined) this.health.heartbeat(executorId, m.sentAt, at);
      }
      else actor.send({ type: 'GOODBYE', reason: m.reason, at });
    });
    link.on('protocolError', (detail) => {
      this.logging.get('ah_transport').warn({ remoteAddress: link.remoteAddress, link: link.id }, `closing link from ${link.remoteAddress}: ${detail}`);
      actor.send({ type: 'PROTOCOL_ERROR', detail, at: Date.now() });
    });
    link.on('closed', (detail) => actor.send({ type: 'SOCKET_CLOSED', detail, at: Date.now() }));
    actor.start();
  }
}

function auditedEntry(e: RosterEntry): AuditedExecutor {
  return { executorId: e.id, name: e.name, remoteAddress: e.remoteAddress, serial: e.serial, notAfter: e.certNotAfter, link: e.linkId };
}

export function createAccessPoint(options: AccessPointOptions): AccessPoint {
  return new AccessPoint(options);
}
