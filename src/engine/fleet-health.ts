/**
 * What the fleet doctor (`ah agent doctor --fleet`) needs that the roster does not keep: for each
 * identity, when its certificate began (to place the renewal point), its clock as its heartbeats
 * state it, and its admissions in the last hour (flapping); and fleet-wide, the rejections and the
 * duplicate-identity takeovers of the last hour. Bounded: old events fall out of the window, and
 * no list grows past a fixed size whatever a flood sends.
 */

export const HEALTH_WINDOW_MS = 3_600_000;
/** Most events kept per list: enough to rank addresses, little enough for a status answer. */
const MAX_EVENTS = 2_000;

interface IdentityHealth {
  notBefore: number;
  serial: string;
  /** executor clock − access point clock, from the latest heartbeat that carried `sentAt`. */
  clockSkewMs: number | null;
  clockSampledAt: number | null;
  admissions: number[];
}

export interface RejectionEvent {
  readonly at: number;
  readonly code: string;
  readonly message: string;
  readonly remoteAddress: string;
}

export interface DuplicateEvent {
  readonly at: number;
  readonly executorId: string;
  readonly remoteAddress: string;
  readonly previousRemoteAddress: string;
}

export interface FleetHealthJson {
  readonly now: string;
  readonly windowMs: number;
  readonly identities: Record<string, { notBefore: string; serial: string; clockSkewMs: number | null; clockSampledAt: string | null; admissions: string[] }>;
  readonly rejections: Array<RejectionEvent & { at: string }>;
  readonly duplicates: Array<DuplicateEvent & { at: string }>;
}

function pushBounded<T extends { at: number }>(list: T[], item: T, now: number): void {
  list.push(item);
  while (list.length > MAX_EVENTS || (list.length && list[0]!.at < now - HEALTH_WINDOW_MS)) list.shift();
}

export class FleetHealth {
  private readonly byId = new Map<string, IdentityHealth>();
  private readonly rejections: RejectionEvent[] = [];
  private readonly duplicates: DuplicateEvent[] = [];

  admitted(executorId: string, cert: { notBefore: number; serial: string }, at: number): void {
    const h = this.byId.get(executorId) ?? { notBefore: cert.notBefore, serial: cert.serial, clockSkewMs: null, clockSampledAt: null, admissions: [] };
    h.notBefore = cert.notBefore;
    h.serial = cert.serial;
    h.admissions = [...h.admissions.filter((t) => t >= at - HEALTH_WINDOW_MS), at].slice(-MAX_EVENTS);
    this.byId.set(executorId, h);
  }

  /** A heartbeat sent at `sentAt` by the executor's clock, received at `at` by ours. */
  heartbeat(executorId: string, sentAt: number, at: number): void {
    const h = this.byId.get(executorId);
    if (!h) return;
    h.clockSkewMs = sentAt - at;
    h.clockSampledAt = at;
  }

  rejected(e: RejectionEvent): void {
    pushBounded(this.rejections, e, e.at);
  }

  duplicate(e: DuplicateEvent): void {
    pushBounded(this.duplicates, e, e.at);
  }

  /** Identities that left are kept for the window (their flapping still counts), then dropped. */
  toJSON(now: number, connected: ReadonlySet<string>): FleetHealthJson {
    const iso = (ms: number) => new Date(ms).toISOString();
    const recent = <T extends { at: number }>(list: T[]) => list.filter((e) => e.at >= now - HEALTH_WINDOW_MS).map((e) => ({ ...e, at: iso(e.at) }));
    const identities: FleetHealthJson['identities'] = {};
    for (const [id, h] of this.byId) {
      h.admissions = h.admissions.filter((t) => t >= now - HEALTH_WINDOW_MS);
      if (!connected.has(id) && h.admissions.length === 0) {
        this.byId.delete(id);
        continue;
      }
      identities[id] = {
        notBefore: iso(h.notBefore),
        serial: h.serial,
        clockSkewMs: h.clockSkewMs,
        clockSampledAt: h.clockSampledAt === null ? null : iso(h.clockSampledAt),
        admissions: h.admissions.map(iso),
      };
    }
    return { now: iso(now), windowMs: HEALTH_WINDOW_MS, identities, rejections: recent(this.rejections), duplicates: recent(this.duplicates) };
  }
}
