/** The audit log writer: synchronous, flushed, numbered lines; reopen by name; failures never throw. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog, type AuditFailure } from '../../src/audit/audit-log.js';
import { tempStateDir } from '../helpers/cli.js';

const read = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('AuditLog', () => {
  it('appends one JSON line per record, on disk when append returns, numbered from 1', () => {
    const file = join(tempStateDir(), 'audit.log');
    const log = new AuditLog({ path: file, now: () => Date.UTC(2030, 0, 2, 3, 4, 5) });
    expect(log.open()).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o640 & ~process.umask());
    expect(log.append({ event: 'enrolled', executorId: 'spiffe://x/ah/agent/a' })).toBe(true);
    expect(read(file)).toEqual([{ time: '2030-01-02T03:04:05.000Z', seq: 1, event: 'enrolled', executorId: 'spiffe://x/ah/agent/a' }]);
    log.append({ event: 'departed', executorId: 'spiffe://x/ah/agent/a', reason: 'goodbye: shutdown' });
    expect(read(file).map((r) => r.seq)).toEqual([1, 2]);
    expect(log.health()).toMatchObject({ path: file, writable: true, failed: 0, lastError: null, written: { enrolled: 1, departed: 1, rotated: 0 } });
    log.close();
  });

  it('keeps appending to an existing file, and writes to the new file after reopen', () => {
    const file = join(tempStateDir(), 'audit.log');
    writeFileSync(file, '{"earlier":"run"}\n');
    const log = new AuditLog({ path: file });
    log.append({ event: 'started' });
    renameSync(file, `${file}.1`);
    log.append({ event: 'enrolled' }); // still the renamed file, as logrotate expects until SIGHUP
    expect(log.reopen()).toBe(true);
    log.append({ event: 'rotated' });
    expect(readFileSync(`${file}.1`, 'utf8').split('\n')[0]).toBe('{"earlier":"run"}');
    expect(
      read(`${file}.1`)
        .slice(1)
        .map((r) => r.event),
    ).toEqual(['started', 'enrolled']);
    expect(read(file).map((r) => [r.event, r.seq])).toEqual([['rotated', 3]]);
    log.close();
  });

  it('reports a file it cannot open, counts the records it could not write, and recovers by itself', () => {
    const dir = tempStateDir();
    const parent = join(dir, 'logs');
    writeFileSync(parent, 'a file where a directory should be');
    const failures: Array<[AuditFailure, string | null]> = [];
    let recovered = -1;
    const log = new AuditLog({ path: join(parent, 'audit.log'), onFailure: (f, line) => failures.push([f, line]), onRecovered: (n) => (recovered = n) });
    expect(log.open()).toBe(false);
    expect(failures).toEqual([[expect.objectContaining({ code: 'ENOTDIR' }), null]]);
    expect(log.append({ event: 'enrolled', name: 'a' })).toBe(false);
    expect(JSON.parse(failures[1]![1]!)).toMatchObject({ event: 'enrolled', name: 'a', seq: 1 });
    expect(log.health()).toMatchObject({ writable: false, failed: 1, lastError: { code: 'ENOTDIR' } });

    // Fixed: the next record opens the file and gets through.
    rmSync(parent);
    mkdirSync(parent);
    expect(log.append({ event: 'departed', name: 'a' })).toBe(true);
    expect(recovered).toBe(1);
    expect(log.health()).toMatchObject({ writable: true, failed: 1 });
    expect(read(join(parent, 'audit.log'))).toEqual([expect.objectContaining({ event: 'departed', seq: 2 })]);
    log.close();
  });

  it.runIf(existsSync('/dev/full'))('never throws on a full disk (ENOSPC from /dev/full)', () => {
    const failures: AuditFailure[] = [];
    const log = new AuditLog({ path: '/dev/full', onFailure: (f) => failures.push(f) });
    expect(log.open()).toBe(true);
    expect(log.append({ event: 'enrolled' })).toBe(false);
    expect(log.append({ event: 'rotated' })).toBe(false);
    expect(failures.map((f) => f.code)).toEqual(['ENOSPC', 'ENOSPC']);
    expect(log.health()).toMatchObject({ writable: false, failed: 2, written: { enrolled: 0, rotated: 0 } });
    log.close();
  });
});
