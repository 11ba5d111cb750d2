/** Human renderings of status and fleet answers. */
import type { ExecutorStatus } from '../engine/executor-status.js';
import { FLEET_STATES, type FleetSummary } from '../model/fleet-filter.js';
import type { FleetEntryJson } from '../model/status.js';
import type { AuditHealth } from '../audit/audit-log.js';
import type { CertificateDescription } from '../x509/certificate.js';
import { formatDuration } from '../util/duration.js';

export function relative(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const delta = Date.parse(iso) - now;
  const span = formatDuration(Math.abs(delta));
  return delta >= 0 ? `in ${span}` : `${span} ago`;
}

function rows(pairs: Array<[string, string]>): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

export function renderExecutorStatus(s: ExecutorStatus & { certificate?: CertificateDescription | null }): string {
  const detail = typeof s.detail === 'string' ? s.detail : JSON.stringify(s.detail);
  const lines: Array<[string, string]> = [
    ['state', s.state === detail ? s.state : `${s.state} (${detail})`],
    ['access point', s.accessPoint ?? s.remoteServer],
    ['executor id', s.executorId ?? '-'],
    ['connected since', s.connectedSince ? `${s.connectedSince} (${relative(s.connectedSince)})` : '-'],
    ['last heartbeat', s.lastHeartbeat ? `${s.lastHeartbeat} (${relative(s.lastHeartbeat)})` : '-'],
    ['identity', s.identity ? `${s.identity.provider} ${s.identity.spiffeId ?? ''}`.trim() : '-'],
    [
      'certificate',
      s.identity ? `serial ${s.identity.serial}, valid ${s.identity.notBefore} to ${s.identity.notAfter} (${relative(s.identity.notAfter)})` : '-',
    ],
    ['identity updated', s.identityUpdatedAt ? `${s.identityUpdatedAt} (${relative(s.identityUpdatedAt)})` : '-'],
    ['next rotation', s.nextRotationAt ? `${s.nextRotationAt} (${relative(s.nextRotationAt)})${s.renewalDue ? ', due now' : ''}` : '-'],
    ['rotations', String(s.rotations)],
    ['attempts', String(s.attempts)],
    ['last error', s.lastError ? `${s.lastError.message} [${s.lastError.code}]` : 'none'],
  ];
  let out = `executor ${s.name}: ${s.state}\n${rows(lines)}`;
  if (s.certificate) {
    const c = s.certificate;
    out += `\n  certificate in use:\n${rows([
      ['  subject', c.subject],
      ['  issuer', c.issuer],
      ['  SANs', c.sans.join(', ') || '-'],
      ['  serial', c.serial],
      ['  not before', c.notBefore],
      ['  not after', c.notAfter],
      ['  time left', Date.parse(c.notAfter) > Date.now() ? formatDuration(Date.parse(c.notAfter) - Date.now()) : `expired ${relative(c.notAfter)}`],
      ['  public key', c.spkiSha256],
    ])}`;
  }
  return out;
}

/** The fleet table, a line each (the header first): written out in chunks at 10k rows. */
export function renderFleet(executors: readonly FleetEntryJson[], now = Date.now()): string[] {
  // A fleet of several access points (--roster) says which one holds each executor.
  const several = new Set(executors.map((e) => e.accessPoint ?? null)).size > 1;
  const header = ['NAME', 'ID', 'STATE', 'ADDRESS', 'SINCE', 'LAST HEARTBEAT', 'CERT EXPIRES', ...(several ? ['ACCESS POINT'] : [])];
  const table = executors.map((e) => [
    e.name,
    e.id,
    e.state,
    e.remoteAddress,
    relative(e.since, now),
    relative(e.lastHeartbeat, now),
    relative(e.certNotAfter, now),
    ...(several ? [e.accessPoint ?? '-'] : []),
  ]);
  const widths = header.map((h, i) => table.reduce((w, r) => Math.max(w, r[i]!.length), h.length));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...table.map(line)];
}

/**
 * The line under the table: how many, by state, and whose certificate ends first, e.g.
 * `120 of 10000 executors: 100 late, 20 expired; first certificate to expire: web-7 (spiffe://…) at 2026-… (in 4m)`.
 */
export function renderFleetSummary(s: FleetSummary, now = Date.now()): string {
  const plural = (n: number) => `${n} executor${n === 1 ? '' : 's'}`;
  const head = s.matched === s.total ? plural(s.total) : `${s.matched} of ${plural(s.total)}`;
  const counts = FLEET_STATES.filter((state) => s.byState[state] > 0)
    .map((state) => `${s.byState[state]} ${state}`)
    .join(', ');
  const first = s.soonestExpiry;
  const left = first ? Date.parse(first.certNotAfter) - now : 0;
  const expiry = first
    ? `; first certificate to expire: ${first.name} (${first.id}) at ${first.certNotAfter} (${left > 0 ? `in ${formatDuration(left)}` : `expired ${formatDuration(-left)} ago`})`
    : '';
  return `${head}${counts ? `: ${counts}` : ''}${expiry}`;
}

/** `ah agent fleet` under the table, while the audit log cannot be written. */
export function renderAuditWarning(a: AuditHealth): string {
  const why = a.lastError ? `${a.lastError.message} (since ${a.lastError.at})` : 'unknown error';
  return `warning: audit log ${a.path} is not being written: ${why}; ${a.failed} record${a.failed === 1 ? '' : 's'} kept in the access point log instead (code ENROLL_AUDIT_LOG_FAILED)`;
}
