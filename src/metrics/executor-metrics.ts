/**
 * The executor's metrics, from its `enrollment` machine (status at scrape time) and its typed
 * events (`state`, `error`, `rotated`):
 *
 *   ah_executor_state{state}                         1 for the current top-level state, 0 for the others
 *   ah_executor_enrollment_attempts_total            handshakes started from `disconnected`
 *   ah_executor_enrollment_failures_total{code}      errors that keep or put the executor out of the fleet
 *                                                    (failed attempts, identity errors, a lost link), by catalog code
 *   ah_executor_handshake_duration_seconds{kind,result}  dial to welcome (or to failure); kind enroll | rotation
 *   ah_executor_heartbeat_last_ack_timestamp_seconds when the access point last acknowledged a heartbeat
 *   ah_executor_heartbeat_lag_seconds                seconds since then (grows when heartbeats stop being answered)
 *   ah_executor_heartbeat_interval_seconds           the interval the access point asked for
 *
 * plus the certificate metrics of ./common.ts with role="executor" (rotation failures are errors
 * met while the link is up: enrolled or renewing).
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ExecutorStatus } from '../model/status.js';

/**
 * What the metrics read of an executor: its status at scrape time and its typed events. The
 * engine's Executor is one (it passes itself); defined here so the metrics need nothing from the
 * engine that owns them.
 */
export interface MeteredExecutor {
  readonly options: { readonly name: string; readonly identity?: { readonly kind: string } };
  status(): ExecutorStatus;
  on(event: 'state', fn: (s: ExecutorStatus) => void): unknown;
  on(event: 'error', fn: (e: { code: string }) => void): unknown;
  on(event: 'rotated', fn: () => void): unknown;
}
import { CertificateMetrics } from './common.js';

const STATES = ['disconnected', 'handshaking', 'enrolled', 'renewing', 'relinking', 'failed'] as const;
const HANDSHAKE_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const detailOf = (s: ExecutorStatus) => (typeof s.detail === 'string' ? s.detail : JSON.stringify(s.detail));
const isDialing = (s: ExecutorStatus) => s.state === 'handshaking' || detailOf(s) === '{"renewing":"applying"}';
const linked = (state: string) => state === 'enrolled' || state === 'renewing' || state === 'relinking';

/**
 * The executor's metrics, each declared beside what feeds it (status at scrape time, or an event).
 * Longer than a screen because it is a list of declarations, not logic.
 */
export function executorMetrics(executor: MeteredExecutor, registry: Registry): void {
  const name = executor.options.name;
  const current = (): ExecutorStatus | null => {
    try {
      return executor.status();
    } catch {
      return null; // not started yet
    }
  };

  new Gauge({
    name: 'ah_executor_state',
    help: "The enrollment machine's top-level state: 1 for the current one.",
    labelNames: ['name', 'state'],
    registers: [registry],
    collect() {
      const s = current();
      for (const state of STATES) this.set({ name, state }, s?.state === state ? 1 : 0);
    },
  });
  const linkGauge = (metric: string, help: string, value: (s: ExecutorStatus) => number | null) =>
    new Gauge({
      name: metric,
      help,
      labelNames: ['name'],
      registers: [registry],
      collect() {
        this.reset();
        const s = current();
        const v = s && linked(s.state) ? value(s) : null;
        if (v !== null) this.set({ name }, v);
      },
    });
  linkGauge(
    'ah_executor_heartbeat_last_ack_timestamp_seconds',
    'When the access point last acknowledged a heartbeat, as a Unix timestamp (while enrolled).',
    (s) => (s.lastHeartbeat ? Date.parse(s.lastHeartbeat) / 1000 : null),
  );
  linkGauge('ah_executor_heartbeat_lag_seconds', 'Seconds since the access point last acknowledged a heartbeat (while enrolled).', (s) =>
    s.lastHeartbeat ? Math.max(0, (Date.now() - Date.parse(s.lastHeartbeat)) / 1000) : null,
  );
  linkGauge('ah_executor_heartbeat_interval_seconds', 'The heartbeat interval the access point asked for (while enrolled).', (s) =>
    s.heartbeatIntervalMs === null ? null : s.heartbeatIntervalMs / 1000,
  );

  const attempts = new Counter({
    name: 'ah_executor_enrollment_attempts_total',
    help: 'Enrollment attempts: handshakes started while not enrolled.',
    labelNames: ['name'],
    registers: [registry],
  });
  attempts.inc({ name }, 0);
  const failures = new Counter({
    name: 'ah_executor_enrollment_failures_total',
    help: 'Errors that kept or put the executor out of the fleet (failed attempts, identity errors, lost links), by catalog code.',
    labelNames: ['name', 'code'],
    registers: [registry],
  });
  const handshakes = new Histogram({
    name: 'ah_executor_handshake_duration_seconds',
    help: 'From dialing the access point to its welcome (success) or to the attempt failing (failure): TCP, TLS, peer checks, hello/welcome.',
    labelNames: ['name', 'kind', 'result'],
    buckets: HANDSHAKE_BUCKETS,
    registers: [registry],
  });
  const certificate = new CertificateMetrics(registry, 'executor', name, () => {
    const s = current();
    return s && { identity: s.identity, nextRotationAt: s.nextRotationAt };
  });
  const provider = () => current()?.identity?.provider ?? executor.options.identity?.kind ?? 'dev';

  let previous: ExecutorStatus | null = null;
  let dial: { startedAt: number; kind: 'enroll' | 'rotation' } | null = null;
  executor.on('state', (s) => {
    const now = performance.now();
    if (dial && !isDialing(s)) {
      handshakes.observe({ name, kind: dial.kind, result: s.state === 'enrolled' ? 'success' : 'failure' }, (now - dial.startedAt) / 1000);
      dial = null;
    }
    if (isDialing(s) && !(previous && isDialing(previous))) {
      const kind = s.state === 'handshaking' ? 'enroll' : 'rotation';
      if (kind === 'enroll') attempts.inc({ name });
      dial = { startedAt: now, kind };
    }
    previous = s;
  });
  // `error` comes before the `state` of the same change, with the machine already in its new state.
  executor.on('error', (e) => {
    const s = current();
    if (s && linked(s.state)) certificate.rotationFailed(provider(), e.code);
    else failures.inc({ name, code: e.code });
  });
  executor.on('rotated', () => certificate.rotated(provider()));
}
