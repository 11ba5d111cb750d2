/**
 * `--metrics-listen`: Prometheus metrics, /healthz and /readyz of both daemons, scraped over HTTP
 * while an executor fails to connect, enrolls, rotates a 4-second dev certificate again and again,
 * and loses its access point. Every value is checked against what the machines say at that moment
 * (`ah agent status --json`, `ah agent fleet --json`, the daemons' own log lines).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir } from '../helpers/cli.js';
import { freePort, metricsUrl, probe, readyzUntil, scrape, scrapeUntil, type Scrape } from '../helpers/metrics.js';

afterAll(stopAll);

const rotationDone = isEvent('rotation_complete');
const status = async (dir: string) => JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', dir])).stdout) as Record<string, any>;
const seconds = (iso: string) => Date.parse(iso) / 1000;

/** A scrape taken while the executor's status did not change (no rotation in between). */
async function steadyScrape(url: string, dir: string): Promise<{ scrape: Scrape; status: Record<string, any> }> {
  for (let i = 0; i < 20; i++) {
    const before = await status(dir);
    const s = await scrape(url);
    const after = await status(dir);
    if (before.rotations === after.rotations && before.identity?.serial === after.identity?.serial && before.state === after.state)
      return { scrape: s, status: after };
  }
  throw new Error('status never held still across a scrape');
}

describe('metrics, /healthz and /readyz', () => {
  it('follow an executor through refused attempts, enrollment, rotations and the loss of its access point', async () => {
    const dir = tempStateDir();
    const fleetPort = await freePort();

    // The executor first, with nothing to enroll with: not ready, failing with the catalog code.
    const ex = startAh([
      'agent',
      'enroll',
      '--remote-server',
      `https://127.0.0.1:${fleetPort}`,
      '--name',
      'm1',
      '--dev-cert-ttl',
      '4s',
      '--backoff-base',
      '200ms',
      '--backoff-max',
      '400ms',
      '--metrics-listen',
      '127.0.0.1:0',
      '--state-dir',
      dir,
    ]);
    const exUrl = await metricsUrl(ex);
    expect(await probe(exUrl, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    await ex.waitForLine((l) => l.code === 'ENROLL_CONNECTION_REFUSED', 'a refused attempt');
    const down = await scrapeUntil(
      exUrl,
      (s) => (s.sample('ah_executor_enrollment_failures_total', { code: 'ENROLL_CONNECTION_REFUSED' }) ?? 0) >= 1,
      'a refused attempt',
    );
    expect(down.sample('ah_executor_state', { state: 'enrolled' })).toBe(0);
    expect(down.sample('ah_executor_enrollment_attempts_total')).toBeGreaterThanOrEqual(1);
    expect(down.sample('ah_executor_handshake_duration_seconds_count', { kind: 'enroll', result: 'failure' })).toBeGreaterThanOrEqual(1);
    expect(down.sample('ah_build_info', { role: 'executor', name: 'm1' })).toBe(1);
    expect(down.sample('process_start_time_seconds')).toBeGreaterThan(0);
    const notReady = await probe(exUrl, '/readyz');
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatch(/^not ready: (\{"disconnected":"backingOff"\}|handshaking)\n$/);

    // The access point comes up on that port: it is ready at once, the executor once enrolled.
    const ap = startAh([
      'agent',
      'access-point',
      '--fleet-listen',
      `127.0.0.1:${fleetPort}`,
      '--heartbeat-interval',
      '500ms',
      '--metrics-listen',
      '127.0.0.1:0',
      '--state-dir',
      dir,
    ]);
    const apUrl = await metricsUrl(ap);
    await ap.waitForLine(isEvent('access_point_listening'), 'listening');
    expect(await readyzUntil(apUrl, 200)).toEqual({ status: 200, body: 'ok: serving\n' });
    await ex.waitForLine(isEvent('enrolled'), 'enrolled', 30_000);
    expect((await readyzUntil(exUrl, 200)).body).toMatch(/^ok: (enrolled|\{"renewing":"\w+"\})\n$/);

    const enrolled = await steadyScrape(exUrl, dir);
    const s0 = enrolled.status;
    expect(s0.state).toMatch(/^(enrolled|renewing)$/);
    const m0 = enrolled.scrape;
    const cert = { role: 'executor', name: 'm1', provider: 'dev' };
    expect(m0.sample('ah_executor_state', { state: s0.state })).toBe(1);
    expect(m0.sum('ah_executor_state')).toBe(1);
    expect(m0.sample('ah_certificate_expiration_timestamp_seconds', cert)).toBe(seconds(s0.identity.notAfter));
    expect(m0.sample('ah_certificate_not_before_timestamp_seconds', cert)).toBe(seconds(s0.identity.notBefore));
    expect(m0.sample('ah_certificate_renewal_timestamp_seconds', cert)).toBe(seconds(s0.nextRotationAt));
    const ttl = m0.sample('ah_certificate_ttl_seconds', cert)!;
    expect(ttl).toBeGreaterThan(-1);
    expect(ttl).toBeLessThanOrEqual(4);
    expect(m0.sample('ah_certificate_rotations_total', { ...cert, result: 'success' }) ?? 0).toBe(s0.rotations);
    expect(m0.sample('ah_executor_handshake_duration_seconds_count', { kind: 'enroll', result: 'success' })).toBe(1);
    expect(m0.sample('ah_executor_heartbeat_interval_seconds')).toBe(0.5);

    // Rotations: the certificate gauges move to the new certificate, the counter follows status.
    await ex.waitForLine((l) => rotationDone(l) && (l.rotations as number) >= 2, 'two rotations', 30_000);
    const rotated = await steadyScrape(exUrl, dir);
    const s1 = rotated.status;
    const m1 = rotated.scrape;
    expect(s1.rotations).toBeGreaterThanOrEqual(2);
    expect(s1.identity.serial).not.toBe(s0.identity.serial);
    expect(m1.sample('ah_certificate_rotations_total', { ...cert, result: 'success' })).toBe(s1.rotations);
    expect(m1.sample('ah_certificate_expiration_timestamp_seconds', cert)).toBe(seconds(s1.identity.notAfter));
    expect(m1.sample('ah_certificate_expiration_timestamp_seconds', cert)).toBeGreaterThan(seconds(s0.identity.notAfter));
    expect(m1.sample('ah_certificate_renewal_timestamp_seconds', cert)).toBe(seconds(s1.nextRotationAt));
    expect(m1.sample('ah_executor_handshake_duration_seconds_count', { kind: 'rotation', result: 'success' })).toBeGreaterThanOrEqual(2);
    expect(m1.sample('ah_executor_heartbeat_lag_seconds')).toBeLessThan(3 * 0.5 + 1);
    expect(Math.abs(m1.sample('ah_executor_heartbeat_last_ack_timestamp_seconds')! - seconds(s1.lastHeartbeat))).toBeLessThanOrEqual(1);

    // The access point saw the same: one executor, its rotations, heartbeats on time.
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', dir])).stdout);
    const apRotationLines = () => ap.lines.filter(isEvent('executor_rotated', (l) => l.executorId === 'spiffe://dev.local/ah/agent/m1')).length;
    // The same count in the metrics and in the log (read together: rotations go on meanwhile).
    let apRotations = 0;
    const a = await scrapeUntil(
      apUrl,
      (s) => {
        apRotations = apRotationLines();
        return apRotations >= 2 && s.sample('ah_access_point_executor_rotations_total') === apRotations;
      },
      'as many rotations as the access point logged',
    );
    expect(fleet.executors).toHaveLength(1);
    expect(a.sample('ah_access_point_enrolled_executors')).toBe(1);
    expect(a.sample('ah_access_point_state', { state: 'serving' })).toBe(1);
    expect(a.sample('ah_access_point_links')).toBeGreaterThanOrEqual(1);
    expect(a.sample('ah_access_point_enrollment_attempts_total')).toBe(apRotations + 1);
    expect(a.sample('ah_access_point_heartbeats_total')).toBeGreaterThanOrEqual(2);
    expect(a.sample('ah_access_point_heartbeat_lag_seconds_count')).toBeGreaterThanOrEqual(1);
    // Heartbeats never paused for a rotation: none came a whole interval late.
    expect(a.sample('ah_access_point_heartbeat_lag_seconds_bucket', { le: '0.5' })).toBe(a.sample('ah_access_point_heartbeat_lag_seconds_count'));
    expect(a.sample('ah_certificate_expiration_timestamp_seconds', { role: 'access-point', name: 'access-point', provider: 'dev' })).toBeGreaterThan(
      Date.now() / 1000,
    );
    expect(a.all('ah_audit_log_writable')).toEqual([]);

    // The access point is lost (SIGKILL: SIGTERM would drain it and ask the executor to move first):
    // the executor is not ready any more, and says why.
    await ap.stop('SIGKILL');
    const gone = await readyzUntil(exUrl, 503);
    expect(gone.body).toMatch(/^not ready: (\{"disconnected":"\w+"\}|handshaking)\n$/);
    const after = await scrapeUntil(exUrl, (s) => (s.sample('ah_executor_enrollment_failures_total', { code: 'ENROLL_LINK_LOST' }) ?? 0) >= 1, 'the lost link');
    expect(after.sample('ah_executor_state', { state: 'enrolled' })).toBe(0);
    expect(after.all('ah_executor_heartbeat_lag_seconds')).toEqual([]);
    await expect(fetch(`${apUrl}/healthz`)).rejects.toThrow();
    expect(await ex.stop()).toBe(0);
  });

  it("refuses a bad --metrics-listen as a usage error, and a busy port with the guide's listen error", async () => {
    const dir = tempStateDir();
    const bad = await runAh(['agent', 'access-point', '--metrics-listen', 'nowhere', '--state-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/invalid listen address 'nowhere'/);

    const ap = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--state-dir', dir]);
    const url = await metricsUrl(ap);
    const busy = await runAh([
      'agent',
      'enroll',
      '--remote-server',
      'https://127.0.0.1:1',
      '--name',
      'busy',
      '--metrics-listen',
      url.replace('http://', ''),
      '--state-dir',
      dir,
    ]);
    expect(busy.code).toBe(1);
    expect(busy.stderr.split('\n')[0]).toBe(`error: cannot listen on ${url.replace('http://', '')}: address already in use`);
    expect((await fetch(`${url}/nothing`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`, { method: 'POST' })).status).toBe(405);
    await ap.stop();
  });
});
