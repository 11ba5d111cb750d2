/**
 * Reports each rejected link (audit record and warning) — except that clients which did not
 * authenticate cannot make the access point write one fsync'd record each: their rejections are
 * coalesced per source address (IP, not port), catalog code and 10-second window. The first of a
 * window is reported as usual, on disk before the reject frame; the others are counted, and one
 * `rejected` record with `count`, `firstTime`, `lastTime` (and one warning, event
 * `rejections_coalesced`) stands for them when the window closes or the access point stops.
 *
 * A client did not authenticate when it sent no certificate, or one that did not verify to the CA
 * for any reason but its validity dates. An executor whose chain verified (a SAN outside the
 * prefix, an expired certificate of our CA) is somebody: each of its rejections is reported alone.
 * In dev mode (no CA) only the clients without a certificate count as unauthenticated.
 */
import { messageOf } from '../errors/ah-error.js';
import type { Logger } from '../log/logger.js';
import type { ErrorInfo } from '../errors/ah-error.js';
import type { ClientHandshake } from '../model/admission.js';
import { VALIDITY_ERRORS } from '../x509/openssl-verify-codes.js';
import { WindowCoalescer, type WindowSummary } from '../util/window-coalescer.js';
import { distinguishedName } from '../x509/certificate.js';
import type { AccessPointAudit } from './access-point-audit.js';

export const REJECTION_WINDOW_MS = 10_000;
/** Open windows at most (source address × code); beyond it the oldest window is closed early. */
const MAX_WINDOWS = 4_096;
const UNAUTHENTICATED_CODES = new Set(['ENROLL_CLIENT_CERT_REQUIRED', 'ENROLL_CLIENT_CERT_REJECTED']);

export interface Rejection {
  readonly error: ErrorInfo;
  /** `HOST:PORT` of the link. */
  readonly remoteAddress: string;
  /** The IP alone: what rejections are coalesced by. */
  readonly sourceAddress: string;
  readonly name: string | null;
  readonly link: string;
  readonly handshake: ClientHandshake | undefined;
  /** The access point verifies executors against a CA (not dev mode). */
  readonly requireCa: boolean;
}

export function isUnauthenticated(r: Pick<Rejection, 'error' | 'handshake' | 'requireCa'>): boolean {
  if (UNAUTHENTICATED_CODES.has(r.error.code)) return true;
  const h = r.handshake;
  if (!h?.certificate) return true;
  return r.requireCa && !h.authorized && !VALIDITY_ERRORS.has(String(h.authorizationError ?? ''));
}

interface Counted {
  readonly error: ErrorInfo;
  readonly sourceAddress: string;
  readonly name: string | null;
}

export class RejectionCoalescer {
  private readonly windows: WindowCoalescer<Counted>;

  constructor(
    private readonly audit: AccessPointAudit | null,
    private readonly logger: Logger,
    options: { windowMs?: number; now?: () => number } = {},
  ) {
    this.windows = new WindowCoalescer<Counted>({
      windowMs: options.windowMs ?? REJECTION_WINDOW_MS,
      maxKeys: MAX_WINDOWS,
      now: options.now,
      onClose: (summary) => this.reportSummary(summary),
    });
  }

  /** Called once per rejection, before the reject frame is sent. */
  report(r: Rejection): void {
    if (isUnauthenticated(r) && !this.windows.offer(`${r.sourceAddress} ${r.error.code}`, { error: r.error, sourceAddress: r.sourceAddress, name: r.name }))
      return;
    const cert = r.handshake?.certificate;
    // On disk before the client hears why.
    this.audit?.rejected({ error: r.error, remoteAddress: r.remoteAddress, name: r.name, link: r.link, certificate: cert });
    this.logger.warn(
      {
        event: 'executor_rejected',
        code: r.error.code,
        remoteAddress: r.remoteAddress,
        subject: cert ? distinguishedName(cert.subject) : null,
        sans: cert?.subjectAltName ?? null,
        link: r.link,
      },
      `executor from ${r.remoteAddress} rejected: ${messageOf(r.error)}`,
    );
  }

  /** At stop: the counts of every open window are written. */
  flush(): void {
    this.windows.flush();
  }

  private reportSummary(s: WindowSummary<Counted>): void {
    const { error, sourceAddress } = s.samples[0]!;
    const names = [...new Set(s.samples.map((c) => c.name).filter((n): n is string => n !== null))];
    this.audit?.rejectedRepeatedly({ error: error, sourceAddress, count: s.count, firstAt: s.firstAt, lastAt: s.lastAt, names });
    this.logger.warn(
      {
        event: 'rejections_coalesced',
        code: error.code,
        sourceAddress,
        count: s.count,
        firstTime: new Date(s.firstAt).toISOString(),
        lastTime: new Date(s.lastAt).toISOString(),
      },
      `${s.count} more unauthenticated client${s.count === 1 ? '' : 's'} from ${sourceAddress} rejected: ${messageOf(error)}`,
    );
  }
}
