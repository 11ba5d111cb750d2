/** What `ah agent status --json` prints, built from the enrollment machine's snapshot. */
import type { EnrollmentContext } from '../machines/enrollment-types.js';
import { messageOf } from '../errors/ah-error.js';
import type { IdentitySummary } from '../model/identity.js';
import type { EnrollmentState, ExecutorStatus, IdentityStatus } from '../model/status.js';

export type { ExecutorStatus, IdentityStatus };

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

export function identityStatus(id: IdentitySummary | null): IdentityStatus | null {
  return id ? { provider: id.provider, spiffeId: id.spiffeId, notBefore: iso(id.notBefore)!, notAfter: iso(id.notAfter)!, serial: id.serial } : null;
}

export function executorStatus(
  state: EnrollmentState,
  value: unknown,
  ctx: EnrollmentContext,
  extra: { remoteServer: string; stateDir: string; identityUpdatedAt?: number | null; lastAckAt?: number | null },
): ExecutorStatus {
  const linked = state === 'enrolled' || state === 'renewing' || state === 'relinking';
  return {
    name: ctx.config.name,
    state,
    detail: value,
    remoteServer: extra.remoteServer,
    accessPoint: linked && ctx.link.server ? `https://${ctx.link.server}` : null,
    accessPoints: ctx.servers.map((s) => `https://${s}`),
    executorId: linked ? ctx.executorId : null,
    identity: identityStatus(ctx.link.identity ?? ctx.identity),
    identityUpdatedAt: iso(extra.identityUpdatedAt),
    connectedSince: linked ? iso(ctx.link.connectedSince) : null,
    // The link keeps its heartbeats (actors/link-heartbeats.ts): its welcome's time, then each ack's.
    lastHeartbeat: linked ? iso(extra.lastAckAt) : null,
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
