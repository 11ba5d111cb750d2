/**
 * The fleet-wide roster's metrics (`--roster`, docs/roster.md), read at scrape time:
 *
 *   ah_roster_connected                   1 while etcd answers, 0 while it cannot be reached (links are served either way)
 *   ah_roster_watch_revision_lag          etcd revisions this access point's copy has not applied yet
 *   ah_roster_ownership_conflicts_total   presence writes that found the identity changed under them, and takeovers by another access point
 *   ah_roster_writes_total                writes to etcd (presence and the access point's own key); heartbeats are never written
 *   ah_roster_executors{scope}            identities in the copy: scope="fleet" (every access point) or "own" (held here)
 */
import { Counter, Gauge, type Registry } from 'prom-client';

/** What the metrics read of the roster; defined here so the metrics need nothing from the engine. */
export interface MeteredRoster {
  status(): {
    readonly connected: boolean;
    readonly watchLag: number;
    readonly conflicts: number;
    readonly writes: number;
    readonly owned: number;
  };
  fleetSize(): number;
}

export function rosterMetrics(roster: () => MeteredRoster | null, registry: Registry): void {
  const read = <T>(f: (r: MeteredRoster) => T): T | null => {
    const r = roster();
    return r ? f(r) : null;
  };
  const gauge = (name: string, help: string, value: () => number | null) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const v = value();
        if (v !== null) this.set(v);
      },
    });
  // Counted by the roster itself; exported as counters that follow its tallies.
  const counter = (name: string, help: string, value: () => number | null) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const v = value();
        if (v === null) return;
        this.reset();
        this.inc(v);
      },
    });
  gauge('ah_roster_connected', '1 while etcd answers the fleet-wide roster, 0 while it cannot be reached (links are served either way).', () =>
    read((r) => (r.status().connected ? 1 : 0)),
  );
  gauge('ah_roster_watch_revision_lag', 'etcd revisions the roster copy of this access point has not applied yet.', () => read((r) => r.status().watchLag));
  counter(
    'ah_roster_ownership_conflicts_total',
    'Presence writes that found the identity changed under them, and takeovers of identities held here by another access point.',
    () => read((r) => r.status().conflicts),
  );
  counter('ah_roster_writes_total', 'Writes to etcd: presence keys and the access point key (heartbeats are never written).', () =>
    read((r) => r.status().writes),
  );
  new Gauge({
    name: 'ah_roster_executors',
    help: 'Identities in the roster copy: scope="fleet" on every access point, scope="own" held here.',
    labelNames: ['scope'],
    registers: [registry],
    collect() {
      const r = roster();
      if (!r) return;
      this.set({ scope: 'fleet' }, r.fleetSize());
      this.set({ scope: 'own' }, r.status().owned);
    },
  });
}
