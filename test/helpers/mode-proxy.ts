/**
 * The network between an executor and its access point, as the model tests steer it. New
 * connections are forwarded to the welcoming access point, forwarded to one that rejects, refused
 * outright, or stalled (accepted and held: the TLS hello never gets an answer). Established
 * connections are untouched by a mode change; `cut()` drops them.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export type ProxyMode = 'forward' | 'reject' | 'refuse' | 'stall';

export class ModeProxy {
  private server: Server | null = null;
  private readonly pairs = new Set<[Socket, Socket]>();
  private readonly held = new Set<{ client: Socket; buffered: Buffer[] }>();
  mode: ProxyMode = 'forward';
  port = 0;

  private constructor(private readonly targets: { forward: number; reject?: number }) {}

  /** `reject`: where new connections go in 'reject' mode (an access point that refuses executors). */
  static async start(targets: { forward: number; reject?: number }): Promise<ModeProxy> {
    const proxy = new ModeProxy(targets);
    await proxy.listen(0);
    return proxy;
  }

  /** Established links (forwarded pairs) right now. */
  get links(): number {
    return this.pairs.size;
  }

  async setMode(mode: ProxyMode): Promise<void> {
    const before = this.mode;
    this.mode = mode;
    if (mode === 'refuse') {
      // Stop accepting at once (close()'s callback would wait for the established pairs).
      this.server?.close();
      this.server = null;
    } else if (!this.server) {
      await this.listen(this.port);
    }
    if (before === 'stall' && mode !== 'stall') {
      // Held connections either go through now (forward/reject) or are dropped (refuse).
      for (const h of [...this.held]) {
        this.held.delete(h);
        if (mode === 'refuse') {
          h.client.destroy();
          continue;
        }
        h.client.removeAllListeners('data'); // stop buffering: the pipe takes over
        this.pipe(h.client, this.target(mode), h.buffered);
      }
    }
  }

  /** Drop every established connection, and any held one. */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
    for (const h of this.held) h.client.destroy();
    this.held.clear();
  }

  async stop(): Promise<void> {
    this.cut();
    this.server?.close();
    this.server = null;
  }

  private target(mode: ProxyMode): number {
    if (mode !== 'reject') return this.targets.forward;
    if (this.targets.reject === undefined) throw new Error('this proxy has no rejecting target');
    return this.targets.reject;
  }

  private pipe(client: Socket, port: number, buffered: Buffer[] = []): void {
    const upstream = createConnection(port, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.pairs.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    for (const chunk of buffered) upstream.write(chunk);
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((client) => {
      if (this.mode === 'stall') {
        const h = { client, buffered: [] as Buffer[] };
        this.held.add(h);
        const onData = (chunk: Buffer) => h.buffered.push(chunk);
        client.on('data', onData);
        client.on('error', () => this.held.delete(h)).on('close', () => this.held.delete(h));
        return;
      }
      this.pipe(client, this.target(this.mode));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as { port: number }).port;
  }
}
