/**
 * The helpers that start test processes end all of them: a wrapper's child too (an access point
 * under a shell that forks it), and the run's tag finds what is still alive, for this run only.
 */
import { describe, expect, it } from 'vitest';
import { startAh, tempStateDir, type LogLine } from '../helpers/cli.js';
import { RUN_ID, groupMembers, taggedProcesses } from '../helpers/processes.js';

const listening = (l: LogLine) => typeof l.address === 'string' && typeof l.heartbeatIntervalMs === 'number';
const accessPointArgs = () => ['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--state-dir', tempStateDir()];
const alive = (pid: number) => taggedProcesses(RUN_ID).some((p) => p.pid === pid);

describe('test processes', () => {
  it("stopping an access point under a wrapper ends the wrapper's node child too", async () => {
    // The shell forks node (a command follows it, so it cannot exec) and waits: a wrapper with a child.
    const wrap = ['sh', '-c', '"$0" "$@"; exit $?'];
    const ap = startAh(accessPointArgs(), {}, 'access point under a shell', { wrap });
    await ap.waitForLine(listening, 'listening');
    const group = groupMembers(ap.child.pid!);
    const node = group.find((pid) => pid !== ap.child.pid);
    expect(node, `a node child in the group of the shell (${group.join(', ')})`).toBeDefined();
    expect(alive(node!)).toBe(true);
    await ap.stop();
    expect(groupMembers(ap.child.pid!)).toEqual([]);
    expect(alive(node!)).toBe(false);
  });

  it("are found by this run's tag while they live, and not under another run's", async () => {
    const ap = startAh(accessPointArgs());
    await ap.waitForLine(listening, 'listening');
    const mine = taggedProcesses(RUN_ID).find((p) => p.pid === ap.child.pid);
    expect(mine?.command).toMatch(/bin\/ah agent access-point --fleet-listen 127\.0\.0\.1:0 /);
    expect(taggedProcesses(`${RUN_ID}-another-run`)).toEqual([]);
    expect(await ap.stop()).toBe(0);
    expect(alive(ap.child.pid!)).toBe(false);
  });
});
