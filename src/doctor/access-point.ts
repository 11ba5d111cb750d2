/**
 * `ah agent doctor --access-point`: what stops an access point from starting or from doing its
 * job, checked before it is started (or while it runs): the state dir, the fleet port, the audit
 * log and the metrics port. A port already held by the access point of this state dir, or by
 * something that answers as an ah access point, is its own and passes.
 */
import { access, constants, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { checkStateDir } from '../engine/state-dir-trust.js';
import { AhError } from '../errors/ah-error.js';
import { formatHostPort, parseListenAddress, type HostPort } from '../util/address.js';
import type { BindProbe, DoctorSession } from './session.js';
import { fail, pass, skip, type Check } from './types.js';

/** Bind and release at once: is `listen` free for a daemon to take? */
export function tryBind(listen: HostPort): Promise<BindProbe> {
  return new Promise((resolveBind) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      const detail = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
      resolveBind({ free: false, code: err.code ?? 'ERROR', detail });
    });
    server.listen({ host: listen.host, port: listen.port, exclusive: true }, () => server.close(() => resolveBind({ free: true })));
  });
}

/** The first path on the way up that exists, and why this user cannot create `dir` below it. */
async function notWritable(dir: string): Promise<string | null> {
  let at = resolve(dir);
  for (;;) {
    try {
      const s = await stat(at);
      if (!s.isDirectory()) return `${at} is not a directory`;
      await access(at, constants.W_OK | constants.X_OK);
      return null;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(at) !== at) {
        at = dirname(at);
        continue;
      }
      return `${at}: ${code ?? (err as Error).message}`;
    }
  }
}

export const apStateDirCheck: Check<DoctorSession> = {
  name: 'ap.state-dir',
  title: 'state dir usable',
  async run(ctx) {
    const dir = resolve(ctx.config.stateDir);
    // The access point's own rules first (owner, modes, a file where a directory should be), in its words.
    try {
      await checkStateDir(dir, { create: false });
    } catch (err) {
      if (err instanceof AhError) return fail(err, err.message);
      throw err;
    }
    const problem = await notWritable(dir);
    if (problem)
      return fail(
        new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: dir, detail: problem }),
        `cannot create the status socket and files under ${dir}: ${problem}`,
      );
    return pass(`${dir} is usable (status socket ${dir}/run/access-point.sock)`);
  },
};

export const apListenCheck: Check<DoctorSession> = {
  name: 'ap.listen',
  title: 'fleet port free',
  async run(ctx) {
    const listen = ctx.config.listen!;
    const address = formatHostPort(listen);
    const probe = await ctx.listenProbe();
    if (probe.free) return pass(`${address} is free: the access point can listen there`);
    if (await ctx.accessPointAnswers()) return pass(`${address} is held by a running access point (it answers with ALPN ah-fleet/1)`);
    return fail(
      new AhError('ENROLL_LISTEN_FAILED', { address, detail: probe.detail }),
      `${address}: ${probe.detail}, and what holds it is not an ah access point`,
    );
  },
};

export const apAuditLogCheck: Check<DoctorSession> = {
  name: 'ap.audit-log',
  title: 'audit log writable',
  async run(ctx) {
    const file = ctx.config.auditLog;
    if (!file) return skip('no --audit-log');
    const abs = resolve(file);
    try {
      await access(abs, constants.W_OK);
      return pass(`${abs} is writable`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') return fail(new AhError('ENROLL_AUDIT_LOG_FAILED', { path: abs, detail: code ?? String(err) }), `${abs}: ${code}`);
    }
    const problem = await notWritable(dirname(abs));
    if (problem) return fail(new AhError('ENROLL_AUDIT_LOG_FAILED', { path: abs, detail: problem }), `${abs} cannot be created: ${problem}`);
    return pass(`${abs} can be created`);
  },
};

export const apMetricsCheck: Check<DoctorSession> = {
  name: 'ap.metrics',
  title: 'metrics port free',
  async run(ctx) {
    const text = ctx.config.metricsListen;
    if (!text) return skip('no --metrics-listen');
    const listen = parseListenAddress(text);
    const probe = await tryBind(listen);
    if (probe.free) return pass(`${text} is free: the access point can serve metrics there`);
    if (await ctx.accessPointAnswers()) return pass(`${text} is in use while the access point runs (its own metrics, presumably)`);
    return fail(new AhError('ENROLL_LISTEN_FAILED', { address: text, detail: probe.detail }), `${text}: ${probe.detail}`);
  },
};
