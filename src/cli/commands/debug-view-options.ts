/**
 * `ah agent access-point --debug-listen HOST:PORT [--debug-allow-remote]`: the live view of the
 * executors' states (src/visualize/live/). Off unless given. A bare port means loopback
 * (`--debug-listen 8080` is 127.0.0.1:8080); any other address than loopback is refused unless
 * `--debug-allow-remote` says so, as operators expect of admin ports (Envoy's admin, pprof).
 */
import type { Command } from 'commander';
import type { AccessPoint } from '../../engine/access-point.js';
import { AhError } from '../../errors/ah-error.js';
import type { Logging } from '../../log/logger.js';
import { formatHostPort, parseListenAddress, type HostPort } from '../../util/address.js';
import type { DebugServer } from '../../visualize/live/debug-server.js';
import { FleetView } from '../../visualize/live/fleet-view.js';
import { isLoopbackHost } from '../../visualize/live/loopback.js';
import { UsageError } from '../common.js';

export interface DebugViewFlags {
  debugListen?: string;
  debugAllowRemote?: boolean;
}

export function addDebugViewOptions(command: Command): Command {
  return command
    .option('--debug-listen <host:port>', 'serve a live view of the executors and their state machines over HTTP (loopback; off unless given)')
    .option('--debug-allow-remote', 'let --debug-listen use an address other than loopback');
}

/** The address, checked: a usage error before anything starts. */
export function debugListenAddress(flags: DebugViewFlags): HostPort | null {
  if (flags.debugListen === undefined) {
    if (flags.debugAllowRemote) throw new UsageError('--debug-allow-remote needs --debug-listen');
    return null;
  }
  const text = /^\d+$/.test(flags.debugListen)
    ? `127.0.0.1:${flags.debugListen}`
    : flags.debugListen.startsWith(':')
      ? `127.0.0.1${flags.debugListen}`
      : flags.debugListen;
  let address: HostPort;
  try {
    address = parseListenAddress(text);
  } catch (err) {
    throw new UsageError(`--debug-listen: ${(err as Error).message}`);
  }
  if (!isLoopbackHost(address.host) && !flags.debugAllowRemote) {
    throw new UsageError(
      `--debug-listen ${flags.debugListen} is not a loopback address: the live view shows the fleet's names and addresses to anyone who connects; use 127.0.0.1:PORT, or add --debug-allow-remote`,
    );
  }
  return address;
}

/**
 * Watch the access point's links from now on (call before `start()`, so the first link is seen),
 * and return what starts the server once the access point listens.
 */
export function prepareDebugView(flags: DebugViewFlags, accessPoint: AccessPoint, logging: Logging): (() => Promise<DebugServer>) | null {
  const listen = debugListenAddress(flags);
  if (!listen) return null;
  const view = new FleetView(accessPoint);
  return async () => {
    // Graphviz (WebAssembly) is loaded only by an access point that serves the view.
    const { DebugServer } = await import('../../visualize/live/debug-server.js');
    const server = new DebugServer({ listen, view, anyHost: !isLoopbackHost(listen.host), log: logging.get('ah_access_point') });
    try {
      await server.listen();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new AhError('ENROLL_LISTEN_FAILED', {
        address: formatHostPort(listen),
        detail: e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EACCES' ? 'permission denied' : e.message,
        port: String(listen.port),
      });
    }
    logging
      .get('ah_access_point')
      .info(
        { event: 'debug_view_listening', url: server.url, address: formatHostPort(server.address), loopback: isLoopbackHost(listen.host) },
        `debug view on ${server.url} (live executor states and their machines${isLoopbackHost(listen.host) ? '' : '; NOT loopback: --debug-allow-remote'})`,
      );
    return server;
  };
}
