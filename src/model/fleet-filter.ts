/**
 * What `ah agent fleet` and the live view say about a fleet as a whole: the state of each entry
 * (docs/status-json.md), the filters (`--state`, `--name`, `--expiring-within`) and the summary
 * (counts by state, the soonest certificate expiry). Pure functions over plain facts, so that the
 * access point filters before it writes anything and a client can do the same with an older
 * access point's answer.
 */

/** The states of a fleet entry, in the order the summary counts them. */
export const FLEET_STATES = ['active', 'rotating', 'late', 'expired'] as const;
export type FleetState = (typeof FLEET_STATES)[number];

/** A heartbeat older than this many intervals makes an entry `late` (the link closes at 3). */
export const LATE_AFTER_INTERVALS = 2;

export interface FleetFilter {
  /** Any of these states (all when absent). */
  readonly states?: readonly FleetState[];
  /** A glob over the name: `*` any run of characters, `?` one character. */
  readonly name?: string;
  /** Certificates ending within this many milliseconds from now (the expired ones included). */
  readonly expiringWithinMs?: number;
}

/** What the filter looks at, times in epoch milliseconds. */
export interface FleetFacts {
  readonly id: string;
  readonly name: string;
  readonly state: FleetState;
  readonly certNotAfter: number;
}

export interface FleetSummary {
  /** Entries in the roster. */
  readonly total: number;
  /** Entries the filter kept; the counts below are over these. */
  readonly matched: number;
  readonly byState: Record<FleetState, number>;
  /** The kept entry whose certificate ends first (already ended ones included). */
  readonly soonestExpiry: { readonly id: string; readonly name: string; readonly certNotAfter: string } | null;
}

/**
 * The state an entry is shown in: `expired` (its certificate has ended while its link is up),
 * `late` (no heartbeat for more than two intervals), `rotating` (a second link of the identity is
 * open: a rotation under way), else `active`.
 */
export function fleetState(e: { certNotAfter: number; lastHeartbeat: number; openLinks: number }, now: number, lateAfterMs: number): FleetState {
  if (e.certNotAfter <= now) return 'expired';
  if (now - e.lastHeartbeat > lateAfterMs) return 'late';
  return e.openLinks > 1 ? 'rotating' : 'active';
}

export const isFleetState = (s: string): s is FleetState => (FLEET_STATES as readonly string[]).includes(s);

/** A whole-name glob: `*` and `?`; everything else stands for itself. */
export function globMatcher(pattern: string): (name: string) => boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const re = new RegExp(`^${source}$`, 's');
  return (name) => re.test(name);
}

export function fleetMatcher(filter: FleetFilter, now: number): (e: FleetFacts) => boolean {
  const states = filter.states && filter.states.length > 0 ? new Set(filter.states) : null;
  const name = filter.name !== undefined ? globMatcher(filter.name) : null;
  const until = filter.expiringWithinMs !== undefined ? now + filter.expiringWithinMs : null;
  return (e) => (!states || states.has(e.state)) && (until === null || e.certNotAfter <= until) && (!name || name(e.name));
}

/** Counts entries as they are kept, for the summary. */
export class FleetTally {
  private readonly byState: Record<FleetState, number> = { active: 0, rotating: 0, late: 0, expired: 0 };
  private matched = 0;
  private soonest: FleetFacts | null = null;

  add(e: FleetFacts): void {
    this.matched++;
    this.byState[e.state]++;
    if (!this.soonest || e.certNotAfter < this.soonest.certNotAfter) this.soonest = e;
  }

  summary(total: number): FleetSummary {
    const s = this.soonest;
    return {
      total,
      matched: this.matched,
      byState: { ...this.byState },
      soonestExpiry: s ? { id: s.id, name: s.name, certNotAfter: new Date(s.certNotAfter).toISOString() } : null,
    };
  }
}

/** A filter as it arrives on the status socket; a string says what is wrong with it. */
export function fleetFilterFrom(value: unknown): FleetFilter | string {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return 'filter is not an object';
  const v = value as Record<string, unknown>;
  const out: { states?: FleetState[]; name?: string; expiringWithinMs?: number } = {};
  if (v.states !== undefined) {
    if (!Array.isArray(v.states) || !v.states.every((s) => typeof s === 'string' && isFleetState(s))) {
      return `states must be a list of ${FLEET_STATES.join(', ')}`;
    }
    out.states = v.states as FleetState[];
  }
  if (v.name !== undefined) {
    if (typeof v.name !== 'string' || v.name.length > 256) return 'name must be a glob of at most 256 characters';
    out.name = v.name;
  }
  if (v.expiringWithinMs !== undefined) {
    if (typeof v.expiringWithinMs !== 'number' || !Number.isFinite(v.expiringWithinMs) || v.expiringWithinMs < 0) {
      return 'expiringWithinMs must be a number of milliseconds';
    }
    out.expiringWithinMs = v.expiringWithinMs;
  }
  return out;
}

/**
 * One executor as the live debug view lists it: a roster row of this access point
 * (actors/roster.ts `rows()`), or of the whole fleet with the etcd roster, where an executor held
 * by another access point has no heartbeat time (its heartbeats stay there).
 */
export interface FleetRowView {
  readonly id: string;
  readonly name: string;
  readonly state: FleetState;
  readonly certNotAfter: number;
  readonly entry: { readonly lastHeartbeat: number | null; readonly remoteAddress: string; readonly since: number };
  readonly accessPoint?: string | null;
}
