/**
 * `--debug-listen HOST:PORT`: the access point's live view over plain HTTP.
 *
 *   GET /                    the page (live-page.ts)
 *   GET /events              server-sent events: the fleet snapshot on every change (at most 5 a second)
 *                            and every 2 s while only heartbeats arrive
 *   GET /api/fleet           the same snapshot, once
 *   GET /api/executor?id=ID  {html, version}: one executor drawn (actor-section.ts)
 *
 * It shows names, addresses and SPIFFE IDs of the fleet, never key material, but that is still
 * more than the fleet port tells anyone; like the admin ports of Envoy or a Go pprof endpoint it is
 * meant for loopback (the CLI refuses other addresses unless --debug-allow-remote). On loopback the
 * Host header must name loopback too, so a web page the operator happens to visit cannot read it
 * through DNS rebinding.
 *
 * Event streams are capped (`maxStreams`, 32: more get 503) and a reader that does not keep up is
 * dropped once more than `maxBufferedBytes` wait for it, so that neither many streams nor slow ones
 * can make the access point hold an unbounded amount of memory.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../../log/logger.js';
import { formatHostPort, type HostPort } from '../../util/address.js';
import { actorSection, escapeHtml } from '../actor-section.js';
import type { FleetView } from './fleet-view.js';
import { isLoopbackHost } from './loopback.js';
import { livePage } from './live-page.js';

const THROTTLE_MS = 200;
const TICK_MS = 2_000;
const KEEPALIVE_MS = 15_000;
export const MAX_EVENT_STREAMS = 32;
/** Bytes written to a stream but not yet taken by its reader, beyond which the stream is ended. */
export const MAX_BUFFERED_BYTES = 1 << 20;

export interface DebugServerOptions {
  readonly listen: HostPort;
  readonly view: FleetView;
  /** Accept any Host header (the operator allowed a non-loopback address). */
  readonly anyHost?: boolean;
  readonly title?: string;
  /** Event streams open at once at most (default 32). */
  readonly maxStreams?: number;
  /** Bytes a stream may have waiting for its reader before it is dropped (default 1 MiB). */
  readonly maxBufferedBytes?: number;
  /** Where dropped slow readers are told of (event `debug_stream_dropped`). */
  readonly log?: Logger;
}

const SECURITY_HEADERS = {
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; img-src data:",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export class DebugServer {
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  private pending: NodeJS.Timeout | null = null;
  private touched = false;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly drawings = new Map<string, { version: number; html: string }>();
  private bound: HostPort | null = null;

  constructor(private readonly options: DebugServerOptions) {
    this.server = createServer((req, res) => void this.handle(req, res));
    options.view.on('changed', () => this.schedule());
    options.view.on('touched', () => (this.touched = true));
  }

  get address(): HostPort {
    if (!this.bound) throw new Error('debug view not listening');
    return this.bound;
  }

  get url(): string {
    return `http://${formatHostPort(this.address)}/`;
  }

  listen(): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.listen.port, this.options.listen.host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as { address: string; port: number };
        this.bound = { host: this.options.listen.host, port: a.port };
        const tick = setInterval(() => {
          if (this.touched) this.broadcast();
        }, TICK_MS);
        const keepalive = setInterval(() => this.streams.forEach((s) => this.write(s, ':\n\n')), KEEPALIVE_MS);
        tick.unref();
        keepalive.unref();
        this.timers.push(tick, keepalive);
        resolve(this.bound);
      });
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    if (this.pending) clearTimeout(this.pending);
    for (const s of this.streams) s.end();
    this.streams.clear();
    this.options.view.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections?.();
  }

  private schedule(): void {
    if (this.pending || this.streams.size === 0) return;
    this.pending = setTimeout(() => {
      this.pending = null;
      this.broadcast();
    }, THROTTLE_MS);
  }

  private broadcast(): void {
    this.touched = false;
    if (this.streams.size === 0) return;
    const data = `data: ${JSON.stringify(this.options.view.snapshot())}\n\n`;
    for (const s of this.streams) this.write(s, data);
  }

  /**
   * Write to one stream, unless its reader has left more than the bound unread (the socket's
   * buffers are full and `write` has been returning false): then end it; a live page reconnects.
   */
  private write(res: ServerResponse, data: string): void {
    const limit = this.options.maxBufferedBytes ?? MAX_BUFFERED_BYTES;
    if (res.writableLength > limit) {
      this.streams.delete(res);
      this.options.log?.warn(
        { event: 'debug_stream_dropped', remoteAddress: res.socket?.remoteAddress ?? null, bufferedBytes: res.writableLength, limit },
        `debug view: dropped an event stream whose reader left ${res.writableLength} bytes unread (more than ${limit})`,
      );
      // Ending would wait for the unread bytes; the reader is not taking them.
      res.destroy();
      return;
    }
    res.write(data);
  }

  private hostAllowed(req: IncomingMessage): boolean {
    if (this.options.anyHost) return true;
    const host = req.headers.host ?? '';
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0]!;
    return isLoopbackHost(name);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { 'Content-Type': type, ...SECURITY_HEADERS });
      res.end(body);
    };
    try {
      if (!this.hostAllowed(req)) return send(403, 'text/plain; charset=utf-8', 'forbidden: the debug view answers only to a loopback Host\n');
      if (req.method !== 'GET') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      const url = new URL(req.url ?? '/', 'http://localhost');
      switch (url.pathname) {
        case '/':
          return send(200, 'text/html; charset=utf-8', livePage(this.options.title ?? `ah access point ${formatHostPort(this.address)}: live view`));
        case '/api/fleet':
          return send(200, 'application/json', JSON.stringify(this.options.view.snapshot()));
        case '/api/executor': {
          const id = url.searchParams.get('id') ?? '';
          const found = this.options.view.executorView(id);
          if (!found) return send(404, 'application/json', JSON.stringify({ error: `no executor ${id}` }));
          return send(200, 'application/json', JSON.stringify({ version: found.version, html: await this.drawing(id, found) }));
        }
        case '/events': {
          if (this.streams.size >= (this.options.maxStreams ?? MAX_EVENT_STREAMS)) {
            return send(
              503,
              'text/plain; charset=utf-8',
              `too many event streams: ${this.streams.size} are open (at most ${this.options.maxStreams ?? MAX_EVENT_STREAMS})\n`,
            );
          }
          res.writeHead(200, { 'Content-Type': 'text/event-stream', Connection: 'keep-alive', ...SECURITY_HEADERS });
          res.write(`retry: 1000\ndata: ${JSON.stringify(this.options.view.snapshot())}\n\n`);
          this.streams.add(res);
          req.on('close', () => this.streams.delete(res));
          return;
        }
        default:
          return send(404, 'text/plain; charset=utf-8', 'not found\n');
      }
    } catch (err) {
      if (!res.headersSent) send(500, 'text/plain; charset=utf-8', `internal error: ${(err as Error).message}\n`);
      else res.end();
    }
  }

  /** Drawn again only when the executor changed (Graphviz takes some milliseconds). */
  private async drawing(id: string, found: NonNullable<ReturnType<FleetView['executorView']>>): Promise<string> {
    const cached = this.drawings.get(id);
    if (cached && cached.version === found.version && found.view.done) return cached.html;
    const earlier = found.earlier.length
      ? `<h3>Earlier links</h3><ul class="earlier">${found.earlier
          .map((l) => `<li>${escapeHtml(l.linkId)}: ${escapeHtml(l.path)}${l.rejection ? ` — rejected: ${escapeHtml(l.rejection.code)}` : ''}</li>`)
          .join('')}</ul>`
      : '';
    const html = (await actorSection(found.view)) + earlier;
    this.drawings.set(id, { version: found.version, html });
    if (this.drawings.size > 200) this.drawings.delete(this.drawings.keys().next().value!);
    return html;
  }
}
