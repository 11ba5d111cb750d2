/**
 * What both daemons export: build info, process metrics, and the certificate of their own identity
 * under the names cert-manager and kubelet made familiar:
 *
 *   ah_certificate_expiration_timestamp_seconds   notAfter   (certmanager_certificate_expiration_timestamp_seconds)
 *   ah_certificate_not_before_timestamp_seconds   notBefore  (certmanager_certificate_not_before_timestamp_seconds)
 *   ah_certificate_renewal_timestamp_seconds      next rotation (certmanager_certificate_renewal_timestamp_seconds)
 *   ah_certificate_ttl_seconds                    notAfter - now, negative once expired
 *                                                 (kubelet_certificate_manager_client_ttl_seconds)
 *   ah_certificate_rotations_total{result,code}   rotations that completed (success) or failed (failure, by catalog code)
 *
 * all labelled {role, name, provider}. Gauges are read from the daemon's status at scrape time, so
 * they say what the machine says at that moment; counters follow the daemon's typed events.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { IdentityStatus } from '../engine/executor-status.js';
import { VERSION } from '../version.js';

export type Role = 'executor' | 'access-point';

/** A registry of its own per daemon, so an executor and an access point can share a process. */
export function createRegistry(role: Role, name: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  new Gauge({
    name: 'ah_build_info',
    help: 'Always 1; the labels say which ah runs in which role.',
    labelNames: ['version', 'role', 'name', 'node_version'],
    registers: [registry],
  }).set({ version: VERSION, role, name, node_version: process.version }, 1);
  return registry;
}

export interface CertificateView {
  readonly identity: IdentityStatus | null;
  readonly nextRotationAt: string | null;
}

const seconds = (iso: string) => Date.parse(iso) / 1000;

export class CertificateMetrics {
  private readonly rotations: Counter<'role' | 'name' | 'provider' | 'result' | 'code'>;

  constructor(
    registry: Registry,
    private readonly role: Role,
    private readonly name: string,
    view: () => CertificateView | null,
  ) {
    const labelNames = ['role', 'name', 'provider'] as const;
    const labels = (id: IdentityStatus) => ({ role, name, provider: id.provider });
    /** A gauge of the current identity; no series while there is none. */
    const gauge = (metric: string, help: string, value: (v: CertificateView & { identity: IdentityStatus }) => number | null) =>
      new Gauge({
        name: metric,
        help,
        labelNames,
        registers: [registry],
        collect() {
          this.reset();
          const v = view();
          if (!v?.identity) return;
          const n = value(v as CertificateView & { identity: IdentityStatus });
          if (n !== null) this.set(labels(v.identity), n);
        },
      });
    gauge('ah_certificate_expiration_timestamp_seconds', 'notAfter of the certificate in use, as a Unix timestamp.', (v) => seconds(v.identity.notAfter));
    gauge('ah_certificate_not_before_timestamp_seconds', 'notBefore of the certificate in use, as a Unix timestamp.', (v) => seconds(v.identity.notBefore));
    gauge('ah_certificate_renewal_timestamp_seconds', 'When the certificate in use is due for rotation, as a Unix timestamp.', (v) =>
      v.nextRotationAt ? seconds(v.nextRotationAt) : null,
    );
    gauge(
      'ah_certificate_ttl_seconds',
      'Seconds until the certificate in use expires (negative once expired).',
      (v) => seconds(v.identity.notAfter) - Date.now() / 1000,
    );
    this.rotations = new Counter({
      name: 'ah_certificate_rotations_total',
      help: 'Certificate rotations by result: success (the new certificate is in use), failure (by catalog code; the current one stays).',
      labelNames: [...labelNames, 'result', 'code'],
      registers: [registry],
    });
  }

  rotated(provider: string): void {
    this.rotations.inc({ role: this.role, name: this.name, provider, result: 'success', code: '' });
  }

  rotationFailed(provider: string, code: string): void {
    this.rotations.inc({ role: this.role, name: this.name, provider, result: 'failure', code });
  }
}
