/**
 * A reader of the live view's event stream that stops reading is dropped once more than the bound
 * waits for it, while the other readers keep receiving. The debug server in-process over real
 * sockets, with a stand-in for a large fleet (a 1 MiB snapshot on every change; the server sends
 * one a second), so that the socket buffers of a reader that never reads fill in seconds.
 */
import { request, type IncomingMessage } from 'node:http';
import { EventEmitter } from 'eventemitter3';
import { afterEach, describe, expect, it } from 'vitest';
import { DebugServer } from '../../src/visualize/live/debug-server.js';
import type { FleetView } from '../../src/visualize/live/fleet-view.js';

class BigFleet extends EventEmitter<{ changed: []; touched: [] }> {
  version = 0;
  snapshot() {
    return { version: ++this.version, padding: 'x'.repeat(1024 * 1024) };
  }
  executorView() {
    return null;
  }
  close() {}
}

const servers: DebugServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function openEvents(url: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}events`, resolve);
    req.on('error', reject);
    req.end();
  });
}

describe('live view event streams and slow readers', () => {
  it('drops a reader that never reads, and the others keep receiving', async () => {
    const fleet = new BigFleet();
    const dropped: Array<Record<string, unknown>> = [];
    const log = { warn: (fields: Record<string, unknown>) => dropped.push(fields) } as unknown as ConstructorParameters<typeof DebugServer>[0]['log'];
    const server = new DebugServer({ listen: { host: '127.0.0.1', port: 0 }, view: fleet as unknown as FleetView, maxBufferedBytes: 512 * 1024, log });
    servers.push(server);
    await server.listen();

    const stalled = await openEvents(server.url);
    expect(stalled.statusCode).toBe(200);
    // Never read: neither the stream nor its socket.
    stalled.pause();
    stalled.socket.pause();
    let stalledClosed = false;
    stalled.socket.on('close', () => (stalledClosed = true));

    const live = await openEvents(server.url);
    let versions: number[] = [];
    let buffer = '';
    live.setEncoding('utf8');
    live.on('data', (d: string) => {
      buffer += d;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = event.split('\n').find((l) => l.startsWith('data: '));
        if (data) versions.push((JSON.parse(data.slice(6)) as { version: number }).version);
      }
    });

    // Changes keep coming (the server sends at most one snapshot a second).
    const ticker = setInterval(() => fleet.emit('changed'), 50);
    try {
      await expect.poll(() => dropped.length, { timeout: 30_000, interval: 100 }).toBe(1);
      expect(dropped[0]).toMatchObject({ event: 'debug_stream_dropped', limit: 512 * 1024 });
      expect(dropped[0]!.bufferedBytes as number).toBeGreaterThan(512 * 1024);
      // The live reader goes on receiving new snapshots after the drop.
      const seen = versions.length;
      await expect.poll(() => versions.length, { timeout: 10_000, interval: 100 }).toBeGreaterThan(seen + 2);
      expect(live.complete).toBe(false);
      // The stalled reader, once it reads again, finds its stream ended by the server.
      stalled.socket.resume();
      stalled.resume();
      await expect.poll(() => stalledClosed, { timeout: 10_000, interval: 100 }).toBe(true);
      expect(dropped).toHaveLength(1);
    } finally {
      clearInterval(ticker);
      live.destroy();
      versions = [];
    }
  });
});
