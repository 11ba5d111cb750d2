/**
 * `ah agent fleet` with the fleet-wide roster: this access point's own links (with their heartbeats,
 * from memory) merged with the presence records of every other access point (from the etcd copy),
 * one row per identity. An identity whose presence another access point holds is shown as that
 * access point's, even while a link of it is still closing here: it is never listed twice.
 */
import { FleetTally, fleetMatcher, type FleetFilter, type FleetState, type FleetSummary } from '../model/fleet-filter.js';
import type { FleetEntryJson } from '../model/status.js';
import type { EtcdRoster } from './roster-etcd.js';
import type { PresenceRecord } from './roster-etcd-records.js';
import { entryJson, type Roster } from './roster.js';

const byName = new Intl.Collator('en').compare;

interface Row {
  readonly id: string;
  readonly name: string;
  readonly state: FleetState;
  readonly certNotAfter: number;
  readonly json: () => FleetEntryJson;
}

/** The rows and summary `fleet` answers, as `Roster.select` does for one access point. */
export function selectFleet(local: Roster, etcd: EtcdRoster, filter: FleetFilter, now = Date.now()): { executors: FleetEntryJson[]; summary: FleetSummary } {
  const keep = fleetMatcher(filter, now);
  const tally = new FleetTally();
  const kept: Row[] = [];
  let total = 0;
  const add = (row: Row) => {
    total++;
    if (!keep(row)) return;
    kept.push(row);
    tally.add(row);
  };
  const me = etcd.accessPointId;
  const heldElsewhere = (id: string) => {
    const owner = etcd.cache.presence.get(id)?.record.accessPoint;
    return owner !== undefined && owner !== me;
  };
  for (const row of local.rows(now)) {
    if (heldElsewhere(row.id)) continue;
    add({ id: row.id, name: row.name, state: row.state, certNotAfter: row.certNotAfter, json: () => entryJson(row.entry, row.state, me) });
  }
  for (const [id, { record }] of etcd.cache.presence) {
    if (record.accessPoint === me) continue;
    const certNotAfter = Date.parse(record.notAfter);
    const state: FleetState = certNotAfter <= now ? 'expired' : record.state;
    add({ id, name: record.name, state, certNotAfter, json: () => remoteJson(id, record, state) });
  }
  kept.sort((a, b) => byName(a.name, b.name) || byName(a.id, b.id));
  return { executors: kept.map((r) => r.json()), summary: tally.summary(total) };
}

function remoteJson(id: string, r: PresenceRecord, state: FleetState): FleetEntryJson {
  return {
    id,
    name: r.name,
    remoteAddress: r.remoteAddress,
    since: r.since,
    lastHeartbeat: null,
    certNotAfter: r.notAfter,
    state,
    serial: r.serial,
    accessPoint: r.accessPoint,
  };
}
