/**
 * An access point's etcd leases: every key it writes hangs on one, so that when the access point
 * dies its keys go when the leases expire, with no one to delete them. A lease carries at most
 * `maxKeys` keys: the revocation burst when one expires (every watcher in the fleet hears one
 * delete per key) stays bounded however many executors one access point holds. Keepalives run at a
 * third of the TTL (the etcd client's rule, as the official Go client). A lost lease (etcd said it
 * expired, or no keepalive got through for twice the TTL) is told to the owner, who starts over
 * with fresh leases.
 */
import type { Etcd3, Lease } from 'etcd3';

interface Held {
  readonly lease: Lease;
  readonly id: Promise<string>;
  readonly keys: Set<string>;
}

export class LeasePool {
  private held: Held[] = [];
  private readonly byKey = new Map<string, Held>();

  constructor(
    private readonly client: Etcd3,
    private readonly ttlSec: number,
    private readonly maxKeys: number,
    /** A lease was lost: etcd said it expired, or no keepalive got through for twice its TTL. */
    private readonly onTrouble: (err: Error) => void,
  ) {}

  /** Leases held now. */
  get size(): number {
    return this.held.length;
  }

  /** The lease id for `key`: the one it has, else the first with room, else a new one. */
  leaseFor(key: string): Promise<string> {
    const existing = this.byKey.get(key);
    if (existing) return existing.id;
    const held = this.held.find((h) => h.keys.size < this.maxKeys) ?? this.grant();
    held.keys.add(key);
    this.byKey.set(key, held);
    return held.id;
  }

  /** The key was deleted (or is not ours any more): its place on the lease is free. */
  release(key: string): void {
    this.byKey.get(key)?.keys.delete(key);
    this.byKey.delete(key);
  }

  /** Forgets every lease without telling etcd (it is out of reach): they expire on their own. */
  abandon(): void {
    for (const h of this.held) {
      h.lease.removeAllListeners();
      h.lease.on('lost', () => {});
      h.lease.release();
    }
    this.held = [];
    this.byKey.clear();
  }

  /** Revokes every lease: all its keys go at once (a clean stop). Bounded, since etcd may be gone. */
  async revokeAll(timeoutMs: number): Promise<void> {
    const held = this.held;
    this.held = [];
    this.byKey.clear();
    await Promise.all(
      held.map(async (h) => {
        h.lease.removeAllListeners();
        h.lease.on('lost', () => {});
        await h.lease.revoke({ deadline: Date.now() + timeoutMs }).catch(() => h.lease.release());
      }),
    );
  }

  private grant(): Held {
    const lease = this.client.lease(this.ttlSec);
    const held: Held = { lease, id: lease.grant(), keys: new Set() };
    held.id.catch(() => {}); // told through 'lost' as well
    // Only a lost lease: a failed keepalive is retried by the client (every 100 ms) and is lost
    // only when none gets through for twice the TTL; an etcd that went away ends the watch anyway.
    lease.on('lost', (err) => this.onTrouble(err));
    this.held.push(held);
    return held;
  }
}
