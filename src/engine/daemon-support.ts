/**
 * What both daemons (executor and access point) set up the same way: logging from their options,
 * the identity provider with its three logging hooks, and the side servers (Prometheus metrics on
 * HTTP, status on a unix socket) that are closed again when a start fails half-way.
 */
import type { Registry } from 'prom-client';
import { parseDirectives } from '../log/directives.js';
import { createLogging, silentLogging, type Logging } from '../log/logger.js';
import { startMetricsServer, type MetricsServer, type Readiness } from '../metrics/http-server.js';
import { createProvider, type IdentityConfig, type IdentityProvider } from '../providers/index.js';
import { StatusServer, type StatusHandler } from '../transport/status-server.js';

/** A ready logging setup, or one made from `logLevel` (directives as `--log-level` takes them); silent by default. */
export function loggingFrom(options: { readonly logging?: Logging; readonly logLevel?: string }): Logging {
  return options.logging ?? (options.logLevel ? createLogging({ plan: parseDirectives(options.logLevel) }) : silentLogging());
}

export interface ProviderSetup {
  readonly role: 'executor' | 'access-point';
  readonly name: string;
  readonly devDir: string;
  /** Host names/IPs the access point is reached by (its dev certificate names them). */
  readonly hosts?: readonly string[];
}

/** The provider given (embedding, tests), or one built from the identity configuration, logging to `ah_identity_provider`. */
export async function identityProviderFor(
  options: { readonly provider?: IdentityProvider; readonly identity?: IdentityConfig },
  setup: ProviderSetup,
  logging: Logging,
): Promise<IdentityProvider> {
  if (options.provider) return options.provider;
  const log = () => logging.get('ah_identity_provider');
  return createProvider(options.identity ?? { kind: 'dev' }, {
    ...setup,
    onUnchanged: (reason) => log().info({ event: 'identity_files_unchanged', reason }, 'identity files re-checked: unchanged'),
    onEvent: (level, message, fields) => log()[level](fields, message),
    onReconnect: ({ attempt, inMs, reason, code }) =>
      log().warn(
        { event: 'workload_api_reconnecting', attempt, code, inMs },
        `${reason}; reconnecting to the Workload API in ${inMs} ms (the current SVID stays in use)`,
      ),
  });
}

export interface SideServerOptions {
  /**
   * `--metrics-listen HOST:PORT`, with the registry to serve and what `/readyz` asks. The registry
   * may come from a dynamic import, so that a daemon without metrics never loads prom-client.
   */
  readonly metrics?: { readonly listen: string; readonly registry: () => Registry | Promise<Registry>; readonly readiness: () => Readiness };
  /** The status socket, unless turned off. */
  readonly status?: { readonly path: string; readonly handler: StatusHandler; readonly owner: { role: string; name: string } };
}

/** The metrics server and the status socket of one daemon: started together, closed together. */
export class SideServers {
  private metrics: MetricsServer | null = null;
  private status: StatusServer | null = null;

  /** Starts what is asked for; if one cannot start, the other is closed again before the error is thrown. */
  async start(options: SideServerOptions, logging: Logging): Promise<void> {
    try {
      if (options.metrics) {
        const { listen, registry, readiness } = options.metrics;
        this.metrics = await startMetricsServer(listen, { registry: await registry(), readiness }, logging.get('ah_status'));
      }
      if (options.status) {
        this.status = new StatusServer(options.status.path, options.status.handler, options.status.owner);
        await this.status.listen();
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    const [metrics, status] = [this.metrics, this.status];
    this.metrics = null;
    this.status = null;
    await status?.close();
    await metrics?.close();
  }
}
