/**
 * `ah agent doctor --fleet`: the whole fleet as one access point sees it, read from its status
 * socket (`fleet-health`): executors past their renewal point or expiring soon, executors whose
 * heartbeats show clock skew, rejected enrollments of the last hour grouped by catalog code with
 * the top addresses (from the audit log when there is one), identities held by two executors, and
 * executors that keep reconnecting. Each finding carries a catalog code, so it reads as the guide.
 */
import { readFile } from 'node:fs/promises';
import { queryStatus } from '../transport/status-server.js';
import { paths } from '../engine/state-dir.js';
import type { FleetHealthJson } from '../engine/fleet-health.js';
import type { FleetEntryJson } from '../model/status.js';
import { AhError } from '../errors/ah-error.js';
import { catalog, fillTemplate, renderMessage, type ErrorCode } from '../errors/catalog.js';
import { formatDuration } from '../util/duration.js';
import { latestRenewalFraction } from '../model/renewal-policy.js';

export interface FleetDoctorOptions {
  readonly stateDir: string;
  readonly expiringWithinMs: number;
  readonly renewalThreshold: number;
  readonly clockSkewThresholdMs: number;
  /** More admissions than this in the last hour is flapping. */
  readonly maxReconnects: number;
  /** Read rejections from this audit log instead of the access point's memory. */
  readonly auditLog?: string;
}

export type Severity = 'error' | 'warning';

export interface FleetFinding {
  readonly severity: Severity;
  readonly kind: 'renewal-overdue' | 'expiring' | 'clock-skew' | 'rejections' | 'duplicate-identity' | 'flapping';
  readonly code: ErrorCode;
  readonly params: Record<string, string>;
  readonly message: string;
  readonly guideSection: string;
  readonly solutions: readonly string[];
}

export interface FleetReport {
  readonly stateDir: string;
  readonly executors: number;
  readonly rejectionsFrom: 'audit log' | 'access point';
  readonly findings: FleetFinding[];
  readonly summary: { readonly errors: number; readonly warnings: number };
  readonly ok: boolean;
}

interface FleetHealthAnswer {
  readonly executors: FleetEntryJson[];
  readonly health: FleetHealthJson;
  readonly auditLog: string | null;
}

type Rejection = { at: number; code: string; message: string; remoteAddress: string };

function finding(severity: Severity, kind: FleetFinding['kind'], code: ErrorCode, params: Record<string, string>): FleetFinding {
  const entry = catalog[code];
  return {
    severity,
    kind,
    code,
    params,
    message: renderMessage(code, params),
    guideSection: entry.guideSection,
    solutions: entry.solutions.map((s) => fillTemplate(s, params)),
  };
}

const hostOf = (address: string) => address.replace(/^\[?([^\]]*?)\]?:\d+$/, '$1');

function certificateFindings(e: FleetEntryJson, h: FleetHealthJson['identities'][string] | undefined, now: number, o: FleetDoctorOptions): FleetFinding[] {
  const notAfter = Date.parse(e.certNotAfter);
  const left = formatDuration(Math.max(0, notAfter - now));
  if (h) {
    const notBefore = Date.parse(h.notBefore);
    const lifetime = notAfter - notBefore;
    const latest = notBefore + lifetime * latestRenewalFraction(o.renewalThreshold);
    if (now > latest) {
      const renewAt = new Date(notBefore + lifetime * o.renewalThreshold).toISOString();
      return [finding('error', 'renewal-overdue', 'ENROLL_FLEET_RENEWAL_OVERDUE', { executorId: e.id, serial: e.serial, renewAt, left })];
    }
  }
  if (notAfter - now < o.expiringWithinMs) {
    return [finding('warning', 'expiring', 'ENROLL_FLEET_EXPIRING', { executorId: e.id, serial: e.serial, left, notAfter: e.certNotAfter })];
  }
  return [];
}

function clockFindings(e: FleetEntryJson, h: FleetHealthJson['identities'][string] | undefined, o: FleetDoctorOptions): FleetFinding[] {
  const skew = h?.clockSkewMs;
  if (skew === null || skew === undefined || Math.abs(skew) <= o.clockSkewThresholdMs) return [];
  return [
    finding('error', 'clock-skew', 'ENROLL_FLEET_CLOCK_SKEW', {
      executorId: e.id,
      address: e.remoteAddress,
      skew: formatDuration(Math.abs(skew)),
      direction: skew > 0 ? 'ahead of' : 'behind',
      threshold: formatDuration(o.clockSkewThresholdMs),
    }),
  ];
}

function rejectionFindings(rejections: Rejection[]): FleetFinding[] {
  const byCode = new Map<string, Rejection[]>();
  for (const r of rejections) byCode.set(r.code, [...(byCode.get(r.code) ?? []), r]);
  return [...byCode.entries()]
    .sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))
    .map(([code, list]) => {
      const hosts = new Map<string, number>();
      for (const r of list) hosts.set(hostOf(r.remoteAddress), (hosts.get(hostOf(r.remoteAddress)) ?? 0) + 1);
      const top = [...hosts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 3);
      return finding('warning', 'rejections', 'ENROLL_FLEET_REJECTIONS', {
        count: String(list.length),
        code,
        example: list[list.length - 1]!.message,
        addresses: top.map(([host, n]) => `${host} (${n})`).join(', '),
      });
    });
}

function duplicateFindings(duplicates: FleetHealthJson['duplicates']): FleetFinding[] {
  const byId = new Map<string, FleetHealthJson['duplicates']>();
  for (const d of duplicates) byId.set(d.executorId, [...(byId.get(d.executorId) ?? []), d]);
  return [...byId.entries()].map(([executorId, list]) => {
    const last = list[list.length - 1]!;
    return finding('error', 'duplicate-identity', 'ENROLL_FLEET_DUPLICATE_IDENTITY', {
      executorId,
      first: last.previousRemoteAddress,
      second: last.remoteAddress,
      count: String(list.length),
    });
  });
}

function flappingFindings(health: FleetHealthJson, o: FleetDoctorOptions): FleetFinding[] {
  return Object.entries(health.identities)
    .filter(([, h]) => h.admissions.length - 1 > o.maxReconnects)
    .map(([executorId, h]) =>
      finding('warning', 'flapping', 'ENROLL_FLEET_FLAPPING', { executorId, count: String(h.admissions.length - 1), max: String(o.maxReconnects) }),
    );
}

/** Rejections of the window from the audit log; null when there is none to read. */
async function auditRejections(file: string | null | undefined, since: number): Promise<Rejection[] | null> {
  if (!file) return null;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const out: Rejection[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes('"rejected"')) continue;
    try {
      const r = JSON.parse(line) as {
        event?: string;
        time?: string;
        code?: string;
        message?: string;
        remoteAddress?: string;
        sourceAddress?: string;
        count?: number;
      };
      const at = Date.parse(r.time ?? '');
      if (r.event !== 'rejected' || !(at >= since) || !r.code) continue;
      // A coalesced record (unauthenticated clients, audit/rejection-coalescer.ts) stands for `count` rejections.
      const times = Math.min(Number.isSafeInteger(r.count) && r.count! > 1 ? r.count! : 1, 100_000);
      for (let i = 0; i < times; i++) out.push({ at, code: r.code, message: r.message ?? r.code, remoteAddress: r.remoteAddress ?? r.sourceAddress ?? '?' });
    } catch {
      // A torn line (the log was being written): skip it.
    }
  }
  return out;
}

/**
 * The audit log remembers across restarts but writes repeated unauthenticated rejections only when
 * their window closes; the access point's memory has every rejection since it started. Per code,
 * the source that saw more wins.
 */
function richerPerCode(audit: Rejection[], memory: Rejection[]): Rejection[] {
  const codes = new Set([...audit, ...memory].map((r) => r.code));
  return [...codes].flatMap((code) => {
    const a = audit.filter((r) => r.code === code);
    const m = memory.filter((r) => r.code === code);
    return m.length > a.length ? m : a;
  });
}

/** The pure judgement: the access point's answer in, findings out (errors first). */
export function fleetFindings(answer: FleetHealthAnswer, rejections: Rejection[], now: number, o: FleetDoctorOptions): FleetFinding[] {
  const perExecutor = answer.executors.flatMap((e) => {
    const h = answer.health.identities[e.id];
    return [...certificateFindings(e, h, now, o), ...clockFindings(e, h, o)];
  });
  const all = [...perExecutor, ...duplicateFindings(answer.health.duplicates), ...flappingFindings(answer.health, o), ...rejectionFindings(rejections)];
  return all.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === 'error' ? -1 : 1));
}

export async function runFleetDoctor(o: FleetDoctorOptions): Promise<FleetReport> {
  const socket = paths.accessPointSocket(o.stateDir);
  const answer = (await queryStatus(socket, 'fleet-health').catch(() => null)) as (FleetHealthAnswer & { error?: string }) | null;
  if (!answer?.health) throw new AhError('ENROLL_NOT_RUNNING', { role: 'access point', stateDir: o.stateDir });
  const now = Date.parse(answer.health.now);
  const fromAudit = await auditRejections(o.auditLog ?? answer.auditLog, now - answer.health.windowMs);
  const fromMemory = answer.health.rejections.map((r) => ({ ...r, at: Date.parse(r.at) }));
  const rejections = fromAudit ? richerPerCode(fromAudit, fromMemory) : fromMemory;
  const findings = fleetFindings(answer, rejections, now, o);
  const errors = findings.filter((f) => f.severity === 'error').length;
  return {
    stateDir: o.stateDir,
    executors: answer.executors.length,
    rejectionsFrom: fromAudit ? 'audit log' : 'access point',
    findings,
    summary: { errors, warnings: findings.length - errors },
    ok: errors === 0,
  };
}

export function renderFleetReport(r: FleetReport): string {
  const lines = [
    `ah agent doctor --fleet: the access point of ${r.stateDir} has ${r.executors} executor${r.executors === 1 ? '' : 's'} connected (rejections from the ${r.rejectionsFrom})`,
  ];
  for (const f of r.findings) {
    lines.push(`[${f.severity === 'error' ? 'ERROR' : 'warn '}] ${f.message}`);
    lines.push('        Solutions:', ...f.solutions.map((s) => `          ${s}`));
    lines.push(`        See: enrollment troubleshooting guide, "${f.guideSection}" (code ${f.code})`);
  }
  const counts =
    r.findings.length === 0
      ? 'nothing to report'
      : `${r.summary.errors} error${r.summary.errors === 1 ? '' : 's'}, ${r.summary.warnings} warning${r.summary.warnings === 1 ? '' : 's'}`;
  lines.push('', `${r.findings.length} finding${r.findings.length === 1 ? '' : 's'}: ${counts}`);
  return lines.join('\n');
}
