/**
 * Every access point's copy of the whole roster, kept by the informer pattern: range the prefix at
 * a revision R, then watch from R+1, applying each put and delete. When etcd has compacted the
 * history the watch would resume from ("required revision has been compacted"), the copy is listed
 * again from scratch: the events in between are gone, and only a fresh list is not stale. Each list
 * tells its differences to the old copy as events, so whoever follows the events misses nothing.
 */
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { EventEmitter } from 'eventemitter3';
import type { AccessPointInfo } from '../model/fleet-directory.js';
import { parseAccessPoint, parsePresence, type PresenceRecord, type RosterKeys } from './roster-etcd-records.js';

/** Why the copy was listed: the first time, after etcd came back, or after etcd cancelled the watch (compaction). */
export type ListReason = 'start' | 'reconnect' | 'compacted';

export interface CachedPresence {
  readonly record: PresenceRecord;
  readonly modRevision: number;
  readonly lease: string;
}

export interface RosterCacheEvents {
  /** A presence key changed (`record` null: deleted). */
  presence: [id: string, now: CachedPresence | null, before: CachedPresence | null];
  accessPoint: [id: string, now: AccessPointInfo | null];
  /** The copy was listed again (at start, after a reconnect, after a compaction). */
  listed: [{ revision: number; reason: ListReason; keys: number; detail?: string }];
  /** The watch ended for a reason other than compaction (etcd gone): the owner reconnects. */
  broken: [Error];
}

export class RosterCache extends EventEmitter<RosterCacheEvents> {
  readonly presence = new Map<string, CachedPresence>();
  readonly accessPoints = new Map<string, AccessPointInfo>();
  /** The revision the copy is at: every event up to it is applied. */
  revision = 0;
  /** Lists done so far. */
  lists = 0;
  private watcher: Watcher | null = null;
  private closed = false;

  constructor(
    private readonly client: Etcd3,
    private readonly keys: RosterKeys,
  ) {
    super();
  }

  /** Lists the prefix and watches from the next revision. Rejects when etcd cannot be reached. */
  async sync(reason: ListReason, detail?: string): Promise<void> {
    await this.stopWatch();
    const res = await this.client.getAll().prefix(this.keys.prefix).exec();
    const revision = Number(res.header.revision);
    const seen = new Set<string>();
    for (const kv of res.kvs) {
      seen.add(kv.key.toString());
      this.apply(kv, false);
    }
    for (const id of [...this.presence.keys()]) if (!seen.has(this.keys.presence(id))) this.removePresence(id);
    for (const id of [...this.accessPoints.keys()]) if (!seen.has(this.keys.accessPoint(id))) this.removeAccessPoint(id);
    this.revision = revision;
    this.lists++;
    this.emit('listed', { revision, reason, keys: res.kvs.length, ...(detail !== undefined && { detail }) });
    if (this.closed) return;
    const watcher = await this.client
      .watch()
      .prefix(this.keys.prefix)
      .startRevision(String(revision + 1))
      .create();
    this.watcher = watcher;
    watcher.on('put', (kv) => this.apply(kv, false));
    watcher.on('delete', (kv) => this.apply(kv, true));
    watcher.on('data', (r) => {
      this.revision = Math.max(this.revision, Number(r.header.revision));
    });
    watcher.on('disconnected', (err) => {
      if (this.watcher === watcher) this.emit('broken', err);
    });
    // The one error a watcher reports on its own: etcd cancelled it. The case we expect is a
    // compacted start revision (etcd 3.4 sends no reason with it, later ones "required revision
    // has been compacted"); whatever the cause, only a fresh list is not stale.
    watcher.on('error', (err) => {
      if (this.watcher !== watcher) return;
      this.watcher = null;
      const reason = err.message.replace(/^Watcher canceled:\s*/, '');
      this.sync('compacted', reason || 'compacted').catch((e: Error) => this.emit('broken', e));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stopWatch();
  }

  private async stopWatch(): Promise<void> {
    const w = this.watcher;
    this.watcher = null;
    if (w) await w.cancel().catch(() => {});
  }

  private apply(kv: IKeyValue, deleted: boolean): void {
    const what = this.keys.classify(kv.key.toString());
    if (!what) return;
    if (what.kind === 'access-point') {
      const info = deleted ? null : parseAccessPoint(kv.value.toString());
      if (!info) this.removeAccessPoint(what.id);
      else {
        this.accessPoints.set(what.id, info);
        this.emit('accessPoint', what.id, info);
      }
      return;
    }
    const record = deleted ? null : parsePresence(kv.value.toString());
    if (!record) return this.removePresence(what.id);
    const before = this.presence.get(what.id) ?? null;
    const now: CachedPresence = { record, modRevision: Number(kv.mod_revision), lease: String(kv.lease) };
    if (before && before.modRevision === now.modRevision) return;
    this.presence.set(what.id, now);
    this.emit('presence', what.id, now, before);
  }

  private removePresence(id: string): void {
    const before = this.presence.get(id);
    if (!before) return;
    this.presence.delete(id);
    this.emit('presence', id, null, before);
  }

  private removeAccessPoint(id: string): void {
    if (!this.accessPoints.delete(id)) return;
    this.emit('accessPoint', id, null);
  }
}
