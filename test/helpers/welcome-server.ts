/**
 * A bare access point for transport tests: node:tls with the given certificate, answering every
 * `hello` with a `welcome`, recording which client certificate (serial) each link presented. Its
 * certificate can be swapped between dials (`use`), as a restarted access point with a new key.
 */
import { once } from 'node:events';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { ALPN_PROTOCOL } from '../../src/transport/messages.js';

export interface WelcomeServer {
  readonly port: number;
  /** Serial of the client certificate of each welcomed link, in order ('' for none). */
  readonly welcomed: string[];
  use(pair: { certPem: string; keyPem: string }): void;
  close(): Promise<void>;
}

export async function startWelcomeServer(pair: { certPem: string; keyPem: string }, clientCaPem?: string): Promise<WelcomeServer> {
  const welcomed: string[] = [];
  const sockets = new Set<TLSSocket>();
  const clientAuth = clientCaPem ? { ca: clientCaPem, requestCert: true, rejectUnauthorized: true } : {};
  const server: Server = createServer({ cert: pair.certPem, key: pair.keyPem, ALPNProtocols: [ALPN_PROTOCOL], ...clientAuth });
  server.on('secureConnection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const decoder = new FrameDecoder();
    socket.on('data', (chunk: Buffer) => {
      for (const m of decoder.push(chunk)) {
        if (m.type !== 'hello') continue;
        welcomed.push(socket.getPeerX509Certificate()?.serialNumber ?? '');
        socket.write(encodeFrame({ type: 'welcome', executorId: `ex-${welcomed.length}`, heartbeatInterval: 60_000, serverTime: Date.now() }));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    welcomed,
    use: (next) => server.setSecureContext({ cert: next.certPem, key: next.keyPem, ...(clientCaPem ? { ca: clientCaPem } : {}) }),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
