/**
 * An enrollment attempt over mutual TLS, as `enroll` makes it (the same FleetClientLink, the same
 * trust decision), that stops once the access point says `welcome` and leaves with a goodbye; and
 * the clock difference to the access point, read from the `serverTime` that welcome carries.
 */
import type { KeyObject, X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { queryStatus } from '../transport/status-server.js';
import { paths } from '../engine/state-dir.js';
import { AhError } from '../errors/ah-error.js';
import type { AccessPointTrust } from '../transport/access-point-trust.js';
import { FleetClientLink } from '../transport/fleet-client.js';
import { formatDuration } from '../util/duration.js';
import { VERSION } from '../version.js';
import { keyMatchesCertificate } from '../x509/certificate.js';
import type { DoctorSession, EnrollProbe } from './session.js';
import { fail, pass, skip, type Check } from './types.js';
import { clearLongTimeout, setLongTimeout } from '../util/long-timer.js';

/** The goodbye reason the access point logs for the doctor's link. */
export const DOCTOR_GOODBYE = 'doctor check done';

/** A running executor of that name already holds this identity's link: do not take it over. */
async function runningExecutor(ctx: DoctorSession): Promise<string | null> {
  try {
    const status = (await queryStatus(paths.executorSocket(ctx.config.stateDir, ctx.config.name), 'status', 2_000)) as {
      state?: string;
      remoteServer?: string;
      accessPoint?: string | null;
    } | null;
    if (status && (status.state === 'enrolled' || status.state === 'renewing' || status.state === 'relinking'))
      return `${status.state} with ${status.accessPoint ?? status.remoteServer ?? 'its access point'}`;
  } catch {
    // No answer: nothing running that we could disturb.
  }
  return null;
}

function attempt(ctx: DoctorSession, certPem: string, keyPem: string, trust: AccessPointTrust): Promise<EnrollProbe> {
  const { config } = ctx;
  return new Promise((resolve) => {
    const link = new FleetClientLink({
      host: config.target.host,
      port: config.target.port,
      address: config.target.address,
      certPem,
      keyPem,
      trust,
      hello: { name: config.name, version: VERSION, labels: { ...(config.labels ?? {}), 'ah.doctor': 'true' } },
      minVersion: config.tlsMinVersion,
    });
    const startedAt = Date.now();
    const timer = setLongTimeout(() => {
      link.close(DOCTOR_GOODBYE);
      resolve({ kind: 'failed', error: new AhError('ENROLL_CONNECTION_TIMEOUT', { timeout: formatDuration(config.connectTimeoutMs) }) });
    }, config.connectTimeoutMs);
    link.once('welcome', (welcome) => {
      const receivedAt = Date.now();
      clearLongTimeout(timer);
      link.close(DOCTOR_GOODBYE);
      // Resolve once the goodbye is out (bounded: a peer that never closes does not hold us).
      const flushed = new Promise<void>((r) => setTimeout(r, 3_000).unref());
      void Promise.race([link.closedPromise(), flushed]).then(() => resolve({ kind: 'welcomed', welcome, startedAt, receivedAt }));
    });
    link.once('failed', (error) => {
      clearLongTimeout(timer);
      resolve({ kind: 'failed', error });
    });
    try {
      link.start();
    } catch (err) {
      // node:tls refuses a certificate and key it cannot use before any byte is sent.
      clearLongTimeout(timer);
      resolve({ kind: 'failed', error: new AhError('ENROLL_CONNECTION_FAILED', { address: config.target.address, detail: (err as Error).message }) });
    }
  });
}

function matches(leaf: X509Certificate, key: KeyObject): boolean {
  try {
    return keyMatchesCertificate(leaf, key);
  } catch {
    return false;
  }
}

export async function probeEnrollment(ctx: DoctorSession): Promise<EnrollProbe> {
  const { config } = ctx;
  if (config.role === 'access-point')
    return { kind: 'skipped', reason: 'access point mode: run ah agent doctor --remote-server ... on an executor to try an enrollment' };
  const tcp = await ctx.tcp();
  if (!tcp.ok) return { kind: 'skipped', reason: 'no TCP connection (see tcp connect)' };
  const tls = await ctx.tls();
  if (!tls.ok) return { kind: 'skipped', reason: 'no TLS handshake (see tls handshake)' };
  const id = await ctx.identity();
  if (id.unavailable) return { kind: 'skipped', reason: id.unavailable.reason };
  if (!id.anonymous && (!id.certPem || !id.keyPem || !id.chain || !id.key))
    return { kind: 'skipped', reason: 'no usable certificate and key (see the identity checks)' };
  if (!id.anonymous && !matches(id.chain![0]!, id.key!))
    return { kind: 'skipped', reason: "the key is not the certificate's (see key matches certificate): enroll would not dial with it" };
  const running = await runningExecutor(ctx);
  if (running) {
    return {
      kind: 'skipped',
      reason: `executor ${config.name} is running from ${config.stateDir} and is ${running}; a second link with its identity would take its place at the access point (ah agent status shows its link)`,
    };
  }
  const trust = await ctx.trust();
  if (trust.kind === 'none') return { kind: 'skipped', reason: `no way to verify the access point: ${trust.reason}` };
  if (trust.kind === 'ca') {
    return attempt(ctx, id.anonymous ? '' : id.certPem!, id.anonymous ? '' : id.keyPem!, {
      kind: 'ca',
      bundlePem: trust.bundlePem,
      host: config.target.host,
      expectedServerId: config.expectedServerId,
      serverSan: config.serverSan,
    });
  }
  // Trust on first use reads and writes the pin file: work on a copy, so the doctor never trusts
  // an access point on the operator's behalf.
  const dir = await mkdtemp(join(tmpdir(), 'ah-doctor-pins-'));
  try {
    await copyFile(trust.file, join(dir, basename(trust.file))).catch(() => undefined);
    const probe = await attempt(ctx, id.certPem!, id.keyPem!, { kind: 'first-use', dir });
    if (probe.kind === 'failed' && probe.error.code === 'ENROLL_SERVER_KEY_CHANGED') {
      return { kind: 'failed', error: new AhError('ENROLL_SERVER_KEY_CHANGED', { ...probe.error.params, file: trust.file }) };
    }
    return probe;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export const enrollCheck: Check<DoctorSession> = {
  name: 'enroll',
  title: 'mTLS enrollment',
  async run(ctx) {
    const probe = await ctx.enrollment();
    if (probe.kind === 'skipped') return skip(probe.reason);
    if (probe.kind === 'failed') {
      const e = probe.error;
      const from =
        ['ENROLL_CLIENT_CERT_REQUIRED', 'ENROLL_CLIENT_CERT_REJECTED'].includes(e.code) || (e.code === 'ENROLL_SAN_MISMATCH' && !ctx.config.serverSan)
          ? 'the access point refused us: '
          : '';
      return fail(e, `${from}${e.message}`);
    }
    const w = probe.welcome;
    return pass(`welcomed as ${w.executorId} (heartbeat interval ${formatDuration(w.heartbeatInterval)}); left with a goodbye`, {
      details: { executorId: w.executorId, heartbeatIntervalMs: w.heartbeatInterval, serverTime: new Date(w.serverTime).toISOString() },
    });
  },
};

export const clockCheck: Check<DoctorSession> = {
  name: 'clock',
  title: 'clock skew',
  async run(ctx) {
    const { config } = ctx;
    if (config.role === 'access-point') return skip('access point mode: the clocks are compared from an executor (ah agent doctor --remote-server ...)');
    const probe = await ctx.enrollment();
    if (probe.kind !== 'welcomed') {
      const tls = (await ctx.tcp()).ok ? await ctx.tls() : null;
      const leaf = tls?.chain[0];
      const hint =
        leaf && ctx.now() < Date.parse(leaf.validFrom)
          ? `; its certificate is not valid until ${new Date(leaf.validFrom).toISOString()}: one of the clocks may be off`
          : '';
      return skip(`no welcome from the access point to read its time from (see mTLS enrollment)${hint}`);
    }
    const skew = probe.welcome.serverTime - probe.receivedAt;
    const uncertainty = probe.receivedAt - probe.startedAt;
    const direction = skew >= 0 ? 'ahead of' : 'behind';
    const amount = formatDuration(Math.abs(skew));
    const details = {
      skewMs: skew,
      uncertaintyMs: uncertainty,
      thresholdMs: config.clockSkewThresholdMs,
      serverTime: new Date(probe.welcome.serverTime).toISOString(),
      localTime: new Date(probe.receivedAt).toISOString(),
    };
    if (Math.abs(skew) > config.clockSkewThresholdMs) {
      const error = new AhError('ENROLL_CLOCK_SKEW', {
        address: config.target.address,
        skew: amount,
        direction,
        threshold: formatDuration(config.clockSkewThresholdMs),
      });
      return fail(
        error,
        `the access point's clock is ${amount} ${direction} this machine's (its welcome said ${details.serverTime}, here it was ${details.localTime})`,
        { details },
      );
    }
    return pass(
      `the access point's clock is ${amount} ${direction} this machine's (±${formatDuration(uncertainty)}; threshold ${formatDuration(config.clockSkewThresholdMs)})`,
      { details },
    );
  },
};
