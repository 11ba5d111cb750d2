/**
 * A real fleet for the model tests: a welcoming access point, a rejecting one with the same key
 * (so the executor's trust-on-first-use check passes and the rejection is the access point's),
 * the ModeProxy between them and the executor, and the executor itself, all real processes over
 * real TLS on loopback. The harness actions are the model's events.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { queryStatus } from '../../../src/transport/status-server.js';
import { paths } from '../../../src/engine/state-dir.js';
import { isEvent, startAh, tempStateDir, type Daemon } from '../../helpers/cli.js';
import { eventually } from '../../helpers/eventually.js';
import { ModeProxy, type ProxyMode } from '../../helpers/mode-proxy.js';

export const HEARTBEAT_MS = 300;
/** Long enough for a path's steps to settle between renewals; the renewal point is 30 % ± 5 %. */
export const CERT_TTL = '40s';

export interface ExecutorStatusJson {
  state: string;
  detail: unknown;
  rotations: number;
  connectedSince: string | null;
  nextRotationAt: string | null;
  identity: { notAfter: string; serial: string } | null;
  lastError: { code: string; message: string } | null;
}

async function accessPoint(stateDir: string, extra: string[] = []): Promise<{ daemon: Daemon; port: number }> {
  const daemon = startAh([
    'agent',
    'access-point',
    '--fleet-listen',
    '127.0.0.1:0',
    '--heartbeat-interval',
    `${HEARTBEAT_MS}ms`,
    '--state-dir',
    stateDir,
    ...extra,
  ]);
  const line = await daemon.waitForLine(isEvent('access_point_listening'), 'listening');
  return { daemon, port: Number(String(line.address).split(':').pop()) };
}

/** The two access points, shared by every path (each path has its own executor name and proxy). */
export class AccessPoints {
  private constructor(
    readonly welcoming: { daemon: Daemon; port: number; stateDir: string },
    readonly rejecting: { daemon: Daemon; port: number },
  ) {}

  static async start(): Promise<AccessPoints> {
    const goodDir = tempStateDir('ah-mg-');
    const welcoming = await accessPoint(goodDir);
    // The rejecting access point keeps the same dev key: executors trust it, and it refuses them.
    const badDir = tempStateDir('ah-mb-');
    const keyDir = (d: string) => paths.devIdentity(d, 'access-point', 'access-point');
    mkdirSync(keyDir(badDir), { recursive: true });
    copyFileSync(join(keyDir(goodDir), 'key.pem'), join(keyDir(badDir), 'key.pem'));
    const rejecting = await accessPoint(badDir, ['--executor-san-uri-prefix', 'spiffe://nowhere.invalid/ah/agent/']);
    return new AccessPoints({ ...welcoming, stateDir: goodDir }, rejecting);
  }

  async stop(): Promise<void> {
    await Promise.all([this.welcoming.daemon.stop(), this.rejecting.daemon.stop()]);
  }
}

let executors = 0;

/** One executor behind its own proxy: what a model path drives. */
export class FleetHarness {
  executor: Daemon | null = null;
  readonly name = `model-${++executors}`;
  readonly executorDir = tempStateDir('ah-m-');

  private constructor(readonly proxy: ModeProxy) {}

  static async start(aps: AccessPoints): Promise<FleetHarness> {
    return new FleetHarness(await ModeProxy.start({ forward: aps.welcoming.port, reject: aps.rejecting.port }));
  }

  get id(): string {
    return `spiffe://dev.local/ah/agent/${this.name}`;
  }

  /** Start the executor; `maxAttempts` 0 retries for ever. */
  startExecutor(maxAttempts = 0): Daemon {
    this.executor = startAh(
      [
        'agent',
        'enroll',
        '--remote-server',
        `https://127.0.0.1:${this.proxy.port}`,
        '--name',
        this.name,
        '--dev-cert-ttl',
        CERT_TTL,
        '--renewal-threshold',
        '0.3',
        '--backoff-base',
        '100ms',
        '--backoff-max',
        '400ms',
        '--max-attempts',
        String(maxAttempts),
        '--state-dir',
        this.executorDir,
        '--log-level',
        'info,ah_machine=debug',
      ],
      {},
      this.name,
    );
    return this.executor;
  }

  async status(): Promise<ExecutorStatusJson | null> {
    try {
      return (await queryStatus(paths.executorSocket(this.executorDir, this.name), 'status', 2_000)) as ExecutorStatusJson | null;
    } catch {
      return null;
    }
  }

  /** Poll the executor's status (its unix socket) until `test` holds; bounded. */
  async until(test: (s: ExecutorStatusJson) => boolean, what: string, timeoutMs = 20_000): Promise<ExecutorStatusJson> {
    const show = (last: ExecutorStatusJson | null) => {
      const tail = this.executor
        ? this.executor.lines
            .filter((l) => l.level >= 30)
            .slice(-5)
            .map((l) => l.msg)
            .join(' | ')
        : '';
      return `status ${JSON.stringify(last)}; exit ${this.executor?.child.exitCode}; stderr: ${this.executor?.stderr.join(' ') ?? ''}; log: ${tail}`;
    };
    const status = await eventually(
      () => this.status(),
      (s) => s !== null && test(s),
      `${this.name} ${what}`,
      { timeoutMs, intervalMs: 50, show },
    );
    return status!;
  }

  async setMode(mode: ProxyMode): Promise<void> {
    await this.proxy.setMode(mode);
  }

  async stop(): Promise<void> {
    await this.executor?.stop('SIGKILL');
    await this.proxy.stop();
  }
}
