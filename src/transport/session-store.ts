/**
 * The access point's TLS session records, sealed with the state dir's session keys and appended to
 * one file, so an executor's session survives a restart of the access point (even `kill -9`: an
 * append reaches the kernel at the end of the event-loop turn that made it). One sealed line holds
 * the records of one turn (a seal per enrollment was a cost of its own). The file is rewritten
 * (compacted) from the live records when it holds mostly dead ones. Records expire; the store
 * holds a bounded number, forgetting the oldest first.
 */
import { closeSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import type { SessionKeys } from './session-keys.js';

export interface SessionRecord {
  /** The session ID, hex: the PSK identity a resuming client sends. */
  readonly id: string;
  /** OpenSSL's serialized session. */
  readonly data: Buffer;
  /** Issuers the executor sent beyond its leaf (DER): a resumed link's chain is rebuilt from them. */
  readonly chain: readonly Buffer[];
  /** Never resumed after this (ms): the certificate's notAfter, or the maximum age if sooner. */
  readonly expiresAt: number;
  /**
   * The trust bundle (its digest) the chain's signatures were verified against: while that bundle
   * is still the one in force, a resumption checks names and validity but not signatures again.
   */
  readonly trustedUnder?: string;
}

interface Plain {
  i: string;
  d: string;
  c: string[];
  e: number;
  t?: string;
}

export const DEFAULT_MAX_SESSIONS = 100_000;
/** Records per sealed line when the file is rewritten. */
const RECORDS_PER_LINE = 512;

export class SessionStore {
  private readonly records = new Map<string, SessionRecord>();
  /** Put since the last flush: sealed when written, so that one dropped meanwhile never is. */
  private pending: SessionRecord[] = [];
  private flushQueued = false;
  /** Records in the file, live or not. */
  private lines = 0;
  /** The file, open for appending (opened on the first append after a load or a compaction). */
  private fd: number | null = null;

  constructor(
    private readonly file: string,
    private readonly keys: SessionKeys,
    private readonly maxEntries = DEFAULT_MAX_SESSIONS,
    /** A write failed (disk full, say): the sessions stay in memory; after a restart, full handshakes. */
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  get size(): number {
    return this.records.size;
  }

  /** Reads what the file holds that can still be opened and has not expired (compacting it when mostly dead). */
  load(now: number): number {
    let text = '';
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      // No file yet (or unreadable: it is rewritten below).
    }
    const lines = text.split('\n').filter(Boolean);
    this.lines = 0;
    for (const line of lines) {
      const records = this.unseal(line);
      this.lines += records.length;
      for (const record of records) if (record.expiresAt > now) this.remember(record);
    }
    if (this.mostlyDead()) this.compact(now);
    return this.records.size;
  }

  put(record: SessionRecord): void {
    this.remember(record);
    this.pending.push(record);
    if (this.flushQueued) return;
    this.flushQueued = true;
    setImmediate(() => {
      try {
        this.flush();
      } catch (err) {
        this.onError(err as Error);
      }
    });
  }

  /** Forgets a record (one put in this event-loop turn is never written). */
  drop(id: string): void {
    this.records.delete(id);
    this.pending = this.pending.filter((r) => r.id !== id);
  }

  /** The record for a session ID, unless it expired (then it is forgotten). */
  get(id: string, now: number): SessionRecord | null {
    const record = this.records.get(id);
    if (!record) return null;
    if (record.expiresAt <= now) {
      this.records.delete(id);
      return null;
    }
    return record;
  }

  /** Appends what was put since the last flush; compacts when the file is mostly dead records. */
  flush(): void {
    this.flushQueued = false;
    if (!this.pending.length) return;
    const line = this.seal(this.pending);
    this.lines += this.pending.length;
    this.pending = [];
    this.fd ??= openSync(this.file, 'a', 0o600);
    writeSync(this.fd, `${line}\n`);
    if (this.mostlyDead()) this.compact(Date.now());
  }

  /** Rewrites the file from the live records, sealed with the current key. */
  compact(now: number): void {
    this.pending = [];
    const live: SessionRecord[] = [];
    for (const record of this.records.values()) {
      if (record.expiresAt > now) live.push(record);
      else this.records.delete(record.id);
    }
    const lines: string[] = [];
    for (let i = 0; i < live.length; i += RECORDS_PER_LINE) lines.push(this.seal(live.slice(i, i + RECORDS_PER_LINE)));
    this.close();
    const tmp = `${this.file}.tmp`;
    rmSync(tmp, { force: true });
    writeFileSync(tmp, lines.length ? `${lines.join('\n')}\n` : '', { mode: 0o600 });
    renameSync(tmp, this.file);
    this.lines = live.length;
  }

  private mostlyDead(): boolean {
    return this.lines > 2 * this.records.size + 4096;
  }

  /** Writes what is pending and closes the file. */
  close(): void {
    if (this.pending.length) this.flush();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private remember(record: SessionRecord): void {
    this.records.delete(record.id);
    this.records.set(record.id, record);
    if (this.records.size > this.maxEntries) this.records.delete(this.records.keys().next().value!);
  }

  /** One line: the records put in one event-loop turn (or a slice of a compaction), sealed together. */
  private seal(records: readonly SessionRecord[]): string {
    const plain = records.map((r): Plain => {
      const p: Plain = { i: r.id, d: r.data.toString('base64'), c: r.chain.map((c) => c.toString('base64')), e: r.expiresAt };
      if (r.trustedUnder) p.t = r.trustedUnder;
      return p;
    });
    return this.keys.seal(Buffer.from(JSON.stringify(plain)));
  }

  /** The records of a line (a line written before batching holds one record, not an array). */
  private unseal(line: string): SessionRecord[] {
    const opened = this.keys.open(line);
    if (!opened) return [];
    try {
      const parsed = JSON.parse(opened.toString('utf8')) as Plain | Plain[];
      return (Array.isArray(parsed) ? parsed : [parsed]).map((p) => {
        const record = { id: p.i, data: Buffer.from(p.d, 'base64'), chain: p.c.map((c) => Buffer.from(c, 'base64')), expiresAt: p.e };
        return typeof p.t === 'string' ? { ...record, trustedUnder: p.t } : record;
      });
    } catch {
      return [];
    }
  }
}
