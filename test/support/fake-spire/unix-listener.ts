/**
 * A grpc-js server on a unix socket whose connections we own, so that it can vanish the way a SPIRE
 * agent process does.
 *
 * Why not `server.bindAsync('unix://…')`: grpc-js's `forceShutdown()` resets open streams with
 * CANCELLED "Call cancelled" (checked here), a code clients treat as self-inflicted and ignore
 * (docs/workload-api.md §grpc-js over unix sockets), whereas an exiting SPIRE agent closes its
 * connections and the client's stream ends UNAVAILABLE. So we listen with a `net.Server`, hand each
 * connection to grpc-js through its connection injector, and on stop destroy the connections
 * ourselves: the client then sees UNAVAILABLE "Connection dropped", and new calls ENOENT because
 * the socket file is gone.
 */
import * as grpc from '@grpc/grpc-js';
import { existsSync, linkSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';

export interface ListenerHooks {
  onConnection(open: boolean): void;
}

export interface CloseOptions {
  /** Put the socket file back, dead, after closing (a SIGKILLed agent's leftover: ECONNREFUSED). */
  readonly leaveStaleSocket?: boolean;
}

export class UnixGrpcListener {
  private constructor(
    private readonly socketPath: string,
    private readonly grpcServer: grpc.Server,
    private readonly injector: grpc.ConnectionInjector,
    private readonly netServer: NetServer,
    private readonly sockets: Set<Socket>,
  ) {}

  static async listen(
    socketPath: string,
    service: grpc.ServiceDefinition,
    implementation: grpc.UntypedServiceImplementation,
    hooks: ListenerHooks,
  ): Promise<UnixGrpcListener> {
    mkdirSync(dirname(socketPath), { recursive: true });
    // A leftover socket file makes bind fail with EADDRINUSE (§grpc-js over unix sockets); SPIRE
    // removes it before listening.
    if (existsSync(socketPath)) {
      if (!statSync(socketPath).isSocket()) throw new Error(`fake-spire: ${socketPath} exists and is not a socket`);
      rmSync(socketPath);
    }
    const grpcServer = new grpc.Server();
    grpcServer.addService(service, implementation);
    const injector = grpcServer.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const sockets = new Set<Socket>();
    const netServer = createServer((socket) => {
      sockets.add(socket);
      hooks.onConnection(true);
      socket.once('close', () => {
        sockets.delete(socket);
        hooks.onConnection(false);
      });
      injector.injectConnection(socket);
    });
    await new Promise<void>((resolve, reject) => {
      netServer.once('error', reject);
      netServer.listen(socketPath, () => {
        netServer.off('error', reject);
        resolve();
      });
    });
    return new UnixGrpcListener(socketPath, grpcServer, injector, netServer, sockets);
  }

  /** Stop listening and drop every connection; open calls get no status, as when a process dies. */
  async close(options: CloseOptions = {}): Promise<void> {
    // Node unlinks the socket file on close; a hard link keeps the inode to put back afterwards.
    const keep = options.leaveStaleSocket ? join(dirname(this.socketPath), `.stale-${process.pid}-${Date.now()}`) : undefined;
    if (keep) linkSync(this.socketPath, keep);
    const closed = new Promise<void>((resolve) => this.netServer.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
    this.injector.destroy();
    this.grpcServer.forceShutdown();
    if (keep) renameSync(keep, this.socketPath);
  }
}
