/**
 * The access point's place in a fleet of access points: its id, the address it advertises, and,
 * with `--roster`, the etcd roster (actors/roster-etcd.ts) fed from its links. Without `--roster`
 * the access point knows only itself and `fleet` answers from its own roster, as it always has.
 */
import { hostname } from 'node:os';
import type { ExecutorLinks, RemoteHolder } from '../actors/executor-links.js';
import { EtcdRoster, DEFAULT_LEASE_TTL_S, DEFAULT_ROSTER_PREFIX, type EtcdRosterStatus } from '../actors/roster-etcd.js';
import { parseRosterUrl } from '../actors/roster-etcd-records.js';
import { selectFleet } from '../actors/roster-etcd-view.js';
import type { Roster } from '../actors/roster.js';
import type { Logging } from '../log/logger.js';
import type { AccessPointInfo, AccessPointState, FleetDirectory } from '../model/fleet-directory.js';
import type { FleetFilter, FleetSummary } from '../model/fleet-filter.js';
import type { FleetEntryJson } from '../model/status.js';
import { formatHostPort, type HostPort } from '../util/address.js';

/** `--roster …`: where the fleet-wide roster lives. */
export interface RosterOptions {
  /** `etcd://HOST:PORT[,HOST:PORT…]`, or `etcds://` for TLS. */
  readonly url: string;
  /** PEM text of `--roster-ca`, `--roster-cert`, `--roster-key`. */
  readonly caPem?: string;
  readonly certPem?: string;
  readonly keyPem?: string;
  /** `--roster-prefix` (default `/ah/`). */
  readonly prefix?: string;
  /** `--roster-lease-ttl` (default 10 s). */
  readonly leaseTtlMs?: number;
  /** How often each presence key is written again without a change (default 5 min, jittered). */
  readonly refreshMs?: number;
}

/** What `fleet` reads: one access point's roster, or the whole fleet's. */
export interface FleetSource {
  select(filter: FleetFilter, now?: number): { executors: FleetEntryJson[]; summary: FleetSummary };
  toJSON(now?: number): { executors: FleetEntryJson[] };
}

export class FleetRoster implements FleetDirectory {
  private etcd: EtcdRoster | null = null;
  private address: string | null = null;
  private state: AccessPointState = 'serving';

  constructor(
    readonly accessPointId: string,
    private readonly options: { readonly roster?: RosterOptions; readonly advertiseAddress?: string },
    private readonly roster: Roster,
    private readonly logging: Logging,
  ) {
    roster.accessPointId = accessPointId;
    // Fails here, where the flag was given, rather than in the background later.
    if (options.roster) parseRosterUrl(options.roster.url);
  }

  /** The etcd roster, once started with `--roster`. */
  get fleetWide(): EtcdRoster | null {
    return this.etcd;
  }

  /** Starts the etcd roster (with `--roster`) once the listener is bound; it connects in the background. */
  start(bound: HostPort, links: ExecutorLinks): void {
    this.address = this.options.advertiseAddress ?? advertised(bound);
    const r = this.options.roster;
    if (!r) return;
    const etcd = new EtcdRoster(
      {
        endpoints: parseRosterUrl(r.url),
        tls: { caPem: r.caPem, certPem: r.certPem, keyPem: r.keyPem },
        prefix: r.prefix ?? DEFAULT_ROSTER_PREFIX,
        accessPointId: this.accessPointId,
        address: this.address,
        leaseTtlMs: r.leaseTtlMs ?? DEFAULT_LEASE_TTL_S * 1000,
        refreshMs: r.refreshMs,
      },
      {
        presenceOf: (id) => links.presenceOf(id),
        identities: () => this.identities(),
        supersedeIdentity: (id) => links.supersedeIdentity(id),
        lateHolder: (id, holder) => links.lateHolder(id, holder),
      },
      this.logging.get('ah_roster'),
    );
    this.etcd = etcd;
    links.on('admitted', (e) => etcd.changed(e.id));
    links.on('departed', (e) => etcd.changed(e.id));
    if (this.state !== 'serving') void etcd.setState(this.state);
    etcd.start();
  }

  async stop(): Promise<void> {
    await this.etcd?.stop();
  }

  /** For admission: the identity's holder at another live access point. */
  holder(executorId: string): RemoteHolder | null {
    return this.etcd?.holder(executorId) ?? null;
  }

  accessPoints(): readonly AccessPointInfo[] {
    if (this.etcd) return this.etcd.accessPoints();
    return [{ id: this.accessPointId, address: this.address ?? '', state: this.state, executors: this.roster.size }];
  }

  async setState(state: AccessPointState): Promise<void> {
    this.state = state;
    await this.etcd?.setState(state);
  }

  /** What `fleet` answers from: the merged fleet with `--roster`, else this access point's roster. */
  source(): FleetSource {
    const etcd = this.etcd;
    if (!etcd) return this.roster;
    return {
      select: (filter, now) => selectFleet(this.roster, etcd, filter, now),
      toJSON: (now) => ({ executors: selectFleet(this.roster, etcd, {}, now).executors }),
    };
  }

  status(): EtcdRosterStatus | null {
    return this.etcd?.status() ?? null;
  }

  private *identities(): Iterable<string> {
    for (const row of this.roster.rows()) yield row.id;
  }
}

/** `--access-point-id` by default: the host name. */
export function defaultAccessPointId(): string {
  return hostname();
}

/** The listen address, or the host name when it listens on every interface. */
function advertised(bound: HostPort): string {
  const any = bound.host === '0.0.0.0' || bound.host === '::';
  return `https://${formatHostPort({ host: any ? hostname() : bound.host, port: bound.port })}`;
}
