/**
 * The access point reads a ClientHello's legacy session ID and PSK identities before OpenSSL does.
 * A real ClientHello (a node:tls client offering a session, captured by a plain TCP server) gives
 * both; bytes that are not a ClientHello, or not all of one, give none, and say how many are missing.
 */
import { createServer, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { missingBytes, parseClientHello } from '../../src/transport/client-hello.js';

/** The first record a TLS 1.3 client sends, offering `session` (an opaque ticket the server never saw). */
function captureClientHello(session?: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const server = createServer((raw: Socket) => {
      let bytes = Buffer.alloc(0);
      raw.on('data', (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (missingBytes(bytes) > 0) return;
        raw.destroy();
        server.close();
        resolve(bytes);
      });
    });
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      const client = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, minVersion: 'TLSv1.3', ...(session ? { session } : {}) });
      client.on('error', () => {});
    });
  });
}

describe('ClientHello', () => {
  it('gives the legacy session ID of a fresh hello, and no PSK identity', async () => {
    const hello = parseClientHello(await captureClientHello());
    expect(hello?.legacySessionId).toMatch(/^[0-9a-f]{64}$/);
    expect(hello?.pskIdentities).toEqual([]);
  });

  it('says how many bytes of the first record are missing, and nothing for bytes that are not TLS', () => {
    expect(missingBytes(Buffer.from([0x16, 0x03]))).toBe(3);
    expect(missingBytes(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x10, 0x01]))).toBe(15);
    expect(missingBytes(Buffer.from('GET / HTTP/1.1\r\n'))).toBe(0);
    expect(parseClientHello(Buffer.from('GET / HTTP/1.1\r\n'))).toBeNull();
    expect(parseClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x00, 0x40]))).toBeNull();
  });
});
