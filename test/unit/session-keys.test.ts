/**
 * The access point's TLS session keys and sealed sessions, on real files in a temporary state dir:
 * the key file is created 0600; keys rotate on their schedule (a simulated clock: `now` is given)
 * keeping the previous key, so a session sealed before one rotation still opens after it (also
 * after the store is read again, as after a restart) but not after a second; expired sessions are
 * not loaded.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { SessionKeys } from '../../src/transport/session-keys.js';
import { FLUSH_INTERVAL_MS, type SessionRecord, SessionStore } from '../../src/transport/session-store.js';
import { tempStateDir } from '../helpers/cli.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

const record = (id: string, expiresAt: number): SessionRecord => ({ id, data: Buffer.from(`session ${id}`), chain: [Buffer.from('issuer')], expiresAt });

describe('session keys', () => {
  it('are created 0600 and rotate on schedule, keeping the previous key only', () => {
    const file = join(tempStateDir('ah-keys-'), 'tls-session-keys.json');
    const keys = SessionKeys.open(file, { rotationMs: HOUR, now: T0 });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const first = keys.ids;
    expect(first).toHaveLength(1);
    const sealed = keys.seal(Buffer.from('secret'));
    expect(sealed.startsWith(`${first[0]}.`)).toBe(true);
    expect(sealed).not.toContain(Buffer.from('secret').toString('base64'));

    expect(keys.rotateIfDue(T0 + HOUR - 1)).toBe(false);
    expect(keys.rotateIfDue(T0 + HOUR)).toBe(true);
    expect(keys.ids).toHaveLength(2);
    expect(keys.ids[1]).toBe(first[0]);
    expect(keys.open(sealed)?.toString()).toBe('secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // Read again from the file, as a restarted access point does: the same two keys.
    const reopened = SessionKeys.open(file, { rotationMs: HOUR, now: T0 + HOUR + 1 });
    expect(reopened.ids).toEqual(keys.ids);
    expect(reopened.open(sealed)?.toString()).toBe('secret');

    expect(reopened.rotateIfDue(T0 + 2 * HOUR)).toBe(true);
    expect(reopened.ids).not.toContain(first[0]);
    expect(reopened.open(sealed)).toBeNull();
  });

  it('rotates at start when the file is older than the period, and refuses a record that was tampered with', () => {
    const file = join(tempStateDir('ah-keys-'), 'tls-session-keys.json');
    const keys = SessionKeys.open(file, { rotationMs: HOUR, now: T0 });
    const sealed = keys.seal(Buffer.from('secret'));
    const later = SessionKeys.open(file, { rotationMs: HOUR, now: T0 + 5 * HOUR });
    expect(later.ids).toHaveLength(2);
    expect(later.open(sealed)?.toString()).toBe('secret');
    const body = Buffer.from(sealed.slice(sealed.indexOf('.') + 1), 'base64');
    body[body.length - 1]! ^= 1;
    expect(later.open(`${sealed.slice(0, sealed.indexOf('.'))}.${body.toString('base64')}`)).toBeNull();
  });

  it('replaces a key file it cannot read with new keys', () => {
    const file = join(tempStateDir('ah-keys-'), 'tls-session-keys.json');
    writeFileSync(file, 'not json', { mode: 0o600 });
    const keys = SessionKeys.open(file, { now: T0 });
    expect(keys.ids).toHaveLength(1);
    expect(JSON.parse(readFileSync(file, 'utf8')).keys).toHaveLength(1);
  });
});

describe('session store', () => {
  it('survives a reload after a key rotation, drops expired records, and writes its file 0600', () => {
    const dir = tempStateDir('ah-store-');
    const keyFile = join(dir, 'tls-session-keys.json');
    const storeFile = join(dir, 'tls-sessions');
    const keys = SessionKeys.open(keyFile, { rotationMs: HOUR, now: T0 });
    const store = new SessionStore(storeFile, keys);
    store.load(T0);
    store.put({ ...record('aa', T0 + 10 * HOUR), trustedUnder: 'bundle-1' });
    store.put(record('bb', T0 + HOUR / 2));
    store.put(record('cc', T0 + 10 * HOUR));
    store.flush();
    expect(statSync(storeFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(storeFile, 'utf8')).not.toContain(Buffer.from('session aa').toString('base64'));

    const restarted = SessionKeys.open(keyFile, { rotationMs: HOUR, now: T0 + HOUR });
    expect(restarted.ids).toHaveLength(2);
    const reloaded = new SessionStore(storeFile, restarted);
    expect(reloaded.load(T0 + HOUR)).toBe(2);
    expect(reloaded.get('cc', T0 + HOUR)?.trustedUnder).toBeUndefined();
    expect(reloaded.get('aa', T0 + HOUR)?.data.toString()).toBe('session aa');
    expect(reloaded.get('aa', T0 + HOUR)?.chain.map(String)).toEqual(['issuer']);
    // The bundle its chain was verified against comes back with it; a record without one has none.
    expect(reloaded.get('aa', T0 + HOUR)?.trustedUnder).toBe('bundle-1');
    expect(reloaded.get('bb', T0 + HOUR)).toBeNull();
    expect(reloaded.get('aa', T0 + 10 * HOUR)).toBeNull();
  });

  it('seals the records of one flush as one line, and still reads the JSON lines written before (one record, or an array)', () => {
    const dir = tempStateDir('ah-store-');
    const keyFile = join(dir, 'tls-session-keys.json');
    const storeFile = join(dir, 'tls-sessions');
    const keys = SessionKeys.open(keyFile, { now: T0 });
    const store = new SessionStore(storeFile, keys);
    store.load(T0);
    for (const id of ['b1', 'b2', 'b3']) store.put(record(id, T0 + HOUR));
    store.flush();
    expect(readFileSync(storeFile, 'utf8').trim().split('\n')).toHaveLength(1);
    const single = { i: 'old', d: Buffer.from('session old').toString('base64'), c: [], e: T0 + HOUR };
    writeFileSync(storeFile, `${keys.seal(Buffer.from(JSON.stringify(single)))}\n`, { flag: 'a' });
    // And a line of the JSON array form that came before the binary one.
    const batch = [{ i: 'older', d: Buffer.from('session older').toString('base64'), c: [Buffer.from('ca').toString('base64')], e: T0 + HOUR, t: 'bundle-0' }];
    writeFileSync(storeFile, `${keys.seal(Buffer.from(JSON.stringify(batch)))}\n`, { flag: 'a' });
    const reloaded = new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 }));
    expect(reloaded.load(T0)).toBe(5);
    expect(reloaded.get('older', T0)).toMatchObject({ data: Buffer.from('session older'), chain: [Buffer.from('ca')], trustedUnder: 'bundle-0' });
    expect(reloaded.get('old', T0)?.data.toString()).toBe('session old');
    expect(reloaded.get('b2', T0)?.data.toString()).toBe('session b2');
  });

  it('writes what was put within a flush interval once the interval is over, as one line, without the records dropped meanwhile', () => {
    vi.useFakeTimers();
    try {
      const dir = tempStateDir('ah-store-');
      const keyFile = join(dir, 'tls-session-keys.json');
      const storeFile = join(dir, 'tls-sessions');
      const store = new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 }));
      store.load(T0);
      for (const id of ['t1', 't2', 't3']) store.put(record(id, T0 + HOUR));
      store.drop('t2');
      vi.advanceTimersByTime(FLUSH_INTERVAL_MS - 1);
      expect(existsSync(storeFile) ? readFileSync(storeFile, 'utf8') : '').toBe('');
      vi.advanceTimersByTime(1);
      expect(readFileSync(storeFile, 'utf8').trim().split('\n')).toHaveLength(1);
      const reloaded = new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 }));
      expect(reloaded.load(T0)).toBe(2);
      expect(reloaded.get('t2', T0)).toBeNull();
      expect(reloaded.get('t3', T0)?.data.toString()).toBe('session t3');

      // A storm's interval: lines of at most 512 records, all of them read back.
      for (let i = 0; i < 1200; i++) store.put(record(`s${i}`, T0 + HOUR));
      vi.advanceTimersByTime(FLUSH_INTERVAL_MS);
      expect(readFileSync(storeFile, 'utf8').trim().split('\n')).toHaveLength(1 + 3);
      expect(new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 })).load(T0)).toBe(2 + 1200);
      store.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('after a line cut short (killed mid-write), the next records start a line of their own', () => {
    const dir = tempStateDir('ah-store-');
    const keyFile = join(dir, 'tls-session-keys.json');
    const storeFile = join(dir, 'tls-sessions');
    const store = new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 }));
    store.load(T0);
    store.put(record('before', T0 + HOUR));
    store.flush();
    store.close();
    const whole = readFileSync(storeFile, 'utf8');
    writeFileSync(storeFile, whole.slice(0, Math.floor(whole.length / 2)), { flag: 'a' });

    const restarted = new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 }));
    expect(restarted.load(T0)).toBe(1);
    restarted.put(record('after', T0 + HOUR));
    restarted.flush();
    restarted.close();
    const reloaded = new SessionStore(storeFile, SessionKeys.open(keyFile, { now: T0 }));
    expect(reloaded.load(T0)).toBe(2);
    expect(reloaded.get('after', T0)?.data.toString()).toBe('session after');
  });

  it('holds at most its bound, forgetting the oldest first', () => {
    const dir = tempStateDir('ah-store-');
    const store = new SessionStore(join(dir, 'tls-sessions'), SessionKeys.open(join(dir, 'k.json'), { now: T0 }), 2);
    for (const id of ['a1', 'a2', 'a3']) store.put(record(id, T0 + HOUR));
    store.flush();
    expect(store.size).toBe(2);
    expect(store.get('a1', T0)).toBeNull();
    expect(store.get('a3', T0)).not.toBeNull();
  });
});
