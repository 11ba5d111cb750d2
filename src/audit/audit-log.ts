/**
 * The access point's audit log (`--audit-log FILE`): one JSON line per enrollment, rejection,
 * rotation, departure and reload of the access point's own identity, plus a line when the access
 * point starts and stops.
 *
 * Every record is written with a synchronous `write(2)` on an `O_APPEND` descriptor and then
 * `fdatasync(2)`ed, so once `append()` returns the line is on disk: the engine calls it before it
 * acknowledges the event (before the `welcome` or `reject` frame goes out, before a renewed
 * certificate is used). Nothing is buffered in the process, so a crash loses nothing written.
 *
 * `reopen()` (SIGHUP, after logrotate renamed the file) closes the descriptor and opens the path
 * again. A failure (full disk, unwritable file or directory) never throws: the record is handed to
 * `onFailure` (the engine logs it, record included, so it still reaches the journal), `health()`
 * says what is wrong, and the next record tries again, reopening the file, so the log recovers by
 * itself once the disk has room or the permissions are fixed.
 */
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';

export const AUDIT_EVENTS = ['started', 'enrolled', 'rejected', 'rotated', 'duplicate', 'departed', 'reloaded', 'stopped'] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** One line of the audit log, before `time` and `seq` are added. */
export interface AuditRecord {
  readonly event: AuditEvent;
  readonly [field: string]: unknown;
}

export interface AuditFailure {
  /** errno code (`ENOSPC`, `EACCES`, `ENOTDIR`, ...) or `EIO`. */
  readonly code: string;
  readonly message: string;
  readonly at: string;
}

export interface AuditHealth {
  readonly path: string;
  /** The last attempt (open or write) succeeded. */
  readonly writable: boolean;
  /** Records written since start, by event. */
  readonly written: Readonly<Record<AuditEvent, number>>;
  /** Records that could not be written since start (they are in the daemon's log instead). */
  readonly failed: number;
  readonly lastError: AuditFailure | null;
}

export interface AuditLogOptions {
  readonly path: string;
  /** A record could not be written (or the file not opened: then `line` is null). */
  readonly onFailure?: (failure: AuditFailure, line: string | null) => void;
  /** The first successful write after failures. */
  readonly onRecovered?: (failed: number) => void;
  /** fdatasync after each record (default true). */
  readonly sync?: boolean;
  readonly now?: () => number;
}

/** fdatasync on a pipe, a terminal or /dev/null says EINVAL: there is nothing to flush. */
const NOTHING_TO_SYNC = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

function failureOf(err: unknown, now: number): AuditFailure {
  const e = err as NodeJS.ErrnoException;
  return { code: e?.code ?? 'EIO', message: e?.message ?? String(err), at: new Date(now).toISOString() };
}

export class AuditLog {
  private fd: number | null = null;
  private seq = 0;
  private failedCount = 0;
  private failing = false;
  /** A write failed half-way: the file ends in a torn line, so the next record starts a new one. */
  private torn = false;
  private lastError: AuditFailure | null = null;
  private readonly written = Object.fromEntries(AUDIT_EVENTS.map((e) => [e, 0])) as Record<AuditEvent, number>;
  private readonly now: () => number;

  constructor(private readonly options: AuditLogOptions) {
    this.now = options.now ?? Date.now;
  }

  get path(): string {
    return this.options.path;
  }

  /** Open (or create, mode 0640) the file for appending. False, and reported, when it cannot be. */
  open(): boolean {
    const failure = this.tryOpen();
    if (failure) this.fail(failure, null);
    return failure === null;
  }

  /**
   * SIGHUP: let go of the (possibly renamed) file and open the path afresh. The log counts as
   * writable again only once a record has been written.
   */
  reopen(): boolean {
    this.closeFd();
    return this.open();
  }

  /**
   * Append one record and flush it to disk. Returns whether it was written; never throws. The line
   * carries `time` (ISO 8601) and `seq` (1, 2, ... per process; a gap means lost records).
   */
  append(record: AuditRecord): boolean {
    const now = this.now();
    const line = `${JSON.stringify({ time: new Date(now).toISOString(), seq: ++this.seq, ...record })}\n`;
    const notOpen = this.tryOpen();
    if (notOpen) {
      this.fail(notOpen, line);
      return false;
    }
    const bytes = Buffer.from(this.torn ? `\n${line}` : line);
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(this.fd!, bytes, done, bytes.length - done);
      this.torn = false;
      this.flush();
    } catch (err) {
      if (done > 0 && done < bytes.length) this.torn = true;
      // Reopen on the next record: the file may have been replaced or the disk freed meanwhile.
      this.closeFd();
      this.fail(failureOf(err, now), line);
      return false;
    }
    this.written[record.event]++;
    this.recovered();
    return true;
  }

  close(): void {
    this.closeFd();
  }

  health(): AuditHealth {
    return {
      path: this.options.path,
      writable: !this.failing,
      written: { ...this.written },
      failed: this.failedCount,
      lastError: this.lastError,
    };
  }

  private tryOpen(): AuditFailure | null {
    if (this.fd !== null) return null;
    try {
      this.fd = openSync(this.options.path, 'a', 0o640);
      return null;
    } catch (err) {
      return failureOf(err, this.now());
    }
  }

  private flush(): void {
    if (this.options.sync === false) return;
    try {
      fdatasyncSync(this.fd!);
    } catch (err) {
      if (!NOTHING_TO_SYNC.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
    }
  }

  private fail(failure: AuditFailure, line: string | null): void {
    this.failing = true;
    this.lastError = failure;
    if (line !== null) this.failedCount++;
    this.options.onFailure?.(failure, line);
  }

  private recovered(): void {
    if (!this.failing) return;
    this.failing = false;
    this.options.onRecovered?.(this.failedCount);
  }

  private closeFd(): void {
    if (this.fd === null) return;
    try {
      closeSync(this.fd);
    } catch {
      // Closing a descriptor whose last write failed can fail again; it is gone either way.
    }
    this.fd = null;
  }
}
