/**
 * What the daemons report about themselves, as data: the shapes of `ah agent status --json` and
 * `ah agent fleet --json` (docs/status-json.md). The engine builds them; the CLI, the metrics and the
 * debug view read them.
 */
import type { FleetState } from './fleet-filter.js';

/** The enrollment machine's top-level states: the executor's `state` in status. */
export type EnrollmentState = 'disconnected' | 'handshaking' | 'enrolled' | 'renewing' | 'relinking' | 'failed';

export interface IdentityStatus {
  readonly provider: string;
  readonly spiffeId: string | null;
  readonly notBefore: string;
  readonly notAfter: string;
  readonly serial: string;
}

export interface ExecutorStatus {
  readonly name: string;
  readonly state: EnrollmentState;
  /** The full state value, e.g. `{"disconnected":"backingOff"}`. */
  readonly detail: unknown;
  /** The first `--remote-server`, as a URL. */
  readonly remoteServer: string;
  /** `https://HOST:PORT` of the access point the link is with; null unless linked. */
  readonly accessPoint: string | null;
  /** Where the executor fails over: its own access points (in the order it tries them), then the welcome's. */
  readonly accessPoints: readonly string[];
  readonly executorId: string | null;
  readonly identity: IdentityStatus | null;
  /** When the identity provider last delivered material (SPIFFE: the last SVID push). */
  readonly identityUpdatedAt: string | null;
  readonly connectedSince: string | null;
  readonly lastHeartbeat: string | null;
  readonly heartbeatIntervalMs: number | null;
  readonly nextRotationAt: string | null;
  readonly renewalDue: boolean;
  readonly rotations: number;
  readonly attempts: number;
  readonly lastError: { code: string; message: string } | null;
  readonly pid: number;
  readonly stateDir: string;
}

/** One executor in `ah agent fleet --json`. */
export interface FleetEntryJson {
  readonly id: string;
  readonly name: string;
  readonly remoteAddress: string;
  readonly since: string;
  /** Null for an executor held by another access point: heartbeats stay in their access point's memory. */
  readonly lastHeartbeat: string | null;
  readonly certNotAfter: string;
  /** `active`, `rotating`, `late` or `expired` (model/fleet-filter.ts). */
  readonly state: FleetState;
  readonly serial: string;
  /** The id of the access point holding the executor's link (`--access-point-id`). */
  readonly accessPoint?: string | null;
}
