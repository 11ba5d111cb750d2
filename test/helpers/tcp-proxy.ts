/**
 * A TCP proxy between an executor and its access point, to break the network the way real
 * networks break: refuse new connections while established ones carry on, or cut everything.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export class TcpProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<[Socket, Socket]>();
  port = 0;

  private constructor(private readonly targetPort: number) {}

  static async start(targetPort: number, port = 0): Promise<TcpProxy> {
    const proxy = new TcpProxy(targetPort);
    await proxy.listen(port);
    return proxy;
  }

  get connections(): number {
    return this.pairs.size;
  }

  /** Stop listening: new connections are refused, established ones keep flowing. */
  async refuseNew(): Promise<void> {
    const server = this.server;
    this.server = null;
    // close() stops accepting at once; its callback would wait for the established pairs.
    server?.close();
    await Promise.resolve();
  }

  /** Listen again on the same port. */
  async acceptNew(): Promise<void> {
    if (!this.server) await this.listen(this.port);
  }

  /** Drop every established connection at once (as a failed middlebox would). */
  cutAll(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.cutAll();
    await this.refuseNew();
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((client) => {
      const upstream = createConnection(this.targetPort, '127.0.0.1');
      const pair: [Socket, Socket] = [client, upstream];
      this.pairs.add(pair);
      const drop = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }
}
