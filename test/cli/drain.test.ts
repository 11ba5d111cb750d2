/**
 * Drain without absence, as real processes over real TLS: SIGTERM to the access point holding the
 * executors moves each of them to the other one make-before-break (welcomed there before its old
 * link closes, no lost link), and the drained process exits 0 once its links are gone;
 * `ah agent access-point --drain` through the status socket; /readyz 503 while draining; and
 * `--drain-timeout` ending a drain that a link outstays.
 */
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon, type LogLine } from '../helpers/cli.js';
import { metricsUrl, probe, scrape } from '../helpers/metrics.js';
import { recordStdout } from '../helpers/recorded-log.js';

afterAll(stopAll);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Ap {
  daemon: Daemon;
  url: string;
  address: string;
  stateDir: string;
}

async function accessPoint(label: string, port: number, extra: string[] = []): Promise<Ap> {
  const stateDir = tempStateDir();
  const daemon = startAh(
    ['agent', 'access-point', '--fleet-listen', `127.0.0.1:${port}`, '--heartbeat-interval', '500ms', '--state-dir', stateDir, ...extra],
    {},
    label,
  );
  const address = String((await daemon.waitForLine(isEvent('access_point_listening'), 'listening')).address);
  return { daemon, url: `https://${address}`, address, stateDir };
}

const FAST_RETRY = ['--backoff-base', '100ms', '--backoff-max', '500ms'];
const fromExecutor = (event: string, also: (l: LogLine) => boolean = () => true) => isEvent(event, (l) => l.component === 'ah_executor' && also(l));

describe('drain', () => {
  it('SIGTERM: every executor is welcomed at the other access point before its draining link closes; exit 0', async () => {
    // B's port is known but closed at first, so that every executor enrolls at A.
    const portB = await freePort();
    const a = await accessPoint('ap-a', 0);
    const names = ['d1', 'd2', 'd3'];
    const executors = names.map((name) =>
      startAh(
        [
          'agent',
          'enroll',
          '--remote-server',
          `${a.url},https://127.0.0.1:${portB}`,
          '--name',
          name,
          '--state-dir',
          tempStateDir(),
          '--log-level',
          // The machine lines too, to replay the move from the log afterwards.
          'info,ah_transport=debug,ah_machine=debug',
          ...FAST_RETRY,
        ],
        {},
        name,
      ),
    );
    const recorded = recordStdout(executors[0]!);
    for (const e of executors)
      await e.waitForLine(
        fromExecutor('enrolled', (l) => l.accessPoint === a.address),
        'enrolled at A',
        30_000,
      );
    const b = await accessPoint('ap-b', portB);

    a.daemon.child.kill('SIGTERM');
    for (const e of executors) {
      const moved = await e.waitForLine(fromExecutor('relinked'), 'moved to B', 30_000);
      expect(moved).toMatchObject({ accessPoint: b.address, previousAccessPoint: a.address });
    }
    expect(await a.daemon.exited).toBe(0);
    expect(a.daemon.lines.find(isEvent('drain_requested'))?.trigger).toBe('SIGTERM');
    expect(a.daemon.lines.find(isEvent('drain_done'))).toMatchObject({ outcome: 'links_gone', linksLeft: 0, asked: 3 });

    for (const name of names) {
      const id = `spiffe://dev.local/ah/agent/${name}`;
      expect(b.daemon.lines.filter(isEvent('executor_enrolled', (l) => l.executorId === id))).toHaveLength(1);
      // The executor closed the old link itself, with the goodbye it sends once welcomed elsewhere.
      expect(a.daemon.lines.find(isEvent('executor_left', (l) => l.executorId === id))?.reason).toBe('goodbye: moved');
    }
    for (const e of executors) {
      // In the executor's own (ordered) log: B's welcome on the new link, then the move; and the
      // old link was never closed from A's side (that would be a link_closed line) before it.
      const relinkedAt = e.lines.findIndex(fromExecutor('relinked'));
      const welcomes = e.lines.map((l, i) => (l.event === 'welcomed' ? i : -1)).filter((i) => i >= 0);
      expect(welcomes).toHaveLength(2);
      expect(welcomes[1]!).toBeLessThan(relinkedAt);
      expect(e.lines.findIndex(isEvent('link_closed'))).toBe(-1);
    }
    for (const e of executors) {
      // Never without a link: no lost link, no reconnect, no moment disconnected.
      expect(e.lines.filter((l) => l.code === 'ENROLL_LINK_LOST')).toEqual([]);
      expect(e.lines.filter(fromExecutor('retrying'))).toEqual([]);
      expect(e.lines.filter(fromExecutor('enrolled', (l) => l.accessPoint === b.address))).toEqual([]);
    }
    // The move is in the machine, so `ah agent replay` retraces it from the log.
    const replay = await runAh(['agent', 'replay', recorded.save(tempStateDir('ah-drain-log-'), 'd1.log'), '--json']);
    const steps = JSON.parse(replay.stdout)
      .actors.find((x: { label: string }) => x.label === 'executor:d1')
      .steps.map((s: { path: string }) => s.path);
    expect(steps.slice(steps.indexOf('relinking.elsewhere'))).toEqual(['relinking.elsewhere', 'enrolled']);
    const fleet = JSON.parse((await runAh(['agent', 'fleet', '--json', '--state-dir', b.stateDir])).stdout);
    expect(fleet.executors.map((x: { name: string }) => x.name).sort()).toEqual(names);
    for (const e of executors) expect(await e.stop()).toBe(0);
  });

  it('--drain through the status socket: /readyz 503, the link kept while nowhere else takes it, exit 0 at --drain-timeout', async () => {
    const a = await accessPoint('ap-solo', 0, ['--metrics-listen', '127.0.0.1:0', '--drain-timeout', '3s', '--drain-retry-after', '10m']);
    const metrics = await metricsUrl(a.daemon);
    const exState = tempStateDir();
    const executor = startAh(['agent', 'enroll', '--remote-server', a.url, '--name', 'solo', '--state-dir', exState, ...FAST_RETRY], {}, 'solo');
    await executor.waitForLine(fromExecutor('enrolled'), 'enrolled', 30_000);
    expect((await probe(metrics, '/readyz')).status).toBe(200);

    const asked = await runAh(['agent', 'access-point', '--drain', '--state-dir', a.stateDir]);
    expect(asked.code).toBe(0);
    expect(asked.stdout).toBe('access point draining: 1 link asked to move; it exits once they are gone or after 3s\n');
    expect(await probe(metrics, '/readyz')).toEqual({ status: 503, body: 'not ready: draining\n' });
    const relinking = await executor.waitForLine(fromExecutor('relinking'), 'told to move', 20_000);
    expect(relinking).toMatchObject({ accessPoint: a.address, next: null, retryAfterMs: 600_000 });
    const scraped = await scrape(metrics);
    expect(scraped.sample('ah_access_point_state', { state: 'draining' })).toBe(1);
    expect(scraped.sample('ah_access_point_drain_links_left')).toBe(1);
    // Still linked (and so in the fleet view) while it waits: the access point serves the link on.
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', exState])).stdout);
    expect(status).toMatchObject({ state: 'relinking', accessPoint: a.url });

    expect(await a.daemon.exited).toBe(0);
    expect(a.daemon.lines.find(isEvent('drain_requested'))?.trigger).toBe('status socket');
    expect(a.daemon.lines.find(isEvent('drain_done'))).toMatchObject({ outcome: 'timeout', linksLeft: 1 });
    // Closed at the timeout: now it is lost, and the executor reconnects with backoff.
    await executor.waitForLine((l) => l.code === 'ENROLL_LINK_LOST', 'the link lost at the drain timeout', 20_000);
    expect(await executor.stop()).toBe(0);
  });

  it('SIGTERM with one access point: the executor finds no other, the link is let go, exit 0 well before the drain timeout', async () => {
    const a = await accessPoint('ap-one', 0, ['--drain-retry-after', '200ms']);
    const executor = startAh(['agent', 'enroll', '--remote-server', a.url, '--name', 'one', '--state-dir', tempStateDir(), ...FAST_RETRY], {}, 'one');
    await executor.waitForLine(fromExecutor('enrolled'), 'enrolled', 30_000);
    a.daemon.child.kill('SIGTERM');
    expect(await a.daemon.exited).toBe(0);
    expect(a.daemon.lines.find(isEvent('drain_done'))).toMatchObject({ outcome: 'links_gone' });
    // It had nowhere else, came back to the draining access point's address after retryAfterMs, was
    // turned away, and its old link was let go: lost now, it reconnects with backoff.
    expect(executor.lines.find(fromExecutor('relinking'))).toMatchObject({ next: null, retryAfterMs: 200 });
    expect(a.daemon.lines.find(isEvent('executor_left'))?.reason).toBe('shutdown');
    await executor.waitForLine((l) => l.code === 'ENROLL_LINK_LOST', 'the link closed', 20_000);
    expect(await executor.stop()).toBe(0);
  });

  it('SIGINT does not drain: every link is closed with goodbye "shutdown" at once, exit 0', async () => {
    const a = await accessPoint('ap-int', 0, ['--drain-retry-after', '10m']);
    const executor = startAh(['agent', 'enroll', '--remote-server', a.url, '--name', 'int', '--state-dir', tempStateDir(), ...FAST_RETRY], {}, 'int');
    await executor.waitForLine(fromExecutor('enrolled'), 'enrolled', 30_000);
    a.daemon.child.kill('SIGINT');
    expect(await a.daemon.exited).toBe(0);
    expect(a.daemon.lines.filter(isEvent('drain_requested'))).toEqual([]);
    expect(a.daemon.lines.find(isEvent('access_point_stopped'))).toMatchObject({ links: 1 });
    await executor.waitForLine((l) => l.code === 'ENROLL_LINK_LOST', 'the link lost', 20_000);
    expect(executor.lines.filter(fromExecutor('relinking'))).toEqual([]);
    expect(await executor.stop()).toBe(0);
  });
});
