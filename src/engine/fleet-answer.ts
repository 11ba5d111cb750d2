/**
 * The access point's answer to `fleet` on its status socket. Asked with `"stream":true` (what
 * `ah agent fleet` does) it is JSON lines, filtered here so that only the rows asked for cross the
 * socket: a header, one line per executor, then the summary (docs/status-json.md). Asked without,
 * it is the one object older clients expect.
 */
import type { AuditHealth } from '../audit/audit-log.js';
import { fleetFilterFrom } from '../model/fleet-filter.js';
import { LineStream, type StatusRequest } from '../transport/status-server.js';
import type { FleetSource } from './fleet-roster.js';

export function fleetAnswer(roster: FleetSource, request: StatusRequest, audit: AuditHealth | null): unknown {
  if (request.stream !== true) return { ...roster.toJSON(), ...(audit ? { audit } : {}) };
  const filter = fleetFilterFrom(request.filter);
  if (typeof filter === 'string') return { error: `bad filter: ${filter}` };
  const now = Date.now();
  const { executors, summary } = roster.select(filter, now);
  return new LineStream(lines(executors, summary, { now: new Date(now).toISOString(), total: summary.total, matched: summary.matched, filter, audit }));
}

function* lines(executors: readonly unknown[], summary: unknown, header: Record<string, unknown>): Generator<unknown> {
  yield { fleet: header };
  for (const executor of executors) yield { executor };
  yield { summary };
}
