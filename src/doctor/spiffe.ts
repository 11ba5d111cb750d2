/**
 * The SPIFFE identity, as the guide checks it by hand (`ls -la /run/spire/`, `stat agent.sock`,
 * `spire-agent api fetch x509`): the Workload API socket is there and answers, the agent accepts
 * our call with its security header, and it hands us an SVID that passes the same verification
 * `enroll` applies (the SPIFFE provider itself fetches it).
 */
import { stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { AhError } from '../errors/ah-error.js';
import { SpiffeIdentityProvider, type SvidMaterial } from '../providers/spiffe.js';
import { resolveWorkloadEndpoint } from '../providers/spiffe/endpoint.js';
import { formatDuration } from '../util/duration.js';
import { notAfterOf, notBeforeOf, serialOf, spiffeIdOf } from '../x509/certificate.js';
import { parseCertificates } from '../x509/chain.js';
import type { DoctorSession, SpiffeAnswer, SpiffeProbe } from './session.js';
import { fail, pass, skip, type Check, type CheckOutcome } from './types.js';
import { relativeTo } from './verify.js';
import { clearLongTimeout, setLongTimeout } from '../util/long-timer.js';

function socketAccepts(path: string, timeoutMs: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((resolve) => {
    const socket = connect(path);
    const timer = setLongTimeout(() => {
      socket.destroy();
      resolve(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    socket.once('connect', () => {
      clearLongTimeout(timer);
      socket.destroy();
      resolve(null);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearLongTimeout(timer);
      resolve(err);
    });
  });
}

/** The first thing the SPIFFE provider delivers: a verified SVID, or its error. */
function firstDelivery(socket: string | undefined, timeoutMs: number): Promise<SpiffeAnswer> {
  const provider = new SpiffeIdentityProvider({ socket });
  return new Promise<SpiffeAnswer>((resolve) => {
    const timer = setLongTimeout(() => resolve({ kind: 'none', reason: `no answer from the Workload API within ${formatDuration(timeoutMs)}` }), timeoutMs);
    provider.on('material', (material) => {
      clearLongTimeout(timer);
      resolve({ kind: 'material', material: material as SvidMaterial });
    });
    provider.on('error', (error) => {
      clearLongTimeout(timer);
      resolve({ kind: 'error', error });
    });
    void provider.start();
  }).finally(() => provider.stop());
}

export async function probeSpiffe(socketFlag: string | undefined, timeoutMs: number): Promise<SpiffeProbe> {
  const { path } = resolveWorkloadEndpoint(socketFlag);
  const origin = `the Workload API at ${path}`;
  const unavailable = new AhError('ENROLL_WORKLOAD_API_UNAVAILABLE', { path });
  let isSocket = false;
  try {
    isSocket = (await stat(path)).isSocket();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const error = code === 'ENOENT' || code === 'ENOTDIR' ? unavailable : new AhError('ENROLL_WORKLOAD_API_ERROR', { path, detail: code ?? String(err) });
    const finding = code === 'ENOENT' || code === 'ENOTDIR' ? `${path}: no such file (is the SPIRE agent running?)` : `${path}: ${code}`;
    return { path, origin, socket: { ok: false, error, finding }, answer: { kind: 'none', reason: 'no socket' }, material: null, materialError: error };
  }
  if (!isSocket) {
    const error = new AhError('ENROLL_WORKLOAD_API_ERROR', { path, detail: 'not a unix socket' });
    return {
      path,
      origin,
      socket: { ok: false, error, finding: `${path} exists but is not a unix socket` },
      answer: { kind: 'none', reason: 'no socket' },
      material: null,
      materialError: error,
    };
  }
  const refused = await socketAccepts(path, timeoutMs);
  if (refused) {
    // A socket file with nobody behind it: an agent that was killed.
    const error = refused.code === 'ECONNREFUSED' ? unavailable : new AhError('ENROLL_WORKLOAD_API_ERROR', { path, detail: refused.code ?? refused.message });
    const finding =
      refused.code === 'ECONNREFUSED' ? `${path} is a socket nobody listens on (a SPIRE agent that died?)` : `${path}: ${refused.code ?? refused.message}`;
    return { path, origin, socket: { ok: false, error, finding }, answer: { kind: 'none', reason: 'no socket' }, material: null, materialError: error };
  }
  const answer = await firstDelivery(socketFlag, timeoutMs);
  return {
    path,
    origin,
    socket: { ok: true, finding: `${path} is a unix socket and accepts connections` },
    answer,
    material: answer.kind === 'material' ? answer.material : null,
    materialError: answer.kind === 'error' ? answer.error : undefined,
  };
}

const notSpiffe = (ctx: DoctorSession) => skip(`the identity is ${ctx.config.identity.kind}, not spiffe`);

/**
 * What the header and SVID checks both start from: the agent's answer, or the outcome that ends
 * the check before it (not spiffe, no socket, no answer at all).
 */
async function agentAnswer(
  ctx: DoctorSession,
): Promise<{ probe: SpiffeProbe; answer: Exclude<SpiffeProbe['answer'], { kind: 'none' }> } | { outcome: CheckOutcome }> {
  if (ctx.config.identity.kind !== 'spiffe') return { outcome: notSpiffe(ctx) };
  const probe = await ctx.spiffe();
  if (!probe.socket.ok) return { outcome: skip('no Workload API to ask (see SPIFFE socket)') };
  const answer = probe.answer;
  if (answer.kind === 'none') return { outcome: fail(new AhError('ENROLL_WORKLOAD_API_ERROR', { path: probe.path, detail: answer.reason }), answer.reason) };
  return { probe, answer };
}

export const spiffeSocketCheck: Check<DoctorSession> = {
  name: 'spiffe.socket',
  title: 'SPIFFE socket',
  async run(ctx) {
    if (ctx.config.identity.kind !== 'spiffe') return notSpiffe(ctx);
    const probe = await ctx.spiffe();
    return probe.socket.ok ? pass(probe.socket.finding) : fail(probe.socket.error, probe.socket.finding);
  },
};

export const spiffeHeaderCheck: Check<DoctorSession> = {
  name: 'spiffe.header',
  title: 'Workload API security header',
  async run(ctx) {
    const got = await agentAnswer(ctx);
    if ('outcome' in got) return got.outcome;
    const { answer } = got;
    if (answer.kind === 'material') return pass('FetchX509SVID with the workload.spiffe.io header: the agent answered with an SVID');
    const { error } = answer;
    if (error.code === 'ENROLL_WORKLOAD_API_ERROR' && /^INVALID_ARGUMENT/.test(error.params.detail ?? '')) {
      return fail(error, `the agent refused the call: ${error.params.detail}`);
    }
    if (error.code === 'ENROLL_NO_IDENTITY_ISSUED' || error.code === 'ENROLL_INVALID_SVID') {
      return pass(
        `FetchX509SVID with the workload.spiffe.io header: accepted (the agent answered ${error.code === 'ENROLL_NO_IDENTITY_ISSUED' ? 'PERMISSION_DENIED: no identity for this workload' : 'with an SVID'})`,
      );
    }
    return fail(error, `the agent did not answer the call: ${error.message}`);
  },
};

export const spiffeSvidCheck: Check<DoctorSession> = {
  name: 'spiffe.svid',
  title: 'SVID fetched and valid',
  async run(ctx) {
    const got = await agentAnswer(ctx);
    if ('outcome' in got) return got.outcome;
    const { answer } = got;
    if (answer.kind === 'error') {
      const finding =
        answer.error.code === 'ENROLL_NO_IDENTITY_ISSUED'
          ? 'the agent has no SVID for this workload (no registration entry matches its selectors)'
          : answer.error.message;
      return fail(answer.error, finding);
    }
    const [leaf] = parseCertificates(answer.material.certPem);
    const now = ctx.now();
    const id = spiffeIdOf(leaf!) ?? '(no SPIFFE ID)';
    const notBefore = notBeforeOf(leaf!);
    const notAfter = notAfterOf(leaf!);
    const what = `${id}, serial ${serialOf(leaf!)}`;
    if (now < notBefore || now > notAfter) {
      return fail(
        new AhError('ENROLL_CERT_NOT_VALID_NOW'),
        `${what} is valid ${new Date(notBefore).toISOString()} to ${new Date(notAfter).toISOString()} (${now > notAfter ? `expired ${relativeTo(notAfter, now)}` : `starts ${relativeTo(notBefore, now)}`})`,
      );
    }
    return pass(`${what}: X.509-SVID rules, chain to its bundle and key all verified; ${formatDuration(notAfter - now)} left`);
  },
};
