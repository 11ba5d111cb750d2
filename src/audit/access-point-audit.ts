/**
 * The access point's audit records, field by field (README "Audit log"). The engine calls these at
 * the moment each event is decided and before it is acknowledged; each call writes and flushes one
 * line (./audit-log.ts) and never throws. A record that cannot be written is logged at error level
 * with the record itself (code ENROLL_AUDIT_LOG_FAILED), so it still reaches the journal.
 */
import type { X509Certificate } from 'node:crypto';
import { AhError, type ErrorInfo } from '../errors/ah-error.js';
import type { Logger } from '../log/logger.js';
import type { IdentitySummary } from '../model/identity.js';
import { messageOf } from '../errors/ah-error.js';
import { distinguishedName, notAfterOf, serialOf, spiffeIdOf, subjectAltNames } from '../x509/certificate.js';
import { AuditLog, type AuditFailure, type AuditHealth, type AuditRecord } from './audit-log.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** An executor as the audit log names it. */
export interface AuditedExecutor {
  readonly executorId: string;
  readonly name: string;
  readonly remoteAddress: string;
  readonly serial: string;
  readonly notAfter: number;
  readonly link: string;
}

export class AccessPointAudit {
  private readonly log: AuditLog;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
  ) {
    this.log = new AuditLog({
      path,
      onFailure: (failure, line) => this.reportFailure(failure, line),
      onRecovered: (failed) =>
        logger.warn(
          { event: 'audit_log_writable_again', path, failed },
          `audit log ${path} is writable again${failed ? ` (${failed} record${failed === 1 ? ' was' : 's were'} not written to it; they are in this log, code ENROLL_AUDIT_LOG_FAILED)` : ''}`,
        ),
    });
  }

  /** Open at start; a failure is reported and the access point serves on (records go to the log). */
  open(): void {
    if (this.log.open()) this.logger.info({ event: 'audit_log_opened', path: this.path }, `audit log: appending to ${this.path}`);
  }

  /** SIGHUP (logrotate): reopen the file by its name. */
  reopen(): void {
    if (this.log.reopen()) this.logger.info({ event: 'audit_log_reopened', path: this.path }, `audit log reopened: ${this.path}`);
  }

  health(): AuditHealth {
    return this.log.health();
  }

  close(): void {
    this.log.close();
  }

  started(e: { listen: string; provider: string; devMode: boolean; identity: IdentitySummary | null; version: string }): void {
    this.append({
      event: 'started',
      accessPoint: e.listen,
      pid: process.pid,
      version: e.version,
      provider: e.provider,
      devMode: e.devMode,
      ...this.own(e.identity),
    });
  }

  /** A first link (`enrolled`) or a second one replacing the current link (`rotated`). */
  admitted(executor: AuditedExecutor, previous: AuditedExecutor | null): void {
    this.append({
      event: previous ? 'rotated' : 'enrolled',
      ...this.executor(executor),
      ...(previous
        ? {
            previousSerial: previous.serial,
            previousNotAfter: iso(previous.notAfter),
            previousLink: previous.link,
            previousRemoteAddress: previous.remoteAddress,
          }
        : {}),
    });
  }

  /**
   * A second holder of a connected identity, without a continuity proof: both addresses and both
   * serials, and what was done (`superseded`: the newcomer took over).
   */
  duplicate(executor: AuditedExecutor, previous: AuditedExecutor | null, action: 'superseded'): void {
    this.append({
      event: 'duplicate',
      action,
      ...this.executor(executor),
      previousRemoteAddress: previous?.remoteAddress ?? null,
      previousSerial: previous?.serial ?? null,
      previousNotAfter: previous ? iso(previous.notAfter) : null,
      previousLink: previous?.link ?? null,
      previousName: previous?.name ?? null,
    });
  }

  rejected(e: { error: ErrorInfo; remoteAddress: string; name: string | null; link: string; certificate: X509Certificate | undefined }): void {
    const cert = e.certificate;
    const sans = cert ? subjectAltNames(cert) : null;
    this.append({
      event: 'rejected',
      code: e.error.code,
      message: messageOf(e.error),
      ...(e.error.params.reason ? { reason: e.error.params.reason } : {}),
      executorId: cert ? spiffeIdOf(cert) : null,
      name: e.name,
      remoteAddress: e.remoteAddress,
      serial: cert ? serialOf(cert) : null,
      notAfter: cert ? iso(notAfterOf(cert)) : null,
      subject: cert ? distinguishedName(cert.subject) : null,
      sans: sans ? [...sans.uris.map((u) => `URI:${u}`), ...sans.dns.map((d) => `DNS:${d}`), ...sans.ips.map((i) => `IP:${i}`)] : [],
      link: e.link,
    });
  }

  /**
   * Rejections of unauthenticated clients from one source address that were only counted
   * (./rejection-coalescer.ts): one record stands for `count` of them, the first reported on its own.
   */
  rejectedRepeatedly(e: { error: ErrorInfo; sourceAddress: string; count: number; firstAt: number; lastAt: number; names: readonly string[] }): void {
    this.append({
      event: 'rejected',
      code: e.error.code,
      message: messageOf(e.error),
      sourceAddress: e.sourceAddress,
      count: e.count,
      firstTime: iso(e.firstAt),
      lastTime: iso(e.lastAt),
      names: e.names,
      coalesced: true,
    });
  }

  departed(executor: AuditedExecutor, reason: string): void {
    this.append({ event: 'departed', ...this.executor(executor), reason });
  }

  /** The access point's own identity was renewed, or its trust bundle changed (CA rotation). */
  reloaded(e: { reason: string; identity: IdentitySummary; previous: IdentitySummary | null; listen: string | null }): void {
    this.append({
      event: 'reloaded',
      reason: e.reason,
      accessPoint: e.listen,
      provider: e.identity.provider,
      ...this.own(e.identity),
      previousSerial: e.previous?.serial ?? null,
      previousNotAfter: e.previous ? iso(e.previous.notAfter) : null,
    });
  }

  stopped(e: { links: number }): void {
    this.append({ event: 'stopped', links: e.links });
  }

  private append(record: AuditRecord): void {
    this.log.append(record);
  }

  private executor(e: AuditedExecutor) {
    return { executorId: e.executorId, name: e.name, remoteAddress: e.remoteAddress, serial: e.serial, notAfter: iso(e.notAfter), link: e.link };
  }

  private own(id: IdentitySummary | null) {
    return {
      spiffeId: id?.spiffeId ?? null,
      serial: id?.serial ?? null,
      notBefore: id ? iso(id.notBefore) : null,
      notAfter: id ? iso(id.notAfter) : null,
    };
  }

  private reportFailure(failure: AuditFailure, line: string | null): void {
    const error = new AhError('ENROLL_AUDIT_LOG_FAILED', { path: this.path, detail: failure.message });
    if (line === null) {
      this.logger.error(
        { event: 'audit_log_failed', code: error.code, path: this.path, errno: failure.code },
        `${error.message}; the access point keeps serving and writes each audit record to this log until the file is writable`,
      );
      return;
    }
    let audit: unknown = line;
    try {
      audit = JSON.parse(line);
    } catch {
      // keep the text
    }
    this.logger.error(
      { event: 'audit_record_kept', code: error.code, path: this.path, errno: failure.code, audit },
      `${error.message}; audit record kept here instead`,
    );
  }
}
