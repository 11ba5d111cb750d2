/**
 * The access point's roster: one entry per executor identity. A second link from the same
 * identity (a rotation) takes over the entry, keeping `since`, so the executor is never reported
 * absent; the old link leaving afterwards does not remove it. Every open link of an identity is
 * remembered, so when the newest one leaves first (a `doctor` probe with the executor's own
 * certificate, a rotation whose new link dies at once) the entry falls back to the one still up.
 */
interface LinkFacts {
  name: string;
  remoteAddress: string;
  certNotAfter: number;
  serial: string;
  lastHeartbeat: number;
}

export interface RosterEntry {
  readonly id: string;
  name: string;
  linkId: string;
  remoteAddress: string;
  readonly since: number;
  lastHeartbeat: number;
  certNotAfter: number;
  serial: string;
  /** Links admitted for this identity so far. */
  links: number;
  /** The links of this identity that are open, oldest first. */
  readonly open: Map<string, LinkFacts>;
}

export interface FleetEntryJson {
  readonly id: string;
  readonly name: string;
  readonly remoteAddress: string;
  readonly since: string;
  readonly lastHeartbeat: string;
  readonly certNotAfter: string;
  readonly state: 'active';
  readonly serial: string;
}

export type AdmitOutcome = 'joined' | 'relinked';

export class Roster {
  private readonly byId = new Map<string, RosterEntry>();

  admit(e: { executorId: string; name: string; linkId: string; remoteAddress: string; certNotAfter: number; serial: string; at: number }): AdmitOutcome {
    const facts: LinkFacts = { name: e.name, remoteAddress: e.remoteAddress, certNotAfter: e.certNotAfter, serial: e.serial, lastHeartbeat: e.at };
    const existing = this.byId.get(e.executorId);
    if (existing) {
      existing.open.set(e.linkId, facts);
      Object.assign(existing, facts, { linkId: e.linkId, links: existing.links + 1 });
      return 'relinked';
    }
    this.byId.set(e.executorId, { id: e.executorId, ...facts, linkId: e.linkId, since: e.at, links: 1, open: new Map([[e.linkId, facts]]) });
    return 'joined';
  }

  heartbeat(executorId: string, linkId: string, at: number): void {
    const entry = this.byId.get(executorId);
    const link = entry?.open.get(linkId);
    if (!entry || !link) return;
    link.lastHeartbeat = at;
    if (entry.linkId === linkId) entry.lastHeartbeat = at;
  }

  /** True when the identity has no open link left (it left the fleet). */
  depart(executorId: string, linkId: string): boolean {
    const entry = this.byId.get(executorId);
    if (!entry || !entry.open.delete(linkId)) return false;
    if (entry.open.size === 0) {
      this.byId.delete(executorId);
      return true;
    }
    if (entry.linkId === linkId) {
      // The newest link went first: the entry falls back to the newest one still open.
      const [fallbackId, fallback] = [...entry.open].at(-1)!;
      Object.assign(entry, fallback, { linkId: fallbackId });
    }
    return false;
  }

  get size(): number {
    return this.byId.size;
  }

  get(executorId: string): RosterEntry | undefined {
    return this.byId.get(executorId);
  }

  toJSON(): { executors: FleetEntryJson[] } {
    return {
      executors: [...this.byId.values()].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id)).map(entryJson),
    };
  }

  entryJson(executorId: string): FleetEntryJson | undefined {
    const e = this.byId.get(executorId);
    return e && entryJson(e);
  }
}

function entryJson(e: RosterEntry): FleetEntryJson {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: e.id,
    name: e.name,
    remoteAddress: e.remoteAddress,
    since: iso(e.since),
    lastHeartbeat: iso(e.lastHeartbeat),
    certNotAfter: iso(e.certNotAfter),
    state: 'active',
    serial: e.serial,
  };
}
