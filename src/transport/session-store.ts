/**
 * The access point's TLS session records, sealed with the state dir's session keys and appended to
 * one file, so an executor's session survives a restart of the access point (even `kill -9`: an
 * append reaches the kernel at most `FLUSH_INTERVAL_MS` after the handshake that made it). One
 * sealed line holds the records of that interval: a seal and a write per handshake cost ~40 µs
 * under load, a tenth of what a resumed link costs the access point (docs/performance.md §Session
 * records). The file is rewritten (compacted) from the live records when it holds mostly dead
 * ones. Records expire; the store holds a bounded number, forgetting the oldest first.
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

/**
 * The sealed form of a line's records: a version byte, then per record the session ID (u8 length,
 * ASCII), OpenSSL's session (u32 length), the chain (u8 count, each u32 length + DER), expiresAt
 * (float64) and the bundle digest (u8 length, 0 for none). Binary because the JSON form it replaces
 * (base64 inside JSON inside a sealed line) cost more per enrollment than the rest of the store.
 */
const BINARY_V1 = 0x01;

function encodeRecords(records: readonly SessionRecord[]): Buffer {
  let size = 1;
  for (const r of records) {
    size += 1 + Buffer.byteLength(r.id, 'latin1') + 4 + r.data.length + 1 + 8 + 1 + Buffer.byteLength(r.trustedUnder ?? '', 'latin1');
    for (const c of r.chain) size += 4 + c.length;
  }
  const out = Buffer.allocUnsafe(size);
  let at = out.writeUInt8(BINARY_V1, 0);
  for (const r of records) {
    at = out.writeUInt8(r.id.length, at);
    at += out.write(r.id, at, 'latin1');
    at = out.writeUInt32BE(r.data.length, at);
    at += r.data.copy(out, at);
    at = out.writeUInt8(r.chain.length, at);
    for (const c of r.chain) {
      at = out.writeUInt32BE(c.length, at);
      at += c.copy(out, at);
    }
    at = out.writeDoubleBE(r.expiresAt, at);
    const t = r.trustedUnder ?? '';
    at = out.writeUInt8(t.length, at);
    at += out.write(t, at, 'latin1');
  }
  return out;
}

/** Throws RangeError on a line that does not hold whole records. */
function decodeRecords(bytes: Buffer): SessionRecord[] {
  const out: SessionRecord[] = [];
  let at = 1;
  const take = (n: number): Buffer => {
    if (at + n > bytes.length) throw new RangeError('truncated session record');
    // A copy: a record is kept for hours, the line it came in need not be.
    const slice = Buffer.from(bytes.subarray(at, at + n));
    at += n;
    return slice;
  };
  while (at < bytes.length) {
    const id = take(bytes.readUInt8(at++)).toString('latin1');
    const data = take(bytes.readUInt32BE((at += 4) - 4));
    const chain: Buffer[] = [];
    for (let n = bytes.readUInt8(at++); n > 0; n--) chain.push(take(bytes.readUInt32BE((at += 4) - 4)));
    const expiresAt = bytes.readDoubleBE((at += 8) - 8);
    const t = take(bytes.readUInt8(at++)).toString('latin1');
    out.push(t ? { id, data, chain, expiresAt, trustedUnder: t } : { id, data, chain, expiresAt });
  }
  return out;
}

/** A record as lines written before the binary form hold it (JSON). */
interface Plain {
  i: string;
  d: string;
  c: string[];
  e: number;
  t?: string;
}

export const DEFAULT_MAX_SESSIONS = 100_000;
/**
 * How long a put waits to be written with the others of the same interval. A session made in the
 * last such interval before a `kill -9` is lost: its executor makes a full handshake after the
 * restart instead of resuming.
 */
export const FLUSH_INTERVAL_MS = 25;

/** Records per sealed line at most (a flush of a storm, a compaction). */
const RECORDS_PER_LINE = 512;

export class SessionStore {
  private readonly records = new Map<string, SessionRecord>();
  /** Put since the last flush: sealed when written, so that one dropped meanwhile never is. */
  private pending: SessionRecord[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  /** Records in the file, live or not. */
  private lines = 0;
  /** The file, open for appending (opened on the first append after a load or a compaction). */
  private fd: number | null = null;
  /** The file ends in a line cut short (the process was killed mid-write): the next append starts a line of its own. */
  private cutShort = false;

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
    this.cutShort = text.length > 0 && !text.endsWith('\n');
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
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => {
      try {
        this.flush();
      } catch (err) {
        this.onError(err as Error);
      }
    }, FLUSH_INTERVAL_MS);
    // The store never holds the process open: close() writes what is pending.
    this.flushTimer.unref();
  }

  /** Forgets a record (one put and not yet written never is). */
  drop(id: string): void {
    this.records.delete(id);
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
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    // Those dropped (or put again) since are not written.
    const records = this.pending.filter((r) => this.records.get(r.id) === r);
    this.pending = [];
    if (!records.length) return;
    // A storm's interval can hold thousands: lines of a bounded size, so that a line cut short by
    // a kill mid-write loses a slice of them, not all.
    const lines: string[] = [];
    for (let i = 0; i < records.length; i += RECORDS_PER_LINE) lines.push(this.seal(records.slice(i, i + RECORDS_PER_LINE)));
    this.lines += records.length;
    this.fd ??= openSync(this.file, 'a', 0o600);
    writeSync(this.fd, `${this.cutShort ? '\n' : ''}${lines.join('\n')}\n`);
    this.cutShort = false;
    if (this.mostlyDead()) this.compact(Date.now());
  }

  /** Rewrites the file from the live records, sealed with the current key. */
  compact(now: number): void {
    this.pending = [];
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
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
    this.cutShort = false;
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

  /** One line: the records put in one flush interval (or a slice of a compaction), sealed together. */
  private seal(records: readonly SessionRecord[]): string {
    return this.keys.seal(encodeRecords(records));
  }

  /** The records of a line (lines written before the binary form hold JSON: an array, or one record). */
  private unseal(line: string): SessionRecord[] {
    const opened = this.keys.open(line);
    if (!opened) return [];
    try {
      if (opened[0] === BINARY_V1) return decodeRecords(opened);
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
