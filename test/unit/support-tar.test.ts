/**
 * The support bundle's ustar writer, read back by the system tar: long names (split into the
 * header's prefix), several directories, binary and empty files, modes 0600/0700 and owner 0/0.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tarGz } from '../../src/support/tar-writer.js';

describe('support bundle tar writer', () => {
  it('writes an archive the system tar lists and unpacks byte for byte', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ah-tar-'));
    const long = `ah-support-20260101T000000Z/stuck/${'a'.repeat(90)}.log/${'executor_'.padEnd(95, 'x')}.html`;
    const binary = randomBytes(70_000);
    const entries = [
      { name: 'ah-support-20260101T000000Z/README.txt', data: Buffer.from('hello\n') },
      { name: 'ah-support-20260101T000000Z/logs/empty.log', data: Buffer.alloc(0) },
      { name: 'ah-support-20260101T000000Z/logs/binary.bin', data: binary },
      { name: long, data: Buffer.from('<!doctype html>\n') },
    ];
    const archive = join(dir, 'a.tar.gz');
    writeFileSync(archive, tarGz(entries, Date.UTC(2026, 0, 1)));

    const listing = execFileSync('tar', ['-tvzf', archive], { encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } })
      .trim()
      .split('\n');
    expect(listing.map((l) => l.split(/\s+/).pop())).toEqual([
      'ah-support-20260101T000000Z/',
      'ah-support-20260101T000000Z/README.txt',
      'ah-support-20260101T000000Z/logs/',
      'ah-support-20260101T000000Z/logs/empty.log',
      'ah-support-20260101T000000Z/logs/binary.bin',
      'ah-support-20260101T000000Z/stuck/',
      `ah-support-20260101T000000Z/stuck/${'a'.repeat(90)}.log/`,
      long,
    ]);
    for (const line of listing) expect(line).toMatch(/^(-rw-------|drwx------) 0\/0 .* 2026-01-01 00:00 /);

    const out = join(dir, 'x');
    execFileSync('mkdir', [out]);
    execFileSync('tar', ['-xzf', archive, '-C', out]);
    expect(readFileSync(join(out, entries[0]!.name), 'utf8')).toBe('hello\n');
    expect(statSync(join(out, entries[1]!.name)).size).toBe(0);
    expect(readFileSync(join(out, entries[2]!.name)).equals(binary)).toBe(true);
    expect(readFileSync(join(out, long), 'utf8')).toBe('<!doctype html>\n');
  });
});
