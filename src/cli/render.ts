/** Human renderings of status and fleet answers. */
import type { ExecutorStatus } from '../engine/executor-status.js';
import type { FleetEntryJson } from '../engine/roster.js';
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
    ['access point', s.remoteServer],
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

export function renderFleet(executors: FleetEntryJson[]): string {
  if (executors.length === 0) return 'no executors enrolled';
  const header = ['NAME', 'ID', 'ADDRESS', 'SINCE', 'LAST HEARTBEAT', 'CERT EXPIRES'];
  const table = executors.map((e) => [e.name, e.id, e.remoteAddress, relative(e.since), relative(e.lastHeartbeat), relative(e.certNotAfter)]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(header), ...table.map(line)].join('\n');
}

/** `ah agent fleet` under the table, while the audit log cannot be written. */
export function renderAuditWarning(a: AuditHealth): string {
  const why = a.lastError ? `${a.lastError.message} (since ${a.lastError.at})` : 'unknown error';
  return `warning: audit log ${a.path} is not being written: ${why}; ${a.failed} record${a.failed === 1 ? '' : 's'} kept in the access point log instead (code ENROLL_AUDIT_LOG_FAILED)`;
}
