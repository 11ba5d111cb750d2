/**
 * A raw fleet-protocol client for tests that need to say exactly what an executor says: TLS with a
 * given certificate and key, a hello with or without a continuity proof, heartbeats on demand, and
 * every frame the access point sends, kept in order.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';

export class RawFleetClient {
  readonly frames: Array<Record<string, any>> = [];
  closed = false;
  private readonly decoder = new FrameDecoder();
  private waiters: Array<() => void> = [];
  private heartbeats: NodeJS.Timeout | null = null;

  private constructor(readonly socket: TLSSocket) {
    socket.on('data', (b: Buffer) => {
      for (const f of this.decoder.push(b)) this.frames.push(f as Record<string, any>);
      for (const w of this.waiters) w();
    });
    socket.on('close', () => {
      this.closed = true;
      this.stopHeartbeats();
      for (const w of this.waiters) w();
    });
    socket.on('error', () => {});
  }

  static open(port: number, identity: { certPem: string; keyPem: string }): Promise<RawFleetClient> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host: '127.0.0.1',
        port,
        cert: identity.certPem,
        key: identity.keyPem,
        rejectUnauthorized: false,
        ALPNProtocols: ['ah-fleet/1'],
      });
      socket.once('secureConnect', () => resolve(new RawFleetClient(socket)));
      socket.once('error', reject);
    });
  }

  send(message: Record<string, unknown>): void {
    this.socket.write(encodeFrame(message as never));
  }

  /** The first frame of `type` (already received or to come), within a bound. */
  async frame(type: string, timeoutMs = 15_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const f = this.frames.find((x) => x.type === type);
      if (f) return f;
      if (this.closed) throw new Error(`link closed before a ${type} frame; got ${JSON.stringify(this.frames)}`);
      if (Date.now() > deadline) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, deadline - Date.now());
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Says hello and waits for the welcome; then heartbeats every `heartbeatMs` as an executor does (0: never). */
  async hello(name: string, continuity?: { nonce: string; signature: string }, heartbeatMs = 500): Promise<Record<string, any>> {
    this.send({ type: 'hello', name, version: 'test', labels: {}, ...(continuity ? { continuity } : {}) });
    const welcome = await this.frame('welcome');
    let seq = 0;
    if (heartbeatMs > 0) this.heartbeats = setInterval(() => this.send({ type: 'heartbeat', seq: ++seq, sentAt: Date.now() }), heartbeatMs);
    return welcome;
  }

  close(): void {
    this.stopHeartbeats();
    this.socket.destroy();
  }

  private stopHeartbeats(): void {
    if (this.heartbeats) clearInterval(this.heartbeats);
    this.heartbeats = null;
  }
}
