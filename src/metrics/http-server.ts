/**
 * `--metrics-listen HOST:PORT`: one small HTTP server per daemon with
 *
 *   GET /metrics  Prometheus text format (prom-client registry of this daemon)
 *   GET /healthz  200 "ok" while the process runs (liveness)
 *   GET /readyz   200 "ok: <state>" when the daemon's machine says it is ready (executor enrolled
 *                 or renewing; access point serving), else 503 "not ready: <state>" (readiness)
 *
 * as kubelet and cert-manager serve them. Plain node:http; nothing but these three paths.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import { AhError } from '../errors/ah-error.js';
import type { Logger } from '../log/logger.js';
import { formatHostPort, parseListenAddress, type HostPort } from '../util/address.js';

export interface Readiness {
  readonly ready: boolean;
  /** What the machine is doing, e.g. `enrolled`, `{"disconnected":"backingOff"}`, `serving`. */
  readonly state: string;
}

export interface MetricsEndpoints {
  readonly registry: Registry;
  readonly readiness: () => Readiness;
}

export class MetricsServer {
  private readonly server: Server;
  private bound: HostPort | null = null;

  constructor(
    private readonly listenAt: HostPort,
    private readonly endpoints: MetricsEndpoints,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
    // Scrapers reconnect every interval; idle sockets must not hold a shutdown up.
    this.server.keepAliveTimeout = 5_000;
  }

  /** `http://HOST:PORT` once listening. */
  get url(): string {
    if (!this.bound) throw new Error('metrics server not listening');
    return `http://${formatHostPort(this.bound)}`;
  }

  get address(): HostPort {
    if (!this.bound) throw new Error('metrics server not listening');
    return this.bound;
  }

  /** Resolves with the bound address; rejects with ENROLL_LISTEN_FAILED. */
  listen(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new AhError('ENROLL_LISTEN_FAILED', {
            address: formatHostPort(this.listenAt),
            detail: err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message,
            port: String(this.listenAt.port),
          }),
        );
      };
      this.server.once('error', onError);
      this.server.listen(this.listenAt.port, this.listenAt.host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        this.bound = typeof addr === 'object' && addr ? { host: addr.address, port: addr.port } : this.listenAt;
        resolve(this.bound);
      });
    });
  }

  close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, contentType = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(405, 'method not allowed\n');
    }
    try {
      switch (path) {
        case '/metrics':
          return send(200, await this.endpoints.registry.metrics(), this.endpoints.registry.contentType);
        case '/healthz':
        case '/livez':
          return send(200, 'ok\n');
        case '/readyz': {
          const { ready, state } = this.endpoints.readiness();
          return send(ready ? 200 : 503, `${ready ? 'ok' : 'not ready'}: ${state}\n`);
        }
        default:
          return send(404, 'not found: try /metrics, /healthz or /readyz\n');
      }
    } catch (err) {
      return send(500, `error: ${(err as Error).message}\n`);
    }
  }
}

/** Listen for `--metrics-listen` and say where, as both daemons do at start. */
export async function startMetricsServer(listen: string, endpoints: MetricsEndpoints, log: Logger): Promise<MetricsServer> {
  const server = new MetricsServer(parseListenAddress(listen), endpoints);
  const at = await server.listen();
  log.info({ event: 'metrics_listening', address: formatHostPort(at) }, `metrics listening on ${server.url} (/metrics, /healthz, /readyz)`);
  return server;
}
