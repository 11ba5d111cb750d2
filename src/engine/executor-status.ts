/** What `ah agent status --json` prints, built from the enrollment machine's snapshot. */
import type { EnrollmentContext, EnrollmentState } from '../machines/enrollment.js';
import { messageOf } from '../errors/ah-error.js';
import type { IdentitySummary } from '../model/identity.js';

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
  readonly remoteServer: string;
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

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function identityStatus(id: IdentitySummary | null): IdentityStatus | null {
  return id ? { provider: id.provider, spiffeId: id.spiffeId, notBefore: iso(id.notBefore)!, notAfter: iso(id.notAfter)!, serial: id.serial } : null;
}

export function executorStatus(
  state: EnrollmentState,
  value: unknown,
  ctx: EnrollmentContext,
  extra: { remoteServer: string; stateDir: string; identityUpdatedAt?: number | null },
): ExecutorStatus {
  const linked = state === 'enrolled' || state === 'renewing';
  return {
    name: ctx.name,
    state,
    detail: value,
    remoteServer: extra.remoteServer,
    executorId: linked ? ctx.executorId : null,
    identity: identityStatus(ctx.linkIdentity ?? ctx.identity),
    identityUpdatedAt: iso(extra.identityUpdatedAt),
    connectedSince: linked ? iso(ctx.connectedSince) : null,
    lastHeartbeat: linked ? iso(ctx.lastAckAt) : null,
    heartbeatIntervalMs: linked ? ctx.heartbeatIntervalMs : null,
    nextRotationAt: iso(ctx.nextRotationAt),
    renewalDue: ctx.renewalDue,
    rotations: ctx.rotations,
    attempts: ctx.attempts,
    lastError: ctx.lastError ? { code: ctx.lastError.code, message: messageOf(ctx.lastError) } : null,
    pid: process.pid,
    stateDir: extra.stateDir,
  };
}
