/**
 * What the access point's live view shows, kept up to date from the machine records of its links
 * (the same records `ah_machine` logs, handed over by the engine's `machine` event): per executor
 * identity, the links it opened (a rotation opens a new one and closes the old), each with its
 * recent state path; and the links that never got admitted (rejected certificates, no hello).
 *
 * Bounded, because it lives as long as the access point: a few links per executor, a few dozen
 * steps per link, a few hundred departed executors and unadmitted links.
 */
import { EventEmitter } from 'eventemitter3';
import type { FleetRowView, FleetState } from '../../model/fleet-filter.js';
import type { MachineLogRecord } from '../../log/machine-log.js';
import type { StateValue } from '../../replay/log-record.js';
import { formatValue } from '../../replay/state-value.js';
import type { Diagnosis } from '../../replay/stuck.js';
import type { ActorView, ViewStep } from '../actor-section.js';
import {
  emptyCounts,
  FIRST_PAGE,
  type FleetQuery,
  PAGE_SIZE,
  pageOf,
  searchMatcher,
  type TimeLeftBar,
  timeLeftHistogram,
  type ViewCountKey,
} from './fleet-page.js';

const LINKS_PER_EXECUTOR = 8;
const STEPS_PER_LINK = 40;
const DEPARTED_KEPT = 300;
const UNADMITTED_KEPT = 50;

interface Step {
  time: number;
  event: string;
  source: string;
  value: StateValue;
  quiet: Record<string, number>;
  error: { code: string; params: Record<string, string> } | null;
}

interface LinkTrack {
  readonly linkId: string;
  readonly startedAt: number;
  remoteAddress: string | null;
  name: string | null;
  executorId: string | null;
  steps: Step[];
  dropped: number;
  lastEvent: { type: string; source: string; error: Step['error'] } | null;
  rejection: { code: string; params: Record<string, string> } | null;
  closed: boolean;
  lastTime: number;
}

interface ExecutorTrack {
  readonly id: string;
  name: string;
  links: string[];
  version: number;
  departedAt: number | null;
}

export interface LinkRow {
  readonly linkId: string;
  readonly state: string;
  readonly since: number;
  readonly path: string;
  readonly closed: boolean;
  readonly remoteAddress: string | null;
  readonly name: string | null;
  readonly rejection: { code: string; params: Record<string, string> } | null;
}

export interface ExecutorRow {
  readonly id: string;
  readonly name: string;
  /** The newest link's state (`unknown` for an entry whose links this view has not seen). */
  readonly state: string;
  /** The roster's state of the entry (`ah agent fleet`), or `departed`. */
  readonly fleetState: FleetState | 'departed';
  readonly since: number;
  readonly openLinks: number;
  readonly links: readonly LinkRow[];
  readonly present: boolean;
  readonly lastHeartbeat: string | null;
  readonly certNotAfter: string | null;
  readonly remoteAddress: string | null;
  /** The access point holding the executor's link (with the etcd roster: any of the fleet's). */
  readonly accessPoint: string | null;
  readonly version: number;
}

export interface FleetSnapshot {
  readonly now: number;
  readonly version: number;
  /** Over the whole fleet: entries by state, executors seen leaving, links not admitted. */
  readonly counts: Record<ViewCountKey, number>;
  /** Over the enrolled executors: how long their certificates have left. */
  readonly timeLeft: readonly TimeLeftBar[];
  /** The search, the executors it matched (enrolled and departed), and the page of them shown. */
  readonly q: string;
  readonly matched: number;
  readonly page: number;
  readonly pages: number;
  readonly pageSize: number;
  readonly executors: readonly ExecutorRow[];
  readonly unadmitted: readonly LinkRow[];
}

export interface MachineSource {
  on(event: 'machine', fn: (record: MachineLogRecord) => void): unknown;
  off(event: 'machine', fn: (record: MachineLogRecord) => void): unknown;
  readonly roster: { rows(now?: number): Iterable<FleetRowView> };
  /** The whole fleet, when this access point shares a roster with others (`--roster`); else its own roster. */
  fleetRows?(now?: number): Iterable<FleetRowView>;
  /** This access point's id, for rows of its own roster. */
  readonly accessPointId?: string;
}

const byName = new Intl.Collator('en').compare;
const iso = (ms: number) => new Date(ms).toISOString();

const asError = (e: unknown): Step['error'] => {
  const o = e as { code?: unknown; params?: unknown } | null | undefined;
  return o && typeof o.code === 'string' ? { code: o.code, params: (o.params ?? {}) as Record<string, string> } : null;
};

export class FleetView extends EventEmitter<{ changed: []; touched: [] }> {
  private readonly links = new Map<string, LinkTrack>();
  private readonly executors = new Map<string, ExecutorTrack>();
  private readonly unadmitted: string[] = [];
  private version = 0;
  private readonly listener = (r: MachineLogRecord) => this.onRecord(r);

  constructor(private readonly source: MachineSource) {
    super();
    source.on('machine', this.listener);
  }

  close(): void {
    this.source.off('machine', this.listener);
  }

  private onRecord(r: MachineLogRecord): void {
    if (r.machine !== 'connection') return;
    if (r.kind === 'event' && r.source === 'init') {
      const input = (r.event.input ?? {}) as { remoteAddress?: string };
      this.links.set(r.actor, {
        linkId: r.actor,
        startedAt: r.time,
        remoteAddress: input.remoteAddress ?? null,
        name: null,
        executorId: null,
        steps: [],
        dropped: 0,
        lastEvent: { type: r.event.type, source: r.source, error: null },
        rejection: null,
        closed: false,
        lastTime: r.time,
      });
      return;
    }
    const link = this.links.get(r.actor);
    if (!link) return;
    link.lastTime = r.time;
    if (r.kind === 'event') {
      const e = r.event;
      link.lastEvent = { type: e.type, source: r.source, error: asError(e.error) };
      if (e.type === 'HELLO' && typeof e.name === 'string') link.name = e.name;
      else if (e.type === 'PEER_VERIFIED' && typeof (e.verdict as { executorId?: unknown })?.executorId === 'string') {
        this.attach(link, (e.verdict as { executorId: string }).executorId);
      } else if (e.type === 'PEER_REFUSED') link.rejection = asError(e.error);
      const last = link.steps[link.steps.length - 1];
      if (last) last.quiet[e.type] = (last.quiet[e.type] ?? 0) + 1;
      this.emit('touched');
      return;
    }
    // A state entered: undo the quiet count of the event that led here.
    const prev = link.steps[link.steps.length - 1];
    const by = link.lastEvent?.type === r.event ? link.lastEvent : null;
    if (prev && by && prev.quiet[by.type]) {
      if (--prev.quiet[by.type]! === 0) delete prev.quiet[by.type];
    }
    link.steps.push({ time: r.time, event: r.event, source: by?.source ?? 'external', value: r.value as StateValue, quiet: {}, error: by?.error ?? null });
    if (link.steps.length > STEPS_PER_LINK) {
      link.steps.shift();
      link.dropped++;
    }
    if (r.state === 'closed') {
      link.closed = true;
      if (!link.executorId) this.keepUnadmitted(link.linkId);
    }
    this.bump(link);
  }

  private attach(link: LinkTrack, executorId: string): void {
    link.executorId = executorId;
    let ex = this.executors.get(executorId);
    if (!ex) this.executors.set(executorId, (ex = { id: executorId, name: link.name ?? executorId, links: [], version: 0, departedAt: null }));
    ex.name = link.name ?? ex.name;
    ex.links.push(link.linkId);
    ex.departedAt = null;
    while (ex.links.length > LINKS_PER_EXECUTOR) this.links.delete(ex.links.shift()!);
  }

  private keepUnadmitted(linkId: string): void {
    this.unadmitted.push(linkId);
    while (this.unadmitted.length > UNADMITTED_KEPT) this.links.delete(this.unadmitted.shift()!);
  }

  private bump(link: LinkTrack): void {
    this.version++;
    const ex = link.executorId ? this.executors.get(link.executorId) : undefined;
    if (ex) {
      ex.version = this.version;
      const open = ex.links.some((id) => this.links.get(id)?.closed === false);
      ex.departedAt = open ? null : link.lastTime;
      if (!open) this.forgetOldDeparted();
    }
    this.emit('changed');
  }

  private forgetOldDeparted(): void {
    const departed = [...this.executors.values()].filter((e) => e.departedAt !== null);
    if (departed.length <= DEPARTED_KEPT) return;
    departed.sort((a, b) => a.departedAt! - b.departedAt!);
    for (const e of departed.slice(0, departed.length - DEPARTED_KEPT)) {
      for (const id of e.links) this.links.delete(id);
      this.executors.delete(e.id);
    }
  }

  private linkRow(l: LinkTrack): LinkRow {
    const last = l.steps[l.steps.length - 1];
    return {
      linkId: l.linkId,
      state: last ? formatValue(last.value) : 'accepted',
      since: last?.time ?? l.startedAt,
      path: `${l.dropped ? '… → ' : ''}${l.steps.map((s) => formatValue(s.value)).join(' → ')}${l.closed && last ? ` (${last.event})` : ''}`,
      closed: l.closed,
      remoteAddress: l.remoteAddress,
      name: l.name,
      rejection: l.rejection,
    };
  }

  /**
   * The counts and the histogram over the whole fleet, and one page of it: the enrolled executors
   * by name, then those seen leaving. Rows are built only for the page.
   */
  snapshot(query: FleetQuery = FIRST_PAGE, now = Date.now()): FleetSnapshot {
    const counts = emptyCounts();
    const present: FleetRowView[] = [];
    for (const row of this.source.fleetRows?.(now) ?? this.source.roster.rows(now)) {
      counts[row.state]++;
      present.push(row);
    }
    const enrolled = new Set(present.map((r) => r.id));
    const departed = [...this.executors.values()].filter((e) => !enrolled.has(e.id));
    counts.departed = departed.length;
    const unadmitted = this.unadmitted
      .map((id) => this.links.get(id))
      .filter((l): l is LinkTrack => l !== undefined)
      .map((l) => this.linkRow(l))
      .reverse();
    counts.unadmitted = unadmitted.length;
    const matches = searchMatcher(query.q);
    const listed: Array<FleetRowView | ExecutorTrack> = [
      ...present.filter(matches).sort((a, b) => byName(a.name, b.name) || byName(a.id, b.id)),
      ...departed.filter(matches).sort((a, b) => byName(a.name, b.name)),
    ];
    const { rows, page, pages } = pageOf(listed, query.page);
    // Links not yet admitted nor closed (mid-handshake) are in neither list: they last milliseconds.
    return {
      now,
      version: this.version,
      counts,
      timeLeft: timeLeftHistogram(
        present.map((r) => r.certNotAfter),
        now,
      ),
      q: query.q,
      matched: listed.length,
      page,
      pages,
      pageSize: PAGE_SIZE,
      executors: rows.map((r) => this.executorRow(r)),
      unadmitted,
    };
  }

  private executorRow(r: FleetRowView | ExecutorTrack): ExecutorRow {
    const entry = 'entry' in r ? r : null;
    const ex = this.executors.get(r.id);
    const rows = (ex?.links ?? [])
      .map((id) => this.links.get(id))
      .filter((l): l is LinkTrack => l !== undefined)
      .map((l) => this.linkRow(l));
    const newest = rows[rows.length - 1];
    return {
      id: r.id,
      name: entry?.name ?? ex?.name ?? r.id,
      state: newest?.state ?? 'unknown',
      fleetState: entry?.state ?? 'departed',
      since: newest?.since ?? entry?.entry.since ?? 0,
      openLinks: rows.filter((l) => !l.closed).length,
      links: rows,
      present: entry !== null,
      lastHeartbeat: entry?.entry.lastHeartbeat ? iso(entry.entry.lastHeartbeat) : null,
      certNotAfter: entry ? iso(entry.certNotAfter) : null,
      remoteAddress: entry?.entry.remoteAddress ?? newest?.remoteAddress ?? null,
      accessPoint: entry?.accessPoint ?? this.source.accessPointId ?? null,
      version: ex?.version ?? 0,
    };
  }

  /**
   * One executor for the drawing: its newest link's path over the `connection` machine, and a line
   * per earlier link. Null for an executor this view does not know.
   */
  executorView(id: string, now = Date.now()): { view: ActorView; earlier: LinkRow[]; version: number } | null {
    const ex = this.executors.get(id) ?? null;
    const linkOnly = ex ? null : this.links.get(id);
    const tracks = ex ? ex.links.map((l) => this.links.get(l)).filter((l): l is LinkTrack => l !== undefined) : linkOnly ? [linkOnly] : [];
    const newest = tracks[tracks.length - 1];
    if (!newest) return null;
    const steps: ViewStep[] = newest.steps.map((s) => ({ time: s.time, event: s.event, source: s.source, value: s.value, quiet: s.quiet, error: s.error }));
    const last = newest.steps[newest.steps.length - 1];
    const diagnosis: Diagnosis | null =
      newest.rejection && last
        ? {
            actor: newest.linkId,
            machine: 'connection',
            kind: 'rejected',
            state: formatValue(last.value),
            since: last.time,
            summary: `${newest.name ? `executor ${newest.name}` : 'an executor'}${newest.remoteAddress ? ` from ${newest.remoteAddress}` : ''} was rejected`,
            error: newest.rejection,
            lastError: null,
          }
        : null;
    return {
      view: {
        id: newest.linkId,
        label: ex ? `${ex.name} · ${newest.linkId}` : newest.linkId,
        machine: 'connection',
        steps,
        done: newest.closed,
        end: newest.closed ? newest.lastTime : now,
        origin: newest.startedAt,
        subtitle: `${ex ? `executor ${ex.id}` : 'link not admitted'}${newest.remoteAddress ? `, from ${newest.remoteAddress}` : ''}; newest link ${newest.linkId}`,
        diagnosis,
        earlierSteps: newest.dropped,
      },
      earlier: tracks.slice(0, -1).map((l) => this.linkRow(l)),
      version: ex?.version ?? this.version,
    };
  }
}
