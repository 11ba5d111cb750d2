/**
 * The keys that seal the access point's TLS session records on disk (session-store.ts), kept in
 * the state dir (mode 0600) so sessions survive a restart. They rotate on a schedule: a new key
 * seals from then on, the previous one is kept to open what it sealed, older ones are dropped
 * (their records can no longer be resumed: the executor makes a full handshake).
 *
 * A record is `KEYID.BASE64(iv | tag | AES-256-GCM ciphertext)`; the key id is in the clear so a
 * record names the key that opens it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export const DEFAULT_SESSION_KEY_ROTATION_MS = 24 * 3_600_000;

interface SessionKey {
  readonly id: string;
  readonly key: Buffer;
  readonly createdAt: number;
}

interface KeyFile {
  readonly version: 1;
  readonly keys: { id: string; key: string; createdAt: string }[];
}

const IV = 12;
const TAG = 16;

export class SessionKeys {
  private keys: SessionKey[];

  private constructor(
    private readonly file: string,
    private readonly rotationMs: number,
    keys: SessionKey[],
  ) {
    this.keys = keys;
  }

  /**
   * Reads the key file, or creates it with a first key. A file that cannot be read as keys is
   * replaced (sessions sealed under it are lost, which costs executors one full handshake).
   */
  static open(file: string, options: { rotationMs?: number; now?: number } = {}): SessionKeys {
    const now = options.now ?? Date.now();
    const rotationMs = options.rotationMs ?? DEFAULT_SESSION_KEY_ROTATION_MS;
    const keys = readKeys(file);
    const store = new SessionKeys(file, rotationMs, keys ?? [newKey(now)]);
    if (!keys) store.save();
    store.rotateIfDue(now);
    return store;
  }

  /** The key that seals now, and the previous one, by id: what `open()` can read. */
  get ids(): string[] {
    return this.keys.map((k) => k.id);
  }

  /** When the current key was made. */
  get currentSince(): number {
    return this.keys[0]!.createdAt;
  }

  /** Rotates when the current key is older than the rotation period; true if it did. */
  rotateIfDue(now: number): boolean {
    if (now - this.currentSince < this.rotationMs) return false;
    this.keys = [newKey(now), this.keys[0]!];
    this.save();
    return true;
  }

  seal(plain: Buffer): string {
    const k = this.keys[0]!;
    const iv = randomBytes(IV);
    const cipher = createCipheriv('aes-256-gcm', k.key, iv);
    cipher.setAAD(Buffer.from(k.id));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return `${k.id}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  /** The plaintext of a sealed record; null when its key is gone or it was tampered with. */
  open(sealed: string): Buffer | null {
    const dot = sealed.indexOf('.');
    const k = this.keys.find((key) => key.id === sealed.slice(0, dot));
    if (!k) return null;
    try {
      const raw = Buffer.from(sealed.slice(dot + 1), 'base64');
      const decipher = createDecipheriv('aes-256-gcm', k.key, raw.subarray(0, IV));
      decipher.setAAD(Buffer.from(k.id));
      decipher.setAuthTag(raw.subarray(IV, IV + TAG));
      return Buffer.concat([decipher.update(raw.subarray(IV + TAG)), decipher.final()]);
    } catch {
      return null;
    }
  }

  /** Written whole to a temporary file (0600) and renamed, so a crash leaves the old keys or the new. */
  private save(): void {
    const body: KeyFile = {
      version: 1,
      keys: this.keys.map((k) => ({ id: k.id, key: k.key.toString('base64'), createdAt: new Date(k.createdAt).toISOString() })),
    };
    const tmp = `${this.file}.tmp`;
    // A stale temporary file would keep its own mode: start from none.
    rmSync(tmp, { force: true });
    writeFileSync(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}

function newKey(now: number): SessionKey {
  return { id: randomBytes(6).toString('hex'), key: randomBytes(32), createdAt: now };
}

function readKeys(file: string): SessionKey[] | null {
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as KeyFile;
  } catch {
    return null;
  }
  const keys = (Array.isArray(parsed?.keys) ? parsed.keys : [])
    .map((k) => ({ id: String(k.id), key: Buffer.from(String(k.key), 'base64'), createdAt: Date.parse(String(k.createdAt)) }))
    .filter((k) => /^[0-9a-f]{12}$/.test(k.id) && k.key.length === 32 && Number.isFinite(k.createdAt));
  return keys.length ? keys.slice(0, 2) : null;
}
