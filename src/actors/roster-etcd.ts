/**
 * The fleet-wide roster on etcd (`--roster`, docs/roster.md). Each access point registers itself
 * (`<prefix>access-points/<id>`) and the identities it holds (`<prefix>presence/<spiffe id>`)
 * under its leases, and keeps a copy of everyone's keys (./roster-etcd-cache.ts). Heartbeats stay
 * in memory: etcd hears only of changes (enrolled, rotated, departed) and a slow jittered refresh.
 *
 * Taking an identity is a transaction on its presence key: create it if absent, or replace it if
 * it is ours or its epoch is lower than the new link's admission. The access point whose record
 * was replaced by another's sees it on its watch and closes its link `superseded`, unless the new
 * holder is the same executor (same key, or it proved it continues our link).
 *
 * etcd is never in the admission path: while it is out of reach links are admitted and served as
 * ever, changes wait in `pending`, and on its return everything is written again under fresh
 * leases and the copy is listed again.
 */
import { createPublicKey } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Etcd3, IOptions } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import type { Logger } from 'pino';
import type { AccessPointInfo, AccessPointState, FleetDirectory } from '../model/fleet-directory.js';
import type { LinkPresence, RemoteHolder, RemoteHolders } from './executor-links.js';
import { type CachedPresence, RosterCache } from './roster-etcd-cache.js';
import { LeasePool } from './roster-etcd-leases.js';
import { type PresenceRecord, type RosterEndpoints, type RosterKeys, rosterKeys } from './roster-etcd-records.js';

export const DEFAULT_ROSTER_PREFIX = '/ah/';
export const DEFAULT_LEASE_TTL_S = 10;
/** `--roster-lease-ttl`: below 2 s a keepalive every third of it is a busy loop; above a minute a dead access point lingers. */
export const LEASE_TTL_RANGE = { minMs: 2_000, maxMs: 60_000 } as const;
export const DEFAULT_REFRESH_MS = 5 * 60_000;
export const MAX_KEYS_PER_LEASE = 1_000;
/** Writes in flight at once when many changes wait (a reconnect writes every identity). */
const WRITE_CONCURRENCY = 16;
const RECONNECT_MIN_MS = 250;
const RECONNECT_MAX_MS = 5_000;

export interface EtcdRosterOptions {
  readonly endpoints: RosterEndpoints;
  /** `--roster-ca/--roster-cert/--roster-key`, read already. */
  readonly tls?: { readonly caPem?: string; readonly certPem?: string; readonly keyPem?: string };
  readonly prefix: string;
  readonly accessPointId: string;
  /** The fleet address executors dial (`--advertise-address`). */
  readonly address: string;
  readonly leaseTtlMs: number;
  readonly refreshMs?: number;
  readonly maxKeysPerLease?: number;
}

/** The access point's links, as the roster needs them. */
export interface RosterLinks {
  presenceOf(executorId: string): LinkPresence | undefined;
  /** Identities with an open link here. */
  identities(): Iterable<string>;
  supersedeIdentity(executorId: string): number;
  /** A holder at another live access point with another key, seen only after admission: true to take the identity over. */
  lateHolder(executorId: string, holder: RemoteHolder): boolean;
}

export interface EtcdRosterStatus {
  readonly kind: 'etcd';
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly connected: boolean;
  /** Since when `connected` has been what it is. */
  readonly since: string;
  readonly revision: number;
  readonly watchLag: number;
  readonly leases: number;
  readonly ownKeyPresent: boolean;
  /** Identities held here whose presence is in etcd, and those waiting to be written. */
  readonly owned: number;
  readonly pending: number;
  readonly lists: number;
  readonly writes: number;
  readonly conflicts: number;
  readonly lastError: string | null;
}

/** An identity whose presence we wrote: what, at which revision, on which lease. */
interface Owned {
  readonly linkId: string;
  readonly epoch: number;
  readonly record: PresenceRecord;
  readonly modRevision: number;
  readonly lease: string;
  readonly refreshAt: number;
}

export interface EtcdRosterEvents {
  connected: [{ revision: number }];
  disconnected: [{ detail: string }];
  listed: [{ revision: number; reason: string; keys: number }];
}

export class EtcdRoster extends EventEmitter<EtcdRosterEvents> implements FleetDirectory, RemoteHolders {
  readonly keys: RosterKeys;
  readonly cache: RosterCache;
  private readonly client: Etcd3;
  private readonly leases: LeasePool;
  private readonly owned = new Map<string, Owned>();
  private readonly pending = new Set<string>();
  private state: AccessPointState = 'serving';
  private connected = false;
  private changedAt = Date.now();
  private connecting: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private retryDelay = RECONNECT_MIN_MS;
  /** Identities being written now: one write per identity at a time, so a departure never overtakes its enrollment. */
  private readonly inFlight = new Set<string>();
  /** Pending identities to write even when unchanged (the refresh). */
  private readonly forced = new Set<string>();
  private stopped = false;
  /** The newest revision etcd has told us of (our writes' answers): how far the watch has to catch up. */
  private headRevision = 0;
  private lastError: string | null = null;
  /** The outage has been said (once per outage). */
  private saidDown = false;
  writes = 0;
  conflicts = 0;

  constructor(
    private readonly options: EtcdRosterOptions,
    private readonly links: RosterLinks,
    private readonly log: Logger,
  ) {
    super();
    this.keys = rosterKeys(options.prefix);
    this.client = new (loadEtcd3().Etcd3)(clientOptions(options));
    this.cache = new RosterCache(this.client, this.keys);
    const ttlSec = Math.max(1, Math.round(options.leaseTtlMs / 1000));
    this.leases = new LeasePool(this.client, ttlSec, options.maxKeysPerLease ?? MAX_KEYS_PER_LEASE, (err) => this.down(err));
    this.cache.on('presence', (id, now, before) => this.onPresence(id, now, before));
    this.cache.on('broken', (err) => this.down(err));
    this.cache.on('listed', (e) => {
      this.emit('listed', e);
      if (e.reason === 'compacted') {
        this.log.info(
          { event: 'roster_relisted', revision: e.revision, keys: e.keys, detail: e.detail ?? null },
          `roster listed again at revision ${e.revision}: etcd cancelled the watch (${e.detail ?? 'compacted'}): the history it would resume from is gone`,
        );
      }
    });
  }

  get accessPointId(): string {
    return this.options.accessPointId;
  }

  /** Connects in the background: the access point serves whether or not etcd answers. */
  start(): void {
    this.connect();
    const every = Math.max(1_000, Math.floor(this.refreshMs / 20));
    this.refreshTimer = setInterval(() => this.refreshDue(), every).unref();
  }

  /** Removes this access point's keys at once (revoking its leases) and closes the client. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.refreshTimer) clearInterval(this.refreshTimer);
    await this.cache.close();
    if (this.connected) await this.leases.revokeAll(2_000);
    else this.leases.abandon();
    this.client.close();
  }

  /** An identity was admitted here, rotated, or left: its presence is (re)written or deleted. */
  changed(executorId: string): void {
    this.pending.add(executorId);
    this.flush();
  }

  accessPoints(): readonly AccessPointInfo[] {
    const counts = new Map<string, number>();
    for (const { record } of this.cache.presence.values()) counts.set(record.accessPoint, (counts.get(record.accessPoint) ?? 0) + 1);
    const own = this.ownInfo();
    const others = [...this.cache.accessPoints.values()].filter((ap) => ap.id !== own.id);
    return [own, ...others].map((ap) => ({ ...ap, executors: counts.get(ap.id) ?? 0 })).sort((a, b) => a.id.localeCompare(b.id));
  }

  async setState(state: AccessPointState): Promise<void> {
    this.state = state;
    if (this.connected) await this.writeOwnKey().catch((err: Error) => this.down(err));
  }

  /** The holder of `executorId` at another access point that is alive now, if any. */
  holder(executorId: string): RemoteHolder | null {
    const r = this.cache.presence.get(executorId)?.record;
    if (!r || r.accessPoint === this.accessPointId || !this.cache.accessPoints.has(r.accessPoint)) return null;
    return remoteHolder(r);
  }

  status(): EtcdRosterStatus {
    const own = this.cache.accessPoints.get(this.accessPointId);
    return {
      kind: 'etcd',
      endpoints: this.options.endpoints.hosts,
      prefix: this.options.prefix,
      connected: this.connected,
      since: new Date(this.changedAt).toISOString(),
      revision: this.cache.revision,
      watchLag: this.watchLag,
      leases: this.leases.size,
      ownKeyPresent: own !== undefined,
      owned: this.owned.size,
      pending: this.pending.size,
      lists: this.cache.lists,
      writes: this.writes,
      conflicts: this.conflicts,
      lastError: this.lastError,
    };
  }

  /** Identities in the copy, every access point's. */
  fleetSize(): number {
    return this.cache.presence.size;
  }

  /** Revisions etcd has that the cache has not applied yet. */
  get watchLag(): number {
    return Math.max(0, this.headRevision - this.cache.revision);
  }

  private get refreshMs(): number {
    return this.options.refreshMs ?? DEFAULT_REFRESH_MS;
  }

  private ownInfo(): AccessPointInfo {
    return { id: this.accessPointId, address: this.options.address, state: this.state, executors: this.owned.size };
  }

  /** (Re)connects: fresh leases, the copy listed again, our own key and every identity written again. */
  private connect(): void {
    if (this.connecting || this.stopped) return;
    this.connecting = (async () => {
      try {
        this.leases.abandon();
        this.owned.clear();
        await this.cache.sync(this.cache.lists === 0 ? 'start' : 'reconnect');
        await this.writeOwnKey();
        for (const id of this.links.identities()) this.pending.add(id);
        // Departed while etcd was away: our records of them go too.
        for (const [id, c] of this.cache.presence) if (c.record.accessPoint === this.accessPointId) this.pending.add(id);
      } catch (err) {
        this.connecting = null;
        this.down(err as Error);
        return;
      }
      this.connecting = null;
      this.up();
      this.flush();
    })();
  }

  private up(): void {
    this.retryDelay = RECONNECT_MIN_MS;
    this.lastError = null;
    this.saidDown = false;
    if (this.connected) return;
    this.connected = true;
    this.changedAt = Date.now();
    this.log.info(
      { event: 'roster_connected', endpoints: this.options.endpoints.hosts, revision: this.cache.revision, accessPoint: this.accessPointId },
      `roster connected to etcd (${this.options.endpoints.hosts.join(', ')}) at revision ${this.cache.revision}`,
    );
    this.emit('connected', { revision: this.cache.revision });
  }

  /** etcd out of reach (or a lease lost): said once per outage; links are not touched. */
  private down(err: Error): void {
    if (this.stopped) return;
    this.lastError = err.message;
    if (!this.saidDown) {
      this.saidDown = true;
      this.log.warn(
        { event: 'roster_disconnected', detail: err.message, endpoints: this.options.endpoints.hosts },
        `roster: etcd (${this.options.endpoints.hosts.join(', ')}) cannot be reached (${err.message}): executors are still admitted and served; roster changes wait until it is back`,
      );
    }
    if (this.connected) {
      this.connected = false;
      this.changedAt = Date.now();
      this.emit('disconnected', { detail: err.message });
    }
    if (this.connecting || this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(RECONNECT_MAX_MS, this.retryDelay * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
    this.retryTimer.unref();
  }

  private async writeOwnKey(): Promise<void> {
    const key = this.keys.accessPoint(this.accessPointId);
    const res = await this.client
      .put(key)
      .value(JSON.stringify(this.ownInfo()))
      .lease(await this.leases.leaseFor(key))
      .exec();
    this.saw(res.header.revision);
    this.writes++;
  }

  private saw(revision: string | number): void {
    this.headRevision = Math.max(this.headRevision, Number(revision));
  }

  /** Writes what waits, a few at a time, while connected. */
  private flush(): void {
    // Stopped: the client is closed, and a write that fails at once would retry from its own
    // `finally` without ever yielding (an access point hung after its drain, spinning a core).
    if (this.stopped || !this.connected || this.connecting) return;
    for (const id of this.pending) {
      if (this.inFlight.size >= WRITE_CONCURRENCY) return;
      // Written again once its write in flight is done, with whatever is true then.
      if (this.inFlight.has(id)) continue;
      this.pending.delete(id);
      const force = this.forced.delete(id);
      this.inFlight.add(id);
      this.sync(id, force)
        .catch((err: Error) => {
          this.pending.add(id);
          this.down(err);
        })
        .finally(() => {
          this.inFlight.delete(id);
          this.flush();
        });
    }
  }

  private sync(id: string, force = false): Promise<void> {
    const link = this.links.presenceOf(id);
    return link ? this.take(id, link, force) : this.remove(id);
  }

  /**
   * The ownership transaction: create if absent, replace if ours or of a lower epoch (or of an
   * access point that is gone). When another access point's newer admission holds the key, we
   * yield it: our link is closed `superseded` unless it is the same executor.
   */
  private async take(id: string, given: LinkPresence, force: boolean): Promise<void> {
    const key = this.keys.presence(id);
    let current = this.latest(id);
    let link = given;
    for (let attempt = 0; attempt < 4; attempt++) {
      const mine = this.owned.get(id);
      const theirs = current && current.record.accessPoint !== this.accessPointId ? current.record : null;
      const live = theirs !== null && this.cache.accessPoints.has(theirs.accessPoint);
      if (live && theirs.epoch >= link.admittedAt) return this.yielded(id, link, current!);
      if (live && !link.checked && theirs.spki !== spkiOf(link) && !(link.continues !== null && link.continues === theirs.nonce)) {
        // A holder the copy had not shown at admission: judged now, once (a proven rotation, or a duplicate).
        const holder = remoteHolder(theirs);
        if (!holder || !this.links.lateHolder(id, holder)) return this.yielded(id, link, current!);
        link = this.links.presenceOf(id) ?? { ...link, checked: true };
      }
      const epoch = mine?.linkId === link.linkId ? mine.epoch : Math.max(link.admittedAt, (current?.record.epoch ?? 0) + 1);
      const record = presenceRecord(this.accessPointId, epoch, link);
      const value = JSON.stringify(record);
      if (!force && !theirs && mine && current && current.modRevision === mine.modRevision && sameRecord(current.record, record)) return;
      const leaseId = await this.leases.leaseFor(key);
      const put = this.client.put(key).value(value).lease(leaseId);
      const guard = current ? this.client.if(key, 'Mod', '==', current.modRevision) : this.client.if(key, 'Create', '==', 0);
      const res = await guard.then(put).commit();
      this.saw(res.header.revision);
      if (res.succeeded) {
        this.writes++;
        const jitter = 0.8 + Math.random() * 0.4;
        const modRevision = Number(res.header.revision);
        this.owned.set(id, { linkId: link.linkId, epoch, record, modRevision, lease: leaseId, refreshAt: Date.now() + this.refreshMs * jitter });
        return;
      }
      // Someone wrote it meanwhile: look again.
      this.conflicts++;
      current = await this.read(key, id);
    }
    // Still contended after a few rounds: try again a little later rather than at once.
    setTimeout(() => this.changed(id), RECONNECT_MAX_MS).unref();
  }

  /** Another live access point admitted the identity after us. */
  private yielded(id: string, link: LinkPresence, theirs: CachedPresence): void {
    this.owned.delete(id);
    this.leases.release(this.keys.presence(id));
    const r = theirs.record;
    const sameExecutor = r.spki === spkiOf(link) || (r.continues !== null && r.continues === link.nonce);
    if (sameExecutor) {
      this.log.info(
        { event: 'roster_identity_moved', executorId: id, accessPoint: r.accessPoint },
        `executor ${id} is now held by access point ${r.accessPoint} (the same key): its link here is left to close`,
      );
      return;
    }
    this.conflicts++;
    const closed = this.links.supersedeIdentity(id);
    this.log.warn(
      { event: 'roster_identity_superseded', executorId: id, accessPoint: r.accessPoint, remoteAddress: r.remoteAddress, serial: r.serial, links: closed },
      `identity ${id} was taken over by access point ${r.accessPoint} (from ${r.remoteAddress}, serial ${r.serial}) without proof it is the same executor: its link here is closed (superseded)`,
    );
  }

  private async remove(id: string): Promise<void> {
    const key = this.keys.presence(id);
    let current = this.latest(id);
    for (let attempt = 0; attempt < 4 && current && current.record.accessPoint === this.accessPointId; attempt++) {
      const res = await this.client.if(key, 'Mod', '==', current.modRevision).then(this.client.delete().key(key)).commit();
      this.saw(res.header.revision);
      if (res.succeeded) {
        this.writes++;
        break;
      }
      current = await this.read(key, id);
    }
    this.owned.delete(id);
    this.leases.release(key);
  }

  /** The presence of `id` as far as we know: our own last write while the watch has not shown it yet, else the copy. */
  private latest(id: string): CachedPresence | null {
    const cached = this.cache.presence.get(id) ?? null;
    const mine = this.owned.get(id);
    if (mine && (!cached || mine.modRevision > cached.modRevision)) return { record: mine.record, modRevision: mine.modRevision, lease: mine.lease };
    return cached;
  }

  private async read(key: string, id: string): Promise<CachedPresence | null> {
    const res = await this.client.get(key).exec();
    this.saw(res.header.revision);
    const kv = res.kvs[0];
    if (!kv) return null;
    const cached = this.cache.presence.get(id);
    return cached && cached.modRevision === Number(kv.mod_revision)
      ? cached
      : { record: JSON.parse(kv.value.toString()) as PresenceRecord, modRevision: Number(kv.mod_revision), lease: String(kv.lease) };
  }

  /** The watch said a presence key changed: did someone take one of ours, or free one we hold a link for? */
  private onPresence(id: string, now: CachedPresence | null, before: CachedPresence | null): void {
    const mine = this.owned.get(id);
    if (!now) {
      // Gone (its access point's lease expired, or it left): if we hold a link for it, it is ours now.
      if (this.links.presenceOf(id) && before?.record.accessPoint !== this.accessPointId) this.changed(id);
      else if (mine && before?.modRevision === mine.modRevision) this.changed(id);
      return;
    }
    if (now.record.accessPoint === this.accessPointId || !mine || now.modRevision <= mine.modRevision) return;
    const link = this.links.presenceOf(id);
    if (link) this.yielded(id, link, now);
    else this.owned.delete(id);
  }

  /** The slow refresh: each held identity is written again once per refresh period, at a jittered time. */
  private refreshDue(): void {
    if (!this.connected) return;
    const now = Date.now();
    for (const [id, o] of this.owned) {
      if (o.refreshAt > now) continue;
      this.owned.set(id, { ...o, refreshAt: now + this.refreshMs });
      this.forced.add(id);
      this.pending.add(id);
    }
    this.flush();
  }
}

/** The holder a presence record describes, with its public key; null for a record whose key does not parse. */
function remoteHolder(r: PresenceRecord): RemoteHolder | null {
  try {
    const spki = Buffer.from(r.spki, 'base64');
    // Only to know that it parses (the key is kept as DER: transport/continuity.ts says why).
    createPublicKey({ key: spki, format: 'der', type: 'spki' });
    return {
      accessPoint: r.accessPoint,
      remoteAddress: r.remoteAddress,
      name: r.name,
      serial: r.serial,
      notAfter: Date.parse(r.notAfter),
      spki,
      nonce: r.nonce,
    };
  } catch {
    return null;
  }
}

function spkiOf(link: LinkPresence): string {
  return link.spki.toString('base64');
}

function presenceRecord(accessPoint: string, epoch: number, link: LinkPresence): PresenceRecord {
  return {
    accessPoint,
    epoch,
    name: link.name,
    since: new Date(link.since).toISOString(),
    serial: link.serial,
    notAfter: new Date(link.notAfter).toISOString(),
    labels: link.labels,
    state: link.state,
    remoteAddress: link.remoteAddress,
    spki: spkiOf(link),
    nonce: link.nonce,
    continues: link.continues,
  };
}

function sameRecord(a: PresenceRecord, b: PresenceRecord): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Short timeouts and reconnects: an etcd that is away must not hold anything up for long. */
function clientOptions(o: EtcdRosterOptions): IOptions {
  return {
    hosts: [...o.endpoints.hosts],
    dialTimeout: 2_000,
    ...(o.endpoints.tls && {
      credentials: {
        rootCertificate: o.tls?.caPem ? Buffer.from(o.tls.caPem) : undefined,
        ...(o.tls?.certPem && o.tls.keyPem ? { certChain: Buffer.from(o.tls.certPem), privateKey: Buffer.from(o.tls.keyPem) } : {}),
      },
    }),
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2_000 },
    // Unary calls only: a deadline on the watch and keepalive streams would end them every 5 s.
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + 5_000 }),
    faultHandling: { watchBackoff: constantBackoff(500) },
  } as IOptions;
}

/** The watch's reconnect pause (the client's default grows to 30 s): we reconnect ourselves anyway. */
function constantBackoff(ms: number): NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']> {
  const backoff = { duration: ms, next: () => backoff };
  return backoff as unknown as NonNullable<NonNullable<IOptions['faultHandling']>['watchBackoff']>;
}

/**
 * etcd3 (and with it gRPC and protobufjs) is loaded only when a roster is started: an access point
 * without `--roster`, an executor and `ah --version` never load it. It is CommonJS, so it can be
 * required where it is needed without making the start asynchronous.
 */
export function loadEtcd3(): typeof import('etcd3') {
  return createRequire(import.meta.url)('etcd3') as typeof import('etcd3');
}
