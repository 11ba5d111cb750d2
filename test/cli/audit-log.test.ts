/**
 * `ah agent access-point --audit-log FILE`: one JSON line per enrollment, rejection, rotation,
 * departure and reload, on disk before the executor hears the answer; reopened on SIGHUP after a
 * logrotate-style rename with nothing lost; and an audit file that cannot be written (a path under
 * a regular file: ENOTDIR; /dev/full: ENOSPC, a full disk for real) leaves the access point serving,
 * says so in its log (record included), in `ah agent fleet` and in the metrics, and recovers.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';
import { metricsUrl, scrapeUntil } from '../helpers/metrics.js';

afterAll(stopAll);

type Audit = Record<string, any> & { event: string; seq: number; time: string };

const readAudit = (...files: string[]): Audit[] =>
  files.flatMap((f) =>
    existsSync(f)
      ? readFileSync(f, 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Audit)
      : [],
  );

const rotationDone = isEvent('rotation_complete');

async function accessPoint(dir: string, extra: string[]): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '500ms', '--state-dir', dir, ...extra]);
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

/** The audit event each access point log line stands for (the log is the daemon's own narration). */
const AUDIT_EVENT_OF_LOG_EVENT: Readonly<Record<string, string>> = {
  executor_enrolled: 'enrolled',
  executor_rotated: 'rotated',
  executor_rejected: 'rejected',
  executor_left: 'departed',
  access_point_certificate_renewed: 'reloaded',
};
const eventOfLogLine = (l: LogLine): string | null => (typeof l.event === 'string' ? (AUDIT_EVENT_OF_LOG_EVENT[l.event] ?? null) : null);

describe('audit log', () => {
  it('holds one flushed line per event of a scripted scenario, written before the executor hears', async () => {
    const dir = tempStateDir();
    const file = join(dir, 'audit.log');
    // Only executors named "good" are admitted; the access point's own 5s certificate renews (a reload).
    const ap = await accessPoint(dir, ['--audit-log', file, '--executor-san-uri-prefix', 'spiffe://dev.local/ah/agent/good', '--dev-cert-ttl', '5s']);
    expect(readAudit(file).map((r) => r.event)).toEqual(['started']);
    const [started] = readAudit(file);
    expect(started).toMatchObject({
      seq: 1,
      accessPoint: `127.0.0.1:${ap.port}`,
      provider: 'dev',
      devMode: true,
      spiffeId: 'spiffe://dev.local/ah/access-point',
    });
    expect(started!.serial).toMatch(/^[0-9A-F]+$/);

    // Enrolled: by the time the executor says it is in, the line is in the file.
    const good = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'good', '--dev-cert-ttl', '4s', '--state-dir', dir]);
    const enrolled = await good.waitForLine(isEvent('enrolled'), 'enrolled');
    const atWelcome = readAudit(file).filter((r) => r.event === 'enrolled');
    expect(atWelcome).toHaveLength(1);
    expect(atWelcome[0]).toMatchObject({
      executorId: 'spiffe://dev.local/ah/agent/good',
      name: 'good',
      serial: enrolled.serial,
      notAfter: enrolled.notAfter,
      link: expect.stringMatching(/^link-\d+$/),
    });
    expect(atWelcome[0]!.remoteAddress).toMatch(/^127\.0\.0\.1:\d+$/);

    // Rejected, with the catalog code: in the file by the time the executor gives up.
    const bad = await runAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'bad', '--max-attempts', '1', '--state-dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.split('\n')[0]).toBe('error: certificate SAN does not match expected pattern');
    const rejected = readAudit(file).filter((r) => r.event === 'rejected');
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({
      code: 'ENROLL_SAN_MISMATCH',
      message: 'certificate SAN does not match expected pattern',
      executorId: 'spiffe://dev.local/ah/agent/bad',
      name: 'bad',
      sans: ['URI:spiffe://dev.local/ah/agent/bad'],
    });
    expect(rejected[0]!.serial).toMatch(/^[0-9A-F]+$/);
    expect(Date.parse(rejected[0]!.notAfter)).toBeGreaterThan(Date.now() - 60_000);

    // Rotated: the new link's serial, and the one it replaced, when the executor completes it.
    const rotation = await good.waitForLine((l) => rotationDone(l), 'a rotation', 30_000);
    const rotatedLines = readAudit(file).filter((r) => r.event === 'rotated');
    expect(rotatedLines[0]).toMatchObject({ executorId: 'spiffe://dev.local/ah/agent/good', serial: rotation.serial, previousSerial: rotation.previousSerial });
    expect(rotatedLines[0]!.link).not.toBe(rotatedLines[0]!.previousLink);

    // Reloaded: the access point's own certificate renewed.
    await ap.daemon.waitForLine((l) => eventOfLogLine(l) === 'reloaded', 'its own renewal', 30_000);
    const reloaded = readAudit(file).filter((r) => r.event === 'reloaded');
    expect(reloaded[0]).toMatchObject({
      reason: 'identity renewed',
      provider: 'dev',
      previousSerial: started!.serial,
      spiffeId: 'spiffe://dev.local/ah/access-point',
    });

    // Departed, then stopped. (Waited for by its reason: once in several hundred runs under load a
    // rotation's old link was recorded as a departure too — an open question in the session note —
    // and the first departure line came before the shutdown's.)
    expect(await good.stop('SIGTERM')).toBe(0);
    await ap.daemon.waitForLine((l) => eventOfLogLine(l) === 'departed' && l.reason === 'goodbye: shutdown', 'the departure');
    expect(
      readAudit(file)
        .filter((r) => r.event === 'departed')
        .at(-1),
    ).toEqual(expect.objectContaining({ executorId: 'spiffe://dev.local/ah/agent/good', name: 'good', reason: 'goodbye: shutdown' }));
    expect(await ap.daemon.stop('SIGTERM')).toBe(0);

    const records = readAudit(file);
    // One line per event the access point narrated, in the same order, bracketed by start and stop.
    const narrated = ap.daemon.lines.map(eventOfLogLine).filter((e): e is string => e !== null);
    expect(records.map((r) => r.event)).toEqual(['started', ...narrated, 'stopped']);
    expect(records.map((r) => r.seq)).toEqual(records.map((_, i) => i + 1));
    for (const r of records) expect(new Date(r.time).toISOString()).toBe(r.time);
    expect(records.at(-1)).toMatchObject({ event: 'stopped', links: 0 });
    // Each rotation names the serial the previous line for that executor had.
    const chain = records.filter((r) => r.executorId === 'spiffe://dev.local/ah/agent/good' && (r.event === 'enrolled' || r.event === 'rotated'));
    for (let i = 1; i < chain.length; i++) expect(chain[i]!.previousSerial).toBe(chain[i - 1]!.serial);
  });

  it('reopens the file on SIGHUP after a logrotate-style rename, losing nothing', async () => {
    const dir = tempStateDir();
    const file = join(dir, 'audit.log');
    const ap = await accessPoint(dir, ['--audit-log', file]);
    const ex = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'rot', '--dev-cert-ttl', '3s', '--state-dir', dir]);
    await ex.waitForLine((l) => rotationDone(l), 'a first rotation', 30_000);

    // logrotate: rename, then postrotate sends SIGHUP. Rotations go on throughout.
    renameSync(file, `${file}.1`);
    const mark = ap.daemon.lines.length;
    ap.daemon.child.kill('SIGHUP');
    await ap.daemon.waitForNewLine(
      mark,
      isEvent('audit_log_reopened', (l) => l.path === file),
      'the reopen',
    );
    const after = ex.lines.filter(rotationDone).length;
    await ex.waitForLine((l) => rotationDone(l) && (l.rotations as number) >= after + 2, 'two more rotations', 30_000);
    expect(await ex.stop()).toBe(0);
    expect(await ap.daemon.stop()).toBe(0);

    const old = readAudit(`${file}.1`);
    const fresh = readAudit(file);
    expect(old.length).toBeGreaterThanOrEqual(3); // started, enrolled, rotated...
    expect(fresh.filter((r) => r.event === 'rotated').length).toBeGreaterThanOrEqual(2);
    const all = [...old, ...fresh];
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));
    // Every rotation the access point narrated is in one file or the other, once.
    const narrated = ap.daemon.lines.filter((l) => eventOfLogLine(l) === 'rotated').length;
    expect(all.filter((r) => r.event === 'rotated')).toHaveLength(narrated);
    expect(all.map((r) => r.event).at(-1)).toBe('stopped');
    expect(ap.daemon.lines.some((l) => l.code === 'ENROLL_AUDIT_LOG_FAILED')).toBe(false);
  });

  it('keeps serving when the audit file cannot be opened, reports it everywhere, and recovers once it can', async () => {
    const dir = tempStateDir();
    // A directory that is a regular file: open(2) fails with ENOTDIR even for root.
    const notADir = join(dir, 'logs');
    writeFileSync(notADir, 'not a directory\n');
    const file = join(notADir, 'audit.log');
    const ap = await accessPoint(dir, ['--audit-log', file, '--metrics-listen', '127.0.0.1:0']);
    const url = await metricsUrl(ap.daemon);
    const openError = await ap.daemon.waitForLine(isEvent('audit_log_failed'), 'about the audit log');
    expect(openError).toMatchObject({ level: 50, code: 'ENROLL_AUDIT_LOG_FAILED', path: file, errno: 'ENOTDIR' });
    // The catalog's message leads the line.
    expect(openError.msg).toMatch(new RegExp(`^cannot write audit log ${file}: ENOTDIR: not a directory`));

    const ex = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'w', '--state-dir', dir]);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    // The record is kept in the access point's log instead.
    const kept = await ap.daemon.waitForLine(
      isEvent('audit_record_kept', (l) => l.code === 'ENROLL_AUDIT_LOG_FAILED' && (l.audit as Audit | undefined)?.event === 'enrolled'),
      'the enrolled record',
    );
    expect(kept.audit).toMatchObject({ event: 'enrolled', executorId: 'spiffe://dev.local/ah/agent/w', name: 'w' });

    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', dir])).stdout);
    expect(fleet.executors).toHaveLength(1);
    expect(fleet.audit).toMatchObject({ path: file, writable: false, lastError: { code: 'ENOTDIR' } });
    expect(fleet.audit.failed).toBeGreaterThanOrEqual(2); // started, enrolled
    const human = await runAh(['agent', 'fleet', '--state-dir', dir]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      new RegExp(
        `\\nwarning: audit log ${file} is not being written: ENOTDIR: not a directory.*; \\d+ records kept in the access point log instead \\(code ENROLL_AUDIT_LOG_FAILED\\)\\n$`,
      ),
    );
    const m = await scrapeUntil(url, (s) => s.sample('ah_audit_log_writable') === 0, 'the audit log failing');
    expect(m.sample('ah_audit_write_failures_total')).toBe(fleet.audit.failed);
    expect(m.sample('ah_access_point_enrolled_executors')).toBe(1);

    // The operator fixes it; the next record gets through, and the log says so.
    rmSync(notADir);
    mkdirSync(notADir);
    const mark = ap.daemon.lines.length;
    expect(await ex.stop()).toBe(0);
    await ap.daemon.waitForNewLine(
      mark,
      isEvent('audit_log_writable_again', (l) => l.path === file),
      'the recovery',
    );
    expect(readAudit(file)).toEqual([expect.objectContaining({ event: 'departed', executorId: 'spiffe://dev.local/ah/agent/w' })]);
    const healed = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', dir])).stdout);
    expect(healed.audit.writable).toBe(true);
    await scrapeUntil(url, (s) => s.sample('ah_audit_log_writable') === 1 && s.sample('ah_audit_records_total', { event: 'departed' }) === 1, 'the recovery');
    expect(await ap.daemon.stop()).toBe(0);
  });

  it('keeps serving on a full disk (/dev/full: every write fails with ENOSPC)', async () => {
    const dir = tempStateDir();
    const ap = await accessPoint(dir, ['--audit-log', '/dev/full']);
    const ex = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${ap.port}`, '--name', 'full', '--state-dir', dir]);
    await ex.waitForLine(isEvent('enrolled'), 'enrolled');
    const kept = await ap.daemon.waitForLine(
      isEvent('audit_record_kept', (l) => l.code === 'ENROLL_AUDIT_LOG_FAILED' && (l.audit as Audit | undefined)?.event === 'enrolled'),
      'the enrolled record',
    );
    expect(kept.errno).toBe('ENOSPC');
    // The catalog's message leads the line.
    expect(kept.msg).toMatch(/^cannot write audit log \/dev\/full: ENOSPC: no space left on device/);
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', dir])).stdout);
    expect(fleet.executors.map((e: { name: string }) => e.name)).toEqual(['full']);
    expect(fleet.audit).toMatchObject({ path: '/dev/full', writable: false, lastError: { code: 'ENOSPC' } });
    expect(await ex.stop()).toBe(0);
    expect(await ap.daemon.stop()).toBe(0);
  });
});
