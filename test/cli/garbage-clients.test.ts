/**
 * Hostile or broken clients against a running access point (the CLI, as a child process): each
 * link is closed, the process lives, and an enrolled executor keeps heartbeating.
 */
import { randomBytes } from 'node:crypto';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import 'reflect-metadata';
import { encodeFrame, FrameDecoder } from '../../src/transport/frame-codec.js';
import { createSelfSigned, type PemPair } from '../../src/x509/self-signed.js';
import { isEvent, runAh, startAh, stopAll, tempStateDir, type Daemon } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';

let stateDir: string;
let accessPoint: Daemon;
let executor: Daemon;
let port: number;
let clientCert: PemPair;

afterAll(stopAll);

beforeAll(async () => {
  stateDir = tempStateDir();
  accessPoint = startAh(['agent', 'access-point', '--fleet-listen', '127.0.0.1:0', '--heartbeat-interval', '300ms', '--state-dir', stateDir]);
  const listening = await accessPoint.waitForLine(isEvent('access_point_listening'), 'listening');
  port = Number(String(listening.address).split(':').pop());
  executor = startAh(['agent', 'enroll', '--remote-server', `https://127.0.0.1:${port}`, '--name', 'steady', '--state-dir', stateDir]);
  await executor.waitForLine(isEvent('enrolled'), 'enrolled');
  const now = Date.now();
  clientCert = await createSelfSigned({
    commonName: 'mallory',
    uris: ['spiffe://dev.local/ah/agent/mallory'],
    notBefore: now - 60_000,
    notAfter: now + 3_600_000,
    usage: 'client',
  });
});

/** Resolves with what the server sent before it closed the connection. */
function untilClosed(socket: {
  on(e: 'data', f: (b: Buffer) => void): unknown;
  on(e: 'close', f: () => void): unknown;
  on(e: 'error', f: (e: Error) => void): unknown;
}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the access point did not close the link within 15 s')), 15_000);
    socket.on('data', (b) => chunks.push(b));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

function tlsClient(opts: { cert?: boolean; alpn?: boolean } = {}): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      ...(opts.cert === false ? {} : { cert: clientCert.certPem, key: clientCert.keyPem }),
      ...(opts.alpn === false ? {} : { ALPNProtocols: ['ah-fleet/1'] }),
    });
    socket.once('secureConnect', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function fleetLastHeartbeat(): Promise<number> {
  const r = await runAh(['agent', 'fleet', '--json', '--state-dir', stateDir]);
  expect(r.code).toBe(0);
  const steady = JSON.parse(r.stdout).executors.find((e: { name: string }) => e.name === 'steady');
  expect(steady, 'the enrolled executor is still on the roster').toBeTruthy();
  return Date.parse(steady.lastHeartbeat);
}

describe('garbage clients', () => {
  it('random bytes instead of TLS', async () => {
    const socket = netConnect(port, '127.0.0.1');
    const closed = untilClosed(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
    const from = `127.0.0.1:${socket.localPort}`;
    socket.write(randomBytes(4096));
    await closed;
    // Refused in the TLS layer: logged with the TLS error, and nothing of the fleet protocol ran.
    const refused = await accessPoint.waitForLine(
      isEvent('connection_refused_before_protocol', (l) => l.remoteAddress === from),
      'about the refused connection',
    );
    expect(refused).toMatchObject({ component: 'ah_transport', reason: expect.stringMatching(/^(ERR_SSL_|ECONNRESET)/) });
    expect(accessPoint.lines.filter((l) => l.remoteAddress === from && l.event !== 'connection_refused_before_protocol')).toEqual([]);
  });

  it('a frame larger than 64 KiB', async () => {
    const socket = await tlsClient();
    const closed = untilClosed(socket);
    const header = Buffer.alloc(5);
    header.writeUInt32BE(1024 * 1024, 0);
    header.writeUInt8(1, 4);
    socket.write(header);
    socket.write(randomBytes(1024));
    const from = `127.0.0.1:${socket.localPort}`;
    expect((await closed).length).toBe(0);
    const closing = await accessPoint.waitForLine(
      isEvent('closing_link_protocol_error', (l) => l.remoteAddress === from),
      'about the oversized frame',
    );
    expect(closing).toMatchObject({ level: 40, component: 'ah_transport' });
  });

  it('a heartbeat before hello', async () => {
    const socket = await tlsClient();
    const closed = untilClosed(socket);
    socket.write(encodeFrame({ type: 'heartbeat', seq: 1 }));
    expect((await closed).length).toBe(0);
  });

  it('an unknown protocol version and malformed JSON', async () => {
    for (const body of [Buffer.from([9, 0x7b, 0x7d]), Buffer.from([1, 0x7b, 0x7b])]) {
      const socket = await tlsClient();
      const closed = untilClosed(socket);
      const header = Buffer.alloc(4);
      header.writeUInt32BE(body.length, 0);
      socket.write(Buffer.concat([header, body]));
      expect((await closed).length).toBe(0);
    }
  });

  it('a TLS client without ALPN ah-fleet/1', async () => {
    const socket = await tlsClient({ alpn: false });
    const from = `127.0.0.1:${socket.localPort}`;
    // The handshake completed, but no frame comes: the link is closed before the fleet protocol.
    expect((await untilClosed(socket)).length).toBe(0);
    const refused = await accessPoint.waitForLine(
      isEvent('connection_refused_before_protocol', (l) => l.remoteAddress === from),
      'about the refused connection',
    );
    expect(refused).toMatchObject({ component: 'ah_transport', reason: expect.stringContaining('ALPN') });
  });

  it('a TLS client without a certificate is told why, in a reject frame', async () => {
    const socket = await tlsClient({ cert: false });
    const closed = untilClosed(socket);
    socket.write(encodeFrame({ type: 'hello', name: 'nocert', version: '0', labels: {} }));
    const messages = new FrameDecoder().push(await closed);
    expect(messages).toEqual([{ type: 'reject', code: 'ENROLL_CLIENT_CERT_REQUIRED', message: 'client certificate required', params: {} }]);
    await accessPoint.waitForLine((l) => l.code === 'ENROLL_CLIENT_CERT_REQUIRED' && l.level === 40, 'about the rejection');
  });

  it('leaves the access point alive and the executor heartbeating', async () => {
    expect(accessPoint.child.exitCode).toBeNull();
    expect(executor.child.exitCode).toBeNull();
    const before = await fleetLastHeartbeat();
    // Heartbeats every 300 ms: the roster shows a newer one.
    await eventually(fleetLastHeartbeat, (after) => after > before, 'a heartbeat newer than the one before', {
      timeoutMs: 10_000,
      show: (t) => new Date(t).toISOString(),
    });
    const status = JSON.parse((await runAh(['agent', 'status', '--json', '--state-dir', stateDir])).stdout);
    expect(status).toMatchObject({ state: 'enrolled', attempts: 0, lastError: null });
  });
});
