/**
 * The access point's executor links: one `connection` machine per link, provided with the link's
 * wire effects (welcome, reject, goodbye; heartbeats of admitted links are acked here, beside the
 * machine, see ./heartbeat-watch.ts) and its `verifyPeer` (the certificate rules, the
 * claimed name, and continuity against the identity's other open links), and the roster kept from
 * what the machines emit. The executor's counterpart is ./fleet-link.ts.
 */
import { EventEmitter } from 'eventemitter3';
import { createActor, fromCallback, type Actor, type AnyActorRef } from 'xstate';
import type { AccessPointAudit, AuditedExecutor } from '../audit/access-point-audit.js';
import type { RejectionCoalescer } from '../audit/rejection-coalescer.js';
import { AhError, messageOf, type ErrorInfo } from '../errors/ah-error.js';
import { renderMessage } from '../errors/catalog.js';
import type { Logging } from '../log/logger.js';
import { machineInspector, type MachineLogRecord } from '../log/machine-log.js';
import {
  connectionMachine,
  DRAINING_CODE,
  HEARTBEATS_MISSED_BEFORE_CLOSE,
  type ConnectionEmitted,
  type ConnectionEvent,
  type PeerVerdict,
  type VerifyPeerInput,
} from '../machines/connection.js';
import { newNonce, verifyContinuity, type Spki } from '../transport/continuity.js';
import { verifyExecutor, type ExecutorPolicy } from '../transport/executor-policy.js';
import type { ServerLink } from '../transport/fleet-server.js';
import type { ExecutorMessage } from '../transport/messages.js';
import { wheelClock } from '../util/timer-wheel.js';
import { notBeforeOf } from '../x509/certificate.js';
import { DuplicateIdentities } from './duplicate-identities.js';
import { HeartbeatWatch } from './heartbeat-watch.js';
import type { FleetEntryJson, Roster, RosterEntry } from './roster.js';

export type DuplicateIdentityPolicy = 'supersede' | 'reject';

export interface ExecutorLinksEvents {
  /** `relinked`: the identity had a link already (a rotation, or with `duplicate` a second holder that took over). */
  admitted: [FleetEntryJson & { relinked: boolean; duplicate?: boolean }];
  rejected: [{ remoteAddress: string; error: AhError }];
  departed: [{ id: string; reason: string }];
  /**
   * Every heartbeat of an admitted executor (by identity, whichever link carried it); `sentAt` is
   * the executor's clock when it sent it (undefined from executors that do not say).
   */
  heartbeat: [{ id: string; linkId: string; seq: number; at: number; sentAt: number | undefined }];
  /** Every event and state of every link's machine, as `ah_machine` logs them; only when asked for (the debug view). */
  machine: [MachineLogRecord];
  /** A second holder of a connected identity took it over (the old link is closed `superseded`). */
  duplicate: [{ id: string; remoteAddress: string; previousRemoteAddress: string; serial: string; previousSerial: string }];
}

export interface ExecutorLinksDeps {
  readonly roster: Roster;
  readonly logging: Logging;
  readonly heartbeatIntervalMs: number;
  /** A link that sends no hello in this time is closed (default 10 s). */
  readonly helloTimeoutMs?: number;
  readonly duplicateIdentity: DuplicateIdentityPolicy;
  /** Who may enroll now: it changes with the access point's trust bundle. */
  readonly policy: () => ExecutorPolicy;
  readonly audit: () => AccessPointAudit | null;
  readonly rejections: () => RejectionCoalescer | null;
  /** `--audit-required` and the audit log cannot be written: enrollments fail closed. */
  readonly auditUnavailable: () => boolean;
  /** Someone listens to the links' machine records (the live debug view). */
  readonly wantsMachineRecords: () => boolean;
  /** What the fleet doctor judges over the last hour (engine/fleet-health.ts). */
  readonly health?: LinkHealthSink;
  /** While the access point drains: new links are refused with goodbye{draining, retryAfterMs}. */
  readonly draining?: () => { readonly retryAfterMs: number } | null;
  /** The other serving access points' addresses, for the welcome (none: the field is left out). */
  readonly otherAccessPoints?: () => readonly string[];
  /** With a fleet-wide roster (`--roster`): who holds an identity at another access point. */
  readonly remoteHolders?: RemoteHolders;
}

/** An identity's holder at another live access point, as the fleet-wide roster knows it (roster-etcd.ts). */
export interface RemoteHolder {
  readonly accessPoint: string;
  readonly remoteAddress: string;
  readonly name: string;
  readonly serial: string;
  readonly notAfter: number;
  /** The public key (SPKI DER) of the holder's link: the key a continuity proof must be signed with. */
  readonly spki: Spki;
  /** The nonce of the welcome on the holder's link. */
  readonly nonce: string | null;
}

export interface RemoteHolders {
  holder(executorId: string): RemoteHolder | null;
}

/** An identity's current link, as the fleet-wide roster records it. */
export interface LinkPresence {
  readonly linkId: string;
  readonly name: string;
  readonly since: number;
  /** When the link said hello: the newest admission of an identity wins. */
  readonly admittedAt: number;
  readonly serial: string;
  readonly notAfter: number;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: 'active' | 'rotating';
  readonly remoteAddress: string;
  /** The public key (SPKI DER) of the certificate the link was opened with. */
  readonly spki: Spki;
  readonly nonce: string | null;
  /** The nonce of a link at another access point this one proved it continues. */
  readonly continues: string | null;
  /** Admission checked it against a holder at another access point (so a duplicate was judged already). */
  readonly checked: boolean;
}

/** The links' facts the fleet doctor keeps: admissions, duplicates, rejections, heartbeat clocks. */
export interface LinkHealthSink {
  admitted(executorId: string, cert: { notBefore: number; serial: string }, at: number): void;
  duplicate(e: { at: number; executorId: string; remoteAddress: string; previousRemoteAddress: string }): void;
  rejected(e: { at: number; code: string; message: string; remoteAddress: string }): void;
  /** A heartbeat with the executor's own clock (`sentAt`), received `at`. */
  heartbeat(executorId: string, sentAt: number, at: number): void;
}

interface LinkSlot {
  readonly link: ServerLink;
  readonly actor: Actor<typeof connectionMachine>;
  /** Set once the link is admitted: from then on its heartbeats are acked here (./heartbeat-watch.ts). */
  executorId: string | null;
}

type Admitted = Extract<ConnectionEmitted, { type: 'admitted' }>;

/** A verdict that pushes no other link out: one array for all of them. */
const SUPERSEDES_NONE: readonly string[] = Object.freeze([]);

export class ExecutorLinks extends EventEmitter<ExecutorLinksEvents> {
  private readonly links = new Map<string, LinkSlot>();
  private readonly duplicates = new DuplicateIdentities();
  /** Per link admitted against a holder at another access point: that holder, and the nonce it continued (if it proved it). */
  private readonly remote = new Map<string, { holder: RemoteHolder; continues: string | null }>();
  /** One provided connection machine serves every link; its effects find their socket by link id. */
  private readonly logic: ReturnType<typeof connectionMachine.provide>;
  /**
   * The links' actor system: each link's machine is started as a child of this one actor, so ten
   * thousand links share one clock, scheduler and inspector instead of each carrying its own
   * (about 2 KB less per link, and less to create). It does nothing itself.
   */
  private readonly system: AnyActorRef;
  /** Admitted links' silence deadlines, on the links' clock. */
  private readonly heartbeats = new HeartbeatWatch(wheelClock, (linkId) => this.links.get(linkId)?.actor.send({ type: 'SILENT', at: Date.now() }));
  /** The links' machine records: logged at debug level (decided at start, as for every machine). */
  private readonly machineLogging: boolean;
  private inspection: { unsubscribe(): void } | null = null;
  /** Set by a configuration reload: the interval new links are told (deps' until then). */
  private heartbeatIntervalMs: number | undefined;

  constructor(private readonly deps: ExecutorLinksDeps) {
    super();
    this.logic = this.provideConnection();
    this.system = createActor(
      fromCallback(() => () => {}),
      {
        id: 'links',
        // One timer wheel for every link's deadlines (hello, three heartbeat intervals, drain),
        // instead of a native timer re-armed on each heartbeat; it chains delays of any length.
        clock: wheelClock,
      },
    );
    this.system.start();
    this.machineLogging = deps.logging.get('ah_machine').isLevelEnabled('debug');
    this.inspectMachines(deps.wantsMachineRecords());
  }

  /**
   * Hand out the links' machine records while someone listens (the live debug view) or they are
   * logged (debug): the inspector is attached to the links' actor system only then, since building
   * an inspection event for every step of ten thousand links costs when nobody reads them.
   */
  inspectMachines(observed: boolean): void {
    const wanted = observed || this.machineLogging;
    if (wanted && !this.inspection) {
      const inspector = machineInspector(this.deps.logging.get('ah_machine'), 'links', (r) => this.emit('machine', r), {
        childrenByOwnId: true,
        observing: this.deps.wantsMachineRecords,
      });
      if (inspector) this.inspection = this.system.system.inspect(inspector);
    } else if (!wanted && this.inspection) {
      this.inspection.unsubscribe();
      this.inspection = null;
    }
  }

  /** Open links (two for an executor in the middle of a rotation). */
  get size(): number {
    return this.links.size;
  }

  /** Say goodbye{reason} on every link and resolve once each machine has closed; resolves with how many. */
  async drainAll(reason: string): Promise<number> {
    const closing = [...this.links.values()].map(
      ({ actor }) =>
        new Promise<void>((resolve) => {
          if (actor.getSnapshot().status !== 'active') return resolve();
          actor.subscribe({ complete: () => resolve() });
          actor.send({ type: 'DRAIN', reason });
        }),
    );
    await Promise.all(closing);
    this.system.stop();
    return closing.length;
  }

  /** The heartbeat interval links attached from now on are told; links already up keep theirs. */
  setHeartbeatInterval(ms: number): void {
    this.heartbeatIntervalMs = ms;
  }

  /** Links admitted and not yet asked to move (`active.live`), for the drain to ask. */
  stayingLinks(): string[] {
    const out: string[] = [];
    for (const [id, { actor }] of this.links) if (actor.getSnapshot().matches({ active: 'live' })) out.push(id);
    return out;
  }

  /** Ask the executor on `linkId` to move elsewhere (goodbye{draining}); the link stays served until it goes. */
  askToLeave(linkId: string, retryAfterMs: number): void {
    this.links.get(linkId)?.actor.send({ type: 'LEAVE', retryAfterMs });
  }

  /** A new TLS link: its machine starts in `accepted` and waits for hello. */
  attach(link: ServerLink): void {
    const { deps } = this;
    const actor = createActor(this.logic, {
      id: link.id,
      parent: this.system,
      input: {
        linkId: link.id,
        remoteAddress: link.remoteAddress,
        heartbeatIntervalMs: this.heartbeatIntervalMs ?? deps.heartbeatIntervalMs,
        helloTimeoutMs: deps.helloTimeoutMs,
      },
    });
    const slot: LinkSlot = { link, actor, executorId: null };
    this.links.set(link.id, slot);
    // One listener for the three events the machine emits: each listener costs a link a Set and a
    // closure for its whole life (docs/performance.md §What a link keeps).
    actor.on('*', (e: ConnectionEmitted) => {
      switch (e.type) {
        case 'admitted':
          slot.executorId = e.executorId;
          // The interval this link was told in its welcome, even if a reload changed it since.
          this.heartbeats.watch(link.id, actor.getSnapshot().context.heartbeatIntervalMs * HEARTBEATS_MISSED_BEFORE_CLOSE);
          this.onAdmitted(e, link, actor.getSnapshot().context.labels);
          return;
        case 'rejected':
          // Logged (or counted) with the audit record, in sendReject.
          deps.health?.rejected({ at: Date.now(), code: e.error.code, message: messageOf(e.error), remoteAddress: e.remoteAddress });
          this.emit('rejected', { remoteAddress: e.remoteAddress, error: AhError.fromInfo(e.error) });
          return;
        case 'departed':
          // The machine's last word (`closed` is its only final state, and its entry emits this
          // after destroying the socket): the link is forgotten here rather than by a completion
          // observer, one less object per link.
          this.heartbeats.unwatch(link.id);
          this.onDeparted(e);
          this.links.delete(link.id);
          this.remote.delete(link.id);
      }
    });

    link.on('message', (m: ExecutorMessage) => {
      const at = Date.now();
      if (m.type === 'heartbeat' && slot.executorId !== null) this.onHeartbeat(slot, m.seq, m.sentAt, at);
      else if (m.type === 'hello') {
        actor.send({ type: 'HELLO', name: m.name, version: m.version, labels: m.labels, ...(m.continuity ? { continuity: m.continuity } : {}), at });
        // Verified at once, in this turn: the machine waits in `verifying` for the outcome.
        if (actor.getSnapshot().matches('verifying')) actor.send(this.verifyPeer(link, { linkId: link.id, name: m.name, continuity: m.continuity ?? null }));
      } else if (m.type === 'heartbeat') actor.send({ type: 'HEARTBEAT', seq: m.seq, at });
      else actor.send({ type: 'GOODBYE', reason: m.reason, at });
    });
    link.on('protocolError', (detail) => {
      deps.logging
        .get('ah_transport')
        .warn(
          { event: 'closing_link_protocol_error', remoteAddress: link.remoteAddress, link: link.id, detail },
          `closing link from ${link.remoteAddress}: ${detail}`,
        );
      actor.send({ type: 'PROTOCOL_ERROR', detail, at: Date.now() });
    });
    // The socket closes after the machine ended most of the time (it destroys it on the way out).
    link.on('closed', (detail) => {
      if (actor.getSnapshot().status === 'active') actor.send({ type: 'SOCKET_CLOSED', detail, at: Date.now() });
    });
    actor.start();
  }

  /** An admitted link's heartbeat: acked, its deadline moved, the roster told; no machine transition. */
  private onHeartbeat(slot: LinkSlot, seq: number, sentAt: number | undefined, at: number): void {
    const { link } = slot;
    const executorId = slot.executorId!;
    link.send({ type: 'ack', seq });
    this.heartbeats.heard(link.id);
    this.deps.roster.heartbeat(executorId, link.id, at);
    if (sentAt !== undefined) this.deps.health?.heartbeat(executorId, sentAt, at);
    this.emit('heartbeat', { id: executorId, linkId: link.id, seq, at, sentAt });
  }

  /**
   * The verdict on a hello: the certificate rules and the claimed name (transport/executor-policy.ts),
   * then how the identity's other links take it (a rotation, a duplicate). A machine event, so that
   * replay feeds it like any other (the link's `verifying` state waits for it).
   */
  private verifyPeer(link: ServerLink, claim: VerifyPeerInput): Extract<ConnectionEvent, { type: 'PEER_VERIFIED' | 'PEER_REFUSED' }> {
    const draining = this.deps.draining?.();
    if (draining) return { type: 'PEER_REFUSED', error: this.refuseWhileDraining(link, claim, draining.retryAfterMs) };
    try {
      if (this.deps.auditUnavailable()) throw new AhError('ENROLL_AUDIT_UNAVAILABLE');
      const { executorId, certNotAfter, serial } = verifyExecutor(link.handshake, this.deps.policy(), Date.now(), { name: claim.name });
      const { admission, supersedes = SUPERSEDES_NONE } = this.admissionOf(executorId, claim, link);
      // Written out, not spread: the context keeps it for the link's life, and V8 gave each spread
      // copy a hidden class of its own (docs/performance.md §What a link keeps).
      const verdict: PeerVerdict = { executorId, certNotAfter, serial, nonce: newNonce(), admission, supersedes };
      return { type: 'PEER_VERIFIED', verdict };
    } catch (err) {
      const error = err instanceof AhError ? err.toInfo() : ({ code: 'ENROLL_INTERNAL', params: { detail: String(err) }, retryable: true } satisfies ErrorInfo);
      return { type: 'PEER_REFUSED', error };
    }
  }

  private provideConnection() {
    const wire = (linkId: string) => this.links.get(linkId)?.link;
    return connectionMachine.provide({
      actions: {
        sendWelcome: ({ context }) => {
          const link = wire(context.linkId);
          const peer = context.peer!;
          if (!link) return;
          // On disk before the executor hears it is in: enrolled, rotated (the identity had a
          // link: the roster admits it right after), or a duplicate that takes over.
          const audit = this.deps.audit();
          if (audit) {
            const previousEntry = this.deps.roster.get(peer.executorId);
            // A holder at another access point is the previous link of a rotation (proven) or of a
            // duplicate; the same key moving over (a failover) enrolls here afresh.
            const remote = this.remote.get(context.linkId);
            const fromRemote = remote && (remote.continues !== null || peer.admission === 'duplicate') ? auditedHolder(peer.executorId, remote.holder) : null;
            const previous = previousEntry ? auditedEntry(previousEntry) : fromRemote;
            const executor = {
              executorId: peer.executorId,
              name: context.name ?? '',
              remoteAddress: context.remoteAddress,
              serial: peer.serial,
              notAfter: peer.certNotAfter,
              link: context.linkId,
            };
            if (peer.admission === 'duplicate') audit.duplicate(executor, previous, 'superseded');
            else audit.admitted(executor, previous);
          }
          const accessPoints = this.deps.otherAccessPoints?.() ?? [];
          link.send({
            type: 'welcome',
            executorId: peer.executorId,
            heartbeatInterval: context.heartbeatIntervalMs,
            serverTime: Date.now(),
            ...(peer.nonce ? { nonce: peer.nonce } : {}),
            ...(accessPoints.length > 0 ? { accessPoints: [...accessPoints] } : {}),
          });
        },
        sendReject: ({ context }, params) => {
          const link = wire(context.linkId);
          // Audited and logged before the executor hears why (repeats of unauthenticated clients: counted).
          this.deps.rejections()?.report({
            error: params.error,
            remoteAddress: context.remoteAddress,
            sourceAddress: link?.sourceAddress ?? context.remoteAddress,
            name: context.name,
            link: context.linkId,
            handshake: link?.handshake,
            requireCa: this.deps.policy().requireCa,
          });
          link?.send({
            type: 'reject',
            code: params.error.code,
            message: renderMessage(params.error.code, params.error.params),
            params: { ...params.error.params },
          });
        },
        sendGoodbye: ({ context }, params) =>
          wire(context.linkId)?.send({
            type: 'goodbye',
            reason: params.reason,
            ...(params.retryAfterMs !== undefined ? { retryAfterMs: params.retryAfterMs } : {}),
          }),
        endSocket: ({ context }) => wire(context.linkId)?.end(),
        destroySocket: ({ context }) => wire(context.linkId)?.destroy(),
      },
    });
  }

  /**
   * While draining, a new link is turned away with goodbye{draining}. When it is an executor that
   * already has a link here (told to move, it found nowhere else and came back), the old link is
   * closed too: keeping it would only hold the drain until its timeout.
   */
  private refuseWhileDraining(link: ServerLink, claim: VerifyPeerInput, retryAfterMs: number): ErrorInfo {
    try {
      const { executorId } = verifyExecutor(link.handshake, this.deps.policy(), Date.now(), { name: claim.name });
      for (const linkId of this.deps.roster.get(executorId)?.open.keys() ?? []) {
        if (linkId !== link.id) this.links.get(linkId)?.actor.send({ type: 'DRAIN', reason: 'shutdown' });
      }
    } catch {
      // Not an executor we would admit: it only gets the goodbye.
    }
    return { code: DRAINING_CODE, params: { address: '', retryAfterMs: String(retryAfterMs) }, retryable: true };
  }

  /**
   * A verified link for an identity that already has open links: a rotation when it proves it
   * continues one of them (the signature over that link's nonce, transport/continuity.ts) or
   * presents the very same key (a doctor probe, a restart with the same certificate); otherwise a
   * second holder, refused under `--duplicate-identity reject` and taking over by default.
   */
  private admissionOf(executorId: string, claim: VerifyPeerInput, link: ServerLink): Pick<PeerVerdict, 'admission' | 'supersedes'> {
    const entry = this.deps.roster.get(executorId);
    const holders = [...(entry?.open.keys() ?? [])]
      .filter((id) => id !== link.id)
      .flatMap((id) => {
        const slot = this.links.get(id);
        const spki = slot?.link.peerSpki;
        return slot && spki ? [{ id, spki, nonce: slot.actor.getSnapshot().context.peer?.nonce, remoteAddress: slot.link.remoteAddress }] : [];
      });
    if (holders.length === 0) return this.remoteAdmission(executorId, claim, link);
    const spki = link.peerSpki!;
    const proof = claim.continuity;
    const continues = holders.some((h) => (proof !== null && h.nonce === proof.nonce && verifyContinuity(h.spki, spki, proof)) || h.spki.equals(spki));
    if (continues) return { admission: 'rotated' };
    if (this.deps.duplicateIdentity === 'reject') {
      throw new AhError('ENROLL_DUPLICATE_IDENTITY', { executorId, existing: holders.map((h) => h.remoteAddress).join(', ') });
    }
    return { admission: 'duplicate', supersedes: holders.map((h) => h.id) };
  }

  /**
   * No open link here: with a fleet-wide roster the identity may be held at another access point.
   * The same key is the executor itself (a restart, a failover); a proof over the holder's nonce
   * signed with the holder's key is a rotation; anything else is a second holder, as above.
   */
  private remoteAdmission(executorId: string, claim: VerifyPeerInput, link: ServerLink): Pick<PeerVerdict, 'admission' | 'supersedes'> {
    const holder = this.deps.remoteHolders?.holder(executorId);
    const spki = link.peerSpki;
    if (!holder || !spki) return { admission: 'joined' };
    const proof = claim.continuity;
    const proven = proof !== null && holder.nonce === proof.nonce && verifyContinuity(holder.spki, spki, proof);
    this.remote.set(link.id, { holder, continues: proven ? holder.nonce : null });
    if (proven || holder.spki.equals(spki)) return { admission: 'joined' };
    if (this.deps.duplicateIdentity === 'reject') {
      throw new AhError('ENROLL_DUPLICATE_IDENTITY', { executorId, existing: `${holder.remoteAddress} (access point ${holder.accessPoint})` });
    }
    return { admission: 'duplicate', supersedes: [] };
  }

  /**
   * The identity's newest link, for the fleet-wide roster. A doctor's probe (label ah.doctor) holds
   * no place in the fleet: the newest link that is not one stands for the identity.
   */
  presenceOf(executorId: string): LinkPresence | undefined {
    const entry = this.deps.roster.get(executorId);
    if (!entry) return undefined;
    for (const [linkId, facts] of [...entry.open].reverse()) {
      const slot = this.links.get(linkId);
      const spki = slot?.link.peerSpki;
      const ctx = slot?.actor.getSnapshot().context;
      if (!spki || !ctx || ctx.labels['ah.doctor'] === 'true') continue;
      return {
        linkId,
        name: facts.name,
        since: entry.since,
        admittedAt: ctx.helloAt ?? entry.since,
        serial: facts.serial,
        notAfter: facts.certNotAfter,
        labels: ctx.labels,
        state: entry.open.size > 1 ? 'rotating' : 'active',
        remoteAddress: facts.remoteAddress,
        spki,
        nonce: ctx.peer?.nonce ?? null,
        continues: this.remote.get(linkId)?.continues ?? null,
        checked: this.remote.has(linkId),
      };
    }
    return undefined;
  }

  /**
   * The fleet-wide roster found, after the welcome, a holder of the identity at another access
   * point with another key: the copy had not shown it at admission. Judged as it would have been
   * then: a proof over the holder's nonce is a rotation (true); otherwise a duplicate, which under
   * `supersede` this link takes over, audited and warned (true), and under `reject` leaves to the
   * holder, the roster closing this link (false).
   */
  lateHolder(executorId: string, holder: RemoteHolder): boolean {
    const entry = this.deps.roster.get(executorId);
    const slot = entry && this.links.get(entry.linkId);
    const spki = slot?.link.peerSpki;
    if (!entry || !slot || !spki) return false;
    const proof = slot.actor.getSnapshot().context.continuity;
    const proven = proof !== null && holder.nonce === proof.nonce && verifyContinuity(holder.spki, spki, proof);
    this.remote.set(entry.linkId, { holder, continues: proven ? holder.nonce : null });
    if (proven) return true;
    if (this.deps.duplicateIdentity === 'reject') return false;
    this.deps.audit()?.duplicate(auditedEntry(entry), auditedHolder(executorId, holder), 'superseded');
    const admitted: Admitted = {
      type: 'admitted',
      linkId: entry.linkId,
      executorId,
      name: entry.name,
      remoteAddress: entry.remoteAddress,
      certNotAfter: entry.certNotAfter,
      serial: entry.serial,
      admission: 'duplicate',
      supersedes: [],
      at: Date.now(),
    };
    this.supersede(admitted, { remoteAddress: holder.remoteAddress, serial: holder.serial });
    return true;
  }

  /** Another access point took the identity over: close its links here with goodbye{reason:"superseded"}. */
  supersedeIdentity(executorId: string): number {
    const linkIds = [...(this.deps.roster.get(executorId)?.open.keys() ?? [])];
    for (const linkId of linkIds) this.links.get(linkId)?.actor.send({ type: 'DRAIN', reason: 'superseded' });
    return linkIds.length;
  }

  private onAdmitted(e: Admitted, link: ServerLink, labels: Readonly<Record<string, string>>): void {
    const { roster, logging } = this.deps;
    const cert = link.handshake.certificate;
    // A doctor's probe (ah.doctor label) is not the executor reconnecting.
    if (cert && labels['ah.doctor'] !== 'true') this.deps.health?.admitted(e.executorId, { notBefore: notBeforeOf(cert), serial: e.serial }, e.at);
    // Admitted: from here on the link needs its peer's public key alone.
    link.releaseCertificate();
    const log = logging.get('ah_access_point');
    const before = roster.get(e.executorId);
    const remote = this.remote.get(e.linkId)?.holder;
    const previous = before
      ? { remoteAddress: before.remoteAddress, serial: before.serial }
      : remote
        ? { remoteAddress: remote.remoteAddress, serial: remote.serial }
        : null;
    const outcome = roster.admit(e);
    const entry = roster.entryJson(e.executorId)!;
    if (e.admission === 'duplicate') {
      this.supersede(e, previous);
      this.emit('admitted', Object.assign({}, entry, { relinked: true, duplicate: true }));
      return;
    }
    const fields = { executorId: e.executorId, name: e.name, remoteAddress: e.remoteAddress, serial: e.serial, link: e.linkId };
    if (outcome === 'joined') log.info({ event: 'executor_enrolled', ...fields }, `executor ${e.name} enrolled as ${e.executorId} from ${e.remoteAddress}`);
    else log.info({ event: 'executor_rotated', ...fields }, `executor ${e.name} rotated: new link with certificate serial ${e.serial} replaces the old one`);
    this.emit('admitted', Object.assign({}, entry, { relinked: outcome === 'relinked' }));
  }

  /** The newcomer is in: close the links it pushed out, and say so (once as an error when it keeps happening). */
  private supersede(e: Admitted, previous: { remoteAddress: string; serial: string } | null): void {
    const log = this.deps.logging.get('ah_access_point');
    const previousRemoteAddress = previous?.remoteAddress ?? '?';
    log.warn(
      {
        event: 'duplicate_identity',
        executorId: e.executorId,
        remoteAddress: e.remoteAddress,
        previousRemoteAddress,
        serial: e.serial,
        previousSerial: previous?.serial ?? null,
        link: e.linkId,
      },
      `duplicate identity ${e.executorId}: a new holder at ${e.remoteAddress} (serial ${e.serial}) supersedes the link from ${previousRemoteAddress} (serial ${previous?.serial ?? '?'}) without proving it is the same executor`,
    );
    for (const linkId of e.supersedes) this.links.get(linkId)?.actor.send({ type: 'DRAIN', reason: 'superseded' });
    this.deps.health?.duplicate({ at: e.at, executorId: e.executorId, remoteAddress: e.remoteAddress, previousRemoteAddress });
    this.emit('duplicate', {
      id: e.executorId,
      remoteAddress: e.remoteAddress,
      previousRemoteAddress,
      serial: e.serial,
      previousSerial: previous?.serial ?? '?',
    });
    const flapping = this.duplicates.takeover(e.executorId, previousRemoteAddress, e.remoteAddress, e.at);
    if (flapping) {
      const error = new AhError('ENROLL_DUPLICATE_IDENTITY_FLAPPING', { executorId: flapping.executorId, first: flapping.first, second: flapping.second });
      log.error(
        {
          event: 'duplicate_identity_flapping',
          code: error.code,
          executorId: e.executorId,
          first: flapping.first,
          second: flapping.second,
          takeovers: flapping.takeovers,
        },
        error.message,
      );
    }
  }

  private onDeparted(e: Extract<ConnectionEmitted, { type: 'departed' }>): void {
    const { roster, logging } = this.deps;
    const log = logging.get('ah_access_point');
    const entry = e.executorId ? roster.get(e.executorId) : undefined;
    if (e.executorId && roster.depart(e.executorId, e.linkId)) {
      this.deps.audit()?.departed(auditedEntry(entry!), e.reason);
      log.info({ event: 'executor_left', executorId: e.executorId, reason: e.reason, link: e.linkId }, `executor ${e.executorId} left: ${e.reason}`);
      this.emit('departed', { id: e.executorId, reason: e.reason });
    } else {
      log.debug({ event: 'link_closed', executorId: e.executorId, reason: e.reason, link: e.linkId }, `link closed: ${e.reason}`);
    }
  }
}

function auditedHolder(executorId: string, h: RemoteHolder): AuditedExecutor {
  return { executorId, name: h.name, remoteAddress: h.remoteAddress, serial: h.serial, notAfter: h.notAfter, link: `access point ${h.accessPoint}` };
}

function auditedEntry(e: RosterEntry): AuditedExecutor {
  return { executorId: e.id, name: e.name, remoteAddress: e.remoteAddress, serial: e.serial, notAfter: e.certNotAfter, link: e.linkId };
}
