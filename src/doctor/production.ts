/**
 * `--production`: the guide's production checklist, checked rather than read. Certificates from a
 * trusted CA (not the dev identity), TTLs of hours not days, a sane rotation threshold, the access
 * point validating executor SANs, audit logging and metrics on, and the fleet port reachable.
 */
import { access, constants } from 'node:fs/promises';
import { request } from 'node:http';
import { dirname, resolve } from 'node:path';
import { AhError } from '../errors/ah-error.js';
import { DEFAULT_FLEET_PORT, formatHostPort, parseListenAddress } from '../util/address.js';
import { formatDuration } from '../util/duration.js';
import { distinguishedName } from '../x509/certificate.js';
import { issuedBy } from '../x509/chain.js';
import type { DoctorSession } from './session.js';
import { fail, pass, skip, type Check } from './types.js';
import { latestRenewalFraction, RENEWAL_JITTER } from '../model/renewal-policy.js';

const HOUR = 3_600_000;
/** "Hours, not days": a day at most, with room for an issuer's backdating (Vault: 30 s). */
export const MAX_PRODUCTION_TTL_MS = 24 * HOUR + 5 * 60_000;
/** Renewing later than this fraction leaves too little time to retry; earlier than the floor renews all the time. */
export const THRESHOLD_RANGE = { min: 0.3, max: 0.8 } as const;
/** The least time between the latest renewal point and expiry for a failed renewal to be retried. */
export const MIN_RENEWAL_MARGIN_MS = 60_000;

export const productionCaCheck: Check<DoctorSession> = {
  name: 'production.ca',
  title: 'certificates from a trusted CA',
  async run(ctx) {
    const { config } = ctx;
    const id = await ctx.identity();
    if (id.kind === 'dev') {
      return fail(
        new AhError('ENROLL_PRODUCTION_UNTRUSTED_CA', { detail: 'the dev identity is self-signed and trusts the access point on first use' }),
        'the dev identity is in use (self-signed; no CA on either side)',
      );
    }
    if (config.role === 'access-point' && config.identity.kind === 'files' && !id.bundle) {
      return fail(
        new AhError('ENROLL_PRODUCTION_UNTRUSTED_CA', { detail: 'no --ca: executors are admitted without verifying who issued their certificates' }),
        'no --ca: the access point admits executors without CA verification',
      );
    }
    if (id.unavailable) return skip(id.unavailable.reason);
    const leaf = id.chain?.[0];
    if (!leaf) return skip('no certificate to check (see the identity checks)');
    if (issuedBy(leaf, leaf)) {
      return fail(
        new AhError('ENROLL_PRODUCTION_UNTRUSTED_CA', { detail: `the certificate ${id.origin} is self-signed` }),
        `self-signed certificate (${distinguishedName(leaf.subject)})`,
      );
    }
    return pass(`issued by ${distinguishedName(leaf.issuer)} (${config.identity.kind} identity)`);
  },
};

/** `36h`, `1h0m30s`: lifetimes in hours, the unit the checklist speaks of. */
function inHours(ms: number): string {
  const hours = Math.floor(ms / HOUR);
  return hours === 0 ? formatDuration(ms) : `${hours}h${formatDuration(ms - hours * HOUR).replace(/^0ms$/, '')}`;
}

export const productionTtlCheck: Check<DoctorSession> = {
  name: 'production.ttl',
  title: 'certificate TTL in hours',
  async run(ctx) {
    const id = await ctx.identity();
    const leaf = id.chain?.[0];
    if (!leaf) return skip(id.unavailable?.reason ?? 'no certificate to check (see the identity checks)');
    const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    const ttl = inHours(lifetime);
    if (lifetime > MAX_PRODUCTION_TTL_MS) return fail(new AhError('ENROLL_PRODUCTION_LONG_TTL', { ttl }), `the certificate lives ${ttl}: days, not hours`);
    return pass(`the certificate lives ${ttl}`);
  },
};

export const productionRotationCheck: Check<DoctorSession> = {
  name: 'production.rotation',
  title: 'rotation threshold',
  async run(ctx) {
    const t = ctx.config.renewalThreshold;
    const latest = latestRenewalFraction(t);
    const pct = (f: number) => `${Math.round(f * 100)}%`;
    const bad = (detail: string) => fail(new AhError('ENROLL_PRODUCTION_ROTATION_THRESHOLD', { threshold: String(t), detail }), detail);
    if (t > THRESHOLD_RANGE.max)
      return bad(`renewing at up to ${pct(latest)} of the lifetime leaves little time before expiry (keep it at or below ${THRESHOLD_RANGE.max})`);
    if (t < THRESHOLD_RANGE.min)
      return bad(`renewing after ${pct(t)} of the lifetime renews far more often than needed (keep it at or above ${THRESHOLD_RANGE.min})`);
    const id = await ctx.identity();
    const leaf = id.chain?.[0];
    if (!leaf) return pass(`renews at ${pct(t)} ±${pct(RENEWAL_JITTER)} of the lifetime`);
    const lifetime = Date.parse(leaf.validTo) - Date.parse(leaf.validFrom);
    const margin = lifetime * (1 - latest);
    if (margin < MIN_RENEWAL_MARGIN_MS) {
      return bad(
        `with a ${formatDuration(lifetime)} certificate, the latest renewal leaves ${formatDuration(margin)} before expiry: too little to retry a failed renewal`,
      );
    }
    const files = id.kind === 'files' ? '; the files provider cannot renew by itself: your PKI must write new files before then' : '';
    return pass(
      `renews at ${pct(t)} ±${pct(RENEWAL_JITTER)} of a ${formatDuration(lifetime)} lifetime, at least ${formatDuration(margin)} before expiry${files}`,
    );
  },
};

export const productionSanValidationCheck: Check<DoctorSession> = {
  name: 'production.san-validation',
  title: 'SAN validation at the access point',
  async run(ctx) {
    const { config } = ctx;
    if (config.role === 'executor') return skip('the access point decides: run ah agent doctor --access-point --production with its flags there');
    const bad = (detail: string) => fail(new AhError('ENROLL_PRODUCTION_NO_SAN_VALIDATION', { detail }), detail);
    if (config.identity.kind === 'dev') return bad('dev mode admits any certificate, without CA verification');
    if (config.identity.kind === 'files' && !config.identity.caPath) return bad('no --ca: any certificate is admitted');
    if (config.executorSanUriPrefix) return pass(`admits only executor URI SANs under ${config.executorSanUriPrefix}`);
    if (config.identity.kind === 'spiffe') {
      const id = await ctx.identity();
      const td = /^URI:(spiffe:\/\/[^/,]+)/.exec(id.chain?.[0]?.subjectAltName ?? '')?.[1];
      return pass(`admits only executor URI SANs under ${td ? `${td}/ah/agent/` : 'spiffe://<its trust domain>/ah/agent/'} (the SPIFFE default)`);
    }
    return bad('no --executor-san-uri-prefix: any certificate the CA issued is admitted, whatever its SAN');
  },
};

export const productionAuditLogCheck: Check<DoctorSession> = {
  name: 'production.audit-log',
  title: 'audit logging',
  async run(ctx) {
    const file = ctx.config.auditLog;
    if (!file && ctx.config.role === 'executor') {
      return skip('the access point keeps the audit trail of enrollments: run ah agent doctor --access-point --production with its flags there');
    }
    if (!file)
      return fail(
        new AhError('ENROLL_PRODUCTION_NO_AUDIT_LOG', { detail: 'no --audit-log FILE' }),
        'no --audit-log FILE: enrollments and rejections leave no audit trail',
      );
    const abs = resolve(file);
    for (const [path, mode] of [
      [abs, constants.W_OK],
      [dirname(abs), constants.W_OK | constants.X_OK],
    ] as const) {
      try {
        await access(path, mode);
        return pass(`${abs} ${path === abs ? 'is writable' : 'can be created'}`);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (path === abs && code === 'ENOENT') continue;
        return fail(new AhError('ENROLL_PRODUCTION_NO_AUDIT_LOG', { detail: `cannot write ${path} (${code})` }), `${path}: ${code}`);
      }
    }
    return fail(new AhError('ENROLL_PRODUCTION_NO_AUDIT_LOG', { detail: `cannot write ${abs}` }), `cannot write ${abs}`);
  },
};

function getMetrics(host: string, port: number, timeoutMs: number): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolveGet) => {
    const req = request({ host, port, path: '/metrics', method: 'GET', timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.length + body.length < 1_000_000 ? d : ''));
      res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) => resolveGet({ error: err.code ?? err.message }));
    req.end();
  });
}

export const productionMetricsCheck: Check<DoctorSession> = {
  name: 'production.metrics',
  title: 'metrics',
  async run(ctx) {
    const given = ctx.config.metricsListen;
    const bad = (detail: string) => fail(new AhError('ENROLL_PRODUCTION_NO_METRICS', { detail }), detail);
    if (!given) return bad('no --metrics-listen HOST:PORT: nothing can alert on certificate expiry');
    let at: ReturnType<typeof parseListenAddress>;
    try {
      at = parseListenAddress(given);
    } catch (err) {
      return bad((err as Error).message);
    }
    const host = at.host === '0.0.0.0' ? '127.0.0.1' : at.host === '::' ? '::1' : at.host;
    const url = `http://${formatHostPort({ host, port: at.port })}/metrics`;
    const answer = await getMetrics(host, at.port, Math.min(ctx.config.connectTimeoutMs, 5_000));
    if ('error' in answer) return bad(`nothing answers at ${url} (${answer.error}): is the daemon running with --metrics-listen ${given}?`);
    if (answer.status !== 200) return bad(`${url} answers HTTP ${answer.status}, not metrics`);
    const families = answer.body.split('\n').filter((l) => l.startsWith('# TYPE ')).length;
    return pass(`${url} serves metrics (${families} metric ${families === 1 ? 'family' : 'families'})`);
  },
};

export const productionPortCheck: Check<DoctorSession> = {
  name: 'production.port',
  title: 'fleet port reachable',
  async run(ctx) {
    const { config } = ctx;
    const tcp = await ctx.tcp();
    const port = config.target.port;
    const nonDefault = port !== DEFAULT_FLEET_PORT ? ` (port ${port}, not the guide's ${DEFAULT_FLEET_PORT})` : '';
    if (!tcp.ok) return fail(tcp.error, `${config.target.address} is not reachable: ${tcp.error.message}`);
    const from = config.role === 'access-point' ? `; from this machine only: check from an executor's network too (nc -zv HOST ${port})` : '';
    return pass(`${config.target.address} accepts connections${nonDefault}${from}`);
  },
};
