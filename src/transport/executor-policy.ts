/**
 * How the access point decides whether to admit an executor, after the TLS handshake, so that it
 * can answer with a precise `reject` instead of a bare TLS alert.
 */
import type { X509Certificate } from 'node:crypto';
import { AhError } from '../errors/ah-error.js';
import type { PeerVerdict } from '../machines/connection.js';
import { isValidAt, notAfterOf, serialOf, subjectAltNames } from '../x509/certificate.js';
import { VALIDITY_ERRORS } from './tls-errors.js';

export interface ExecutorPolicy {
  /**
   * Executors must chain to the CA the TLS server was given (`--ca`). False in dev mode, where any
   * certificate is admitted without CA verification.
   */
  readonly requireCa: boolean;
  /** `--executor-san-uri-prefix`: the executor's URI SAN must lie under it. */
  readonly sanUriPrefix: string | null;
}

/**
 * Does `uri` lie under `prefix`, at a path-segment boundary? `spiffe://example.org/ah/agent/`
 * admits `…/ah/agent/executor-1` but never `…/ah/agent-evil/x` or `…/ah/agentx`. Dot segments and
 * percent-encoding are refused outright: SPIFFE IDs may not hold them, and they are how a path
 * would sneak out from under a prefix.
 */
export function uriUnderPrefix(uri: string, prefix: string): boolean {
  if (/%|\/\.{1,2}(\/|$)|\\/.test(uri)) return false;
  const normalized = (u: string) => u.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/]*)/i, (_, scheme: string, authority: string) => scheme.toLowerCase() + authority.toLowerCase());
  const u = normalized(uri);
  const p = normalized(prefix);
  if (p.endsWith('/')) return u.startsWith(p) && u.length > p.length;
  return u === p || u.startsWith(`${p}/`);
}

/** What the TLS layer says of the client, read once per link. */
export interface ClientHandshake {
  readonly certificate: X509Certificate | undefined;
  readonly authorized: boolean;
  readonly authorizationError: string | null;
}

/** Returns the verdict or throws the catalog error the executor will read in its `reject`. */
export function verifyExecutor(socket: ClientHandshake, policy: ExecutorPolicy, now: number): PeerVerdict {
  const cert = socket.certificate;
  if (!cert) throw new AhError('ENROLL_CLIENT_CERT_REQUIRED');
  if (policy.requireCa && !socket.authorized) {
    const reason = String(socket.authorizationError ?? '');
    if (VALIDITY_ERRORS.has(reason)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
    throw new AhError('ENROLL_CLIENT_CERT_REJECTED');
  }
  if (!isValidAt(cert, now)) throw new AhError('ENROLL_CERT_NOT_VALID_NOW');
  const { uris } = subjectAltNames(cert);
  if (uris.length !== 1) throw new AhError('ENROLL_SAN_MISMATCH');
  const executorId = uris[0]!;
  if (policy.sanUriPrefix && !uriUnderPrefix(executorId, policy.sanUriPrefix)) throw new AhError('ENROLL_SAN_MISMATCH');
  return { executorId, certNotAfter: notAfterOf(cert), serial: serialOf(cert) };
}
