/**
 * Failover over several access points, as real processes over real TLS: an executor given three
 * `--remote-server`s of which two are dead enrolls at the live one; an executor whose access point
 * is killed (kill -9) enrolls at another one of its list.
 */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';

afterAll(stopAll);

/** A port nothing listens on: bound once by us, then released. */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function accessPoint(label: string): Promise<{ daemon: Daemon; url: string; address: string }> {
  const daemon = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '500ms', '--state-dir', tempStateDir()], {}, label);
  const address = String((await daemon.waitForLine(isEvent('access_point_listening'), 'listening')).address);
  return { daemon, url: `https://${address}`, address };
}

const FAST_RETRY = ['--backoff-base', '100ms', '--backoff-max', '500ms'];
const enrolledAt = (address: string) => isEvent('enrolled', (l) => l.component === 'ah_executor' && l.accessPoint === address);

describe('executor failover over several --remote-server', () => {
  it('enrolls at the one live access point of three, whatever the shuffled order', async () => {
    const live = await accessPoint('ap-live');
    const dead = [await deadPort(), await deadPort()].map((p) => `https://127.0.0.1:${p}`);
    const stateDir = tempStateDir();
    // Repeated and comma-separated both work.
    const executor = startAh(
      ['agent', 'enroll', '--remote-server', dead[0]!, '--remote-server', `${dead[1]},${live.url}`, '--name', 'fo', '--state-dir', stateDir, ...FAST_RETRY],
      {},
      'executor',
    );
    await executor.waitForLine(enrolledAt(live.address), 'enrolled at the live access point', 30_000);
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    expect(status).toMatchObject({ state: 'enrolled', accessPoint: live.url, remoteServer: dead[0] });
    expect([...status.accessPoints].sort()).toEqual([...dead, live.url].sort());
    // Every dead one that was tried before the live one was failed over from at once, not backed off.
    const failovers = executor.lines.filter(isEvent('failing_over'));
    for (const f of failovers) expect(f.code).toBe('ENROLL_CONNECTION_REFUSED');
    expect(executor.lines.filter(isEvent('retrying'))).toHaveLength(0);
    expect(await executor.stop()).toBe(0);
  });

  it('enrolls at another access point of its list when its own is killed (kill -9)', async () => {
    const aps = [await accessPoint('ap-a'), await accessPoint('ap-b')];
    const executor = startAh(
      ['agent', 'enroll', '--remote-server', `${aps[0]!.url},${aps[1]!.url}`, '--name', 'k9', '--state-dir', tempStateDir(), ...FAST_RETRY],
      {},
      'executor',
    );
    const first = await executor.waitForLine(
      isEvent('enrolled', (l) => l.component === 'ah_executor'),
      'enrolled',
      30_000,
    );
    const victim = aps.find((a) => a.address === first.accessPoint)!;
    const survivor = aps.find((a) => a !== victim)!;
    const mark = executor.lines.length;
    await victim.daemon.stop('SIGKILL');
    await executor.waitForNewLine(mark, enrolledAt(survivor.address), 'enrolled at the surviving access point', 30_000);
    expect(await executor.stop()).toBe(0);
  });

  it('refuses a bad address among several in one line, exit 2', async () => {
    const r = await runAh(['agent', 'enroll', '--remote-server', 'https://127.0.0.1:4433,http://x:1', '--name', 'x', '--state-dir', tempStateDir()]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("error: invalid --remote-server 'http://x:1': the fleet link is TLS, use https://HOST[:PORT]");
  });
});
