/**
 * The TLS handshake with the access point (`openssl s_client -connect HOST:4433 -showcerts`): the
 * chain it serves, each certificate's subject, issuer, SANs, validity and SPKI hash, and the same
 * verdict on it an executor reaches (CA chain, `--expected-server-id`, `--server-san`, the host of
 * `--remote-server`; or the key trusted on first use with the dev identity). No client certificate
 * is presented: this is about the access point.
 */
import type { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { AhError } from '../errors/ah-error.js';
import { peerChain, verifyAccessPoint } from '../transport/access-point-trust.js';
import { ALPN_PROTOCOL } from '../transport/messages.js';
import { dialErrorToCatalog } from '../transport/tls-errors.js';
import { formatDuration } from '../util/duration.js';
import { distinguishedName, fingerprintOf, isValidAt, notAfterOf, notBeforeOf, serialOf, spkiPin, subjectAltNames } from '../x509/certificate.js';
import type { DoctorSession, TlsProbe, TrustPlan } from './session.js';
import { fail, pass, skip, type Check, type CheckOutcome } from './types.js';
import { parseCertificates } from '../x509/chain.js';
import { certificateJson, certificateLines, relativeTo } from './verify.js';
import { clearLongTimeout, setLongTimeout } from '../util/long-timer.js';

function handshake(ctx: DoctorSession, trust: TrustPlan): Promise<{ socket: TLSSocket } | { error: AhError }> {
  const { target, connectTimeoutMs, tlsMinVersion } = ctx.config;
  return new Promise((resolve) => {
    const socket = connect({
      host: target.host,
      port: target.port,
      ...(isIP(target.host) ? {} : { servername: target.host }),
      ...(trust.kind === 'ca' ? { ca: trust.bundlePem } : {}),
      ALPNProtocols: [ALPN_PROTOCOL],
      minVersion: tlsMinVersion ?? 'TLSv1.3',
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    const timer = setLongTimeout(() => {
      socket.destroy();
      resolve({ error: new AhError('ENROLL_CONNECTION_TIMEOUT', { timeout: formatDuration(connectTimeoutMs) }) });
    }, connectTimeoutMs);
    socket.once('secureConnect', () => {
      clearLongTimeout(timer);
      resolve({ socket });
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearLongTimeout(timer);
      resolve({ error: dialErrorToCatalog(err, { host: target.host, address: target.address }) });
    });
  });
}

/** Why a certificate is outside its validity, in words that point at the clocks when they may be to blame. */
function validityNote(leaf: X509Certificate, now: number): string {
  if (now < notBeforeOf(leaf)) return `not valid until ${new Date(notBeforeOf(leaf)).toISOString()} (${relativeTo(notBeforeOf(leaf), now)}): clock skew?`;
  return `expired ${new Date(notAfterOf(leaf)).toISOString()} (${relativeTo(notAfterOf(leaf), now)})`;
}

async function verdictByCa(ctx: DoctorSession, socket: TLSSocket, trust: Extract<TrustPlan, { kind: 'ca' }>, chain: X509Certificate[]): Promise<CheckOutcome> {
  const { config } = ctx;
  const leaf = chain[0]!;
  const now = ctx.now();
  try {
    await verifyAccessPoint(
      socket,
      { kind: 'ca', bundlePem: trust.bundlePem, host: config.target.host, expectedServerId: config.expectedServerId, serverSan: config.serverSan },
      { address: config.target.address },
      now,
      chain.map((c) => c.raw),
    );
  } catch (err) {
    const error = err instanceof AhError ? err : new AhError('ENROLL_INTERNAL', { detail: String(err) });
    let why: string;
    switch (error.code) {
      case 'ENROLL_CERT_NOT_VALID_NOW':
        why = `the access point's certificate is ${validityNote(isValidAt(leaf, now) ? (chain.find((c) => !isValidAt(c, now)) ?? leaf) : leaf, now)}`;
        break;
      case 'ENROLL_SERVER_UNKNOWN_AUTHORITY':
        why = `nothing in ${trust.origin} issued the chain (top issuer ${distinguishedName(chain[chain.length - 1]!.issuer)})`;
        break;
      case 'ENROLL_CHAIN_LONE_LEAF':
        why = `${error.params.reason}: serve the full chain (cat cert.pem intermediate.pem > fullchain.pem) or add the right CA to ${trust.origin}`;
        break;
      case 'ENROLL_CHAIN_INCOMPLETE':
        why = `${trust.origin} holds part of the chain but not its root`;
        break;
      case 'ENROLL_SAN_MISMATCH':
        why = `no --server-san entry matches (${subjectAltNames(leaf).dns.concat(subjectAltNames(leaf).uris).join(', ') || 'no SANs'}, ${spkiPin(leaf)})`;
        break;
      default:
        why = error.params.reason ? `${error.message} (${error.params.reason})` : error.message;
    }
    return fail(error, why);
  }
  const named = config.expectedServerId
    ? `SPIFFE ID ${config.expectedServerId} as --expected-server-id`
    : config.serverSan
      ? 'a --server-san entry matches'
      : `names ${config.target.host}`;
  return pass(`verified: chains to ${trust.origin}; ${named}`);
}

async function verdictByFirstUse(ctx: DoctorSession, trust: Extract<TrustPlan, { kind: 'first-use' }>, leaf: X509Certificate): Promise<CheckOutcome> {
  const now = ctx.now();
  if (!isValidAt(leaf, now)) return fail(new AhError('ENROLL_CERT_NOT_VALID_NOW'), `the access point's certificate is ${validityNote(leaf, now)}`);
  const pin = spkiPin(leaf);
  let remembered: string | null = null;
  try {
    remembered = (await readFile(trust.file, 'utf8')).split(/\s+/)[0] ?? null;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      return fail(new AhError('ENROLL_STATE_DIR_UNUSABLE', { path: trust.file, detail: (err as Error).message }), `cannot read ${trust.file}`);
    }
  }
  if (remembered === null) return pass(`dev identity: not trusted yet; the first enrollment trusts key ${pin} on first use (${trust.file})`);
  if (remembered !== pin) {
    const error = new AhError('ENROLL_SERVER_KEY_CHANGED', { address: ctx.config.target.address, expected: remembered, actual: pin, file: trust.file });
    return fail(error, `the access point's key is not the one trusted on first use (${trust.file})`);
  }
  return pass(`dev identity: the key is the one trusted on first use (${trust.file})`);
}

async function verdictForAccessPoint(ctx: DoctorSession, leaf: X509Certificate): Promise<CheckOutcome> {
  const now = ctx.now();
  if (!isValidAt(leaf, now))
    return fail(new AhError('ENROLL_CERT_NOT_VALID_NOW'), `it serves a certificate that is ${validityNote(leaf, now)}: executors refuse it`);
  const id = await ctx.identity();
  const configured = id.chain?.[0];
  if (!configured) return pass('it serves a certificate valid now (the configured identity could not be read to compare)');
  if (fingerprintOf(configured) === fingerprintOf(leaf)) return pass('it serves the configured certificate, valid now');
  if (spkiPin(configured) === spkiPin(leaf))
    return pass(`it serves serial ${serialOf(leaf)} with the configured key (the configured certificate is serial ${serialOf(configured)})`);
  return pass(
    `it serves serial ${serialOf(leaf)}, not the configured certificate (serial ${serialOf(configured)}): another access point, or one started with other flags`,
  );
}

export async function probeTls(ctx: DoctorSession): Promise<TlsProbe> {
  const tcp = await ctx.tcp();
  if (!tcp.ok) return { ok: false, chain: [] };
  const trust = await ctx.trust();
  const shake = await handshake(ctx, trust);
  if ('error' in shake) return { ok: false, error: shake.error, chain: [] };
  const { socket } = shake;
  try {
    const chain = peerChain(socket);
    const base = { ok: true, protocol: socket.getProtocol(), alpn: socket.alpnProtocol, chain };
    if (chain.length === 0) return { ...base, verdict: fail(new AhError('ENROLL_TLS_VERIFY_FAILED'), 'the server presented no certificate') };
    if (socket.alpnProtocol !== ALPN_PROTOCOL) {
      return {
        ...base,
        verdict: fail(
          new AhError('ENROLL_PROTOCOL_ERROR', { detail: `the server did not select ALPN ${ALPN_PROTOCOL}` }),
          `not an ah access point: no ALPN ${ALPN_PROTOCOL}`,
        ),
      };
    }
    let verdict: CheckOutcome;
    if (trust.kind === 'ca') verdict = await verdictByCa(ctx, socket, trust, chain);
    else if (trust.kind === 'first-use') verdict = await verdictByFirstUse(ctx, trust, chain[0]!);
    else if (ctx.config.role === 'access-point') verdict = await verdictForAccessPoint(ctx, chain[0]!);
    else verdict = skip(`chain not verified: ${trust.reason}`);
    return { ...base, verdict };
  } finally {
    // A polite close (close_notify, FIN) rather than a reset the access point would log as one.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 2_000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }
}

export const tlsCheck: Check<DoctorSession> = {
  name: 'tls',
  title: 'tls handshake',
  async run(ctx) {
    const tcp = await ctx.tcp();
    if (!tcp.ok) return skip('no TCP connection (see tcp connect)');
    const probe = await ctx.tls();
    if (!probe.ok) return fail(probe.error!, `handshake with ${ctx.config.target.address} failed: ${probe.error!.message}`);
    const now = ctx.now();
    // Node completes the chain from our trust bundle: say which certificates came from there.
    const trust = await ctx.trust();
    const anchors = new Set(trust.kind === 'ca' ? parseCertificates(trust.bundlePem).map(fingerprintOf) : []);
    const lines = probe.chain.flatMap((c, i) => {
      const [first, ...rest] = certificateLines(c, i, now);
      return [anchors.has(fingerprintOf(c)) ? `${first}   (in ${trust.kind === 'ca' ? trust.origin : 'the trust bundle'})` : first!, ...rest];
    });
    const details = { protocol: probe.protocol, alpn: probe.alpn || null, chain: probe.chain.map(certificateJson) };
    const head = `${probe.protocol ?? 'TLS'}, ALPN ${probe.alpn || 'none'}, chain of ${probe.chain.length}`;
    const verdict = probe.verdict!;
    // A verdict that could not be reached is not a failed handshake: the handshake passes.
    const status = verdict.status === 'skip' ? 'pass' : verdict.status;
    return { status, finding: `${head}; ${verdict.finding}`, error: verdict.error, details, lines };
  },
};
