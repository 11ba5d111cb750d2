/**
 * The log lines of a move away from a draining access point (the enrollment machine's
 * `relinking`), narrated from the machine's snapshots like the rest of the executor's story.
 */
import { messageOf } from '../errors/ah-error.js';
import type { Logger } from '../log/logger.js';
import { relinkTargets, type EnrollmentState } from '../machines/enrollment.js';
import type { EnrollmentContext } from '../machines/enrollment-types.js';
import { formatDuration } from '../util/duration.js';

/** Logs the line for this step of a relink, if it is one; true when it was. */
export function narrateRelink(from: EnrollmentState | null, to: EnrollmentState, detail: string, ctx: EnrollmentContext, log: Logger): boolean {
  if (to === 'relinking' && from !== 'relinking') {
    const next = detail === '{"relinking":"elsewhere"}' ? (relinkTargets(ctx)[0] ?? null) : null;
    log.info(
      { event: 'relinking', accessPoint: ctx.relink.drainingServer, next, retryAfterMs: ctx.relink.retryAfterMs },
      next
        ? `access point ${ctx.relink.drainingServer} is draining: moving to ${next}; the current link stays up until the new one is welcomed`
        : `access point ${ctx.relink.drainingServer} is draining and no other access point is known: dialing its address again in ${formatDuration(ctx.relink.retryAfterMs)}`,
    );
    return true;
  }
  if (to === 'enrolled' && from === 'relinking') {
    log.info(
      { event: 'relinked', accessPoint: ctx.link.server, previousAccessPoint: ctx.relink.drainingServer, executorId: ctx.executorId },
      `moved to access point ${ctx.link.server}: welcomed there, the draining link closed with goodbye "moved"`,
    );
    return true;
  }
  const why = ctx.lastError ? messageOf(ctx.lastError) : 'no answer';
  if (detail === '{"relinking":"waitingToReturn"}') {
    log.warn(
      { event: 'relink_waiting', code: ctx.lastError?.code, accessPoint: ctx.relink.drainingServer, retryAfterMs: ctx.relink.retryAfterMs },
      `no other access point took the link (${why}); dialing ${ctx.relink.drainingServer} again in ${formatDuration(ctx.relink.retryAfterMs)}, the current link stays up meanwhile`,
    );
    return true;
  }
  if (detail === '{"relinking":"stranded"}') {
    log.warn(
      { event: 'relink_stranded', code: ctx.lastError?.code, accessPoint: ctx.relink.drainingServer },
      `nowhere to move (${why}): keeping the link to the draining access point ${ctx.relink.drainingServer} until it closes it, then reconnecting`,
    );
    return true;
  }
  return false;
}
