import { afterAll, describe, expect, it } from 'vitest';
import { runAh, stopAll } from '../helpers/cli.js';

afterAll(stopAll);

describe('ah agent demo', () => {
  it('runs a small fleet for a short duration, rotating every executor, and exits 0', async () => {
    const r = await runAh(['agent', 'demo', '--duration', '8s', '--cert-ttl', '3s', '--heartbeat-interval', '500ms']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^ah demo: access point on 127\.0\.0\.1:\d+, 3 executors, certificates of 3s, heartbeat every 500ms, for 8s$/);
    // The table shows each executor (non-TTY: a block every 2s).
    expect(lines.filter((l) => /^demo-[123]\s+enrolled\s/.test(l)).length).toBeGreaterThanOrEqual(6);
    const summary = lines.slice(lines.findIndex((l) => l.startsWith('summary after')));
    expect(summary[1]).toBe('  enrollments    3');
    const rotations = /^ {2}rotations {6}(\d+) \(demo-1: (\d+), demo-2: (\d+), demo-3: (\d+)\)$/.exec(summary[2]!);
    expect(rotations, summary[2]).not.toBeNull();
    for (const n of rotations!.slice(2)) expect(Number(n)).toBeGreaterThanOrEqual(1);
    expect(summary[4]).toMatch(/^ {2}longest gap {4}\S+ \(interval 500ms\): no heartbeat missed$/);
    expect(summary[5]).toBe('  links dropped  0');
  });

  it('with --json, stdout is the JSON summary alone (it pipes into jq) and the live table goes to stderr', async () => {
    const r = await runAh(['agent', 'demo', '--duration', '4s', '--cert-ttl', '2s', '--executors', '2', '--json']);
    expect(r.code).toBe(0);
    // The whole of stdout must parse, as `| jq .` would read it.
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ executors: 2, certTtlMs: 2_000, enrollments: 2, linksDropped: 0 });
    expect(Object.keys(summary.rotations)).toEqual(['demo-1', 'demo-2']);
    expect(summary.heartbeats).toBeGreaterThan(0);
    expect(summary.durationMs).toBeGreaterThanOrEqual(4_000);
    const progress = r.stderr.split('\n');
    expect(progress[0]).toMatch(/^ah demo: access point on 127\.0\.0\.1:\d+, 2 executors, certificates of 2s, heartbeat every 1s, for 4s$/);
    expect(progress.filter((l) => /^demo-[12]\s+enrolled\s/.test(l)).length).toBeGreaterThanOrEqual(2);
  });
});
