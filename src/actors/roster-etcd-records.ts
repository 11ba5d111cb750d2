/**
 * What the etcd roster keeps in etcd (docs/roster.md): the key layout under `--roster-prefix`, the
 * records' JSON, and `--roster etcd://HOST:PORT[,HOST:PORT…]`. Records read back from etcd are
 * checked field by field: a key written by another version, or by hand, is skipped, not trusted.
 */
import type { AccessPointInfo, AccessPointState } from '../model/fleet-directory.js';

/**
 * An executor's presence: which access point owns its identity and what a fleet row shows of it.
 * Written when something changes (enrolled, rotated, departed: deleted) and on a slow refresh;
 * heartbeats never reach etcd.
 */
export interface PresenceRecord {
  readonly accessPoint: string;
  /** Grows with every takeover of the identity: a takeover replaces only a lower epoch. */
  readonly epoch: number;
  readonly name: string;
  /** When the identity joined the fleet (ISO 8601). */
  readonly since: string;
  readonly serial: string;
  readonly notAfter: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly state: 'active' | 'rotating';
  readonly remoteAddress: string;
  /** base64 DER SubjectPublicKeyInfo of the link's certificate: the key a continuity proof must be signed with. */
  readonly spki: string;
  /** The nonce of the welcome on the owning link: what a continuity proof must cover. */
  readonly nonce: string | null;
  /** When the owning link proved it continues a link at another access point: that link's nonce. */
  readonly continues: string | null;
}

export interface RosterKeys {
  readonly prefix: string;
  accessPoint(id: string): string;
  presence(executorId: string): string;
  /** What a key under the prefix is, or null for anything else. */
  classify(key: string): { kind: 'access-point' | 'presence'; id: string } | null;
}

export function rosterKeys(prefix: string): RosterKeys {
  const ap = `${prefix}access-points/`;
  const presence = `${prefix}presence/`;
  return {
    prefix,
    accessPoint: (id) => ap + id,
    presence: (executorId) => presence + executorId,
    classify: (key) => {
      if (key.startsWith(ap) && key.length > ap.length) return { kind: 'access-point', id: key.slice(ap.length) };
      if (key.startsWith(presence) && key.length > presence.length) return { kind: 'presence', id: key.slice(presence.length) };
      return null;
    },
  };
}

const isString = (v: unknown): v is string => typeof v === 'string';
const isStringOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';

function parseJson(text: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function parsePresence(text: string): PresenceRecord | null {
  const v = parseJson(text);
  if (!v) return null;
  const labels = v.labels;
  const labelsOk = typeof labels === 'object' && labels !== null && !Array.isArray(labels) && Object.values(labels as Record<string, unknown>).every(isString);
  const ok =
    isString(v.accessPoint) &&
    typeof v.epoch === 'number' &&
    Number.isFinite(v.epoch) &&
    isString(v.name) &&
    isString(v.since) &&
    isString(v.serial) &&
    isString(v.notAfter) &&
    labelsOk &&
    (v.state === 'active' || v.state === 'rotating') &&
    isString(v.remoteAddress) &&
    isString(v.spki) &&
    isStringOrNull(v.nonce ?? null) &&
    isStringOrNull(v.continues ?? null);
  return ok ? ({ ...v, nonce: v.nonce ?? null, continues: v.continues ?? null } as unknown as PresenceRecord) : null;
}

export function parseAccessPoint(text: string): AccessPointInfo | null {
  const v = parseJson(text);
  if (!v) return null;
  const state = v.state as AccessPointState;
  const ok = isString(v.id) && isString(v.address) && (state === 'serving' || state === 'draining') && typeof v.executors === 'number';
  return ok ? { id: v.id as string, address: v.address as string, state, executors: v.executors as number } : null;
}

/** `--roster`: the etcd endpoints and whether they speak TLS. */
export interface RosterEndpoints {
  readonly tls: boolean;
  /** `http://HOST:PORT` or `https://HOST:PORT`, as the etcd client takes them. */
  readonly hosts: readonly string[];
}

/** Parses `etcd://HOST:PORT[,HOST:PORT…]` or `etcds://…`; throws a RangeError saying what is wrong. */
export function parseRosterUrl(text: string): RosterEndpoints {
  const m = /^(etcds?):\/\/(.+)$/.exec(text);
  if (!m) throw new RangeError(`expected etcd://HOST:PORT[,HOST:PORT...] or etcds://... for TLS, got '${text}'`);
  const tls = m[1] === 'etcds';
  const hosts = m[2]!.split(',').map((hp) => {
    const h = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(hp.trim());
    const port = Number(h?.[2]);
    if (!h || port < 1 || port > 65535) throw new RangeError(`expected HOST:PORT in --roster, got '${hp}'`);
    return `${tls ? 'https' : 'http'}://${h[1]}:${port}`;
  });
  return { tls, hosts };
}

/** `--roster-prefix`: a key prefix that starts and ends with `/`. */
export function parseRosterPrefix(text: string): string {
  if (!/^\/([A-Za-z0-9._-]+\/)*$/.test(text) || text.length > 128) {
    throw new RangeError(`expected a key prefix like /ah/ (starting and ending with /, letters, digits, dots, dashes, underscores), got '${text}'`);
  }
  return text;
}
