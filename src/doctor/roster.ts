/**
 * `ah agent doctor --access-point --roster etcd://…`: the fleet-wide roster (docs/roster.md).
 * etcd answers (and lists the keys under the prefix); and when the access point of this state dir
 * runs, it reaches etcd too, holds a lease, its own key is in etcd on a lease, and its copy of the
 * roster is not far behind etcd's revision.
 */
import type { Etcd3, IOptions } from 'etcd3';
import { parseRosterUrl, rosterKeys } from '../actors/roster-etcd-records.js';
import { DEFAULT_ROSTER_PREFIX, type EtcdRosterStatus, loadEtcd3 } from '../actors/roster-etcd.js';
import { paths } from '../engine/state-dir.js';
import { AhError } from '../errors/ah-error.js';
import { queryStatus } from '../transport/status-server.js';
import type { DoctorSession } from './session.js';
import { fail, pass, skip, type Check } from './types.js';

/** Revisions behind etcd beyond which the copy is called late (a busy fleet moves a few hundred a second). */
const LAG_LIMIT = 1_000;
const CALL_MS = 3_000;

interface EtcdLook {
  readonly revision: number;
  readonly keys: number;
  readonly accessPoints: string[];
  /** The lease the access point's own key is on ('0': none), or null when the key is absent. */
  readonly ownLease: string | null;
}

async function look(client: Etcd3, prefix: string, accessPointId: string): Promise<EtcdLook> {
  const keys = rosterKeys(prefix);
  const all = await client.getAll().prefix(prefix).keys();
  const own = await client.get(keys.accessPoint(accessPointId)).exec();
  const ownKv = own.kvs[0];
  const accessPoints = all.map((k) => keys.classify(k)).flatMap((c) => (c?.kind === 'access-point' ? [c.id] : []));
  return { revision: Number(own.header.revision), keys: all.length, accessPoints, ownLease: ownKv ? String(ownKv.lease) : null };
}

function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms).unref())]);
}

export const apRosterCheck: Check<DoctorSession> = {
  name: 'ap.roster',
  title: 'fleet-wide roster on etcd',
  async run(ctx) {
    const r = ctx.config.roster;
    if (!r) return skip('no --roster: the access point keeps the in-memory roster of its own links');
    const endpoints = parseRosterUrl(r.url);
    const prefix = r.prefix ?? DEFAULT_ROSTER_PREFIX;
    const id = ctx.config.accessPointId!;
    const shown = endpoints.hosts.join(', ');
    const options: IOptions = {
      hosts: [...endpoints.hosts],
      dialTimeout: CALL_MS,
      ...(endpoints.tls && {
        credentials: {
          rootCertificate: r.caPem ? Buffer.from(r.caPem) : undefined,
          ...(r.certPem && r.keyPem ? { certChain: Buffer.from(r.certPem), privateKey: Buffer.from(r.keyPem) } : {}),
        },
      }),
    } as IOptions;
    const client = new (loadEtcd3().Etcd3)(options);
    let seen: EtcdLook;
    try {
      seen = await within(look(client, prefix, id), 2 * CALL_MS);
    } catch (err) {
      return fail(
        new AhError('ENROLL_ROSTER_UNREACHABLE', { endpoints: shown, detail: (err as Error).message }),
        `etcd at ${shown} does not answer: ${(err as Error).message}`,
      );
    } finally {
      client.close();
    }
    const details = { endpoints: endpoints.hosts, prefix, keys: seen.keys, accessPoints: seen.accessPoints, revision: seen.revision };
    const reached = `etcd at ${shown} answers (${seen.keys} keys under ${prefix}; access points: ${seen.accessPoints.join(', ') || 'none'})`;
    const status = (await queryStatus(paths.accessPointSocket(ctx.config.stateDir), 'status', CALL_MS, 'access point').catch(() => null)) as {
      roster?: EtcdRosterStatus | null;
    } | null;
    if (!status) return pass(`${reached}; the access point of this state dir is not running: its lease and keys are checked while it runs`, { details });
    const roster = status.roster;
    if (!roster) return pass(`${reached}; the running access point was started without --roster`, { details });
    if (!roster.connected) {
      const detail = `the running access point cannot reach it since ${roster.since}: ${roster.lastError ?? 'unknown error'}`;
      return fail(new AhError('ENROLL_ROSTER_UNREACHABLE', { endpoints: shown, detail }), `${reached}, but ${detail}`, { details });
    }
    if (roster.leases === 0 || seen.ownLease === null || seen.ownLease === '0') {
      const detail = seen.ownLease === null ? `no key ${rosterKeys(prefix).accessPoint(id)}` : 'it holds no lease';
      return fail(new AhError('ENROLL_ROSTER_NOT_REGISTERED', { accessPoint: id, detail }), `${reached}, but access point ${id} is not registered: ${detail}`, {
        details,
      });
    }
    const lag = Math.max(0, seen.revision - roster.revision);
    if (lag > LAG_LIMIT) {
      return fail(
        new AhError('ENROLL_ROSTER_WATCH_LAG', { accessPoint: id, lag: String(lag) }),
        `${reached}, but the copy of access point ${id} is ${lag} revisions behind`,
        {
          details,
        },
      );
    }
    return pass(
      `${reached}; access point ${id} holds ${roster.leases} lease${roster.leases === 1 ? '' : 's'}, its key and ${roster.owned} presence key${roster.owned === 1 ? '' : 's'}, ${lag} revision${lag === 1 ? '' : 's'} behind`,
      { details: { ...details, lag, leases: roster.leases, owned: roster.owned } },
    );
  },
};
