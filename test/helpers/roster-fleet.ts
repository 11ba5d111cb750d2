/**
 * A whole fleet with the roster on etcd, as real processes on loopback: one etcd (test/helpers/etcd.ts),
 * access points (`ah agent access-point --roster`) on fixed ports and state dirs, so that one
 * killed or drained comes back at the address executors know and with the dev key they pinned,
 * and executors (`ah agent enroll`), each given every access point's URL. What each process says
 * is read from its own socket and log: the access points' fleet views, the executors' status.
 */
import { paths } from '../../src/engine/state-dir.js';
import { queryStatus } from '../../src/transport/status-server.js';
import { isEvent, runAh, startAh, tempStateDir, type Daemon } from './cli.js';
import { TestEtcd } from './etcd.js';
import { freePort } from './metrics.js';

/** Generous: two cores shared with other work. */
export const BOUND_MS = 60_000;
export const HEARTBEAT_MS = 1_000;
/** The shortest lease the roster takes: a dead access point's rows go this long after it died. */
export const LEASE_TTL = '2s';

export interface FleetRow {
  id: string;
  name: string;
  state: string;
  accessPoint: string;
}

export interface AccessPointProc {
  readonly id: string;
  readonly port: number;
  readonly stateDir: string;
  readonly url: string;
  daemon: Daemon | null;
}

export interface ExecutorProc {
  readonly name: string;
  readonly stateDir: string;
  daemon: Daemon | null;
}

/** What an executor says of itself on its status socket (docs/status-json.md). */
export interface ExecutorSays {
  state: string;
  accessPoint: string | null;
}

export interface FleetOptions {
  readonly accessPoints: number;
  readonly executors: number;
  /** `--log-level` of the executors (their machine lines, for a test that reads them). */
  readonly executorLogLevel?: string;
  /** More flags for every access point. */
  readonly accessPointFlags?: readonly string[];
}

export class RosterFleet {
  private constructor(
    readonly etcd: TestEtcd,
    readonly accessPoints: AccessPointProc[],
    readonly executors: ExecutorProc[],
    private readonly options: FleetOptions,
  ) {}

  /** etcd, then every access point (serving), then every executor (enrolled). */
  static async start(options: FleetOptions): Promise<RosterFleet> {
    const etcd = await TestEtcd.start();
    const aps: AccessPointProc[] = [];
    for (let i = 1; i <= options.accessPoints; i++) {
      const port = await freePort();
      aps.push({ id: `ap-${i}`, port, stateDir: tempStateDir(`ah-ap${i}-`), url: `https://127.0.0.1:${port}`, daemon: null });
    }
    const executors = Array.from({ length: options.executors }, (_, i) => ({ name: `ex-${i + 1}`, stateDir: tempStateDir(`ah-ex${i + 1}-`), daemon: null }));
    const fleet = new RosterFleet(etcd, aps, executors, options);
    for (const ap of aps) await fleet.startAccessPoint(ap);
    for (const ex of executors) fleet.startExecutor(ex);
    for (const ex of executors) await fleet.waitEnrolled(ex);
    return fleet;
  }

  get liveAccessPoints(): AccessPointProc[] {
    return this.accessPoints.filter((ap) => ap.daemon !== null);
  }

  get runningExecutors(): ExecutorProc[] {
    return this.executors.filter((ex) => ex.daemon !== null);
  }

  /** The access point id behind a URL an executor reports. */
  accessPointAt(url: string | null): string | null {
    return this.accessPoints.find((ap) => ap.url === url)?.id ?? null;
  }

  /** Starts it on its port and state dir; resolves once it listens and has tried etcd (reached or not, as etcd is). */
  async startAccessPoint(ap: AccessPointProc): Promise<void> {
    const daemon = startAh(
      [
        'agent',
        'access-point',
        '--fleet-listen',
        `127.0.0.1:${ap.port}`,
        '--roster',
        this.etcd.url,
        '--roster-lease-ttl',
        LEASE_TTL,
        '--access-point-id',
        ap.id,
        '--heartbeat-interval',
        `${HEARTBEAT_MS}ms`,
        '--drain-timeout',
        '10s',
        '--state-dir',
        ap.stateDir,
        ...(this.options.accessPointFlags ?? []),
      ],
      {},
      ap.id,
    );
    ap.daemon = daemon;
    await daemon.waitForLine(isEvent('access_point_listening'), 'listening', BOUND_MS);
    const roster = this.etcd.running ? 'roster_connected' : 'roster_disconnected';
    await daemon.waitForLine(isEvent(roster), roster, BOUND_MS);
  }

  /** `kill -9`. */
  async killAccessPoint(ap: AccessPointProc): Promise<void> {
    await ap.daemon!.stop('SIGKILL');
    ap.daemon = null;
  }

  /** SIGTERM, and the exit code once the drain is over. */
  async drainAccessPoint(ap: AccessPointProc): Promise<number | null> {
    const daemon = ap.daemon!;
    daemon.child.kill('SIGTERM');
    const code = await daemon.exited;
    ap.daemon = null;
    return code;
  }

  startExecutor(ex: ExecutorProc): void {
    ex.daemon = startAh(
      [
        'agent',
        'enroll',
        '--remote-server',
        this.accessPoints.map((ap) => ap.url).join(','),
        '--name',
        ex.name,
        '--state-dir',
        ex.stateDir,
        '--backoff-base',
        '100ms',
        '--backoff-max',
        '1s',
        '--log-level',
        this.options.executorLogLevel ?? 'info',
      ],
      {},
      ex.name,
    );
  }

  async waitEnrolled(ex: ExecutorProc): Promise<void> {
    await ex.daemon!.waitForLine(
      isEvent('enrolled', (l) => l.component === 'ah_executor'),
      'enrolled',
      BOUND_MS,
    );
  }

  async stopExecutor(ex: ExecutorProc, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    await ex.daemon!.stop(signal);
    ex.daemon = null;
  }

  /** `kill -9` of etcd; resolves once every live access point has said it lost etcd. */
  async etcdDown(): Promise<void> {
    const marks = this.liveAccessPoints.map((ap) => [ap, ap.daemon!.lines.length] as const);
    await this.etcd.kill();
    for (const [ap, from] of marks) await ap.daemon!.waitForNewLine(from, isEvent('roster_disconnected'), 'roster_disconnected', BOUND_MS);
  }

  /** etcd again on its data dir and ports; resolves once every live access point has said it is back. */
  async etcdUp(): Promise<void> {
    const marks = this.liveAccessPoints.map((ap) => [ap, ap.daemon!.lines.length] as const);
    await this.etcd.restart();
    for (const [ap, from] of marks) await ap.daemon!.waitForNewLine(from, isEvent('roster_connected'), 'roster_connected', BOUND_MS);
  }

  /** One access point's fleet view from its status socket (what `fleet --json` prints), or null when it does not answer. */
  async view(ap: AccessPointProc): Promise<FleetRow[] | null> {
    try {
      const answer = (await queryStatus(paths.accessPointSocket(ap.stateDir), 'fleet')) as { executors: FleetRow[] } | null;
      return answer?.executors ?? null;
    } catch {
      return null;
    }
  }

  /** `ah agent fleet --json` on one access point. */
  async fleetJson(ap: AccessPointProc): Promise<FleetRow[]> {
    const r = await runAh(['agent', 'fleet', '--json', '--state-dir', ap.stateDir]);
    if (r.code !== 0) throw new Error(`ah agent fleet --json on ${ap.id} exited ${r.code}: ${r.stderr}`);
    return (JSON.parse(r.stdout) as { executors: FleetRow[] }).executors;
  }

  /** `{id, state}` of each access point one access point knows of. */
  async accessPointsSeenBy(ap: AccessPointProc): Promise<Array<{ id: string; state: string }> | null> {
    try {
      const answer = (await queryStatus(paths.accessPointSocket(ap.stateDir), 'access-points')) as {
        accessPoints: Array<{ id: string; state: string }>;
      } | null;
      return answer?.accessPoints ?? null;
    } catch {
      return null;
    }
  }

  async executorSays(ex: ExecutorProc): Promise<ExecutorSays | null> {
    try {
      return (await queryStatus(paths.executorSocket(ex.stateDir, ex.name), 'status')) as ExecutorSays | null;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    for (const ex of this.runningExecutors) await this.stopExecutor(ex, 'SIGKILL');
    for (const ap of this.liveAccessPoints) await this.killAccessPoint(ap);
    await this.etcd.stop();
  }
}
