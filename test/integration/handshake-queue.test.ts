/**
 * The handshake queue in the fleet server itself, in-process over loopback: a connection that
 * waits longer than the queue's bound is closed without a byte (reason `queue_timeout`), and
 * closing the server closes the connections still waiting or in their handshake instead of
 * waiting out their timeouts.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FleetServer, type ServerIdentity } from '../../src/transport/fleet-server.js';
import { HandshakeGate, type ShedReason } from '../../src/transport/handshake-gate.js';
import { createRoot, issueLeaf } from '../helpers/pki.js';

let identity: ServerIdentity;
const servers: FleetServer[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  const root = await createRoot('Queue Root CA');
  const leaf = await issueLeaf(root, { cn: 'access point', dns: ['localhost'], ips: ['127.0.0.1'], usage: 'server' });
  identity = { certPem: leaf.certPem, keyPem: leaf.keyPem, clientCaPem: root.pem };
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(gate: HandshakeGate, handshakeTimeoutMs = 60_000): Promise<{ server: FleetServer; port: number }> {
  const server = new FleetServer({ listen: { host: '127.0.0.1', port: 0 }, identity, gate, handshakeTimeoutMs });
  servers.push(server);
  const { port } = await server.listen();
  return { server, port };
}

/** A raw TCP client that never starts TLS, with what it received and whether it was closed. */
async function raw(port: number): Promise<{ socket: Socket; received: Buffer[]; closed: Promise<void> }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const received: Buffer[] = [];
  socket.on('data', (b: Buffer) => received.push(b));
  socket.on('error', () => {});
  return { socket, received, closed: new Promise((resolve) => socket.once('close', () => resolve())) };
}

/** Rejects after `ms` with a message naming what never happened. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

const waitUntil = async (test: () => boolean, what: string) => {
  const deadline = Date.now() + 20_000;
  while (!test()) {
    if (Date.now() > deadline) throw new Error(`never ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('the handshake queue in front of TLS', () => {
  it('closes a connection that waited longer than the bound, without a byte, and says why', async () => {
    const gate = new HandshakeGate({ maxInFlight: 1, queueLimit: 4, maxWaitMs: 300, perSourceRate: 100 });
    const { server, port } = await serve(gate);
    const shed: ShedReason[] = [];
    server.on('shed', (e) => shed.push(e.reason));
    const inFlight = await raw(port);
    await waitUntil(() => gate.stats.inFlight === 1, 'one in flight');
    const waiting = await raw(port);
    await within(waiting.closed, 20_000, 'the waiting connection closed');
    expect(Buffer.concat(waiting.received).length).toBe(0);
    expect(shed).toEqual(['queue_timeout']);
    expect(gate.stats).toMatchObject({ inFlight: 1, queued: 0, waited: 1 });
    // The one in its handshake is not the queue's to close.
    expect(inFlight.socket.destroyed).toBe(false);
  });

  it('close() closes the connections still waiting or in their handshake, without a byte', async () => {
    const gate = new HandshakeGate({ maxInFlight: 1, queueLimit: 4, maxWaitMs: 60_000, perSourceRate: 100 });
    const { server, port } = await serve(gate);
    const inFlight = await raw(port);
    await waitUntil(() => gate.stats.inFlight === 1, 'one in flight');
    const waiting = await raw(port);
    await waitUntil(() => gate.stats.queued === 1, 'one waiting');
    servers.splice(servers.indexOf(server), 1);
    await within(server.close(), 20_000, 'close()');
    await within(Promise.all([inFlight.closed, waiting.closed]), 20_000, 'both connections closed');
    for (const c of [inFlight, waiting]) expect(Buffer.concat(c.received).length).toBe(0);
    expect(gate.stats).toMatchObject({ inFlight: 0, queued: 0 });
  });
});
