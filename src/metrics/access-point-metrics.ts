/**
 * The access point's metrics, from its machines (status at scrape time) and its typed events:
 *
 *   ah_access_point_state{state}                    1 for the `access-point` machine's current state (`draining` while it drains)
 *   ah_access_point_enrolled_executors              executors in the roster (one per identity)
 *   ah_access_point_links                           open fleet links (two per executor during a rotation)
 *   ah_access_point_drain_links_left                while draining: links still open (0 when not draining)
 *   ah_access_point_enrollment_attempts_total       links whose hello was verified (admitted or rejected)
 *   ah_access_point_enrollment_failures_total{code} rejections, by catalog code
 *   ah_access_point_executor_rotations_total        a second link of an enrolled executor replaced the first
 *   ah_access_point_duplicate_identities_total      a second holder of a connected identity took it over (no continuity proof)
 *   ah_access_point_departures_total{reason}        executors that left: goodbye | heartbeat_timeout |
 *                                                   socket_closed | protocol_error | shutdown | other
 *   ah_access_point_heartbeats_total                heartbeats received from admitted executors
 *   ah_access_point_heartbeat_lag_seconds           how late each heartbeat came, against the interval asked for
 *   ah_access_point_handshakes_shed_total{reason}   connections closed before TLS: capacity (handshakes and their
 *                                                   queue full) | rate (--handshake-rate, per source address)
 *                                                   | queue_timeout (waited as long as a handshake may take)
 *   ah_access_point_handshakes_in_flight            TLS handshakes in progress (at most --max-handshakes)
 *   ah_access_point_handshake_queue_depth           connections waiting for a handshake place (at most --handshake-queue)
 *   ah_access_point_handshake_waits_total           connections that had to wait in that queue
 *   ah_access_point_tls_handshakes_total{kind}     TLS handshakes completed: full | resumed (a session kept
 *                                                   in the state dir, so also across a restart)
 *   ah_audit_log_writable                           1 when the last audit record was written (only with --audit-log)
 *   ah_audit_records_total{event}                   audit records written, by event
 *   ah_audit_write_failures_total                   audit records that could not be written (they are in the log)
 *
 * plus the certificate metrics of ./common.ts with role="access-point", name="access-point".
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { AUDIT_EVENTS } from '../audit/audit-log.js';
import type { AuditHealth } from '../audit/audit-log.js';
import type { IdentityStatus } from '../model/status.js';
import { SHED_REASONS, type HandshakeGateStats, type ShedReason } from '../transport/handshake-gate.js';
import { CertificateMetrics } from './common.js';

const STATES = ['starting', 'serving', 'draining', 'failed'] as const;
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Departure reasons as a closed set (the reason text itself carries socket details). */
export function departureClass(reason: string): string {
  if (reason.startsWith('goodbye')) return 'goodbye';
  if (reason.startsWith('no heartbeat')) return 'heartbeat_timeout';
  if (reason.startsWith('socket closed')) return 'socket_closed';
  if (reason.startsWith('protocol error')) return 'protocol_error';
  if (reason === 'shutdown') return 'shutdown';
  return 'other';
}

/**
 * What the metrics read of an access point: its status at scrape time and its typed events. The
 * engine's AccessPoint is one (it passes itself); defined here so the metrics need nothing from
 * the engine that owns them.
 */
export interface MeteredAccessPoint {
  readonly options: { readonly identity?: { readonly kind: string }; readonly auditLog?: string };
  status(): {
    readonly state: string;
    readonly identity: IdentityStatus | null;
    readonly nextRotationAt: string | null;
    readonly executors: number;
    readonly links: number;
    readonly audit: AuditHealth | null;
    readonly handshakes: HandshakeGateStats & { readonly full: number; readonly resumed: number };
  };
  on(event: 'admitted', fn: (e: { id: string; lastHeartbeat: string; relinked: boolean; duplicate?: boolean }) => void): unknown;
  on(event: 'rejected', fn: (e: { error: { code: string } }) => void): unknown;
  on(event: 'duplicate' | 'renewed', fn: () => void): unknown;
  on(event: 'departed', fn: (e: { id: string; reason: string }) => void): unknown;
  on(event: 'heartbeat', fn: (e: { id: string; at: number }) => void): unknown;
  on(event: 'error', fn: (e: { code: string }) => void): unknown;
  on(event: 'shed', fn: (e: { reason: ShedReason }) => void): unknown;
}

/**
 * Every metric of the header above, registered on `registry`: gauges read at scrape time, counters
 * fed by events. Longer than a screen because it is a list, each counter beside the event that
 * feeds it; the scrape-time gauges are in the functions below.
 */
export function accessPointMetrics(accessPoint: MeteredAccessPoint, registry: Registry, options: { heartbeatIntervalMs: number }): void {
  const current = () => accessPoint.status();
  stateGauges(registry, current);
  handshakeGauges(registry, current);
  if (accessPoint.options.auditLog) auditMetrics(registry, current);

  const attempts = new Counter({
    name: 'ah_access_point_enrollment_attempts_total',
    help: 'Links whose hello was verified: admitted (enrollments and rotations) or rejected.',
    registers: [registry],
  });
  const failures = new Counter({
    name: 'ah_access_point_enrollment_failures_total',
    help: 'Executors rejected, by catalog code.',
    labelNames: ['code'],
    registers: [registry],
  });
  const rotations = new Counter({
    name: 'ah_access_point_executor_rotations_total',
    help: 'Executor rotations seen: a second link of an enrolled executor replaced the first.',
    registers: [registry],
  });
  const duplicates = new Counter({
    name: 'ah_access_point_duplicate_identities_total',
    help: 'New links for a connected identity that did not prove they continue it (a second holder), which superseded the open link.',
    registers: [registry],
  });
  const departures = new Counter({
    name: 'ah_access_point_departures_total',
    help: 'Executors that left the fleet, by reason: goodbye, heartbeat_timeout, socket_closed, protocol_error, shutdown, other.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const heartbeats = new Counter({
    name: 'ah_access_point_heartbeats_total',
    help: 'Heartbeats received from admitted executors.',
    registers: [registry],
  });
  const lag = new Histogram({
    name: 'ah_access_point_heartbeat_lag_seconds',
    help: "How late each heartbeat arrived: the time since the same executor's previous heartbeat, minus the interval it was asked for.",
    buckets: LAG_BUCKETS,
    registers: [registry],
  });
  const shed = new Counter({
    name: 'ah_access_point_handshakes_shed_total',
    help: 'Connections closed before TLS: capacity (--max-handshakes in flight and --handshake-queue waiting), rate (--handshake-rate per source address) or queue_timeout (waited as long as a handshake may take).',
    labelNames: ['reason'],
    registers: [registry],
  });
  new Counter({
    name: 'ah_access_point_tls_handshakes_total',
    help: 'TLS handshakes completed since start: full, or resumed from a session the access point kept (also across a restart).',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const { full, resumed } = current().handshakes;
      this.reset();
      this.inc({ kind: 'full' }, full);
      this.inc({ kind: 'resumed' }, resumed);
    },
  });
  for (const c of [attempts, rotations, duplicates, heartbeats]) c.inc(0);
  for (const reason of SHED_REASONS) shed.inc({ reason }, 0);

  const certificate = new CertificateMetrics(registry, 'access-point', 'access-point', () => {
    const s = current();
    return { identity: s.identity, nextRotationAt: s.nextRotationAt };
  });
  const provider = () => current().identity?.provider ?? accessPoint.options.identity?.kind ?? 'dev';

  const lastHeartbeat = new Map<string, number>();
  accessPoint.on('admitted', (e) => {
    attempts.inc();
    if (e.relinked && !e.duplicate) rotations.inc();
    else lastHeartbeat.set(e.id, Date.parse(e.lastHeartbeat));
  });
  accessPoint.on('rejected', (e) => {
    attempts.inc();
    failures.inc({ code: e.error.code });
  });
  accessPoint.on('duplicate', () => duplicates.inc());
  accessPoint.on('shed', (e) => shed.inc({ reason: e.reason }));
  accessPoint.on('departed', (e) => {
    departures.inc({ reason: departureClass(e.reason) });
    lastHeartbeat.delete(e.id);
  });
  accessPoint.on('heartbeat', (e) => {
    heartbeats.inc();
    const previous = lastHeartbeat.get(e.id);
    if (previous !== undefined) lag.observe(Math.max(0, e.at - previous - options.heartbeatIntervalMs) / 1000);
    lastHeartbeat.set(e.id, e.at);
  });
  accessPoint.on('renewed', () => certificate.rotated(provider()));
  accessPoint.on('error', (e) => {
    if (e.code !== 'ENROLL_LISTEN_FAILED' && e.code !== 'ENROLL_AUDIT_LOG_FAILED') certificate.rotationFailed(provider(), e.code);
  });
}

type Status = ReturnType<MeteredAccessPoint['status']>;

/** The access point's state, executors and links, read at scrape time. */
function stateGauges(registry: Registry, current: () => Status): void {
  new Gauge({
    name: 'ah_access_point_state',
    help: "The access-point machine's state: 1 for the current one.",
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const { state } = current();
      for (const s of STATES) this.set({ state: s }, state === s ? 1 : 0);
    },
  });
  new Gauge({
    name: 'ah_access_point_enrolled_executors',
    help: 'Executors enrolled now (one per identity, whatever the number of links).',
    registers: [registry],
    collect() {
      this.set(current().executors);
    },
  });
  new Gauge({
    name: 'ah_access_point_links',
    help: 'Open fleet links (an executor has two for a moment while it rotates).',
    registers: [registry],
    collect() {
      this.set(current().links);
    },
  });
  new Gauge({
    name: 'ah_access_point_drain_links_left',
    help: 'While draining (SIGTERM, --drain): links still open, whose executors have not moved yet; 0 when not draining.',
    registers: [registry],
    collect() {
      const { state, links } = current();
      this.set(state === 'draining' ? links : 0);
    },
  });
}

/** Handshakes in flight and waiting in the queue in front of TLS, read at scrape time. */
function handshakeGauges(registry: Registry, current: () => Status): void {
  new Gauge({
    name: 'ah_access_point_handshakes_in_flight',
    help: 'TLS handshakes in progress (at most --max-handshakes).',
    registers: [registry],
    collect() {
      this.set(current().handshakes.inFlight);
    },
  });
  new Gauge({
    name: 'ah_access_point_handshake_queue_depth',
    help: 'Connections waiting, before TLS, for a handshake place (at most --handshake-queue).',
    registers: [registry],
    collect() {
      this.set(current().handshakes.queued);
    },
  });
  new Counter({
    name: 'ah_access_point_handshake_waits_total',
    help: 'Connections that waited in the handshake queue (then admitted, shed after waiting, or gone).',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(current().handshakes.waited);
    },
  });
}

/** `--audit-log`: whether it is writable, and records written or lost. */
function auditMetrics(registry: Registry, current: () => Status): void {
  new Gauge({
    name: 'ah_audit_log_writable',
    help: '1 when the last audit record (or the last open) succeeded; 0 while the audit log cannot be written.',
    registers: [registry],
    collect() {
      this.set(current().audit?.writable ? 1 : 0);
    },
  });
  new Counter({
    name: 'ah_audit_records_total',
    help: 'Audit records written, by event.',
    labelNames: ['event'],
    registers: [registry],
    collect() {
      const audit = current().audit;
      this.reset();
      for (const event of AUDIT_EVENTS) this.inc({ event }, audit?.written[event] ?? 0);
    },
  });
  new Counter({
    name: 'ah_audit_write_failures_total',
    help: "Audit records that could not be written (full disk, unwritable file); each is in the daemon's log instead.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(current().audit?.failed ?? 0);
    },
  });
}
