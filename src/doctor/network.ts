/**
 * The first two things the guide checks by hand (`dig`, `nc -zv HOST 4433`): does the access
 * point's name resolve, and does anything accept a TCP connection on its port.
 */
import { lookup } from 'node:dns/promises';
import { connect, isIP } from 'node:net';
import { AhError } from '../errors/ah-error.js';
import { dialErrorToCatalog } from '../transport/tls-errors.js';
import { formatHostPort } from '../util/address.js';
import { formatDuration } from '../util/duration.js';
import type { DoctorSession, ResolveProbe, TcpProbe } from './session.js';
import { fail, pass, skip, type Check } from './types.js';
import { clearLongTimeout, setLongTimeout, type LongTimer } from '../util/long-timer.js';

export async function resolveHost(host: string, timeoutMs: number): Promise<ResolveProbe> {
  if (isIP(host)) return { ok: true, literal: true, addresses: [host] };
  let timer: LongTimer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setLongTimeout(() => reject(Object.assign(new Error('timeout'), { code: `no answer within ${formatDuration(timeoutMs)}` })), timeoutMs);
  });
  try {
    const answers = await Promise.race([lookup(host, { all: true }), timeout]);
    return { ok: true, literal: false, addresses: answers.map((a) => a.address) };
  } catch (err) {
    return { ok: false, error: new AhError('ENROLL_NAME_NOT_RESOLVED', { host, detail: (err as NodeJS.ErrnoException).code ?? (err as Error).message }) };
  } finally {
    clearLongTimeout(timer);
  }
}

export function tcpConnect(target: { host: string; port: number; address: string }, timeoutMs: number): Promise<TcpProbe> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect({ host: target.host, port: target.port });
    const timer = setLongTimeout(() => {
      socket.destroy();
      resolve({ ok: false, error: new AhError('ENROLL_CONNECTION_TIMEOUT', { timeout: formatDuration(timeoutMs) }) });
    }, timeoutMs);
    socket.once('connect', () => {
      clearLongTimeout(timer);
      const peer = formatHostPort({ host: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 });
      socket.destroy();
      resolve({ ok: true, ms: performance.now() - started, peer });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearLongTimeout(timer);
      resolve({ ok: false, error: dialErrorToCatalog(err, target) });
    });
  });
}

export const dnsCheck: Check<DoctorSession> = {
  name: 'dns',
  title: 'name resolution',
  async run(ctx) {
    const { host } = ctx.config.target;
    const probe = await ctx.resolve();
    const where = ctx.listenNote();
    if (!probe.ok) return fail(probe.error, `${host} does not resolve: ${probe.error.params.detail}${where}`);
    if (probe.literal) return pass(`${host} is an IP address: nothing to resolve${where}`);
    return pass(`${host} resolves to ${probe.addresses.join(', ')}${where}`, { details: { addresses: probe.addresses } });
  },
};

export const tcpCheck: Check<DoctorSession> = {
  name: 'tcp',
  title: 'tcp connect',
  async run(ctx) {
    const { address } = ctx.config.target;
    const probe = await ctx.tcp();
    if (!probe.ok && probe.notRunning) return skip(`the access point is not running: nothing listens on ${address} (see fleet port free)`);
    if (!probe.ok) {
      const what = probe.error.code === 'ENROLL_CONNECTION_REFUSED' ? 'nothing listens there (connection refused)' : probe.error.message;
      return fail(probe.error, `cannot connect to ${address}: ${what}`);
    }
    return pass(`connected to ${address} (${probe.peer}) in ${formatDuration(probe.ms)}`);
  },
};
