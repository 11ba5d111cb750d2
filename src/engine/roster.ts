/**
 * The access point's roster: one entry per executor identity. A second link from the same
 * identity (a rotation) takes over the entry, keeping `since`, so the executor is never reported
 * absent; the old link leaving afterwards does not remove it.
 */
export interface RosterEntry {
  readonly id: string;
  name: string;
  linkId: string;
  remoteAddress: string;
  readonly since: number;
  lastHeartbeat: number;
  certNotAfter: number;
  serial: string;
  links: number;
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
    const existing = this.byId.get(e.executorId);
    if (existing) {
      Object.assign(existing, {
        name: e.name,
        linkId: e.linkId,
        remoteAddress: e.remoteAddress,
        certNotAfter: e.certNotAfter,
        serial: e.serial,
        lastHeartbeat: e.at,
        links: existing.links + 1,
      });
      return 'relinked';
    }
    this.byId.set(e.executorId, {
      id: e.executorId,
      name: e.name,
      linkId: e.linkId,
      remoteAddress: e.remoteAddress,
      since: e.at,
      lastHeartbeat: e.at,
      certNotAfter: e.certNotAfter,
      serial: e.serial,
      links: 1,
    });
    return 'joined';
  }

  heartbeat(executorId: string, linkId: string, at: number): void {
    const entry = this.byId.get(executorId);
    if (entry && entry.linkId === linkId) entry.lastHeartbeat = at;
  }

  /** True when the departing link was the executor's current one (it left the fleet). */
  depart(executorId: string, linkId: string): boolean {
    const entry = this.byId.get(executorId);
    if (!entry || entry.linkId !== linkId) return false;
    this.byId.delete(executorId);
    return true;
  }

  get size(): number {
    return this.byId.size;
  }

  get(executorId: string): RosterEntry | undefined {
    return this.byId.get(executorId);
  }

  toJSON(): { executors: FleetEntryJson[] } {
    return {
      executors: [...this.byId.values()]
        .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id))
        .map(entryJson),
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
