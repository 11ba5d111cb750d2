/**
 * The `access-point` machine's `fleetListener`: the TLS server executors dial. It starts with the
 * identity the machine names, reports LISTENING or LISTEN_FAILED (in the catalog's words), and
 * takes the renewed identity for new connections when the machine sends USE_IDENTITY. What the
 * server accepts goes to the engine's hooks.
 */
import { fromCallback } from 'xstate';
import { AhError } from '../errors/ah-error.js';
import type { ListenerCommand } from '../machines/access-point.js';
import { FleetServer, type ServerIdentity, type ServerLink } from '../transport/fleet-server.js';
import type { HandshakeGate, ShedReason } from '../transport/handshake-gate.js';
import type { SessionResumption } from '../transport/session-resumption.js';
import { formatHostPort, type HostPort } from '../util/address.js';

export interface FleetListenerDeps {
  readonly listen: HostPort;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly gate: HandshakeGate;
  readonly resumption?: SessionResumption;
  /** The TLS identity of a fingerprint's material (the engine also updates its policy to it). */
  readonly serverIdentity: (fingerprint: string) => ServerIdentity;
  /** The server, once made: the engine closes it and re-applies the identity on a CA rotation. */
  readonly onServer: (server: FleetServer) => void;
  readonly onLink: (link: ServerLink) => void;
  /** A client that never got as far as the fleet protocol (not TLS, wrong ALPN, reset). */
  readonly onRefused: (e: { remoteAddress: string; reason: string }) => void;
  readonly onShed: (e: { remoteAddress: string; sourceAddress: string; reason: ShedReason }) => void;
  /** The machine moved to renewed material: called before the server uses it (audit first). */
  readonly beforeRenewed: (fingerprint: string) => void;
}

export function fleetListenerActor(deps: FleetListenerDeps) {
  return fromCallback<ListenerCommand, { fingerprint: string }>(({ input, sendBack, receive }) => {
    const server = new FleetServer({
      listen: deps.listen,
      identity: deps.serverIdentity(input.fingerprint),
      minVersion: deps.minVersion,
      gate: deps.gate,
      resumption: deps.resumption,
    });
    deps.onServer(server);
    server.on('shed', deps.onShed);
    server.on('link', deps.onLink);
    server.on('refused', deps.onRefused);
    server.listen().then(
      (bound) => sendBack({ type: 'LISTENING', address: formatHostPort(bound) }),
      (err: NodeJS.ErrnoException) => sendBack({ type: 'LISTEN_FAILED', error: listenError(deps.listen, err).toInfo() }),
    );
    receive((command) => {
      deps.beforeRenewed(command.fingerprint);
      server.useIdentity(deps.serverIdentity(command.fingerprint));
    });
    return () => void server.close();
  });
}

function listenError(at: HostPort, err: NodeJS.ErrnoException): AhError {
  const detail = err.code === 'EADDRINUSE' ? 'address already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
  return new AhError('ENROLL_LISTEN_FAILED', { address: formatHostPort(at), detail, port: String(at.port) });
}
