/**
 * The access point's roster: one entry per executor identity. A second link from the same
 * identity (a rotation) takes over the entry, keeping `since`, so the executor is never reported
 * absent; the old link leaving afterwards does not remove it. Every open link of an identity is
 * remembered, so when the newest one leaves first (a `doctor` probe with the executor's own
 * certificate, a rotation whose new link dies at once) the entry falls back to the one still up.
 */
import { FleetTally, fleetMatcher, fleetState, LATE_AFTER_INTERVALS, type FleetFacts, type FleetFilter, type FleetSummary } from '../model/fleet-filter.js';
import type { FleetEntryJson } from '../model/status.js';

export type { FleetEntryJson };

/** The roster's order: by name, then ID (one collator: `localeCompare` per pair is slow at 10k). */
const byName = new Intl.Collator('en').compare;
const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

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

export type AdmitOutcome = 'joined' | 'relinked';

/** An entry with its state now, as the fleet views filter and show it. */
export interface RosterRow extends FleetFacts {
  readonly entry: RosterEntry;
}

export class Roster {
  private readonly byId = new Map<string, RosterEntry>();
  /** The access point the entries are on (`--access-point-id`), shown in each entry. */
  accessPointId: string | null = null;
  /** A heartbeat older than this makes an entry `late`; the access point sets it from its interval. */
  lateAfterMs = LATE_AFTER_INTERVALS * DEFAULT_HEARTBEAT_INTERVAL_MS;

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
    if (!entry?.open.delete(linkId)) return false;
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

  /** Every entry with its state at `now`, in no particular order. */
  *rows(now = Date.now()): IterableIterator<RosterRow> {
    for (const entry of this.byId.values()) {
      const state = fleetState({ certNotAfter: entry.certNotAfter, lastHeartbeat: entry.lastHeartbeat, openLinks: entry.open.size }, now, this.lateAfterMs);
      yield { id: entry.id, name: entry.name, state, certNotAfter: entry.certNotAfter, entry };
    }
  }

  /** The entries a filter keeps, sorted, and their summary: what `ah agent fleet` prints. */
  select(filter: FleetFilter, now = Date.now()): { executors: FleetEntryJson[]; summary: FleetSummary } {
    const keep = fleetMatcher(filter, now);
    const tally = new FleetTally();
    const kept: RosterRow[] = [];
    for (const row of this.rows(now)) {
      if (!keep(row)) continue;
      kept.push(row);
      tally.add(row);
    }
    kept.sort((a, b) => byName(a.name, b.name) || byName(a.id, b.id));
    return { executors: kept.map((r) => entryJson(r.entry, r.state, this.accessPointId)), summary: tally.summary(this.byId.size) };
  }

  toJSON(now = Date.now()): { executors: FleetEntryJson[] } {
    return { executors: this.select({}, now).executors };
  }

  entryJson(executorId: string, now = Date.now()): FleetEntryJson | undefined {
    const e = this.byId.get(executorId);
    return (
      e &&
      entryJson(
        e,
        fleetState({ certNotAfter: e.certNotAfter, lastHeartbeat: e.lastHeartbeat, openLinks: e.open.size }, now, this.lateAfterMs),
        this.accessPointId,
      )
    );
  }
}

export function entryJson(e: RosterEntry, state: FleetEntryJson['state'], accessPoint: string | null): FleetEntryJson {
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    id: e.id,
    name: e.name,
    remoteAddress: e.remoteAddress,
    since: iso(e.since),
    lastHeartbeat: iso(e.lastHeartbeat),
    certNotAfter: iso(e.certNotAfter),
    state,
    serial: e.serial,
    accessPoint,
  };
}
